/**
 * AEAD for the data plane: the per-hop link-frame tag and the end-to-end payload seal.
 *
 * Two ciphers, each chosen by measurement (bench/identity.bench.ts, docs/security.md); both have
 * a 256-bit key, a 96-bit nonce and a 128-bit tag:
 * - link frames: `LINK_CIPHER`, ChaCha20-Poly1305. DATA frames are MAC-only (empty plaintext, the
 *   headers as AAD), and for that case link-mac.ts computes the RFC 8439 tag in TypeScript without
 *   allocating (≈ 0.5 µs for 100 bytes of headers against ≈ 3.5 µs for a node:crypto cipher
 *   object). A link frame with a plaintext still goes through node:crypto.
 * - e2e payloads: `AEAD_CIPHER`, AES-256-GCM from node:crypto (AES-NI; faster on real payloads).
 *
 * Nonces (96 bits, never reused under one key): 0x00000000 ‖ counter (u64 BE). Every direction of
 * a link, and of an e2e flow, has its own key (link-keys.ts) and a strictly increasing counter, so
 * (key, nonce) never repeats; each key epoch is a new key, so counters may restart at rotation.
 *
 * The e2e sealed form is the one @capsule/wire's sealed-payload codec splits (docs/wire-format.md):
 *
 * ```
 * key epoch (4) | nonce (12) | ciphertext (n) | tag (16)        (32 bytes overhead)
 * ```
 * The AEAD's additional data is epoch ‖ nonce ‖ the caller's AAD, so the epoch field is
 * authenticated even by a receiver that would try one key for several epochs.
 *
 * Allocation: node:crypto has no in-place AEAD, so each seal/open through it creates one cipher
 * object and `update` returns a fresh buffer, which is copied into the caller's buffer. What we
 * avoid: the nonce is built in a buffer reused across calls, nothing is concatenated, and the tag
 * is read into the caller's buffer. The MAC-only link path allocates nothing but the bigint
 * halves of the counter (`computeLinkMac`/`verifyLinkMac` take a number and avoid even those).
 * Measured in bench/identity.bench.ts.
 */
import { type CipherGCMTypes, createCipheriv, createDecipheriv } from 'node:crypto';
import { encodeSealedPayloadHeader, SEALED_PAYLOAD_OVERHEAD, SealedPayloadView } from '@capsule/wire';
import { asBuffer } from './bytes';
import { IdentityError } from './errors';
import { computeLinkMacHalves, verifyLinkMacHalves } from './link-mac';

/** The AEAD ciphers Capsule can use. */
export type AeadCipherName = 'chacha20-poly1305' | 'aes-256-gcm';

/**
 * The e2e payload cipher, picked by bench/identity.bench.ts on this project's machines: AES-256-GCM
 * (AES-NI) beat node:crypto's ChaCha20-Poly1305 at 64 B and 1400 B; see docs/security.md.
 */
export const AEAD_CIPHER: AeadCipherName = 'aes-256-gcm';
/**
 * The link-frame cipher: ChaCha20-Poly1305, because the MAC-only DATA frame tag (empty plaintext)
 * is computed without node:crypto's per-call cipher object (link-mac.ts); see docs/security.md.
 */
export const LINK_CIPHER: AeadCipherName = 'chacha20-poly1305';
/** Key length, bytes. */
export const AEAD_KEY_LENGTH = 32;
/** Tag length, bytes. */
export const AEAD_TAG_LENGTH = 16;
/** Overhead of an e2e sealed payload: epoch (4) + nonce (12) + tag (16) (@capsule/wire's sealed-payload codec). */
export const E2E_SEAL_OVERHEAD = SEALED_PAYLOAD_OVERHEAD;

const nonce = Buffer.alloc(12);

function setNonce(counter: bigint): Buffer {
  nonce.writeUInt32BE(0, 0);
  nonce.writeBigUInt64BE(counter, 4);
  return nonce;
}

function cipherFor(name: AeadCipherName, key: Uint8Array, iv: Buffer) {
  // Both are AEADs with a 16-byte tag; the cast names the GCM overload, which has the AEAD methods.
  return createCipheriv(name as CipherGCMTypes, asBuffer(key), iv, { authTagLength: AEAD_TAG_LENGTH });
}

function decipherFor(name: AeadCipherName, key: Uint8Array, iv: Buffer) {
  return createDecipheriv(name as CipherGCMTypes, asBuffer(key), iv, { authTagLength: AEAD_TAG_LENGTH });
}

function checkKey(key: Uint8Array): void {
  if (key.length !== AEAD_KEY_LENGTH)
    throw new IdentityError('IDENTITY_INVALID_KEY', 'AEAD keys are 32 bytes');
}

function checkCounter(counter: bigint): void {
  if (counter < 0n || counter > 0xffff_ffff_ffff_ffffn)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the counter is an unsigned 64-bit integer');
}

/** Seals with `0 ‖ counter` as nonce; writes ciphertext then tag at `out[offset..]`; returns bytes written. */
function sealInto(
  cipherName: AeadCipherName,
  key: Uint8Array,
  counter: bigint,
  aad: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  offset: number,
  aadPrefix?: Uint8Array,
): number {
  checkKey(key);
  checkCounter(counter);
  const needed = plaintext.length + AEAD_TAG_LENGTH;
  if (offset < 0 || out.length - offset < needed)
    throw new IdentityError('IDENTITY_BUFFER_TOO_SMALL', `sealing needs ${needed} bytes`);
  const cipher = cipherFor(cipherName, key, setNonce(counter));
  if (aadPrefix) cipher.setAAD(asBuffer(aadPrefix));
  cipher.setAAD(asBuffer(aad));
  if (plaintext.length > 0) out.set(cipher.update(asBuffer(plaintext)), offset);
  cipher.final();
  out.set(cipher.getAuthTag(), offset + plaintext.length);
  return needed;
}

