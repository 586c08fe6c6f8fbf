/**
 * The node command queue: commands are rows (`commands`: node, kind, payload JSON, created,
 * delivered), queued inside the transaction of the change behind them, delivered once — in a
 * keep-alive answer or on the node's push channel, whichever comes first.
 */
import { decodeNodeCommand, type NodeCommand, type NodeCommandBody } from '@capsule/api';
import type { Logger } from 'pino';
import type { PushHub } from './push';
import type { Db, RowOf } from './rows';
import type { Store } from './store/open-store';

/** Most commands one keep-alive answer carries (the rest wait for the next). */
export const maxCommandsPerKeepalive = 100;

const iso = (ms: number) => new Date(ms).toISOString();

/** Rows one INSERT carries at most (5 parameters each: well under SQLite's 32,766). */
const rowsPerInsert = 500;

/** Queues `command` for each node (inside the caller's transaction); returns the new ids. */
export async function queueCommands(
  db: Db,
  nodeIds: readonly number[],
  command: NodeCommandBody,
  nowMs: number,
): Promise<number[]> {
  const queued = await queueEach(
    db,
    nodeIds.map((nodeId) => ({ nodeId, command })),
    nowMs,
  );
  return queued.map((row) => row.id);
}

/**
 * Queues one command per node (inside the caller's transaction), a few hundred rows per INSERT
 * rather than one statement each; returns each new id with its node (as a set: their order is not
 * promised).
 */
export async function queueEach(
  db: Db,
  commands: readonly { nodeId: number; command: NodeCommandBody }[],
  nowMs: number,
): Promise<{ id: number; nodeId: number }[]> {
  const queued: { id: number; nodeId: number }[] = [];
  const createdAt = iso(nowMs);
  const payloads = new Map<NodeCommandBody, string>();
  for (let i = 0; i < commands.length; i += rowsPerInsert) {
    const rows = commands.slice(i, i + rowsPerInsert).map(({ nodeId, command }) => {
      let payload = payloads.get(command);
      if (payload === undefined) {
        payload = JSON.stringify(command.payload);
        payloads.set(command, payload);
      }
      return { node_id: nodeId, kind: command.kind, payload, created_at: createdAt, delivered_at: null };
    });
    const inserted = await db.insertInto('commands').values(rows).returning(['id', 'node_id']).execute();
    for (const row of inserted) queued.push({ id: Number(row.id), nodeId: Number(row.node_id) });
  }
  return queued;
}

/**
 * A stored command as the node gets it, read with the nodes' own decoder; undefined (logged) for
 * a row that does not decode, which is then delivered as nothing rather than block the queue.
 */
export function toCommand(row: RowOf<'commands'>, logger: Logger): NodeCommand | undefined {
  let payload: unknown;
  try {
    payload = JSON.parse(row.payload);
  } catch {}
  const decoded = decodeNodeCommand({ id: row.id, kind: row.kind, payload, createdAt: row.created_at });
  if (decoded.ok) return decoded.value;
  logger.error({ commandId: row.id, ...decoded.error }, 'stored command does not decode: dropped');
  return undefined;
}

/**
 * A node's commands for a keep-alive answer (oldest first, at most `maxCommandsPerKeepalive`);
 * call it inside the keep-alive's transaction. `acked` undefined (a node that does not
 * acknowledge): its undelivered ones, marked delivered at `nowMs` — each is handed over once, and
 * one lost on the way (an answer that never arrived, a push written to a dead connection) is
 * lost. `acked` given: the commands of this node it names are marked acknowledged first (ids of
 * other nodes' commands, or unknown ones, change nothing), then every one of its commands not
 * acknowledged yet is returned — again, until a later keep-alive names it — and marked delivered
 * where it was not.
 */
export async function takeCommands(
  db: Db,
  nodeId: number,
  nowMs: number,
  logger: Logger,
  acked?: readonly number[],
): Promise<NodeCommand[]> {
  const now = iso(nowMs);
  if (acked !== undefined && acked.length > 0)
    await db
      .updateTable('commands')
      .set((eb) => ({ acked_at: now, delivered_at: eb.fn.coalesce('delivered_at', eb.val(now)) }))
      .where('node_id', '=', nodeId)
      .where('id', 'in', [...acked])
      .where('acked_at', 'is', null)
      .execute();
  const rows = await db
    .selectFrom('commands')
    .selectAll()
    .where('node_id', '=', nodeId)
    .where(acked === undefined ? 'delivered_at' : 'acked_at', 'is', null)
    .orderBy('id')
    .limit(maxCommandsPerKeepalive)
    .execute();
  const fresh = rows.filter((row) => row.delivered_at === null).map((row) => row.id);
  if (fresh.length > 0)
    await db.updateTable('commands').set({ delivered_at: now }).where('id', 'in', fresh).execute();
  const commands: NodeCommand[] = [];
  const dropped: number[] = [];
  for (const row of rows) {
    const command = toCommand(row, logger);
    if (command) commands.push(command);
    else dropped.push(row.id);
  }
  // One that does not decode is never sent: done, so that it does not come up in every answer.
  if (acked !== undefined && dropped.length > 0)
    await db.updateTable('commands').set({ acked_at: now }).where('id', 'in', dropped).execute();
  return commands;
}

/** The ids of a node's undelivered commands (pushed when its channel opens). */
export async function pendingCommandIds(db: Db, nodeId: number): Promise<number[]> {
  const rows = await db
    .selectFrom('commands')
    .select('id')
    .where('node_id', '=', nodeId)
    .where('delivered_at', 'is', null)
    .execute();
  return rows.map((row) => row.id);
}

/** What delivering commands needs. */
export interface DeliveryServices {
  store: Store;
  hub: PushHub;
  logger: Logger;
  clock: { nowMs(): number };
}

/**
 * Pushes the given commands to the nodes connected to this replica and marks those delivered;
 * the others stay queued for the node's next keep-alive (or its replica's push).
 */
export async function deliverCommands(
  services: DeliveryServices,
  commandIds: readonly number[],
): Promise<void> {
  if (commandIds.length === 0) return;
  const db = services.store.db;
  const rows = await db
    .selectFrom('commands')
    .selectAll()
    .where('id', 'in', [...commandIds])
    .where('delivered_at', 'is', null)
    .orderBy('id')
    .execute();
  // A pushed command must not reach a node before the change behind it is on stable storage.
  await services.store.durable();
  const delivered: number[] = [];
  for (const row of rows) {
    const command = toCommand(row, services.logger);
    if (!command) delivered.push(row.id);
    else if (services.hub.deliver({ kind: command.kind, nodeIds: [row.node_id], payload: command }) > 0)
      delivered.push(row.id);
  }
  if (delivered.length > 0)
    await db
      .updateTable('commands')
      .set({ delivered_at: iso(services.clock.nowMs()) })
      .where('id', 'in', delivered)
      .execute();
}
