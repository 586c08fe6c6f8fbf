/**
 * The end-to-end payload seal: the whole application packet, sealed by the sending agent with the
 * flow's e2e key into the form @capsule/wire's sealed-payload codec owns (docs/wire-format.md):
 *
 * ```
 * key epoch (4) | nonce: 0x00000000 ‖ counter (12) | ciphertext (n) | tag (16)     (32 bytes overhead)
 * ```
 * The AEAD is `AEAD_CIPHER` (AES-256-GCM); its nonce is the header's last 12 bytes, its
 * additional data the 16-byte header then the caller's AAD, so the epoch field is authenticated
 * even by a receiver that would try one key for several epochs.
 *
 * Two forms:
 * - `PayloadCipher`, the data path's port: one object per key, seal/open into the caller's
 *   buffers with number counters. Two implementations: `createNodePayloadCipher` here (node:crypto:
 *   one cipher object and one output buffer per call, which node:crypto cannot avoid) and
 *   @capsule/native's `createNativePayloadCipher` (one reused OpenSSL context per key and direction,
 *   no allocation). One test suite runs against both (packages/native/test/payload-cipher.test.ts),
 *   and they agree byte for byte.
 * - `sealPayload` / `openPayload`, one-shot calls for tools and tests: any 64-bit counter (a
 *   bigint), a choice of cipher, the key chosen by epoch; they allocate.
 */
import {
  encodeSealedPayloadHeader,
  SEALED_PAYLOAD_HEADER_LENGTH,
  SEALED_PAYLOAD_NONCE_OFFSET,
  SEALED_PAYLOAD_OVERHEAD,
  SealedPayloadView,
} from '@capsule/wire';
import { AEAD_CIPHER, type AeadOptions, aeadOpen, aeadSeal, checkCounter, checkKey } from './aead';
import { IdentityError } from './errors';

/** Overhead of an e2e sealed payload: epoch (4) + nonce (12) + tag (16) (wire's SEALED_PAYLOAD_OVERHEAD). */
export const E2E_SEAL_OVERHEAD = SEALED_PAYLOAD_OVERHEAD;

/**
 * Seals and opens e2e payloads under one key (the port the agent's data path uses). Calls never
 * throw for a packet: a range outside its buffer, an epoch or counter out of range, or a tag that
 * does not verify returns -1.
 */
