/**
 * `capsule rotate signing-key` and `GET /api/v1/signing-keys`: the controller's key ring as the
 * API shows it, and the rotation use case — systemAdmin only, audited, announced to the other
 * replicas on the bus so that they read the ring again. A plain function over the controller's
 * context, so tests and the lab rotate the way the API does.
 */
import { ApiError, type SigningKey, type SigningKeyList, type SigningKeyRotation } from '@capsule/api';
import type { Principal } from './auth';
import type { ControllerContext } from './context';
import type { SigningKeyRecord, SigningKeyRing } from './signing-key';

type RotationServices = Pick<
  ControllerContext,
  'signingKeys' | 'signingKeyRotation' | 'clock' | 'bus' | 'replicaId' | 'audit' | 'store' | 'logger'
>;

function requireRing(services: Pick<ControllerContext, 'signingKeys'>): SigningKeyRing {
  if (!services.signingKeys) throw new ApiError('UNAVAILABLE', 'this controller has no signing key');
  return services.signingKeys;
}

function toSigningKey(record: SigningKeyRecord, signingKeyId: number, nowMs: number): SigningKey {
  return {
    keyId: record.keyId,
    publicKey: record.publicKey,
    state:
      record.activatesAtMs > nowMs ? 'announced' : record.keyId === signingKeyId ? 'signing' : 'retiring',
    activatesAt: new Date(record.activatesAtMs).toISOString(),
    retiresAt: record.retiresAtMs === null ? null : new Date(record.retiresAtMs).toISOString(),
  };
}

/** The keys nodes trust now, newest first (any signed-in user: public keys are not secret). */
export function listSigningKeys(services: Pick<ControllerContext, 'signingKeys' | 'clock'>): SigningKeyList {
  const ring = requireRing(services);
  const nowMs = services.clock.nowMs();
  const signing = ring.signingKey(nowMs).keyId;
  return { items: ring.trusted(nowMs).map((record) => toSigningKey(record, signing, nowMs)) };
}

/**
 * Makes a new signing key (systemAdmin): announced to nodes now, signing after the activation
 * delay; the key signing now stays trusted until the overlap after that has passed.
 */
export async function rotateSigningKey(
  principal: Principal,
  services: RotationServices,
): Promise<SigningKeyRotation> {
  if (!principal.roles.includes('systemAdmin'))
    throw new ApiError('FORBIDDEN', 'rotating the controller signing key needs the systemAdmin role');
  const ring = requireRing(services);
  const nowMs = services.clock.nowMs();
  const rotation = await ring.rotate(nowMs, services.signingKeyRotation);
  await services.store.db.transaction().execute((trx) =>
    services.audit(trx, principal, 'rotate', 'signing-keys', null, null, {
      keyId: rotation.keyId,
      replacedKeyId: rotation.replacedKeyId,
    }),
  );
  await services.bus.publish({ kind: 'signing-keys', origin: services.replicaId });
  services.logger.info(
    { keyId: rotation.keyId, activatesAtMs: rotation.activatesAtMs, replacedKeyId: rotation.replacedKeyId },
    'controller signing key rotated',
  );
  const records = ring.trusted(nowMs);
  const signing = ring.signingKey(nowMs).keyId;
  const of = (keyId: number) =>
    toSigningKey(records.find((record) => record.keyId === keyId)!, signing, nowMs);
  return { key: of(rotation.keyId), replaced: of(rotation.replacedKeyId) };
}
