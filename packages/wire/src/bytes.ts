/**
 * Big-endian field access on plain Uint8Arrays. Shifts instead of DataView: no view object per
 * packet, and V8 inlines these. Callers check bounds first; these do not.
 */

/** Reads an unsigned 16-bit big-endian integer. */
export function readU16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

/** Reads an unsigned 32-bit big-endian integer. */
export function readU32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>>
    0
  );
}

/** Reads an unsigned 64-bit big-endian integer as a bigint. */
export function readU64(bytes: Uint8Array, offset: number): bigint {
  return (BigInt(readU32(bytes, offset)) << 32n) | BigInt(readU32(bytes, offset + 4));
}

/** Writes an unsigned 16-bit big-endian integer. */
export function writeU16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 8;
  bytes[offset + 1] = value;
}

/** Writes an unsigned 32-bit big-endian integer. */
export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

/** Writes an unsigned 64-bit big-endian integer given as a bigint in [0, 2^64). */
export function writeU64(bytes: Uint8Array, offset: number, value: bigint): void {
  writeU32(bytes, offset, Number(value >> 32n));
  writeU32(bytes, offset + 4, Number(value & 0xffffffffn));
}

/** True when bytes[from, to) are all zero. */
export function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}
