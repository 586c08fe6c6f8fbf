/** The ProgramVerifier port over @capsule/vm's static verifier. */
import { verifyProgram } from '@capsule/vm';
import type { ProgramVerifier } from './ports';

/** Verifies a template's code and entry offsets with the VM's static verifier. */
export function createVmProgramVerifier(): ProgramVerifier {
  return {
    verify(code, entryOffsets) {
      const result = verifyProgram(code, { entryOffsets: [...entryOffsets] });
      if (result.ok) return { ok: true };
      return {
        ok: false,
        problems: result.diagnostics.slice(0, 5).map((d) => `${d.code} at ${d.offset}: ${d.message}`),
      };
    },
  };
}
