/** Small byte helpers shared by the identity modules (internal; not part of the package API). */
import { timingSafeEqual } from 'node:crypto';

const hexPattern = /^(?:[0-9a-fA-F]{2})*$/;

/** Bytes of an even-length hex string (an optional 0x prefix and spaces/colons allowed), or undefined. */
export function hexToBytes(text: string): Uint8Array | undefined {
  let clean = text.trim().replace(/[\s:]/g, '');
  if (clean.startsWith('0x') || clean.startsWith('0X')) clean = clean.slice(2);
  if (!hexPattern.test(clean)) return undefined;
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

/** Lower-case hex of `bytes`. */
export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** A Buffer view (no copy) of `bytes`, for node:crypto calls. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Constant-time equality of two byte strings (false at once when the lengths differ). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(asBuffer(a), asBuffer(b));
}

/** -1, 0 or 1: the lexicographic order of two byte strings. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(asBuffer(a), asBuffer(b));
}

/** A DataView over exactly `bytes`. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
