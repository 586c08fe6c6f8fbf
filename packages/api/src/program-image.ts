/**
 * The program image's transfer form (`ProgramImageTransfer` in schemas.ts): how a ProgramImage
 * (@capsule/wire) travels through the API — in a template, and to every endpoint registered in one
 * of its roles. `toProgramImageTransfer` makes it from an image; `codeChunkOf` and `dataChunkOf`
 * give an endpoint the CODE and DATA chunk values it sends. The transfer form is validated against
 * its schema where it enters (the controller); these functions never throw on it.
 */
import { ChunkLimit, type CodeChunk, initialDataOf, type ProgramImage } from '@capsule/wire';
import type { ProgramImageTransfer } from './schemas';

const base64Of = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** The transfer form of an image: code, entries, and the DATA record's size and initial bytes. */
export function toProgramImageTransfer(image: ProgramImage): ProgramImageTransfer {
  const data = initialDataOf(image);
  return {
    code: base64Of(image.code),
    entries: Object.fromEntries(image.entries.map((entry) => [entry.name, entry.offset])),
    dataSize: image.regions.dataBytes,
    ...(data.length > 0 && { data: base64Of(data) }),
  };
}

/**
 * The CODE chunk value an endpoint of the role whose entry is `entry` sends: that entry first
 * (engines start at entry 0 when no PATH hop names another), the others after it by offset.
 * Undefined when the image has no such entry.
 */
export function codeChunkOf(image: ProgramImageTransfer, entry: string): CodeChunk | undefined {
  const own = Object.hasOwn(image.entries, entry) ? image.entries[entry] : undefined;
  if (own === undefined) return undefined;
  const others = Object.entries(image.entries)
    .sort((a, b) => a[1] - b[1])
    .filter(([name]) => name !== entry)
    .map(([, offset]) => offset);
  return { entryOffsets: [own, ...others], machineCode: new Uint8Array(Buffer.from(image.code, 'base64')) };
}

/** The DATA chunk value an endpoint starts with: `dataSize` bytes (at most the chunk limit), the
 * initial bytes first. */
export function dataChunkOf(image: ProgramImageTransfer): Uint8Array {
  const data = new Uint8Array(Math.min(ChunkLimit.DATA, image.dataSize));
  if (image.data) data.set(Buffer.from(image.data, 'base64').subarray(0, data.length));
  return data;
}
