/**
 * Keep-alive: a registered node says it is alive (with statistics) and takes its undelivered
 * commands, each delivered once (the push channel may have delivered some already), and the
 * controller keys it must trust now.
 */
import type { ControllerKeyInfo, NodeCommand } from '@capsule/api';
import type { Principal } from '../auth';
import { takeCommands } from '../commands';
import type { Db } from '../rows';
import { requireNode, type SouthboundServices } from './services';

/**
 * Records the keep-alive and returns the node's commands (empty: nothing to do) and the controller
 * keys it must trust (how a signing key rotation reaches running nodes).
 */
export async function keepalive(
  db: Db,
  input: { principal: Principal; statistics?: Readonly<Record<string, number>> },
  services: Pick<SouthboundServices, 'clock' | 'logger' | 'identity'>,
): Promise<{ commands: NodeCommand[]; controllerKeys?: ControllerKeyInfo[] }> {
  const node = await requireNode(db, input.principal);
  const nowMs = services.clock.nowMs();
  const commands = await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('nodes')
      .set({
        last_keepalive_at: new Date(nowMs).toISOString(),
        // Bounded by the request schema (≤ 64 numbers, names ≤ 60 characters); kept as sent.
        ...(input.statistics && { keepalive_statistics: JSON.stringify(input.statistics) }),
      })
      .where('id', '=', node.id)
      .execute();
    return takeCommands(trx, node.id, nowMs, services.logger);
  });
  return services.identity ? { commands, controllerKeys: services.identity.trustedKeys() } : { commands };
}
