/**
 * The CODE chunk value (capsule chunk type 3): the program's entry table and RV32IMAC machine code.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Entry Count  |  Reserved = 0 |        Entry Offset 0         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      Entry Offset 1 …         |  … (16 bits each, Entry Count) |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  Machine Code (≤ 1024 bytes) …                |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Machine code is little-endian RISC-V as the ISA defines it, copied byte for byte (the vm decodes
 * it); its length is even (16-bit parcels, C extension). At least one entry; each entry offset is
 * even and inside the machine code. The flow authorization's logic hash is SHA-256 of the machine
 * code alone (`logicHashOf`, program-image.ts), not of the entry table: the sender orders the entries
 * (its role's first), and an engine pins the whole value it verified for the flow instead.
 */
import { readU16, writeU16 } from './bytes';
import { type DecodeError, type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureRoom, ensureUint, WireError } from './wire-error';

/** Largest machine code in a CODE chunk, in bytes. */
export const CODE_MACHINE_CODE_LIMIT = 1024;

/** The CODE chunk value. */
export interface CodeChunk {
  /** Byte offsets into `machineCode` of the program's entry points. */
  readonly entryOffsets: readonly number[];
  /** RV32IMAC machine code (a view into the input when decoded). */
  readonly machineCode: Uint8Array;
}

/** Encoded length of `code`. */
export function codeChunkLength(code: CodeChunk): number {
  return 2 + 2 * code.entryOffsets.length + code.machineCode.length;
}

/** Writes the CODE value at into[offset]; returns its length. */
export function encodeCodeChunk(code: CodeChunk, into: Uint8Array, offset = 0): number {
  const { entryOffsets, machineCode } = code;
  if (machineCode.length > CODE_MACHINE_CODE_LIMIT)
    throw new WireError(
      'WIRE_LIMIT_EXCEEDED',
      `machine code of ${machineCode.length} bytes > ${CODE_MACHINE_CODE_LIMIT}`,
    );
  if (machineCode.length % 2 !== 0)
    throw new WireError('WIRE_VALUE_INVALID', `machine code length ${machineCode.length} is odd`);
  if (entryOffsets.length < 1 || entryOffsets.length > 255)
    throw new WireError('WIRE_VALUE_INVALID', `CODE needs 1..255 entries; got ${entryOffsets.length}`);
  for (const entry of entryOffsets) {
    ensureUint(entry, 16, 'CODE entry offset');
    if (entry % 2 !== 0 || entry >= machineCode.length)
      throw new WireError('WIRE_VALUE_INVALID', `CODE entry offset ${entry} is odd or past the code`);
  }
  const length = codeChunkLength(code);
  ensureRoom(into, offset, length, 'CODE chunk');
  into[offset] = entryOffsets.length;
  into[offset + 1] = 0;
  for (let i = 0; i < entryOffsets.length; i++) writeU16(into, offset + 2 + 2 * i, entryOffsets[i]!);
  into.set(machineCode, offset + 2 + 2 * entryOffsets.length);
  return length;
}

/** Checks the CODE value at bytes[offset, offset + length) without allocating (undefined when valid). */
export function checkCodeChunk(bytes: Uint8Array, offset: number, length: number): DecodeError | undefined {
  if (length < 2) return { code: 'TRUNCATED', message: 'CODE chunk shorter than 2 bytes', offset: 0 };
  const entryCount = bytes[offset]!;
  if (entryCount === 0) return { code: 'BAD_FIELD', message: 'CODE chunk without entries', offset: 0 };
  if (bytes[offset + 1] !== 0)
    return { code: 'BAD_FIELD', message: 'CODE reserved byte is not zero', offset: 1 };
  const codeStart = 2 + 2 * entryCount;
  if (length < codeStart)
    return { code: 'TRUNCATED', message: `CODE entry table of ${entryCount} cut short`, offset: 0 };
  const codeLength = length - codeStart;
  if (codeLength > CODE_MACHINE_CODE_LIMIT)
    return {
      code: 'LIMIT_EXCEEDED',
      message: `machine code of ${codeLength} bytes > 1024`,
      offset: codeStart,
    };
  if (codeLength % 2 !== 0)
    return { code: 'BAD_LENGTH', message: 'machine code length is odd', offset: codeStart };
  for (let i = 0; i < entryCount; i++) {
    const entry = readU16(bytes, offset + 2 + 2 * i);
    if (entry % 2 !== 0 || entry >= codeLength)
      return {
        code: 'BAD_FIELD',
        message: `CODE entry offset ${entry} is odd or past the code`,
        offset: 2 + 2 * i,
      };
  }
  return undefined;
}

/** Decodes a CODE value occupying all of `bytes`. */
export function decodeCodeChunk(bytes: Uint8Array): DecodeResult<CodeChunk> {
  const problem = checkCodeChunk(bytes, 0, bytes.length);
  if (problem) return decodeFailure(problem.code, problem.message, problem.offset);
  const entryCount = bytes[0]!;
  const entryOffsets: number[] = [];
  for (let i = 0; i < entryCount; i++) entryOffsets.push(readU16(bytes, 2 + 2 * i));
  return decoded({ entryOffsets, machineCode: bytes.subarray(2 + 2 * entryCount) });
}
