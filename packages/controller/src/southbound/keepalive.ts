/**
 * Keep-alive: a registered node says it is alive (with statistics), acknowledges the commands it
 * took in since the last one, and takes its commands — the ones not acknowledged yet, or, from a
 * node that does not acknowledge, the undelivered ones once (commands.ts `takeCommands`) — and
 * the controller keys it must trust now.
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
  input: {
    principal: Principal;
    statistics?: Readonly<Record<string, number>>;
    /** The command ids the node acknowledges (commands.ts `takeCommands`); undefined: it does not. */
    acked?: readonly number[];
  },
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
        // Its commands are kept until acknowledged from now on (retention.ts).
        ...(input.acked && { command_acks: 1 }),
      })
      .where('id', '=', node.id)
      .execute();
    return takeCommands(trx, node.id, nowMs, services.logger, input.acked);
  });
  return services.identity ? { commands, controllerKeys: services.identity.trustedKeys() } : { commands };
}
