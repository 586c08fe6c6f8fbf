/**
 * The program image: one compiled or assembled program — RV32IMAC machine code, entry table, data
 * layout, source map — and the logic hash that flow authorizations carry. The SDK's compiler and
 * assembler make it (`createProgramImage`), tools store it in the two file forms below, the API
 * carries its network projection (`ProgramImageTransfer` in @capsule/api), and engines check
 * packets against its logic hash. docs/wire-format.md ("The program image") describes all of it.
 *
 * **Logic hash** (`logicHashOf`) = SHA-256 of the machine code alone: the CODE chunk value after
 * its entry table, the image's `code`. Not of the whole CODE chunk: the entry table is the
 * sender's (the role's entry first) and is pinned per flow by the engine instead.
 *
 * **JSON form** (`programImageToJson` / `programImageFromJson`): the fields in the order of
 * `ProgramImage`, `code` and `initial` as hex, `sourceMap` as `[offset, line]` pairs, two-space
 * indentation, a final newline. Deterministic: the same image gives the same text.
 *
 * **Binary form** (`encodeProgramImage` / `decodeProgramImage`), all integers little-endian:
 * ```
 *  0       1       2       3       4       5       6       7
 * +-------+-------+-------+-------+-------+-------+-------+-------+
 * |  'C'  |  'P'  |  'I'  |  'M'  |version|   reserved = 0        |   version = 1
 * +-------+-------+-------+-------+-------+-------+-------+-------+
 * | type  |   reserved = 0        |        value length (u32)     |   one chunk header
 * +-------+-------+-------+-------+-------+-------+-------+-------+
 * |  value …, then zero padding to a multiple of 4 bytes          |
 * +-------+-------+-------+-------+-------+-------+-------+-------+
 *   type 1 CODE: the machine code, byte for byte
 *   type 2 META: UTF-8 JSON of every other field (the JSON form without `code`, compact)
 * ```
 * CODE and META each appear once, in either order; chunks of other types are skipped (a later
 * version may add some).
 *
 * Decoders never throw on input: they return a DecodeResult (`BAD_FIELD` at offset 0 for a JSON
 * problem, with the field's path in the message).
 */
import { createHash } from 'node:crypto';
import { type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureRoom } from './wire-error';

/** The `format` every program image states. */
export const PROGRAM_IMAGE_FORMAT = 'capsule-program/1';
/** Bytes of a logic hash (SHA-256). */
export const LOGIC_HASH_LENGTH = 32;
/** Version byte of the binary form. */
export const PROGRAM_IMAGE_VERSION = 1;
/** Largest region size and layout offset an image may state: the sandbox's regions are 64 KiB apart. */
export const PROGRAM_REGION_LIMIT = 0x1_0000;
/** Chunk types of the binary form. */
export const ProgramImageChunk = { CODE: 1, META: 2 } as const;

/** Which memory a field of the data layout lives in. */
export type LayoutRegion = 'DATA' | 'FLOW' | 'CONTRACT' | 'STACK';

/** One variable of the data layout. */
export interface LayoutEntry {
  readonly name: string;
  readonly region: LayoutRegion;
  /** Byte offset in the region (STACK: from the statics base, gp). */
  readonly offset: number;
  readonly size: number;
  /** Java type (`int`, `byte[]`, …), or `bytes` for an assembler `.data` label. */
  readonly type: string;
  /** Initial value bytes, hex (empty for per-execution statics, set by code). */
  readonly initial: string;
}

/** Bytes used in DATA (the DATA chunk length), FLOW, CONTRACT and by per-execution statics. */
export interface ProgramImageRegions {
  readonly dataBytes: number;
  readonly flowBytes: number;
  readonly contractBytes: number;
  readonly staticsBytes: number;
}

