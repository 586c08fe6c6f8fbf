/**
 * The node's RSA-2048 key pair (the seed requires RSA; RFC 3971 SeND signs with it and RFC 3972
 * hashes its public key into the CGA). The "public key" of a CGA is the DER-encoded X.509
 * SubjectPublicKeyInfo (RFC 3972 section 3), so that is the form this module hands out.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { asBuffer } from './bytes';
import { IdentityError } from './errors';

/** An RSA key pair as node:crypto key objects. */
export interface RsaKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** RSA modulus size of node keys: 2048 bits (RFC 3971 allows 384..2048; the seed asks for 2048). */
export const RSA_MODULUS_BITS = 2048;

/** Generates an RSA-2048 key pair (blocks for ~0.1-1 s; prefer the async form in daemons). */
export function generateRsaKeyPair(): RsaKeyPair {
  return generateKeyPairSync('rsa', { modulusLength: RSA_MODULUS_BITS, publicExponent: 0x10001 });
}

/** Generates an RSA-2048 key pair on the thread pool. */
export function generateRsaKeyPairAsync(): Promise<RsaKeyPair> {
  return new Promise((resolve, reject) =>
    generateKeyPair(
      'rsa',
      { modulusLength: RSA_MODULUS_BITS, publicExponent: 0x10001 },
      (error, publicKey, privateKey) => (error ? reject(error) : resolve({ publicKey, privateKey })),
    ),
  );
}

/** The PKCS#8 PEM text of a private key. */
export function exportPrivateKeyPem(privateKey: KeyObject): string {
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The SubjectPublicKeyInfo PEM text of a public key. */
export function exportPublicKeyPem(publicKey: KeyObject): string {
  return publicKey.export({ format: 'pem', type: 'spki' }).toString();
}

/** The DER SubjectPublicKeyInfo of a public (or private) key: the CGA Parameters "Public Key" field. */
export function exportPublicKeyDer(key: KeyObject): Uint8Array {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
}

function looksLikePem(input: string | Uint8Array): string | undefined {
  const text = typeof input === 'string' ? input : Buffer.from(input.subarray(0, 64)).toString('latin1');
  if (!text.includes('-----BEGIN ')) return undefined;
  return typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
}

function requireRsa(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'rsa')
    throw new IdentityError(
      'IDENTITY_WRONG_KEY_TYPE',
      `${what} is a ${key.asymmetricKeyType ?? 'secret'} key, not an RSA key`,
    );
  return key;
}

/** Imports an RSA private key from PEM (PKCS#8 or PKCS#1) or DER (PKCS#8); throws IDENTITY_INVALID_KEY / IDENTITY_WRONG_KEY_TYPE. */
export function importRsaPrivateKey(input: string | Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    const pem = looksLikePem(input);
    key =
      pem !== undefined
        ? createPrivateKey(pem)
        : createPrivateKey({ key: asBuffer(input as Uint8Array), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new IdentityError('IDENTITY_INVALID_KEY', 'not a readable private key (PEM or PKCS#8 DER)', {
      cause,
    });
  }
  return requireRsa(key, 'the private key');
}

/**
 * Imports an RSA public key from PEM or from DER SubjectPublicKeyInfo (a private key's PEM also
 * works: its public half is taken). Throws IDENTITY_INVALID_KEY / IDENTITY_WRONG_KEY_TYPE.
 */
export function importRsaPublicKey(input: string | Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    const pem = looksLikePem(input);
    key =
      pem !== undefined
        ? createPublicKey(pem)
        : createPublicKey({ key: asBuffer(input as Uint8Array), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new IdentityError(
      'IDENTITY_INVALID_KEY',
      'not a readable public key (PEM or SubjectPublicKeyInfo DER)',
      {
        cause,
      },
    );
  }
  return requireRsa(key, 'the public key');
}
