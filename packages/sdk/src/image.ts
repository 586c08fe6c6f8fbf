/**
 * The ProgramImage: what the compiler and the assembler produce, what the controller signs and
 * engines run. Deterministic: the same source gives the same image, byte for byte, in both
 * encodings (JSON with a fixed key order, and the binary chunk format below).
 *
 * Binary format (all integers little-endian):
 * ```
 *  0  "CPIM"  magic
 *  4  u8      format version (1)
 *  5  u8[3]   zero
 *  8  chunks: u8 type, u8[3] zero, u32 length, value, padded with zeros to 4 bytes
 *       1 CODE      raw RV32IMAC machine code (the logic hash is SHA-256 of this value)
 *       2 META      UTF-8 JSON: name, entries, data layout, regions, source map
 * ```
 */
import { createHash } from 'node:crypto';
import { CapsuleError } from '@capsule/wire';

/** Which memory a field of the data layout lives in. */
export type LayoutRegion = 'DATA' | 'FLOW' | 'CONTRACT' | 'STACK';

/** One variable of the data layout. */
export interface LayoutEntry {
  readonly name: string;
  readonly region: LayoutRegion;
  /** Byte offset in the region (STACK: from the statics base, gp). */
  readonly offset: number;
  readonly size: number;
  /** Java type, e.g. `int`, `byte[]`. */
  readonly type: string;
  /** Initial value bytes, hex (empty for per-execution statics, set by code). */
  readonly initial: string;
}

/** A compiled or assembled program. */
export interface ProgramImage {
  readonly format: 'capsule-program/1';
  readonly name: string;
  /** RV32IMAC machine code, loaded at CODE_BASE. */
  readonly code: Uint8Array;
  /** Entry points: name → byte offset in code. */
  readonly entries: readonly { readonly name: string; readonly offset: number }[];
  readonly data: readonly LayoutEntry[];
  /** Bytes used in DATA (the DATA chunk length), FLOW, CONTRACT and by per-execution statics. */
  readonly regions: {
    readonly dataBytes: number;
    readonly flowBytes: number;
    readonly contractBytes: number;
    readonly staticsBytes: number;
  };
  /** Code offset → source line, ascending. */
  readonly sourceMap: readonly { readonly offset: number; readonly line: number }[];
  /** SHA-256 of the code, hex. */
  readonly logicHash: string;
}

/** SHA-256 of code bytes, hex (the logic hash). */
export function computeLogicHash(code: Uint8Array): string {
  return createHash('sha256').update(code).digest('hex');
}

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fromHex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

/** The JSON form, with a fixed key order (code as hex). */
export function imageToJson(image: ProgramImage): string {
  return `${JSON.stringify(
    {
      format: image.format,
      name: image.name,
      logicHash: image.logicHash,
      code: toHex(image.code),
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
    },
    null,
    2,
  )}\n`;
}

/** Parses the JSON form; throws IMAGE_INVALID when it is not one (or its hash does not match). */
export function imageFromJson(text: string): ProgramImage {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new CapsuleError('IMAGE_INVALID', 'program image is not valid JSON', { cause });
  }
  if (raw.format !== 'capsule-program/1' || typeof raw.code !== 'string')
    throw new CapsuleError('IMAGE_INVALID', 'not a capsule program image (format capsule-program/1)');
  const code = fromHex(raw.code);
  const image: ProgramImage = {
    format: 'capsule-program/1',
    name: String(raw.name ?? ''),
    code,
    entries: (raw.entries as { name: string; offset: number }[]) ?? [],
    data: (raw.data as LayoutEntry[]) ?? [],
    regions: (raw.regions as ProgramImage['regions']) ?? {
      dataBytes: 0,
      flowBytes: 0,
      contractBytes: 0,
      staticsBytes: 0,
    },
    sourceMap: ((raw.sourceMap as [number, number][]) ?? []).map(([offset, line]) => ({ offset, line })),
    logicHash: computeLogicHash(code),
  };
  if (raw.logicHash !== undefined && raw.logicHash !== image.logicHash)
    throw new CapsuleError(
      'IMAGE_INVALID',
      `logic hash mismatch: image says ${String(raw.logicHash)}, code hashes to ${image.logicHash}`,
    );
  return image;
}

const MAGIC = [0x43, 0x50, 0x49, 0x4d]; // "CPIM"

/** The binary chunk form. */
export function encodeImage(image: ProgramImage): Uint8Array {
  const meta = JSON.parse(imageToJson(image)) as Record<string, unknown>;
  delete meta.code;
  const metaBytes = new TextEncoder().encode(JSON.stringify(meta));
  const chunks: [number, Uint8Array][] = [
    [1, image.code],
    [2, metaBytes],
  ];
  const size = 8 + chunks.reduce((n, [, v]) => n + 8 + Math.ceil(v.length / 4) * 4, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = 1;
  let at = 8;
  for (const [type, value] of chunks) {
    out[at] = type;
    view.setUint32(at + 4, value.length, true);
    out.set(value, at + 8);
    at += 8 + Math.ceil(value.length / 4) * 4;
  }
  return out;
}

/** Decodes the binary form; throws IMAGE_INVALID. */
export function decodeImage(bytes: Uint8Array): ProgramImage {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b) || bytes[4] !== 1)
    throw new CapsuleError('IMAGE_INVALID', 'not a binary capsule program image (magic CPIM, version 1)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let code: Uint8Array | undefined;
  let meta: Record<string, unknown> | undefined;
  while (at + 8 <= bytes.length) {
    const type = bytes[at]!;
    const length = view.getUint32(at + 4, true);
    if (at + 8 + length > bytes.length)
      throw new CapsuleError('IMAGE_INVALID', 'truncated chunk in program image');
    const value = bytes.slice(at + 8, at + 8 + length);
    if (type === 1) code = value;
    else if (type === 2) meta = JSON.parse(new TextDecoder().decode(value)) as Record<string, unknown>;
    at += 8 + Math.ceil(length / 4) * 4;
  }
  if (!code || !meta) throw new CapsuleError('IMAGE_INVALID', 'program image lacks its CODE or META chunk');
  return imageFromJson(JSON.stringify({ ...meta, code: toHex(code) }));
}

/** True when the bytes start with the binary image magic. */
export function isBinaryImage(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
}