/** A compiled or assembled program. */
export interface ProgramImage {
  readonly format: typeof PROGRAM_IMAGE_FORMAT;
  /** The class name (or the assembly file name). */
  readonly name: string;
  /** SHA-256 of `code`, hex (`logicHashOf`). */
  readonly logicHash: string;
  /** RV32IMAC machine code, loaded at CODE_BASE. */
  readonly code: Uint8Array;
  /** Entry points: name → byte offset in code. */
  readonly entries: readonly { readonly name: string; readonly offset: number }[];
  readonly data: readonly LayoutEntry[];
  readonly regions: ProgramImageRegions;
  /** Code offset → source line, ascending. */
  readonly sourceMap: readonly { readonly offset: number; readonly line: number }[];
}

/** The logic hash of machine code: SHA-256 of the bytes, 32 bytes. The only place it is computed. */
export function logicHashOf(machineCode: Uint8Array): Uint8Array {
  return createHash('sha256').update(machineCode).digest();
}

const hexOf = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** Builds an image from its parts: states the format and computes the logic hash of `code`. */
export function createProgramImage(fields: Omit<ProgramImage, 'format' | 'logicHash'>): ProgramImage {
  return {
    format: PROGRAM_IMAGE_FORMAT,
    name: fields.name,
    logicHash: hexOf(logicHashOf(fields.code)),
    code: fields.code,
    entries: fields.entries,
    data: fields.data,
    regions: fields.regions,
    sourceMap: fields.sourceMap,
  };
}

/** The DATA record a sender starts with: `regions.dataBytes` bytes, each DATA field's initial
 * bytes at its offset (fields reaching past `dataBytes` are cut there). */
export function initialDataOf(image: ProgramImage): Uint8Array {
  const data = new Uint8Array(image.regions.dataBytes);
  for (const entry of image.data)
    if (entry.region === 'DATA' && entry.initial && entry.offset < data.length)
      data.set(Buffer.from(entry.initial, 'hex').subarray(0, data.length - entry.offset), entry.offset);
  return data;
}

// ---- JSON form ---------------------------------------------------------------------------------

function jsonFields(image: ProgramImage, withCode: boolean): Record<string, unknown> {
  return {
    format: image.format,
    name: image.name,
    logicHash: image.logicHash,
    ...(withCode && { code: hexOf(image.code) }),
    entries: image.entries.map((e) => ({ name: e.name, offset: e.offset })),
    data: image.data.map((d) => ({
      name: d.name,
      region: d.region,
      offset: d.offset,
      size: d.size,
      type: d.type,
      initial: d.initial,
    })),
    regions: {
      dataBytes: image.regions.dataBytes,
      flowBytes: image.regions.flowBytes,
      contractBytes: image.regions.contractBytes,
      staticsBytes: image.regions.staticsBytes,
    },
    sourceMap: image.sourceMap.map((s) => [s.offset, s.line]),
  };
}

/** The JSON form (see the module comment). */
export function programImageToJson(image: ProgramImage): string {
  return `${JSON.stringify(jsonFields(image, true), null, 2)}\n`;
}

/** Parses the JSON form; refuses anything else, and an image whose `logicHash` is not its code's. */
export function programImageFromJson(text: string): DecodeResult<ProgramImage> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return decodeFailure('BAD_FIELD', `program image is not JSON: ${(error as Error).message}`, 0);
  }
  if (!isRecord(raw) || typeof raw.code !== 'string' || !isHex(raw.code))
    return decodeFailure('BAD_FIELD', 'program image: code is not a hex string', 0);
  return imageFromFields(raw, new Uint8Array(Buffer.from(raw.code, 'hex')));
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isHex = (value: unknown): value is string =>
  typeof value === 'string' && value.length % 2 === 0 && /^[0-9a-fA-F]*$/.test(value);
const isUint = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
const isRegionSize = (value: unknown): value is number => isUint(value) && value <= PROGRAM_REGION_LIMIT;
const regionNames: readonly string[] = ['DATA', 'FLOW', 'CONTRACT', 'STACK'];

