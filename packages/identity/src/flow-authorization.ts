/**
 * The flow authorization: the value of the capsule AUTH chunk, signed by the controller.
 *
 * ```
 *  0       1       2               4                               12
 * +-------+-------+---------------+-------------------------------+
 * |version|  alg  |    key id     |         serial (64)           |
 * +-------+-------+---------------+-------------------------------+
 * 12              16              20              24              28
 * +---------------+---------------+---------------+---------------+
 * |  not before   |   not after   |   domain id   |  contract id  |   (unix seconds; ids 32-bit)
 * +---------------+---------------+---------------+---------------+
 * 28              32              36
 * +---------------+---------------+-------------------------------+
 * |    role id    |   reserved    | source host id (128: the CGA) |
 * +---------------+---------------+-------------------------------+
 * 52                              84                              148
 * +-------------------------------+-------------------------------+
 * | logic hash (256: SHA-256 of   | signature (512): Ed25519 over |
 * | the CODE chunk's machine code)| bytes 0..84                   |
 * +-------------------------------+-------------------------------+
 * ```
 *
 * version = 1, alg = 1 (Ed25519). All big-endian. Exactly 148 bytes. The reserved field is written
 * as zero and ignored when read (the first release wrote template permission bits there, which
 * nothing ever checked; authorizations it issued still decode and verify).
 */

import { type DecodeResult, decoded, decodeFailure, readU16, readU32 } from '@capsule/wire';
import { viewOf } from './bytes';
import type {
  ControllerKeys,
  ControllerPublicKey,
  ControllerSigningKey,
  SignedStructureFailure,
} from './controller-key';
import { checkValidity, controllerKeyFor, signEd25519, verifyEd25519 } from './controller-key';
import { IdentityError } from './errors';

/** Encoded size of a flow authorization. */
export const FLOW_AUTHORIZATION_LENGTH = 148;
/** Length of the signed part (everything before the signature). */
export const FLOW_AUTHORIZATION_SIGNED_LENGTH = 84;
/** The only version defined. */
export const FLOW_AUTHORIZATION_VERSION = 1;
/** Algorithm 1: Ed25519. */
export const SIGNATURE_ALGORITHM_ED25519 = 1;

/** The fields a controller signs. */
export interface FlowAuthorizationBody {
  readonly keyId: number;
  /** 64-bit serial (revocation names it). */
  readonly serial: bigint;
  /** Unix seconds. */
  readonly notBefore: number;
  /** Unix seconds. */
  readonly notAfter: number;
  readonly domainId: number;
  readonly contractId: number;
  readonly roleId: number;
  /** The source endpoint's IPv6 CGA (16 bytes). */
  readonly sourceHostId: Uint8Array;
  /**
   * SHA-256 of the program's machine code (32 bytes): the CODE chunk value after its entry table,
   * @capsule/wire's `logicHashOf`.
   */
  readonly logicHash: Uint8Array;
}

/** A signed flow authorization. */
export interface FlowAuthorization extends FlowAuthorizationBody {
  readonly version: number;
  readonly algorithm: number;
  /** Ed25519 signature (64 bytes). */
  readonly signature: Uint8Array;
}

function assertU32(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', `${name} is an unsigned 32-bit integer`);
}

function writeBody(
  body: FlowAuthorizationBody,
  version: number,
  algorithm: number,
  into: Uint8Array,
  offset: number,
): void {
  if (!Number.isInteger(body.keyId) || body.keyId < 0 || body.keyId > 0xffff)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'keyId is an unsigned 16-bit integer');
  if (body.serial < 0n || body.serial > 0xffff_ffff_ffff_ffffn)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'serial is an unsigned 64-bit integer');
  for (const name of ['notBefore', 'notAfter', 'domainId', 'contractId', 'roleId'] as const)
    assertU32(body[name], name);
  if (body.sourceHostId.length !== 16)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'sourceHostId is 16 bytes');
  if (body.logicHash.length !== 32)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'logicHash is 32 bytes');
  if (offset < 0 || into.length - offset < FLOW_AUTHORIZATION_LENGTH)
    throw new IdentityError(
      'IDENTITY_BUFFER_TOO_SMALL',
      `a flow authorization needs ${FLOW_AUTHORIZATION_LENGTH} bytes`,
    );
  const view = new DataView(into.buffer, into.byteOffset + offset, FLOW_AUTHORIZATION_LENGTH);
  view.setUint8(0, version);
  view.setUint8(1, algorithm);
  view.setUint16(2, body.keyId);
  view.setBigUint64(4, body.serial);
  view.setUint32(12, body.notBefore);
  view.setUint32(16, body.notAfter);
  view.setUint32(20, body.domainId);
  view.setUint32(24, body.contractId);
  view.setUint32(28, body.roleId);
  view.setUint32(32, 0); // reserved
  into.set(body.sourceHostId, offset + 36);
  into.set(body.logicHash, offset + 52);
}

/** Writes `value` (148 bytes) into `into` at `offset`; returns 148. */
export function encodeFlowAuthorization(value: FlowAuthorization, into: Uint8Array, offset = 0): number {
  if (value.signature.length !== 64)
    throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'the signature is 64 bytes');
  writeBody(value, value.version, value.algorithm, into, offset);
  into.set(value.signature, offset + FLOW_AUTHORIZATION_SIGNED_LENGTH);
  return FLOW_AUTHORIZATION_LENGTH;
}

