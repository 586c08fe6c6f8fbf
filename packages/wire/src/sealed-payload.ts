/**
 * The e2e-sealed payload: what follows a capsule header whose next header is 59. It carries the
 * original application packet (IPv4 or IPv6, whole), sealed by the sending agent with the flow's
 * end-to-end key; engines never open it. This codec only splits it; identity seals and opens.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Key Epoch (32)                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                   Nonce (96: the AEAD nonce)                  +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Ciphertext …                            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Tag (128)                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Overhead: 32 bytes (16 before the ciphertext, 16 after).
 */
import { readU32, writeU32 } from './bytes';
import { type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureLength, ensureRoom, ensureUint } from './wire-error';

/** Bytes before the ciphertext (key epoch and nonce). */
export const SEALED_PAYLOAD_HEADER_LENGTH = 16;
/** Bytes of the AEAD nonce. */
export const SEALED_PAYLOAD_NONCE_LENGTH = 12;
/** Bytes of the AEAD tag. */
export const SEALED_PAYLOAD_TAG_LENGTH = 16;
/** Total bytes the sealing adds to the application packet. */
export const SEALED_PAYLOAD_OVERHEAD = SEALED_PAYLOAD_HEADER_LENGTH + SEALED_PAYLOAD_TAG_LENGTH;

/** A sealed payload's parts. */
export interface SealedPayload {
  /** Which end-to-end key of the flow sealed it (keys rotate by epoch). */
  readonly keyEpoch: number;
  /** 12 bytes. */
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
  /** 16 bytes. */
  readonly tag: Uint8Array;
}

/** Writes the sealed payload at into[offset]; returns its length. */
export function encodeSealedPayload(payload: SealedPayload, into: Uint8Array, offset = 0): number {
  ensureUint(payload.keyEpoch, 32, 'sealed payload keyEpoch');
  ensureLength(payload.nonce, SEALED_PAYLOAD_NONCE_LENGTH, 'sealed payload nonce');
  ensureLength(payload.tag, SEALED_PAYLOAD_TAG_LENGTH, 'sealed payload tag');
  const length = SEALED_PAYLOAD_OVERHEAD + payload.ciphertext.length;
  ensureRoom(into, offset, length, 'sealed payload');
  writeU32(into, offset, payload.keyEpoch);
  into.set(payload.nonce, offset + 4);
  into.set(payload.ciphertext, offset + SEALED_PAYLOAD_HEADER_LENGTH);
  into.set(payload.tag, offset + SEALED_PAYLOAD_HEADER_LENGTH + payload.ciphertext.length);
  return length;
}

/** Splits a sealed payload occupying all of `bytes` into its parts (views into the input). */
export function decodeSealedPayload(bytes: Uint8Array): DecodeResult<SealedPayload> {
  if (bytes.length < SEALED_PAYLOAD_OVERHEAD)
    return decodeFailure('TRUNCATED', `sealed payload needs at least 32 bytes; got ${bytes.length}`, 0);
  const tagAt = bytes.length - SEALED_PAYLOAD_TAG_LENGTH;
  return decoded({
    keyEpoch: readU32(bytes, 0),
    nonce: bytes.subarray(4, SEALED_PAYLOAD_HEADER_LENGTH),
    ciphertext: bytes.subarray(SEALED_PAYLOAD_HEADER_LENGTH, tagAt),
    tag: bytes.subarray(tagAt),
  });
}