/** Checks the JSON fields other than `code` (absent lists and regions default to empty). */
function imageFromFields(raw: Record<string, unknown>, code: Uint8Array): DecodeResult<ProgramImage> {
  const fail = (message: string) => decodeFailure<ProgramImage>('BAD_FIELD', `program image: ${message}`, 0);
  if (raw.format !== PROGRAM_IMAGE_FORMAT) return fail(`format is not ${PROGRAM_IMAGE_FORMAT}`);
  if (raw.name !== undefined && typeof raw.name !== 'string') return fail('name is not a string');
  const entries: { name: string; offset: number }[] = [];
  if (raw.entries !== undefined) {
    if (!Array.isArray(raw.entries)) return fail('entries is not a list');
    for (const [i, e] of raw.entries.entries()) {
      if (!isRecord(e) || typeof e.name !== 'string' || !isUint(e.offset))
        return fail(`entries[${i}] is not { name, offset }`);
      entries.push({ name: e.name, offset: e.offset });
    }
  }
  const data: LayoutEntry[] = [];
  if (raw.data !== undefined) {
    if (!Array.isArray(raw.data)) return fail('data is not a list');
    for (const [i, d] of raw.data.entries()) {
      if (
        !isRecord(d) ||
        typeof d.name !== 'string' ||
        !regionNames.includes(d.region as string) ||
        !isRegionSize(d.offset) ||
        !isRegionSize(d.size) ||
        typeof d.type !== 'string' ||
        !isHex(d.initial)
      )
        return fail(
          `data[${i}] is not { name, region, offset, size, type, initial } (offset, size ≤ 64 KiB)`,
        );
      data.push({
        name: d.name,
        region: d.region as LayoutRegion,
        offset: d.offset,
        size: d.size,
        type: d.type,
        initial: d.initial,
      });
    }
  }
  let regions: ProgramImageRegions = { dataBytes: 0, flowBytes: 0, contractBytes: 0, staticsBytes: 0 };
  if (raw.regions !== undefined) {
    const r = raw.regions;
    if (
      !isRecord(r) ||
      !isRegionSize(r.dataBytes) ||
      !isRegionSize(r.flowBytes) ||
      !isRegionSize(r.contractBytes) ||
      !isRegionSize(r.staticsBytes)
    )
      return fail(
        `regions is not { dataBytes, flowBytes, contractBytes, staticsBytes }, each ≤ ${PROGRAM_REGION_LIMIT}`,
      );
    regions = {
      dataBytes: r.dataBytes,
      flowBytes: r.flowBytes,
      contractBytes: r.contractBytes,
      staticsBytes: r.staticsBytes,
    };
  }
  const sourceMap: { offset: number; line: number }[] = [];
  if (raw.sourceMap !== undefined) {
    if (!Array.isArray(raw.sourceMap)) return fail('sourceMap is not a list');
    for (const [i, pair] of raw.sourceMap.entries()) {
      if (!Array.isArray(pair) || pair.length !== 2 || !isUint(pair[0]) || !isUint(pair[1]))
        return fail(`sourceMap[${i}] is not [offset, line]`);
      sourceMap.push({ offset: pair[0], line: pair[1] });
    }
  }
  const image = createProgramImage({
    name: (raw.name as string | undefined) ?? '',
    code,
    entries,
    data,
    regions,
    sourceMap,
  });
  if (raw.logicHash !== undefined && raw.logicHash !== image.logicHash)
    return fail(
      `logic hash mismatch: the image says ${String(raw.logicHash)}, its code hashes to ${image.logicHash}`,
    );
  return decoded(image);
}

// ---- binary form -------------------------------------------------------------------------------

const MAGIC = [0x43, 0x50, 0x49, 0x4d]; // "CPIM"
const HEADER_LENGTH = 8;
const CHUNK_HEADER = 8;
const padded = (length: number) => Math.ceil(length / 4) * 4;
const metaBytesOf = (image: ProgramImage) =>
  new TextEncoder().encode(JSON.stringify(jsonFields(image, false)));

/** Encoded length of the binary form of `image`. */
export function programImageLength(image: ProgramImage): number {
  return (
    HEADER_LENGTH +
    CHUNK_HEADER +
    padded(image.code.length) +
    CHUNK_HEADER +
    padded(metaBytesOf(image).length)
  );
}

