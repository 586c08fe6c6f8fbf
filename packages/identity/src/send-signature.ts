/**
 * The SeND RSA Signature (RFC 3971 section 5.2), over bytes: the caller (the ND codecs of
 * @capsule/wire, or a test) supplies the ICMPv6 message up to the RSA Signature option.
 *
 * Signed data:
 *
 * ```
 * CGA Message Type tag (16) = 0x086F CA5E 10B2 00C9 9C8C E001 6427 7C08   (RFC 3971 section 5.2)
 * Source Address (16)       from the IPv6 header
 * Destination Address (16)  from the IPv6 header
 * Type (1) | Code (1) | Checksum (2, signed as zero: see below)
 * the ND message header after the checksum, and every option before the RSA Signature option
 * ```
 *
 * The algorithm is RSASSA-PKCS1-v1_5 with SHA-1, as RFC 3971 5.2 and RFC 3972 6 require (SHA-1 is
 * weak against collisions; SeND has no algorithm agility, RFC 6494/6495 add it elsewhere: we follow
 * the RFC for interoperability and because the certificate and flow authorization, not this
 * signature, carry the controller's trust).
 *
 * The checksum: the ICMPv6 checksum covers the whole message including the RSA Signature option,
 * so it cannot be known when the signature is computed. Sender and receiver therefore treat the
 * Checksum field as zero in the signed data (as SeND implementations do: the sender computes the
 * checksum last; the receiver zeroes the field before verifying). See docs/security.md.
 *
 * Key Hash: the leftmost 128 bits of SHA-1 over the public key in the form the CGA option carries
 * it (DER SubjectPublicKeyInfo).
 */
import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { asBuffer, equalBytes } from './bytes';
import { IdentityError } from './errors';

/** The CGA Message Type tag of SeND (RFC 3971 section 5.2, IANA "CGA Message Type" registry). */
export const SEND_CGA_MESSAGE_TYPE_TAG: Uint8Array = Uint8Array.from(
  Buffer.from('086FCA5E10B200C99C8CE00164277C08', 'hex'),
);

/** The Key Hash field: leftmost 128 bits of SHA-1 over the DER SubjectPublicKeyInfo. */
export function sendKeyHash(publicKeyDer: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(publicKeyDer).digest().subarray(0, 16));
}

/** The inputs of a SeND signature. */
export interface SendSignatureInput {
  /** IPv6 source address (16 bytes). */
  readonly source: Uint8Array;
  /** IPv6 destination address (16 bytes). */
  readonly destination: Uint8Array;
  /** The ICMPv6 message from its Type octet up to (not including) the RSA Signature option. */
  readonly icmpMessage: Uint8Array;
}

/** The exact octets signed (RFC 3971 5.2), with the checksum field zeroed. */
export function sendSignedData(input: SendSignatureInput): Uint8Array {
  if (input.source.length !== 16 || input.destination.length !== 16)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'source and destination are 16-byte IPv6 addresses');
  if (input.icmpMessage.length < 4)
    throw new IdentityError(
      'IDENTITY_INVALID_ARGUMENT',
      'an ICMPv6 message is at least 4 bytes (type, code, checksum)',
    );
  const data = new Uint8Array(48 + input.icmpMessage.length);
  data.set(SEND_CGA_MESSAGE_TYPE_TAG, 0);
  data.set(input.source, 16);
  data.set(input.destination, 32);
  data.set(input.icmpMessage, 48);
  data[50] = 0; // checksum, signed as zero
  data[51] = 0;
  return data;
}

/** Signs an ND message (RSASSA-PKCS1-v1_5, SHA-1); returns the Digital Signature field (256 bytes for RSA-2048). */
export function signSendMessage(input: SendSignatureInput & { readonly privateKey: KeyObject }): Uint8Array {
  if (input.privateKey.asymmetricKeyType !== 'rsa')
    throw new IdentityError('IDENTITY_WRONG_KEY_TYPE', 'SeND signatures use an RSA key (RFC 3971 5.2)');
  return new Uint8Array(sign('sha1', sendSignedData(input), input.privateKey));
}

/** Why a SeND signature was refused. */
export type SendSignatureFailure = 'malformed' | 'key-hash-mismatch' | 'bad-signature';

/** The outcome of `verifySendMessage`. */
export type SendSignatureVerification =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: SendSignatureFailure };

/**
 * Verifies the RSA Signature option of an ND message against the public key from its (already
 * verified) CGA option. `keyHash`, when given, must match the key (RFC 3971 5.2.2). Never throws.
 */
export function verifySendMessage(
  input: SendSignatureInput & {
    readonly signature: Uint8Array;
    /** DER SubjectPublicKeyInfo (the CGA Parameters' public key). */
    readonly publicKeyDer: Uint8Array;
    readonly keyHash?: Uint8Array;
  },
): SendSignatureVerification {
  if (input.source.length !== 16 || input.destination.length !== 16 || input.icmpMessage.length < 4)
    return { ok: false, reason: 'malformed' };
  if (input.keyHash !== undefined && !equalBytes(input.keyHash, sendKeyHash(input.publicKeyDer)))
    return { ok: false, reason: 'key-hash-mismatch' };
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: asBuffer(input.publicKeyDer), format: 'der', type: 'spki' });
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (publicKey.asymmetricKeyType !== 'rsa') return { ok: false, reason: 'malformed' };
  let valid = false;
  try {
    valid = verify('sha1', sendSignedData(input), publicKey, asBuffer(input.signature));
  } catch {
    valid = false;
  }
  return valid ? { ok: true } : { ok: false, reason: 'bad-signature' };
}
