/**
 * The static verifier: runs once per program (at upload on the controller, on first sight at an
 * engine; cached by logic hash) and rejects programs with diagnostics, never exceptions:
 *
 * - size limits: 2..CODE_MAX_BYTES bytes, an even length;
 * - every instruction, walked from offset 0, decodes and is allowed (RV32IMAC user level: no CSR
 *   access, FENCE.I, floating point or other extensions — those get their own codes);
 * - every static branch and jump target lies inside CODE, on an instruction start (so also on a
 *   2-byte boundary);
 * - every entry offset is an instruction start.
 *
 * Run time still checks everything (the executors never trust the verifier): computed jumps,
 * memory accesses and fuel are checked as the program runs.
 */
import { decodeInstruction } from './isa/codec';
import { CODE_MAX_BYTES } from './sandbox-abi';

/** One problem found, at a byte offset into the code. */
export interface VerifierDiagnostic {
  /** Stable code (VM_…): see docs/vm.md. */
  readonly code: VerifierCode;
  readonly message: string;
  /** Byte offset into CODE (0 for whole-program problems). */
  readonly offset: number;
}

/** Diagnostic codes of the verifier. */
export type VerifierCode =
  | 'VM_CODE_EMPTY'
  | 'VM_CODE_TOO_LARGE'
  | 'VM_CODE_ODD_LENGTH'
  | 'VM_ILLEGAL_INSTRUCTION'
  | 'VM_TRUNCATED_INSTRUCTION'
  | 'VM_FORBIDDEN_CSR'
  | 'VM_FORBIDDEN_FENCE_I'
  | 'VM_FORBIDDEN_FLOAT'
  | 'VM_TARGET_OUTSIDE_CODE'
  | 'VM_TARGET_NOT_INSTRUCTION'
  | 'VM_BAD_ENTRY';

/** The verifier's verdict. */
export interface VerifierResult {
  readonly ok: boolean;
  readonly diagnostics: readonly VerifierDiagnostic[];
  /** Instructions found by the linear walk. */
  readonly instructionCount: number;
}

/** Options: entry offsets (default [0]) and the size limit (default CODE_MAX_BYTES). */
export interface VerifierOptions {
  entryOffsets?: readonly number[];
  maxCodeBytes?: number;
}

const floatOpcodes = new Set([0x07, 0x27, 0x43, 0x47, 0x4b, 0x4f, 0x53]);

function classifyIllegal(code: Uint8Array, offset: number): VerifierDiagnostic['code'] {
  const low = code[offset]! | (code[offset + 1]! << 8);
  if ((low & 3) !== 3) {
    const funct3 = low >>> 13;
    const quadrant = low & 3;
    // c.fld, c.flw, c.fsd, c.fsw, c.fldsp, c.flwsp, c.fsdsp, c.fswsp
    if ((quadrant === 0 || quadrant === 2) && (funct3 === 1 || funct3 === 3 || funct3 === 5 || funct3 === 7))
      return 'VM_FORBIDDEN_FLOAT';
    return 'VM_ILLEGAL_INSTRUCTION';
  }
  const word = (low | (code[offset + 2]! << 16) | (code[offset + 3]! << 24)) >>> 0;
  const opcode = word & 0x7f;
  if (opcode === 0x73 && ((word >>> 12) & 7) !== 0) return 'VM_FORBIDDEN_CSR';
  if (opcode === 0x0f && ((word >>> 12) & 7) === 1) return 'VM_FORBIDDEN_FENCE_I';
  if (floatOpcodes.has(opcode)) return 'VM_FORBIDDEN_FLOAT';
  return 'VM_ILLEGAL_INSTRUCTION';
}

/** Verifies a program's code. */
export function verifyProgram(code: Uint8Array, options: VerifierOptions = {}): VerifierResult {
  const diagnostics: VerifierDiagnostic[] = [];
  const maxBytes = options.maxCodeBytes ?? CODE_MAX_BYTES;
  if (code.length === 0)
    diagnostics.push({ code: 'VM_CODE_EMPTY', message: 'the program has no code', offset: 0 });
  if (code.length > maxBytes)
    diagnostics.push({
      code: 'VM_CODE_TOO_LARGE',
      message: `code is ${code.length} bytes; the limit is ${maxBytes}`,
      offset: 0,
    });
  if (code.length % 2 !== 0)
    diagnostics.push({ code: 'VM_CODE_ODD_LENGTH', message: 'code length must be even', offset: 0 });
  if (diagnostics.length > 0) return { ok: false, diagnostics, instructionCount: 0 };

  const starts = new Uint8Array(code.length);
  const targets: [from: number, to: number][] = [];
  let count = 0;
  for (let offset = 0; offset < code.length; ) {
    const decoded = decodeInstruction(code, offset);
    if (!decoded.ok) {
      if (decoded.error === 'truncated')
        diagnostics.push({
          code: 'VM_TRUNCATED_INSTRUCTION',
          message: `a ${decoded.size}-byte instruction runs past the end of the code`,
          offset,
        });
      else {
        const kind = classifyIllegal(code, offset);
        diagnostics.push({ code: kind, message: describe(kind, code, offset), offset });
      }
      offset += decoded.size;
      continue;
    }
    starts[offset] = 1;
    count++;
    const mnemonic = decoded.instruction.mnemonic;
    const isStatic =
      /^(c\.)?(beq|bne|blt|bge|bltu|bgeu|jal|j|beqz|bnez)$/.test(mnemonic) &&
      decoded.instruction.imm !== undefined;
    if (isStatic) targets.push([offset, offset + decoded.instruction.imm!]);
    offset += decoded.size;
  }
  for (const [from, to] of targets) {
    if (to < 0 || to >= code.length)
      diagnostics.push({
        code: 'VM_TARGET_OUTSIDE_CODE',
        message: `branch or jump target ${to} lies outside the code (0..${code.length - 1})`,
        offset: from,
      });
    else if (starts[to] !== 1)
      diagnostics.push({
        code: 'VM_TARGET_NOT_INSTRUCTION',
        message: `branch or jump target ${to} is not the start of an instruction`,
        offset: from,
      });
  }
  for (const entry of options.entryOffsets ?? [0]) {
    if (!Number.isInteger(entry) || entry < 0 || entry >= code.length || starts[entry] !== 1)
      diagnostics.push({
        code: 'VM_BAD_ENTRY',
        message: `entry offset ${entry} is not the start of an instruction`,
        offset: Number.isInteger(entry) && entry >= 0 ? entry : 0,
      });
  }
  return { ok: diagnostics.length === 0, diagnostics, instructionCount: count };
}

function describe(kind: VerifierDiagnostic['code'], code: Uint8Array, offset: number): string {
  const bytes = Array.from(code.subarray(offset, offset + 4), (b) => b.toString(16).padStart(2, '0')).join(
    ' ',
  );
  switch (kind) {
    case 'VM_FORBIDDEN_CSR':
      return `CSR instructions are not allowed (bytes ${bytes})`;
    case 'VM_FORBIDDEN_FENCE_I':
      return `FENCE.I is not allowed (bytes ${bytes})`;
    case 'VM_FORBIDDEN_FLOAT':
      return `floating-point instructions are not allowed (bytes ${bytes})`;
    default:
      return `not an RV32IMAC instruction (bytes ${bytes})`;
  }
}
