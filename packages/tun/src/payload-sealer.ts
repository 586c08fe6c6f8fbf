import { loadAddon } from './native-addon';

/**
 * AES-256-GCM sealing with one reused OpenSSL context per key (node:crypto makes a cipher object
 * per packet). The output is byte for byte `sealPayload`'s of @capsule/identity.
 */
export interface PayloadSealer {
  /**
   * Reads the 16-byte header `out[at, at + 16)` the caller wrote (key epoch ‖ 0x00000000 ‖ counter
   * u64 BE), uses its last 12 bytes as the nonce and header ‖ `aad` as additional data, and writes
   * ciphertext ‖ tag of `source[sourceOffset, + length)` from `out[at + 16]`. Returns the bytes
   * written after the header (length + 16), or -1 when the buffers are too small.
   */
  seal(
    out: Uint8Array,
    at: number,
    aad: Uint8Array,
    source: Uint8Array,
    sourceOffset: number,
    length: number,
  ): number;
  /**
   * The reverse: `sealed[at, at + length)` is header (16) ‖ ciphertext ‖ tag (16), opened with
   * header ‖ `aad` as additional data into `out[outOffset …]`. Returns the plaintext length, or -1
   * when it is too short, `out` too small, or the tag does not verify (then `out` holds garbage).
   */
  open(
    sealed: Uint8Array,
    at: number,
    length: number,
    aad: Uint8Array,
    out: Uint8Array,
    outOffset: number,
  ): number;
}

/** A sealer for `key` (32 bytes), or undefined when the native addon is not available. */
export function createPayloadSealer(key: Uint8Array): PayloadSealer | undefined {
  let native: ReturnType<typeof loadAddon>;
  try {
    native = loadAddon();
  } catch {
    return undefined;
  }
  return new native.PayloadSealer(key);
}
