/**
 * Retention: the store keeps what is live and a bounded past, so a controller that runs for months
 * does not grow with what happened. A sweep (every `retentionSweepIntervalMs` on each replica, and
 * on demand) deletes:
 *  - registration nonces past their expiry (an expired nonce is refused whether or not its row is
 *    there: the "used" check and the expiry check both fail on a missing row);
 *  - commands delivered more than `commandRetentionMs` ago (undelivered ones wait for their node,
 *    and go with it when it is deleted or decommissioned; so do the ones a node that acknowledges
 *    commands has not acknowledged yet);
 *  - authorizations whose `not_after` is more than `authorizationRetentionMs` in the past, except
 *    the current authorization of an endpoint that still exists. Nothing reads an expired
 *    authorization: engines refuse it by its own expiry, revocation lists carry only unexpired
 *    serials, the topology view counts only those in force; the rows kept for the retention time
 *    are the history an operator can still list (`capsule get authorizations`);
 *  - audit entries older than `auditRetentionMs`, when it is not 0 (the default keeps them all).
 * Deletes run in batches of `retentionBatchRows`, so a first sweep after months of history does not
 * hold the store's write lock for long. Replicas may sweep at the same time: each delete is
 * idempotent.
 */
import type { Db } from './rows';

/** How long each kind of history is kept (docs/controller.md, "Retention"). */
export interface RetentionOptions {
  /** Expired authorizations are kept this long after their `not_after`. */
  authorizationRetentionMs: number;
  /** Delivered commands are kept this long after their delivery. */
  commandRetentionMs: number;
  /** Audit entries are kept this long; 0 keeps them all. */
  auditRetentionMs: number;
}

/** The defaults: 30 days of expired authorizations, 1 day of delivered commands, every audit entry. */
export const defaultRetention: RetentionOptions = {
  authorizationRetentionMs: 30 * 24 * 60 * 60 * 1000,
  commandRetentionMs: 24 * 60 * 60 * 1000,
  auditRetentionMs: 0,
};

/** Most rows one delete statement removes. */
export const retentionBatchRows = 5000;

/** Rows a sweep deleted, per table. */
export interface RetentionSweep {
  nonces: number;
  commands: number;
  authorizations: number;
  audit: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Deletes, in batches, the rows of `table` whose ids `select` picks (at most a batch each call). */
async function deleteInBatches(
  db: Db,
  table: 'commands' | 'authorizations' | 'audit',
  batchRows: number,
  select: (limit: number) => Promise<{ id: number }[]>,
): Promise<number> {
  let deleted = 0;
  for (;;) {
    const ids = (await select(batchRows)).map((row) => row.id);
    if (ids.length === 0) return deleted;
    const result = await db.deleteFrom(table).where('id', 'in', ids).executeTakeFirst();
    deleted += Number(result.numDeletedRows);
    if (ids.length < batchRows) return deleted;
  }
}

/**
 * One sweep at `nowMs`: deletes what `options` no longer keeps, at most `batchRows` rows per
 * statement; returns how many rows of each table.
 */
export async function sweepRetention(
  db: Db,
  nowMs: number,
  options: RetentionOptions,
  batchRows = retentionBatchRows,
): Promise<RetentionSweep> {
  const nonces = Number(
    (await db.deleteFrom('nonces').where('expires_at', '<=', iso(nowMs)).executeTakeFirst()).numDeletedRows,
  );
  const commandsBefore = iso(nowMs - options.commandRetentionMs);
  const commands = await deleteInBatches(db, 'commands', batchRows, (limit) =>
    db
      .selectFrom('commands')
      .select('id')
      .where('delivered_at', 'is not', null)
      .where('delivered_at', '<', commandsBefore)
      // A node that acknowledges gets a command again until it does: kept until then.
      .where((eb) =>
        eb.or([
          eb('acked_at', 'is not', null),
          eb('node_id', 'not in', eb.selectFrom('nodes').select('id').where('command_acks', '=', 1)),
        ]),
      )
      .limit(limit)
      .execute(),
  );
  const authorizationsBefore = iso(nowMs - options.authorizationRetentionMs);
  const authorizations = await deleteInBatches(db, 'authorizations', batchRows, (limit) =>
    db
      .selectFrom('authorizations')
      .select('id')
      .where('not_after', '<', authorizationsBefore)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('endpoints')
              .select('endpoints.id')
              .whereRef('endpoints.authorization_serial', '=', 'authorizations.serial'),
          ),
        ),
      )
      .limit(limit)
      .execute(),
  );
  const auditBefore = iso(nowMs - options.auditRetentionMs);
  const audit =
    options.auditRetentionMs > 0
      ? await deleteInBatches(db, 'audit', batchRows, (limit) =>
          db.selectFrom('audit').select('id').where('at', '<', auditBefore).limit(limit).execute(),
        )
      : 0;
  return { nonces, commands, authorizations, audit };
}
