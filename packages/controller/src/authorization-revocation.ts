/**
 * Revoking a flow authorization (`POST /api/v1/authorizations/{id}/revoke`): it is marked revoked
 * and a revocation command, with the authorization's end so nodes can forget it afterwards, is
 * queued for every engine and for the endpoint's host in the same transaction, then announced so
 * the replicas holding their push channels send it at once; then the paths and group keys are
 * recomputed (its role gets a new group key epoch). Revoking twice changes nothing.
 */
import { ApiError, type Authorization, revocationCommand } from '@capsule/api';
import type { Principal } from './auth';
import type { ControllerContext } from './context';
import { requireVisible } from './rbac';
import { type Db, selectAuthorizationRows, toAuthorization } from './rows';

/** Revokes authorization `id` (visible to the principal) and tells the nodes. */
export async function revokeAuthorization(
  db: Db,
  input: { principal: Principal; id: number },
  services: Pick<
    ControllerContext,
    'clock' | 'audit' | 'queueCommands' | 'announceCommands' | 'publishChanges'
  >,
): Promise<Authorization> {
  const { principal, id } = input;
  const { row, commandIds } = await db.transaction().execute(async (trx) => {
    const row = await selectAuthorizationRows(trx).where('t.id', '=', id).executeTakeFirst();
    if (!row) throw new ApiError('NOT_FOUND', `no authorization ${id}`);
    requireVisible(principal, 'authorizations', row.domain_id);
    if (row.revoked_at) return { row, commandIds: [] as number[] };
    const at = new Date(services.clock.nowMs()).toISOString();
    await trx.updateTable('authorizations').set({ revoked_at: at }).where('id', '=', id).execute();
    const engines = await trx.selectFrom('nodes').select('id').where('type', '=', 'engine').execute();
    const nodeIds = [...new Set([...engines.map((engine) => engine.id), row.node_id])];
    const commandIds = await services.queueCommands(
      trx,
      nodeIds,
      revocationCommand([{ serial: row.serial, notAfter: row.not_after }]),
    );
    await services.audit(trx, principal, 'revoke', 'authorizations', id, row.domain_id, {
      serial: row.serial,
    });
    return { row: { ...row, revoked_at: at }, commandIds };
  });
  await services.announceCommands('revocation', commandIds);
  // The endpoint left its role: the role's group key moves to a new epoch, which the remaining
  // members and the senders get with the path-change this recomputes (group-keys.ts).
  if (commandIds.length > 0) await services.publishChanges([{ kind: 'topology' }]);
  return toAuthorization(row);
}
