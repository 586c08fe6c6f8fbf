/**
 * Link and end-to-end session keys: X25519 key agreement, then HKDF-SHA256.
 *
 * ```
 * order the two sides by host id (16-byte CGA, lexicographic): "low" and "high"
 * shared = X25519(own private, peer public)                       (all-zero result refused)
 * okm    = HKDF-SHA256(ikm = shared,
 *                      salt = nonce(low) ‖ nonce(high),
 *                      info = label ‖ hostId(low) ‖ hostId(high),
 *                      length = 64)
 * key(low → high) = okm[0..32], key(high → low) = okm[32..64]
 * ```
 *
 * Both sides compute the same okm whoever initiated; each takes the key of its own direction as
 * the send key and the other as the receive key. Rotation derives epoch n+1 from epoch n with
 * HKDF(ikm = key_n, salt = empty, info = "capsule-rotate-v1" ‖ epoch n+1 (u32 BE)) per direction,
 * so both sides rotate to the same keys without another exchange, and a leaked key of epoch n+1
 * does not reveal epoch n (HKDF is one-way).
 *
 * End-to-end keys rekey per direction without an exchange either, but from the flow's base key
 * (the epoch-0 key of that direction) rather than from the previous epoch:
 *
 * ```
 * e2eKey(0) = base
 * e2eKey(n) = HKDF-SHA256(ikm = base, salt = empty, info = "capsule-e2e-epoch-v1" ‖ n (u32 BE), 32)
 * ```
 * so that a receiver derives any epoch in one step (a sender that restarted, or jumped several
 * epochs ahead, costs one derivation, not a chain). The base key is as secret as every epoch's key
 * (both ends can recompute it from their persisted X25519 keys), so a chain would protect nothing more.
 */
import { createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';
import { compareBytes } from './bytes';
import { IdentityError } from './errors';

/** DER SubjectPublicKeyInfo prefix of an X25519 key (RFC 8410): the raw 32 bytes follow. */
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** HKDF info label of overlay link keys. */
export const LINK_KEY_LABEL = 'capsule-link-v1';
/** HKDF info label of end-to-end payload keys. */
export const E2E_KEY_LABEL = 'capsule-e2e-v1';
const ROTATE_LABEL = 'capsule-rotate-v1';
/** HKDF info label of an end-to-end key's later epochs (`deriveE2eEpochKey`). */
export const E2E_EPOCH_LABEL = 'capsule-e2e-epoch-v1';
/** The last e2e key epoch (the sealed payload's epoch field is 32 bits). */
export const E2E_EPOCH_MAX = 0xffff_ffff;

/** An X25519 key pair; `publicKeyRaw` is what certificates and the Key Exchange option carry. */
export interface X25519KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** 32 bytes. */
  readonly publicKeyRaw: Uint8Array;
}

/** Generates an X25519 key pair. */
export function generateX25519KeyPair(): X25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey, publicKeyRaw: exportX25519PublicKeyRaw(publicKey) };
}

/** The raw 32-byte X25519 public key of a key object (public or private). */
export function exportX25519PublicKeyRaw(key: KeyObject): Uint8Array {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  if (publicKey.asymmetricKeyType !== 'x25519')
    throw new IdentityError('IDENTITY_WRONG_KEY_TYPE', 'not an X25519 key');
  return new Uint8Array(
    publicKey.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length),
  );
}

/**
 * An X25519 public key object from its raw 32 bytes. Imported as a JWK (RFC 8037): the same key
 * as the DER SubjectPublicKeyInfo form, at about a fifth of its cost in node:crypto (≈ 20 µs
 * against ≈ 90 µs measured; every handshake and every cookie reply imports one).
 */
export function importX25519PublicKeyRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new IdentityError('IDENTITY_INVALID_KEY', 'an X25519 public key is 32 bytes');
  const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
}

/** A fixed key for `isWeakX25519PublicKey`'s probe (any clamped scalar gives the same verdict). */
let probeKey: KeyObject | undefined;

/**
 * True when a raw X25519 public key is unusable: not 32 bytes, or a point of small order (the
 * all-zero key, 1, the order-8 points and their non-canonical encodings). X25519 clamps every
 * scalar to a multiple of 8, the cofactor, so such a point gives the all-zero shared secret with
 * any private key: one Diffie-Hellman with a fixed probe key decides it — the same rule
 * `deriveSessionKeys` applies to a neighbor's key, here for whoever stores a key for later (the
 * controller at registration). Never throws.
 */
export function isWeakX25519PublicKey(raw: Uint8Array): boolean {
  if (raw.length !== 32) return true;
  probeKey ??= generateKeyPairSync('x25519').privateKey;
  try {
    const shared = diffieHellman({ privateKey: probeKey, publicKey: importX25519PublicKeyRaw(raw) });
    return shared.every((byte) => byte === 0);
  } catch {
    return true;
  }
}

