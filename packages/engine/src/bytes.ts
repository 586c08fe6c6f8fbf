/** Byte comparisons and copies of the engine (over windows of received packets). */

/** True when a[aAt, aAt + length) equals b[bAt, bAt + length). Allocates nothing. */
export function bytesEqual(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}

/** A copy of bytes[start, end) (never `slice`: on a Node Buffer it is a view into the datagram). */
export function copyBytes(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.subarray(start, end));
}