export interface PayloadCipher {
  /**
   * Writes the sealed payload of `source[sourceOffset, + length)` at `out[at]`: the header (key
   * epoch `keyEpoch` ≤ 2^32 − 1, nonce 0 ‖ `counter`, a safe integer), the ciphertext and the
   * tag, with header ‖ `aad` as the additional data. Returns the bytes written (length + 32), or -1.
   */
  seal(
    keyEpoch: number,
    counter: number,
    aad: Uint8Array,
    source: Uint8Array,
    sourceOffset: number,
    length: number,
    out: Uint8Array,
    at: number,
  ): number;
  /**
   * Opens `sealed[at, at + length)` (header ‖ ciphertext ‖ tag) with header ‖ `aad` as the
   * additional data into `out[outOffset …]`. Returns the plaintext length, or -1 (too short, `out`
   * too small, or the tag does not verify: then `out` may hold garbage). The epoch and the counter
   * are the caller's to check (wire's SealedPayloadView parses them); the tag covers both.
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

/** Whether [offset, offset + length) is a range of integers inside `bytes`. */
function isRange(bytes: Uint8Array, offset: number, length: number): boolean {
  return (
    Number.isInteger(offset) &&
    Number.isInteger(length) &&
    offset >= 0 &&
    length >= 0 &&
    offset + length <= bytes.length
  );
}

/** The PayloadCipher over node:crypto (AES-256-GCM). Throws IDENTITY_INVALID_KEY unless `key` is 32 bytes. */
export function createNodePayloadCipher(key: Uint8Array): PayloadCipher {
  checkKey(key);
  const ownKey = Uint8Array.from(key); // the caller may reuse its buffer, as the native contexts allow
  return {
    seal(keyEpoch, counter, aad, source, sourceOffset, length, out, at) {
      if (
        !(Number.isInteger(keyEpoch) && keyEpoch >= 0 && keyEpoch <= 0xffff_ffff) ||
        !(Number.isSafeInteger(counter) && counter >= 0) ||
        !isRange(source, sourceOffset, length) ||
        !isRange(out, at, length + SEALED_PAYLOAD_OVERHEAD)
      )
        return -1;
      encodeSealedPayloadHeader(keyEpoch, counter, out, at);
      const header = out.subarray(at, at + SEALED_PAYLOAD_HEADER_LENGTH);
      const plaintext = source.subarray(sourceOffset, sourceOffset + length);
      const nonce = header.subarray(SEALED_PAYLOAD_NONCE_OFFSET);
      return (
        SEALED_PAYLOAD_HEADER_LENGTH +
        aeadSeal(AEAD_CIPHER, ownKey, nonce, header, aad, plaintext, out, at + SEALED_PAYLOAD_HEADER_LENGTH)
      );
    },
    open(sealed, at, length, aad, out, outOffset) {
      if (
        length < SEALED_PAYLOAD_OVERHEAD ||
        !isRange(sealed, at, length) ||
        !isRange(out, outOffset, length - SEALED_PAYLOAD_OVERHEAD)
      )
        return -1;
      const header = sealed.subarray(at, at + SEALED_PAYLOAD_HEADER_LENGTH);
      const nonce = header.subarray(SEALED_PAYLOAD_NONCE_OFFSET);
      const plaintext = aeadOpen(
        AEAD_CIPHER,
        ownKey,
        nonce,
        header,
        aad,
        sealed.subarray(at + SEALED_PAYLOAD_HEADER_LENGTH, at + length),
      );
      if (plaintext === undefined) return -1;
      out.set(plaintext, outOffset);
      return plaintext.length;
    },
  };
}

/**
 * Seals an application packet end to end in one call: writes key epoch (4) ‖ nonce (12) ‖
 * ciphertext ‖ tag (16) into `out` at `offset`; returns the bytes written (plaintext length +
 * 32). `aad` binds what must not change in flight (for example the flow id). Throws IdentityError
 * on misuse (key, epoch, counter, room).
 */
export function sealPayload(
  key: Uint8Array,
  epoch: number,
  counter: bigint,
  aad: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  offset = 0,
  options: AeadOptions = {},
): number {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffff_ffff)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the key epoch is an unsigned 32-bit integer');
  checkCounter(counter);
  if (offset < 0 || out.length - offset < plaintext.length + E2E_SEAL_OVERHEAD)
    throw new IdentityError(
      'IDENTITY_BUFFER_TOO_SMALL',
      `sealing needs ${plaintext.length + E2E_SEAL_OVERHEAD} bytes`,
    );
  checkKey(key);
  encodeSealedPayloadHeader(epoch, counter, out, offset);
  const header = out.subarray(offset, offset + SEALED_PAYLOAD_HEADER_LENGTH);
  const nonce = header.subarray(SEALED_PAYLOAD_NONCE_OFFSET);
  const cipher = options.cipher ?? AEAD_CIPHER;
  return (
    SEALED_PAYLOAD_HEADER_LENGTH +
    aeadSeal(cipher, key, nonce, header, aad, plaintext, out, offset + SEALED_PAYLOAD_HEADER_LENGTH)
  );
}

/** What `openPayload` found. */
export type OpenPayloadResult =
  | { readonly ok: true; readonly epoch: number; readonly counter: bigint; readonly plaintext: Uint8Array }
  | { readonly ok: false; readonly reason: 'malformed' | 'unknown-epoch' | 'bad-tag' };

/**
 * Opens an e2e sealed payload in one call. `keyForEpoch` returns the receive key of an epoch
 * (current and previous during a rotation) or undefined. A payload the codec refuses (short, or a
 * nonce whose first 4 bytes are not zero: we never send one) is `malformed`. Replay checks on
 * `counter` are the caller's. Never throws.
 */
export function openPayload(
  keyForEpoch: (epoch: number) => Uint8Array | undefined,
  sealed: Uint8Array,
  aad: Uint8Array,
  options: AeadOptions = {},
): OpenPayloadResult {
  const view = new SealedPayloadView();
  if (!view.parse(sealed)) return { ok: false, reason: 'malformed' };
  const epoch = view.keyEpoch;
  const counter = (BigInt(view.counterHigh) << 32n) | BigInt(view.counterLow);
  const key = keyForEpoch(epoch);
  if (key === undefined) return { ok: false, reason: 'unknown-epoch' };
  const header = sealed.subarray(0, SEALED_PAYLOAD_HEADER_LENGTH);
  const plaintext = aeadOpen(
    options.cipher ?? AEAD_CIPHER,
    key,
    header.subarray(SEALED_PAYLOAD_NONCE_OFFSET),
    header,
    aad,
    sealed.subarray(SEALED_PAYLOAD_HEADER_LENGTH),
  );
  return plaintext === undefined ? { ok: false, reason: 'bad-tag' } : { ok: true, epoch, counter, plaintext };
}
