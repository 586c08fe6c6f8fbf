/**
 * The controller's Ed25519 signing key: it signs node certificates, flow authorizations and
 * program images. A 16-bit key id (the first two bytes of SHA-256 over the raw 32-byte public key)
 * names the key inside those structures so that a verifier holding several controller keys (during
 * a rotation) picks the right one, and refuses a structure that names another.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { asBuffer } from './bytes';
import { IdentityError } from './errors';

/** DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410): the raw 32 bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The controller's public key and its id: what a verifier needs. */
export interface ControllerPublicKey {
  readonly publicKey: KeyObject;
  /** 16-bit key id. */
  readonly keyId: number;
}

/** The controller's signing key. */
export interface ControllerSigningKey extends ControllerPublicKey {
  readonly privateKey: KeyObject;
}

/** The raw 32-byte Ed25519 public key. */
export function exportEd25519PublicKeyRaw(publicKey: KeyObject): Uint8Array {
  const der = (publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey).export({
    format: 'der',
    type: 'spki',
  });
  return new Uint8Array(der.subarray(ED25519_SPKI_PREFIX.length));
}

/** The 16-bit key id of an Ed25519 public key: SHA-256(raw key)[0..2], big-endian. */
export function controllerKeyId(publicKey: KeyObject): number {
  const digest = createHash('sha256').update(exportEd25519PublicKeyRaw(publicKey)).digest();
  return (digest[0]! << 8) | digest[1]!;
}

function requireEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519')
    throw new IdentityError(
      'IDENTITY_WRONG_KEY_TYPE',
      `${what} is a ${key.asymmetricKeyType ?? 'secret'} key, not Ed25519`,
    );
  return key;
}

/** Generates a controller signing key. */
export function generateControllerKey(): ControllerSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, keyId: controllerKeyId(publicKey) };
}

/** PKCS#8 PEM of the controller's private key. */
export function exportControllerPrivateKeyPem(key: ControllerSigningKey): string {
  return key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** SubjectPublicKeyInfo PEM of the controller's public key (what `openssl pkeyutl -pubin` reads). */
export function exportControllerPublicKeyPem(key: ControllerPublicKey): string {
  return key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
}

/** Imports the controller's signing key from PKCS#8 PEM or DER. */
export function importControllerPrivateKey(input: string | Uint8Array): ControllerSigningKey {
  let privateKey: KeyObject;
  try {
    privateKey =
      typeof input === 'string'
        ? createPrivateKey(input)
        : createPrivateKey({ key: asBuffer(input), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new IdentityError('IDENTITY_INVALID_KEY', 'not a readable Ed25519 private key', { cause });
  }
  requireEd25519(privateKey, 'the controller key');
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: controllerKeyId(publicKey) };
}

/** Imports the controller's public key from PEM, DER SubjectPublicKeyInfo, or the raw 32 bytes. */
export function importControllerPublicKey(input: string | Uint8Array): ControllerPublicKey {
  let publicKey: KeyObject;
  try {
    if (typeof input === 'string') publicKey = createPublicKey(input);
    else if (input.length === 32)
      publicKey = createPublicKey({
        key: Buffer.concat([ED25519_SPKI_PREFIX, input]),
        format: 'der',
        type: 'spki',
      });
    else publicKey = createPublicKey({ key: asBuffer(input), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new IdentityError('IDENTITY_INVALID_KEY', 'not a readable Ed25519 public key', { cause });
  }
  requireEd25519(publicKey, 'the controller public key');
  return { publicKey, keyId: controllerKeyId(publicKey) };
}

/** Ed25519 signature (64 bytes) of `message`. */
export function signEd25519(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKey));
}

/** True when `signature` is a valid Ed25519 signature of `message` by `publicKey`; never throws. */
export function verifyEd25519(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return verify(null, message, publicKey, asBuffer(signature));
  } catch {
    return false;
  }
}

/** Why a controller-signed structure was refused. */
export type SignedStructureFailure =
  | 'malformed'
  /** It names a key id the verifier does not trust (unknown, or a forged id). */
  | 'wrong-key-id'
  /** It names a key the verifier trusted until that key's end of validity, which has passed. */
  | 'key-retired'
  | 'bad-signature'
  | 'not-yet-valid'
  | 'expired';

/**
 * A controller key a node trusts, with the end of its validity: during a rotation (the
 * controller's `capsule rotate signing-key`) nodes trust the new key and the ones it replaced,
 * each until everything it signed has expired (the overlap); after that its signatures are refused.
 */
export interface TrustedControllerKey extends ControllerPublicKey {
  /** Unix seconds after which the key's signatures are refused; undefined: the current key, no end. */
  readonly notAfter?: number;
}

/** What verifiers take: one key (as before rotation existed), or the set of trusted keys. */
export type ControllerKeys = ControllerPublicKey | readonly TrustedControllerKey[];

/** The keys of `keys` as a list (one key, or the trusted set as it is). */
export function controllerKeyList(keys: ControllerKeys): readonly ControllerPublicKey[] {
  return Array.isArray(keys) ? (keys as readonly TrustedControllerKey[]) : [keys as ControllerPublicKey];
}

/**
 * The key of `keyId` among `keys` at `nowSeconds`, or why there is none: `wrong-key-id` when no
 * trusted key has that id, `key-retired` when it has and its end of validity has passed. Allocates
 * nothing.
 */
export function controllerKeyFor(
  keys: ControllerKeys,
  keyId: number,
  nowSeconds: number,
): ControllerPublicKey | 'wrong-key-id' | 'key-retired' {
  if (!Array.isArray(keys)) {
    const one = keys as ControllerPublicKey;
    return one.keyId === keyId ? one : 'wrong-key-id';
  }
  for (const key of keys as readonly TrustedControllerKey[])
    if (key.keyId === keyId)
      return key.notAfter !== undefined && nowSeconds > key.notAfter ? 'key-retired' : key;
  return 'wrong-key-id';
}

/** The time-window check shared by certificates and authorizations: notBefore ≤ now ≤ notAfter (seconds). */
export function checkValidity(
  window: { notBefore: number; notAfter: number },
  nowSeconds: number,
): 'not-yet-valid' | 'expired' | undefined {
  if (nowSeconds < window.notBefore) return 'not-yet-valid';
  if (nowSeconds > window.notAfter) return 'expired';
  return undefined;
}
