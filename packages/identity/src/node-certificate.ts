/**
 * The node certificate: the controller's signature over a node's identity, returned at
 * registration and carried in SeND-style discovery (our Node Certificate ND option).
 *
 * ```
 * offset size
 *   0     1   version = 1
 *   1     1   node type: 1 host, 2 engine, 3 controller
 *   2     2   key id (the controller key that signed)
 *   4     8   serial
 *  12     4   not before (unix seconds)
 *  16     4   not after (unix seconds)
 *  20     4   zone id
 *  24    16   host id (the node's CGA)
 *  40    32   X25519 public key (raw)
 *  72    32   RSA key hash: SHA-256 of the RSA SubjectPublicKeyInfo DER
 * 104     1   name length n (1..255)
 * 105     n   name (UTF-8 host name)
 * 105+n  64   signature: Ed25519 over bytes 0..105+n
 * ```
 *
 * All big-endian. Total 169 + n bytes.
 */
import { createHash } from 'node:crypto';
import { type DecodeResult, decoded, decodeFailure } from '@capsule/wire';
import { equalBytes, viewOf } from './bytes';
import type { ControllerKeys, ControllerSigningKey, SignedStructureFailure } from './controller-key';
import { checkValidity, controllerKeyFor, signEd25519, verifyEd25519 } from './controller-key';
import { IdentityError } from './errors';

/** Node types. */
export const NodeType = { host: 1, engine: 2, controller: 3 } as const;
/** A node type value. */
export type NodeTypeValue = (typeof NodeType)[keyof typeof NodeType];

/** The only version defined. */
export const NODE_CERTIFICATE_VERSION = 1;
/** Bytes before the name. */
const FIXED_LENGTH = 105;
/** Longest name in bytes. */
export const NODE_CERTIFICATE_MAX_NAME_BYTES = 255;

/** The fields a controller certifies. */
export interface NodeCertificateBody {
  readonly nodeType: NodeTypeValue;
  readonly keyId: number;
  readonly serial: bigint;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly zoneId: number;
  /** The node's CGA (16 bytes). */
  readonly hostId: Uint8Array;
  /** Raw X25519 public key (32 bytes). */
  readonly x25519PublicKey: Uint8Array;
  /** SHA-256 of the node's RSA SubjectPublicKeyInfo DER (32 bytes): see `rsaKeyHash`. */
  readonly rsaKeyHash: Uint8Array;
  /** Host name (UTF-8, 1..255 bytes). */
  readonly name: string;
}

/** A signed node certificate. */
export interface NodeCertificate extends NodeCertificateBody {
  readonly version: number;
  /** Ed25519 signature (64 bytes). */
  readonly signature: Uint8Array;
}

/** SHA-256 of an RSA SubjectPublicKeyInfo DER: the certificate's rsaKeyHash field. */
export function rsaKeyHash(publicKeyDer: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(publicKeyDer).digest());
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** Encoded size of a certificate for `name`. */
export function nodeCertificateLength(name: string): number {
  return FIXED_LENGTH + encoder.encode(name).length + 64;
}

function writeBody(body: NodeCertificateBody, into: Uint8Array, offset: number): number {
  const name = encoder.encode(body.name);
  if (name.length < 1 || name.length > NODE_CERTIFICATE_MAX_NAME_BYTES)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the name is 1..255 bytes of UTF-8');
  if (!Object.values(NodeType).includes(body.nodeType))
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', `unknown node type ${body.nodeType}`);
  if (!Number.isInteger(body.keyId) || body.keyId < 0 || body.keyId > 0xffff)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'keyId is an unsigned 16-bit integer');
  if (body.serial < 0n || body.serial > 0xffff_ffff_ffff_ffffn)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'serial is an unsigned 64-bit integer');
  for (const field of ['notBefore', 'notAfter', 'zoneId'] as const)
    if (!Number.isInteger(body[field]) || body[field] < 0 || body[field] > 0xffff_ffff)
      throw new IdentityError('IDENTITY_INVALID_ARGUMENT', `${field} is an unsigned 32-bit integer`);
  if (body.hostId.length !== 16) throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'hostId is 16 bytes');
  if (body.x25519PublicKey.length !== 32)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'x25519PublicKey is 32 bytes');
  if (body.rsaKeyHash.length !== 32)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'rsaKeyHash is 32 bytes');
  const total = FIXED_LENGTH + name.length + 64;
  if (offset < 0 || into.length - offset < total)
    throw new IdentityError('IDENTITY_BUFFER_TOO_SMALL', `this node certificate needs ${total} bytes`);
  const view = new DataView(into.buffer, into.byteOffset + offset, total);
  view.setUint8(0, NODE_CERTIFICATE_VERSION);
  view.setUint8(1, body.nodeType);
  view.setUint16(2, body.keyId);
  view.setBigUint64(4, body.serial);
  view.setUint32(12, body.notBefore);
  view.setUint32(16, body.notAfter);
  view.setUint32(20, body.zoneId);
  into.set(body.hostId, offset + 24);
  into.set(body.x25519PublicKey, offset + 40);
  into.set(body.rsaKeyHash, offset + 72);
  view.setUint8(104, name.length);
  into.set(name, offset + FIXED_LENGTH);
  return FIXED_LENGTH + name.length;
}

