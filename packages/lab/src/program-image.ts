/**
 * From a microprogram source (examples/programs/*.java) to the controller's template image: the
 * SDK compiles it, @capsule/api's `toProgramImageTransfer` gives the form templates take.
 */
import { type ProgramImageTransfer, toProgramImageTransfer } from '@capsule/api';
import { compile, formatDiagnostic } from '@capsule/sdk';
import { LabError } from './errors';

/** Compiles `source` and returns the image in the form `POST /api/v1/templates` takes. */
export function compileTemplateImage(source: string, file = 'program.java'): ProgramImageTransfer {
  const result = compile(source);
  if (!result.image)
    throw new LabError(
      'LAB_BAD_USE_CASE',
      `${file} does not compile:\n${result.diagnostics.map((d) => formatDiagnostic(d, file)).join('\n')}`,
    );
  return toProgramImageTransfer(result.image);
}