/** Directional session keys of one epoch. */
export interface SessionKeys {
  readonly epoch: number;
  /** 32 bytes: seals what this side sends. */
  readonly sendKey: Uint8Array;
  /** 32 bytes: opens what the peer sends. */
  readonly receiveKey: Uint8Array;
}

/** Inputs of `deriveSessionKeys`. */
export interface SessionKeyInput {
  readonly privateKey: KeyObject;
  /** The peer's raw X25519 public key (32 bytes). */
  readonly peerPublicKey: Uint8Array;
  /** Nonces both sides contributed (any length, 16 recommended). */
  readonly localNonce: Uint8Array;
  readonly peerNonce: Uint8Array;
  /** Host ids (CGAs, 16 bytes): they must differ. */
  readonly localHostId: Uint8Array;
  readonly peerHostId: Uint8Array;
  /** LINK_KEY_LABEL (default) or E2E_KEY_LABEL, or another purpose label. */
  readonly label?: string;
}

/** Derives epoch-0 directional keys (see the module comment). Throws IDENTITY_WEAK_PEER_KEY for a low-order peer key. */
export function deriveSessionKeys(input: SessionKeyInput): SessionKeys {
  const order = compareBytes(input.localHostId, input.peerHostId);
  if (order === 0) throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the two host ids must differ');
  let shared: Buffer;
  try {
    shared = diffieHellman({
      privateKey: input.privateKey,
      publicKey: importX25519PublicKeyRaw(input.peerPublicKey),
    });
  } catch (cause) {
    throw new IdentityError(
      'IDENTITY_WEAK_PEER_KEY',
      'X25519 with the peer key failed (a low-order point?)',
      { cause },
    );
  }
  if (shared.every((byte) => byte === 0))
    throw new IdentityError(
      'IDENTITY_WEAK_PEER_KEY',
      'X25519 gave the all-zero secret: the peer key is a low-order point',
    );
  const localIsLow = order < 0;
  const [lowNonce, highNonce] = localIsLow
    ? [input.localNonce, input.peerNonce]
    : [input.peerNonce, input.localNonce];
  const [lowId, highId] = localIsLow
    ? [input.localHostId, input.peerHostId]
    : [input.peerHostId, input.localHostId];
  const okm = new Uint8Array(
    hkdfSync(
      'sha256',
      shared,
      Buffer.concat([lowNonce, highNonce]),
      Buffer.concat([Buffer.from(input.label ?? LINK_KEY_LABEL, 'utf8'), lowId, highId]),
      64,
    ),
  );
  const lowToHigh = okm.slice(0, 32);
  const highToLow = okm.slice(32, 64);
  return localIsLow
    ? { epoch: 0, sendKey: lowToHigh, receiveKey: highToLow }
    : { epoch: 0, sendKey: highToLow, receiveKey: lowToHigh };
}

function rotateKey(key: Uint8Array, nextEpoch: number): Uint8Array {
  const info = Buffer.alloc(ROTATE_LABEL.length + 4);
  info.write(ROTATE_LABEL, 0, 'ascii');
  info.writeUInt32BE(nextEpoch, ROTATE_LABEL.length);
  return new Uint8Array(hkdfSync('sha256', key, new Uint8Array(0), info, 32));
}

/** The keys of epoch n+1 from those of epoch n (both sides compute the same; see the module comment). */
export function rotateSessionKeys(keys: SessionKeys): SessionKeys {
  if (keys.epoch >= 0xffff_ffff)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the key epoch is exhausted');
  const epoch = keys.epoch + 1;
  return { epoch, sendKey: rotateKey(keys.sendKey, epoch), receiveKey: rotateKey(keys.receiveKey, epoch) };
}

/**
 * The e2e key of `epoch` for one direction, from that direction's epoch-0 key `base` (32 bytes):
 * `base` itself for epoch 0, else HKDF as the module comment shows. Throws IDENTITY_INVALID_ARGUMENT
 * for an epoch outside 0..2^32 − 1 and IDENTITY_INVALID_KEY for a base that is not 32 bytes.
 */
export function deriveE2eEpochKey(base: Uint8Array, epoch: number): Uint8Array {
  if (base.length !== 32) throw new IdentityError('IDENTITY_INVALID_KEY', 'an e2e base key is 32 bytes');
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > E2E_EPOCH_MAX)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the key epoch is an unsigned 32-bit integer');
  if (epoch === 0) return base.slice();
  const info = Buffer.alloc(E2E_EPOCH_LABEL.length + 4);
  info.write(E2E_EPOCH_LABEL, 0, 'ascii');
  info.writeUInt32BE(epoch, E2E_EPOCH_LABEL.length);
  return new Uint8Array(hkdfSync('sha256', base, new Uint8Array(0), info, 32));
}
