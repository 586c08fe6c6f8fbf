/**
 * The program image's transfer form (`ProgramImageTransfer` in schemas.ts): how a ProgramImage
 * (@capsule/wire) travels through the API — in a template, and to every endpoint registered in one
 * of its roles. `toProgramImageTransfer` makes it from an image; `codeChunkOf` and `dataChunkOf`
 * give an endpoint the CODE and DATA chunk values it sends.
 *
 * Variables (a template role's, overridden by a contract role's) set named DATA fields of the
 * layout: the value is written little-endian, two's complement, into a scalar field of 1, 2, 4 or
 * 8 bytes (a `long` gets the value sign-extended). `variableProblems` says why a set cannot be
 * written (the controller refuses such templates and contracts); `dataChunkOf` writes the ones
 * that can. The transfer form is validated against its schema where it enters (the controller);
 * these functions never throw on it.
 */
import { ChunkLimit, type CodeChunk, initialDataOf, type ProgramImage } from '@capsule/wire';
import type { DataField, ProgramImageTransfer, Variables } from './schemas';

const base64Of = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** The transfer form of an image: code, entries, and the DATA record's size and initial bytes. */
export function toProgramImageTransfer(image: ProgramImage): ProgramImageTransfer {
  const data = initialDataOf(image);
  const layout = image.data
    .filter((field) => field.region === 'DATA')
    .map(({ name, offset, size, type }) => ({ name, offset, size, type }));
  return {
    code: base64Of(image.code),
    entries: Object.fromEntries(image.entries.map((entry) => [entry.name, entry.offset])),
    dataSize: image.regions.dataBytes,
    ...(data.length > 0 && { data: base64Of(data) }),
    ...(layout.length > 0 && { layout }),
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

/** Why `value` cannot be written into `field` of a DATA chunk of `chunkBytes` (undefined: it can). */
function fieldProblem(field: DataField, value: number, chunkBytes: number): string | undefined {
  if (field.type.endsWith(']') || ![1, 2, 4, 8].includes(field.size))
    return `DATA field ${field.name} (${field.type}, ${field.size} bytes) is not a scalar of 1, 2, 4 or 8 bytes`;
  if (field.offset + field.size > chunkBytes)
    return `DATA field ${field.name} lies past the ${chunkBytes}-byte DATA chunk`;
  const bits = Math.min(32, field.size * 8);
  if (!Number.isInteger(value) || value < -(2 ** (bits - 1)) || value >= 2 ** bits)
    return `${value} does not fit DATA field ${field.name} (${field.size} bytes)`;
  return undefined;
}

const fieldNamed = (image: ProgramImageTransfer, name: string) =>
  image.layout?.find((field) => field.name === name);

/** Why `variables` cannot all be written into the image's DATA chunk; empty when they can. */
export function variableProblems(image: ProgramImageTransfer, variables: Variables): string[] {
  const chunkBytes = Math.min(ChunkLimit.DATA, image.dataSize);
  const problems: string[] = [];
  for (const [name, value] of Object.entries(variables)) {
    const field = fieldNamed(image, name);
    const problem = field ? fieldProblem(field, value, chunkBytes) : `the program has no DATA field ${name}`;
    if (problem) problems.push(problem);
  }
  return problems;
}

/**
 * The DATA chunk value an endpoint starts with: `dataSize` bytes (at most the chunk limit), the
 * initial bytes, then each of `variables` that `variableProblems` accepts written into its field.
 */
export function dataChunkOf(image: ProgramImageTransfer, variables: Variables = {}): Uint8Array {
  const data = new Uint8Array(Math.min(ChunkLimit.DATA, image.dataSize));
  if (image.data) data.set(Buffer.from(image.data, 'base64').subarray(0, data.length));
  for (const [name, value] of Object.entries(variables)) {
    const field = fieldNamed(image, name);
    if (!field || fieldProblem(field, value, data.length)) continue;
    for (let i = 0; i < field.size; i++)
      data[field.offset + i] = i < 4 ? (value >>> (8 * i)) & 0xff : value < 0 ? 0xff : 0;
  }
  return data;
}