/** Opens `sealed` (ciphertext ‖ tag) into a new array, or undefined when it does not authenticate. */
function openFrom(
  cipherName: AeadCipherName,
  key: Uint8Array,
  counter: bigint,
  aad: Uint8Array,
  sealed: Uint8Array,
  aadPrefix?: Uint8Array,
): Uint8Array | undefined {
  if (key.length !== AEAD_KEY_LENGTH || sealed.length < AEAD_TAG_LENGTH) return undefined;
  if (counter < 0n || counter > 0xffff_ffff_ffff_ffffn) return undefined;
  const ciphertextLength = sealed.length - AEAD_TAG_LENGTH;
  try {
    const decipher = decipherFor(cipherName, key, setNonce(counter));
    if (aadPrefix) decipher.setAAD(asBuffer(aadPrefix));
    decipher.setAAD(asBuffer(aad));
    decipher.setAuthTag(asBuffer(sealed.subarray(ciphertextLength)));
    const plaintext =
      ciphertextLength > 0
        ? decipher.update(asBuffer(sealed.subarray(0, ciphertextLength)))
        : Buffer.alloc(0);
    decipher.final();
    return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  } catch {
    return undefined;
  }
}

const EMPTY = new Uint8Array(0);

/** Options shared by the seal/open calls: which cipher (default `LINK_CIPHER` for link frames, `AEAD_CIPHER` for payloads). */
export interface AeadOptions {
  readonly cipher?: AeadCipherName;
}

/**
 * Seals a link frame: `header` (frame header and the inner headers) is authenticated as AAD,
 * `plaintext` (often empty: the "MAC over headers") is encrypted. Writes ciphertext ‖ tag into
 * `out` at `offset`; returns the bytes written (plaintext length + 16). With ChaCha20-Poly1305
 * (the default) and an empty plaintext, the tag comes from link-mac.ts (same bytes, no node:crypto).
 */
export function sealLinkFrame(
  key: Uint8Array,
  counter: bigint,
  header: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  offset = 0,
  options: AeadOptions = {},
): number {
  const cipher = options.cipher ?? LINK_CIPHER;
  if (cipher !== 'chacha20-poly1305' || plaintext.length > 0)
    return sealInto(cipher, key, counter, header, plaintext, out, offset);
  checkKey(key);
  checkCounter(counter);
  if (offset < 0 || out.length - offset < AEAD_TAG_LENGTH)
    throw new IdentityError('IDENTITY_BUFFER_TOO_SMALL', `sealing needs ${AEAD_TAG_LENGTH} bytes`);
  computeLinkMacHalves(key, Number(counter >> 32n), Number(counter & 0xffff_ffffn), header, out, offset);
  return AEAD_TAG_LENGTH;
}

/** Opens a link frame's ciphertext ‖ tag; the plaintext (empty for a MAC-only frame) or undefined. Never throws. */
export function openLinkFrame(
  key: Uint8Array,
  counter: bigint,
  header: Uint8Array,
  sealed: Uint8Array,
  options: AeadOptions = {},
): Uint8Array | undefined {
  const cipher = options.cipher ?? LINK_CIPHER;
  if (cipher !== 'chacha20-poly1305' || sealed.length !== AEAD_TAG_LENGTH)
    return openFrom(cipher, key, counter, header, sealed);
  if (key.length !== AEAD_KEY_LENGTH || counter < 0n || counter > 0xffff_ffff_ffff_ffffn) return undefined;
  const high = Number(counter >> 32n);
  const low = Number(counter & 0xffff_ffffn);
  return verifyLinkMacHalves(key, high, low, header, sealed, 0) ? EMPTY : undefined;
}

/**
 * Seals an application packet end to end: writes key epoch (4) ‖ nonce (12) ‖ ciphertext ‖ tag (16)
 * into `out` at `offset`; returns the bytes written (plaintext length + 32). `aad` binds what must
 * not change in flight (for example the flow id).
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
  encodeSealedPayloadHeader(epoch, counter, out, offset);
  const header = out.subarray(offset, offset + 16); // authenticated too: the epoch cannot be changed
  return 16 + sealInto(options.cipher ?? AEAD_CIPHER, key, counter, aad, plaintext, out, offset + 16, header);
}

/** What `openPayload` found. */
export type OpenPayloadResult =
  | { readonly ok: true; readonly epoch: number; readonly counter: bigint; readonly plaintext: Uint8Array }
  | { readonly ok: false; readonly reason: 'malformed' | 'unknown-epoch' | 'bad-tag' };

/**
 * Opens an e2e sealed payload. `keyForEpoch` returns the receive key of an epoch (current and
 * previous during a rotation) or undefined. A nonce whose first 4 bytes are not zero is
 * `malformed` (we never send one). Replay checks on `counter` are the caller's. Never throws.
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
  const plaintext = openFrom(
    options.cipher ?? AEAD_CIPHER,
    key,
    counter,
    aad,
    sealed.subarray(16),
    sealed.subarray(0, 16),
  );
  return plaintext === undefined ? { ok: false, reason: 'bad-tag' } : { ok: true, epoch, counter, plaintext };
}
