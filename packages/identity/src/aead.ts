/**
 * AEAD for the data plane: the ciphers, the per-hop link-frame seal, and the AEAD calls the e2e
 * payload cipher (payload-cipher.ts) is built on.
 *
 * Two ciphers, each chosen by measurement (bench/identity.bench.ts, docs/security.md); both have
 * a 256-bit key, a 96-bit nonce and a 128-bit tag:
 * - link frames: `LINK_CIPHER`, ChaCha20-Poly1305. DATA frames are MAC-only (empty plaintext, the
 *   headers as AAD), and for that case link-mac.ts computes the RFC 8439 tag in TypeScript without
 *   allocating (≈ 0.5 µs for 100 bytes of headers against ≈ 3.5 µs for a node:crypto cipher
 *   object). A link frame with a plaintext still goes through node:crypto.
 * - e2e payloads: `AEAD_CIPHER`, AES-256-GCM (AES-NI; faster on real payloads), behind the
 *   PayloadCipher port of payload-cipher.ts.
 *
 * Nonces (96 bits, never reused under one key): 0x00000000 ‖ counter (u64 BE). Every direction of
 * a link, and of an e2e flow, has its own key (link-keys.ts) and a strictly increasing counter, so
 * (key, nonce) never repeats; each key epoch is a new key, so counters may restart at rotation.
 *
 * Allocation: node:crypto has no in-place AEAD, so each seal/open through it creates one cipher
 * object and `update` returns a fresh buffer, which is copied into the caller's buffer. What we
 * avoid: the nonce is built in a buffer reused across calls, nothing is concatenated, and the tag
 * is read into the caller's buffer. The MAC-only link path allocates nothing but the bigint
 * halves of the counter (`computeLinkMac`/`verifyLinkMac` take a number and avoid even those).
 * Measured in bench/identity.bench.ts.
 */
import { type CipherGCMTypes, createCipheriv, createDecipheriv } from 'node:crypto';
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

const nonce = Buffer.alloc(12);

function setNonce(counter: bigint): Buffer {
  nonce.writeUInt32BE(0, 0);
  nonce.writeBigUInt64BE(counter, 4);
  return nonce;
}

/**
 * The AEAD seal under every caller: `nonce` (12 bytes), additional data `aadPrefix` ‖ `aad`;
 * writes ciphertext then tag at `out[offset..]` and returns the bytes written. No checks: the
 * callers check keys, ranges and counters (package-internal).
 */
export function aeadSeal(
  cipherName: AeadCipherName,
  key: Uint8Array,
  nonce: Uint8Array,
  aadPrefix: Uint8Array | undefined,
  aad: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  offset: number,
): number {
  // Both are AEADs with a 16-byte tag; the cast names the GCM overload, which has the AEAD methods.
  const cipher = createCipheriv(cipherName as CipherGCMTypes, asBuffer(key), asBuffer(nonce), {
    authTagLength: AEAD_TAG_LENGTH,
  });
  if (aadPrefix) cipher.setAAD(asBuffer(aadPrefix));
  cipher.setAAD(asBuffer(aad));
  if (plaintext.length > 0) out.set(cipher.update(asBuffer(plaintext)), offset);
  cipher.final();
  out.set(cipher.getAuthTag(), offset + plaintext.length);
  return plaintext.length + AEAD_TAG_LENGTH;
}

/**
 * The AEAD open under every caller: `sealed` is ciphertext ‖ tag; returns the plaintext (a new
 * array) or undefined when it does not authenticate or is shorter than a tag. Never throws
 * (package-internal).
 */
export function aeadOpen(
  cipherName: AeadCipherName,
  key: Uint8Array,
  nonce: Uint8Array,
  aadPrefix: Uint8Array | undefined,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  if (key.length !== AEAD_KEY_LENGTH || sealed.length < AEAD_TAG_LENGTH) return undefined;
  const ciphertextLength = sealed.length - AEAD_TAG_LENGTH;
  try {
    const decipher = createDecipheriv(cipherName as CipherGCMTypes, asBuffer(key), asBuffer(nonce), {
      authTagLength: AEAD_TAG_LENGTH,
    });
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

/** Throws IDENTITY_INVALID_KEY unless `key` is 32 bytes (package-internal). */
export function checkKey(key: Uint8Array): void {
  if (key.length !== AEAD_KEY_LENGTH)
    throw new IdentityError('IDENTITY_INVALID_KEY', 'AEAD keys are 32 bytes');
}

/** Throws IDENTITY_INVALID_ARGUMENT unless `counter` is an unsigned 64-bit integer (package-internal). */
export function checkCounter(counter: bigint): void {
  if (counter < 0n || counter > 0xffff_ffff_ffff_ffffn)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the counter is an unsigned 64-bit integer');
}

/** Seals a link frame's plaintext with `0 ‖ counter` as nonce into `out[offset..]`; returns bytes written. */
function sealInto(
  cipherName: AeadCipherName,
  key: Uint8Array,
  counter: bigint,
  aad: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  offset: number,
): number {
  checkKey(key);
  checkCounter(counter);
  const needed = plaintext.length + AEAD_TAG_LENGTH;
  if (offset < 0 || out.length - offset < needed)
    throw new IdentityError('IDENTITY_BUFFER_TOO_SMALL', `sealing needs ${needed} bytes`);
  return aeadSeal(cipherName, key, setNonce(counter), undefined, aad, plaintext, out, offset);
}

/** Opens a link frame's `sealed` (ciphertext ‖ tag) into a new array, or undefined when it does not authenticate. */
function openFrom(
  cipherName: AeadCipherName,
  key: Uint8Array,
  counter: bigint,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  if (counter < 0n || counter > 0xffff_ffff_ffff_ffffn) return undefined;
  return aeadOpen(cipherName, key, setNonce(counter), undefined, aad, sealed);
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