/** Writes the binary form at into[offset] (CODE chunk, then META); returns its length. */
export function encodeProgramImage(image: ProgramImage, into: Uint8Array, offset = 0): number {
  const meta = metaBytesOf(image);
  const length =
    HEADER_LENGTH + CHUNK_HEADER + padded(image.code.length) + CHUNK_HEADER + padded(meta.length);
  ensureRoom(into, offset, length, 'program image');
  into.fill(0, offset, offset + length);
  into.set(MAGIC, offset);
  into[offset + 4] = PROGRAM_IMAGE_VERSION;
  const view = new DataView(into.buffer, into.byteOffset, into.byteLength);
  let at = offset + HEADER_LENGTH;
  for (const [type, value] of [
    [ProgramImageChunk.CODE, image.code],
    [ProgramImageChunk.META, meta],
  ] as const) {
    into[at] = type;
    view.setUint32(at + 4, value.length, true);
    into.set(value, at + CHUNK_HEADER);
    at += CHUNK_HEADER + padded(value.length);
  }
  return length;
}

/** True when `bytes` start with the binary form's magic ("CPIM"). */
export function isBinaryProgramImage(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
}

/** Decodes the binary form occupying all of `bytes`. */
export function decodeProgramImage(bytes: Uint8Array): DecodeResult<ProgramImage> {
  if (bytes.length < HEADER_LENGTH)
    return decodeFailure('TRUNCATED', 'program image shorter than 8 bytes', 0);
  if (!isBinaryProgramImage(bytes)) return decodeFailure('BAD_FIELD', 'no program image magic (CPIM)', 0);
  if (bytes[4] !== PROGRAM_IMAGE_VERSION)
    return decodeFailure('BAD_VERSION', `program image version ${bytes[4]} (this codec reads 1)`, 4);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0)
    return decodeFailure('BAD_FIELD', 'program image reserved bytes are not zero', 5);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let code: Uint8Array | undefined;
  let meta: Uint8Array | undefined;
  let at = HEADER_LENGTH;
  while (at < bytes.length) {
    if (at + CHUNK_HEADER > bytes.length) return decodeFailure('TRUNCATED', 'chunk header cut short', at);
    const type = bytes[at]!;
    if (bytes[at + 1] !== 0 || bytes[at + 2] !== 0 || bytes[at + 3] !== 0)
      return decodeFailure('BAD_FIELD', 'chunk reserved bytes are not zero', at + 1);
    const length = view.getUint32(at + 4, true);
    const end = at + CHUNK_HEADER + length;
    if (end > bytes.length) return decodeFailure('TRUNCATED', `chunk of ${length} bytes cut short`, at + 4);
    const paddedEnd = at + CHUNK_HEADER + padded(length);
    if (paddedEnd > bytes.length) return decodeFailure('TRUNCATED', 'chunk padding cut short', end);
    for (let i = end; i < paddedEnd; i++)
      if (bytes[i] !== 0) return decodeFailure('BAD_PADDING', 'chunk padding is not zero', i);
    const value = bytes.subarray(at + CHUNK_HEADER, end);
    if (type === ProgramImageChunk.CODE || type === ProgramImageChunk.META) {
      if ((type === ProgramImageChunk.CODE ? code : meta) !== undefined)
        return decodeFailure('CHUNK_ORDER', `chunk type ${type} repeated`, at);
      if (type === ProgramImageChunk.CODE) code = value.slice();
      else meta = value;
    }
    at = paddedEnd;
  }
  if (!code || !meta) return decodeFailure('MISSING', 'program image lacks its CODE or META chunk', 0);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(meta));
  } catch (error) {
    return decodeFailure('BAD_FIELD', `META is not UTF-8 JSON: ${(error as Error).message}`, 0);
  }
  if (!isRecord(raw)) return decodeFailure('BAD_FIELD', 'META is not a JSON object', 0);
  return imageFromFields(raw, code);
}