/** Reads a flow authorization (exactly 148 bytes, version 1, algorithm 1). Never throws. */
export function decodeFlowAuthorization(bytes: Uint8Array): DecodeResult<FlowAuthorization> {
  if (bytes.length !== FLOW_AUTHORIZATION_LENGTH)
    return decodeFailure(
      'BAD_LENGTH',
      `a flow authorization is ${FLOW_AUTHORIZATION_LENGTH} bytes, not ${bytes.length}`,
      0,
    );
  const view = viewOf(bytes);
  const version = view.getUint8(0);
  if (version !== FLOW_AUTHORIZATION_VERSION)
    return decodeFailure('BAD_VERSION', `unsupported version ${version}`, 0);
  const algorithm = view.getUint8(1);
  if (algorithm !== SIGNATURE_ALGORITHM_ED25519)
    return decodeFailure('BAD_FIELD', `unsupported algorithm ${algorithm}`, 1);
  return decoded({
    version,
    algorithm,
    keyId: view.getUint16(2),
    serial: view.getBigUint64(4),
    notBefore: view.getUint32(12),
    notAfter: view.getUint32(16),
    domainId: view.getUint32(20),
    contractId: view.getUint32(24),
    roleId: view.getUint32(28),
    sourceHostId: bytes.slice(36, 52),
    logicHash: bytes.slice(52, 84),
    signature: bytes.slice(84, 148),
  });
}

/** Signs `body` with the controller key (its key id is written in); returns the 148 encoded bytes. */
export function signFlowAuthorization(
  body: Omit<FlowAuthorizationBody, 'keyId'>,
  key: ControllerSigningKey,
): Uint8Array {
  const bytes = new Uint8Array(FLOW_AUTHORIZATION_LENGTH);
  writeBody({ ...body, keyId: key.keyId }, FLOW_AUTHORIZATION_VERSION, SIGNATURE_ALGORITHM_ED25519, bytes, 0);
  bytes.set(
    signEd25519(key.privateKey, bytes.subarray(0, FLOW_AUTHORIZATION_SIGNED_LENGTH)),
    FLOW_AUTHORIZATION_SIGNED_LENGTH,
  );
  return bytes;
}

/** The outcome of `verifyFlowAuthorization`. */
export type FlowAuthorizationVerification =
  | { readonly ok: true; readonly value: FlowAuthorization }
  | { readonly ok: false; readonly reason: SignedStructureFailure; readonly detail?: string };

/** Offsets of the fields in the encoded authorization (the diagram above). */
export const FlowAuthorizationOffset = {
  VERSION: 0,
  ALGORITHM: 1,
  KEY_ID: 2,
  SERIAL: 4,
  NOT_BEFORE: 12,
  NOT_AFTER: 16,
  DOMAIN_ID: 20,
  CONTRACT_ID: 24,
  ROLE_ID: 28,
  SOURCE_HOST_ID: 36,
  LOGIC_HASH: 52,
  SIGNATURE: FLOW_AUTHORIZATION_SIGNED_LENGTH,
} as const;

/**
 * Checks an Ed25519 signature over `message` by a controller key (`verifyEd25519` by default; the
 * engine passes one that first asks its fast path's verifier thread). Never throws.
 */
export type ControllerSignatureCheck = (
  key: ControllerPublicKey,
  message: Uint8Array,
  signature: Uint8Array,
) => boolean;

const verifyByKeyObject: ControllerSignatureCheck = (key, message, signature) =>
  verifyEd25519(key.publicKey, message, signature);

/**
 * The checks of `verifyFlowAuthorization`, in its order, on the authorization at
 * bytes[at, at + length) read in place (nothing decoded or copied: the engine's type I path, which
 * reads the fields it keeps itself): why it is refused, or undefined when it verifies. Never throws.
 */
export function checkFlowAuthorization(
  bytes: Uint8Array,
  at: number,
  length: number,
  keys: ControllerKeys,
  nowSeconds: number,
  checkSignature: ControllerSignatureCheck = verifyByKeyObject,
): SignedStructureFailure | undefined {
  if (length !== FLOW_AUTHORIZATION_LENGTH || at < 0 || bytes.length - at < FLOW_AUTHORIZATION_LENGTH)
    return 'malformed';
  if (
    bytes[at + FlowAuthorizationOffset.VERSION] !== FLOW_AUTHORIZATION_VERSION ||
    bytes[at + FlowAuthorizationOffset.ALGORITHM] !== SIGNATURE_ALGORITHM_ED25519
  )
    return 'malformed';
  const key = controllerKeyFor(keys, readU16(bytes, at + FlowAuthorizationOffset.KEY_ID), nowSeconds);
  if (typeof key === 'string') return key;
  const signatureAt = at + FlowAuthorizationOffset.SIGNATURE;
  if (
    !checkSignature(
      key,
      bytes.subarray(at, signatureAt),
      bytes.subarray(signatureAt, at + FLOW_AUTHORIZATION_LENGTH),
    )
  )
    return 'bad-signature';
  return checkValidity(
    {
      notBefore: readU32(bytes, at + FlowAuthorizationOffset.NOT_BEFORE),
      notAfter: readU32(bytes, at + FlowAuthorizationOffset.NOT_AFTER),
    },
    nowSeconds,
  );
}

/**
 * Verifies an encoded flow authorization: well-formed, names the id of a key in `keys` whose end
 * of validity has not passed (`controllerKeyFor`), Ed25519 signature over bytes 0..84 valid by
 * that key, and `nowSeconds` within [notBefore, notAfter] (`checkFlowAuthorization`). Never throws.
 */
export function verifyFlowAuthorization(
  bytes: Uint8Array,
  keys: ControllerKeys,
  nowSeconds: number,
): FlowAuthorizationVerification {
  const decoded = decodeFlowAuthorization(bytes);
  if (!decoded.ok) return { ok: false, reason: 'malformed', detail: decoded.error.message };
  const failure = checkFlowAuthorization(bytes, 0, bytes.length, keys, nowSeconds);
  if (failure) return { ok: false, reason: failure };
  return { ok: true, value: decoded.value };
}
