/**
 * Revoking a flow authorization (`POST /api/v1/authorizations/{id}/revoke`): it is marked revoked,
 * its endpoint is deleted, and a revocation command, with the authorization's end so nodes can
 * forget it afterwards, is queued for every engine and for the endpoint's host in the same
 * transaction (policy-revocation.ts), then announced so the replicas holding their push channels
 * send it at once; the endpoint's removal is a topology change, so paths and the engines' role
 * routes are recomputed without the revoked member. The role's group key
 * moves to a new epoch with that recomputation (group-keys.ts). Revoking twice changes nothing.
 */
import { ApiError, type Authorization } from '@capsule/api';
import type { Principal } from './auth';
import type { ControllerContext } from './context';
import { revocationChanges, revokeScope } from './policy-revocation';
import { requireVisible } from './rbac';
import { type Db, selectAuthorizationRows, toAuthorization } from './rows';

/** Revokes authorization `id` (visible to the principal) and tells the nodes. */
export async function revokeAuthorization(
  db: Db,
  input: { principal: Principal; id: number },
  services: Pick<ControllerContext, 'clock' | 'audit' | 'queueCommands' | 'publishChanges'>,
): Promise<Authorization> {
  const { principal, id } = input;
  const { row, changes } = await db.transaction().execute(async (trx) => {
    const before = await selectAuthorizationRows(trx).where('t.id', '=', id).executeTakeFirst();
    if (!before) throw new ApiError('NOT_FOUND', `no authorization ${id}`);
    requireVisible(principal, 'authorizations', before.domain_id);
    if (before.revoked_at) return { row: before, changes: [] };
    const revocation = await revokeScope(
      trx,
      { kind: 'authorization', id },
      { nowMs: services.clock.nowMs(), queueCommands: services.queueCommands },
    );
    await services.audit(trx, principal, 'revoke', 'authorizations', id, before.domain_id, {
      serial: before.serial,
    });
    const row = await selectAuthorizationRows(trx).where('t.id', '=', id).executeTakeFirstOrThrow();
    return { row, changes: revocationChanges(revocation) };
  });
  await services.publishChanges(changes);
  return toAuthorization(row);
}
