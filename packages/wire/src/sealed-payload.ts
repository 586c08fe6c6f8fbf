/**
 * The e2e-sealed payload: what follows a capsule header whose next header is 59. It carries the
 * original application packet (IPv4 or IPv6, whole), sealed by the sending agent with the flow's
 * end-to-end key; engines never open it. This file is the one owner of the layout: the header
 * codec (`encodeSealedPayloadHeader`, `SealedPayloadView`) that every TypeScript sealer and opener
 * uses, and the split of a whole payload into parts (`encodeSealedPayload`, `decodeSealedPayload`).
 * The AEAD itself is @capsule/identity's PayloadCipher port; the native addon's AES-GCM contexts
 * (packages/native/addon/payload-cipher.cc) hold the one C++ copy of this layout, tested against this codec
 * byte for byte.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Key Epoch (32)                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  ─┐
 * |                     0x00000000 (32)                           |   │ Nonce (96: the
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   │ AEAD nonce)
 * |                                                               |   │
 * +                      Counter (64)                             +   │
 * |                                                               |   │
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  ─┘
 * |                       Ciphertext …                            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Tag (128)                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Overhead: 32 bytes (the 16-byte header before the ciphertext, the tag after). The header is
 * the first part of the AEAD's additional data (then the caller's AAD), so the epoch is
 * authenticated too. Capsule's sealers write the nonce as 32 zero bits and the per-key counter
 * (strictly increasing, so a nonce never repeats under one key); `SealedPayloadView`, the
 * receiver's parse, refuses any other nonce. `decodeSealedPayload` splits any nonce (a tool's view).
 */
import { readU32, writeU32 } from './bytes';
import { type DecodeErrorCode, type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureLength, ensureRoom, ensureUint, WireError } from './wire-error';

/** Bytes before the ciphertext (key epoch and nonce). */
export const SEALED_PAYLOAD_HEADER_LENGTH = 16;
/** Offset of the AEAD nonce in the header. */
export const SEALED_PAYLOAD_NONCE_OFFSET = 4;
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

/** Largest counter a number carries exactly (2^53 − 1); a bigint counter may go to 2^64 − 1. */
const MAX_NUMBER_COUNTER = Number.MAX_SAFE_INTEGER;
const MAX_BIGINT_COUNTER = 0xffff_ffff_ffff_ffffn;
const TWO_POW_32 = 0x1_0000_0000;

/**
 * Writes the 16-byte header at into[offset]: `keyEpoch`, then the nonce 0x00000000 ‖ `counter`
 * (u64 BE). `counter` is a number (a safe integer: the data path's counters) or a bigint below
 * 2^64. Returns 16. Throws WireError on a value out of range or a buffer without room (the
 * caller's bug, not input); allocates nothing for a number counter.
 */
export function encodeSealedPayloadHeader(
  keyEpoch: number,
  counter: number | bigint,
  into: Uint8Array,
  offset = 0,
): number {
  ensureUint(keyEpoch, 32, 'sealed payload keyEpoch');
  ensureRoom(into, offset, SEALED_PAYLOAD_HEADER_LENGTH, 'sealed payload header');
  let high: number;
  let low: number;
  if (typeof counter === 'bigint') {
    if (counter < 0n || counter > MAX_BIGINT_COUNTER)
      throw new WireError(
        'WIRE_VALUE_INVALID',
        `sealed payload counter must be in [0, 2^64); got ${counter}`,
      );
    high = Number(counter >> 32n);
    low = Number(counter & 0xffff_ffffn);
  } else {
    if (!Number.isInteger(counter) || counter < 0 || counter > MAX_NUMBER_COUNTER)
      throw new WireError(
        'WIRE_VALUE_INVALID',
        `sealed payload counter must be an integer in [0, 2^53); got ${counter}`,
      );
    high = Math.floor(counter / TWO_POW_32);
    low = counter >>> 0;
  }
  writeU32(into, offset, keyEpoch);
  writeU32(into, offset + SEALED_PAYLOAD_NONCE_OFFSET, 0);
  writeU32(into, offset + 8, high);
  writeU32(into, offset + 12, low);
  return SEALED_PAYLOAD_HEADER_LENGTH;
}

/**
 * The receiver's parse of a sealed payload, with no allocation: one view is reused for every
 * packet (as CapsuleHeaderView). `parse` never throws; after a failure `errorCode` says why.
 */
export class SealedPayloadView {
  keyEpoch = 0;
  /** The counter's high and low 32 bits (the nonce's last 8 bytes). */
  counterHigh = 0;
  counterLow = 0;
  /** The counter as a number: exact below 2^53 (every counter Capsule's data path sends). */
  counter = 0;
  /** Where the ciphertext starts (absolute in the parsed bytes) and its length; the tag follows it. */
  ciphertextOffset = 0;
  ciphertextLength = 0;
  /** Why the last parse failed (undefined after success); the offset is relative to the payload. */
  errorCode: DecodeErrorCode | undefined = undefined;
  errorMessage = '';
  errorOffset = 0;

  /**
   * Parses the sealed payload occupying bytes[offset, end): true when it holds a header, a tag
   * and a nonce of the form 0x00000000 ‖ counter. Whether the tag verifies is the cipher's to say.
   */
  parse(bytes: Uint8Array, offset = 0, end = bytes.length): boolean {
    this.errorCode = undefined;
    if (!(offset >= 0 && end <= bytes.length && end - offset >= SEALED_PAYLOAD_OVERHEAD))
      return this.fail('TRUNCATED', `sealed payload needs at least ${SEALED_PAYLOAD_OVERHEAD} bytes`, 0);
    if (readU32(bytes, offset + SEALED_PAYLOAD_NONCE_OFFSET) !== 0)
      return this.fail('BAD_FIELD', 'sealed payload nonce does not start with 32 zero bits', 4);
    this.keyEpoch = readU32(bytes, offset);
    this.counterHigh = readU32(bytes, offset + 8);
    this.counterLow = readU32(bytes, offset + 12);
    this.counter = this.counterHigh * TWO_POW_32 + this.counterLow;
    this.ciphertextOffset = offset + SEALED_PAYLOAD_HEADER_LENGTH;
    this.ciphertextLength = end - offset - SEALED_PAYLOAD_OVERHEAD;
    return true;
  }

  private fail(code: DecodeErrorCode, message: string, offset: number): false {
    this.errorCode = code;
    this.errorMessage = message;
    this.errorOffset = offset;
    return false;
  }
}