/** Writes `value` into `into` at `offset`; returns the bytes written. */
export function encodeNodeCertificate(value: NodeCertificate, into: Uint8Array, offset = 0): number {
  if (value.version !== NODE_CERTIFICATE_VERSION)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', `unsupported version ${value.version}`);
  if (value.signature.length !== 64)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the signature is 64 bytes');
  const signedLength = writeBody(value, into, offset);
  into.set(value.signature, offset + signedLength);
  return signedLength + 64;
}

/** Reads a node certificate that fills `bytes` exactly. Never throws. */
export function decodeNodeCertificate(bytes: Uint8Array): DecodeResult<NodeCertificate> {
  if (bytes.length < FIXED_LENGTH + 1 + 64)
    return decodeFailure('TRUNCATED', 'node certificate too short', bytes.length);
  const view = viewOf(bytes);
  const version = view.getUint8(0);
  if (version !== NODE_CERTIFICATE_VERSION)
    return decodeFailure('BAD_VERSION', `unsupported version ${version}`, 0);
  const nodeType = view.getUint8(1);
  if (nodeType < 1 || nodeType > 3) return decodeFailure('UNKNOWN_TYPE', `unknown node type ${nodeType}`, 1);
  const nameLength = view.getUint8(104);
  if (nameLength === 0) return decodeFailure('BAD_FIELD', 'empty name', 104);
  const total = FIXED_LENGTH + nameLength + 64;
  if (bytes.length !== total)
    return decodeFailure('BAD_LENGTH', `length ${bytes.length}, expected ${total}`, 104);
  let name: string;
  try {
    name = strictDecoder.decode(bytes.subarray(FIXED_LENGTH, FIXED_LENGTH + nameLength));
  } catch {
    return decodeFailure('BAD_FIELD', 'the name is not UTF-8', FIXED_LENGTH);
  }
  return decoded({
    version,
    nodeType: nodeType as NodeTypeValue,
    keyId: view.getUint16(2),
    serial: view.getBigUint64(4),
    notBefore: view.getUint32(12),
    notAfter: view.getUint32(16),
    zoneId: view.getUint32(20),
    hostId: bytes.slice(24, 40),
    x25519PublicKey: bytes.slice(40, 72),
    rsaKeyHash: bytes.slice(72, 104),
    name,
    signature: bytes.slice(total - 64),
  });
}

/** Signs `body` with the controller key (its key id is written in); returns the encoded certificate. */
export function signNodeCertificate(
  body: Omit<NodeCertificateBody, 'keyId'>,
  key: ControllerSigningKey,
): Uint8Array {
  const bytes = new Uint8Array(nodeCertificateLength(body.name));
  const signedLength = writeBody({ ...body, keyId: key.keyId }, bytes, 0);
  bytes.set(signEd25519(key.privateKey, bytes.subarray(0, signedLength)), signedLength);
  return bytes;
}

/** The outcome of `verifyNodeCertificate`. */
export type NodeCertificateVerification =
  | { readonly ok: true; readonly value: NodeCertificate }
  | { readonly ok: false; readonly reason: SignedStructureFailure; readonly detail?: string };

/**
 * Verifies an encoded node certificate: well-formed, a key id of `keys` not retired at
 * `nowSeconds` (`controllerKeyFor`), the signature by that key, validity at `nowSeconds`. Never throws.
 */
export function verifyNodeCertificate(
  bytes: Uint8Array,
  keys: ControllerKeys,
  nowSeconds: number,
): NodeCertificateVerification {
  const decoded = decodeNodeCertificate(bytes);
  if (!decoded.ok) return { ok: false, reason: 'malformed', detail: decoded.error.message };
  const value = decoded.value;
  const key = controllerKeyFor(keys, value.keyId, nowSeconds);
  if (typeof key === 'string') return { ok: false, reason: key };
  if (!verifyEd25519(key.publicKey, bytes.subarray(0, bytes.length - 64), value.signature))
    return { ok: false, reason: 'bad-signature' };
  const window = checkValidity(value, nowSeconds);
  if (window) return { ok: false, reason: window };
  return { ok: true, value };
}

/**
 * Does a (verified) certificate belong to the sender of a SeND message: its host id is the
 * message's verified source CGA and its RSA key hash is SHA-256 of the CGA Parameters' public key?
 */
export function nodeCertificateMatchesSender(
  certificate: Pick<NodeCertificate, 'hostId' | 'rsaKeyHash'>,
  sender: { readonly address: Uint8Array; readonly publicKeyDer: Uint8Array },
): boolean {
  return (
    equalBytes(certificate.hostId, sender.address) &&
    equalBytes(certificate.rsaKeyHash, rsaKeyHash(sender.publicKeyDer))
  );
}

/** The share of a node certificate's validity after which its node asks for a new one. */
export const NODE_CERTIFICATE_RENEW_AT = 2 / 3;

/**
 * When a node renews its certificate (ms since the epoch): two thirds into its validity, so a
 * 30-day certificate is renewed with 10 days left — time for every peer's next handshake to carry
 * the new one, and for a controller outage of days to pass unnoticed.
 */
export function nodeCertificateRenewalDueMs(
  certificate: Pick<NodeCertificate, 'notBefore' | 'notAfter'>,
): number {
  return (
    (certificate.notBefore + (certificate.notAfter - certificate.notBefore) * NODE_CERTIFICATE_RENEW_AT) *
    1000
  );
}
