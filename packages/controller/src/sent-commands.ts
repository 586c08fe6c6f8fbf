/**
 * What a replica last queued of a recomputed command kind (path-change, link-set, link-tags), so
 * that a node is told only when its view changes — kept true across replicas.
 *
 * Each recomputation runs in one transaction that first takes its kind's lock (PostgreSQL: a
 * transaction-scoped advisory lock; SQLite runs one transaction at a time), so recomputations of a
 * kind run one after another across replicas: a later one reads every change an earlier one read
 * and queues its commands after that one's, and a node applies the newest command of a kind
 * (docs/agent.md). Then it reads the id of the kind's newest command (one index seek): when that
 * is not the last one this replica queued, another replica wrote since, and the run reads the
 * newest per node: where that is not the one this replica queued last, what the replica remembers
 * of that node is forgotten, so the node gets this run's view again whatever it was sent in
 * between. A single replica never pays more than the seek.
 */

import type { NodeCommandBody } from '@capsule/api';
import type { Clock } from '@capsule/wire';
import { sql } from 'kysely';
import { queueEach } from './commands';
import type { Db } from './rows';
import type { StoreDialect } from './store/migrations';

/** The command kinds a recomputation queues, and the second key of each one's advisory lock. */
export const recomputedKinds = { 'path-change': 1, 'link-set': 2, 'link-tags': 3 } as const;
export type RecomputedKind = keyof typeof recomputedKinds;

/** The first key of the recomputation locks (pg_advisory_xact_lock(space, kind)): "Caps". */
export const recomputationLockSpace = 0x43617073;

/** One remembered view: the node it went to, the node's certificate serial then, and its text. */
interface Remembered {
  nodeId: number;
  serial: string | null;
  text: string;
}

/** A run's view of the memory (what it queues is kept once its transaction commits). */
export interface SentRun<K> {
  /**
   * False when `key`'s view is what this replica last queued for that node, and still the newest:
   * nothing to send. True otherwise, and the run is to queue it (it is remembered as sent).
   */
  changed(key: K, nodeId: number, serial: string | null, text: string): boolean;
}

/** A replica's memory of one recomputed kind, keyed by `K` (a node id, or an endpoint id). */
export class SentCommands<K> {
  readonly #kind: RecomputedKind;
  readonly #dialect: StoreDialect;
  readonly #clock: Pick<Clock, 'nowMs'>;
  readonly #sent = new Map<K, Remembered>();
  /** The newest command of the kind this replica queued, by node id. */
  readonly #ownNewest = new Map<number, number>();
  /** The newest command of the kind this replica queued, of all nodes. */
  #ownTop: number | undefined;

  constructor(kind: RecomputedKind, dialect: StoreDialect, clock: Pick<Clock, 'nowMs'>) {
    this.#kind = kind;
    this.#dialect = dialect;
    this.#clock = clock;
  }

  /**
   * One recomputation, in its own transaction: takes the kind's lock, forgets what other writers
   * made stale, runs `work` — which reads what it computes from and queues a view only where
   * `run.changed` says so — and queues the commands it returns. Once the transaction committed,
   * remembers them. Resolves to the new command ids.
   */
  async recompute(
    db: Db,
    work: (trx: Db, run: SentRun<K>) => Promise<{ nodeId: number; command: NodeCommandBody }[]>,
  ): Promise<number[]> {
    const { pending, queued } = await db.transaction().execute(async (trx) => {
      await this.#forgetStale(trx);
      const sent = this.#sent;
      const pending: [K, Remembered][] = [];
      const commands = await work(trx, {
        changed(key, nodeId, serial, text) {
          const remembered = sent.get(key);
          if (remembered?.nodeId === nodeId && remembered.serial === serial && remembered.text === text)
            return false;
          pending.push([key, { nodeId, serial, text }]);
          return true;
        },
      });
      return { pending, queued: await queueEach(trx, commands, this.#clock.nowMs()) };
    });
    for (const [key, remembered] of pending) this.#sent.set(key, remembered);
    for (const { nodeId, id } of queued) {
      if (id > (this.#ownNewest.get(nodeId) ?? 0)) this.#ownNewest.set(nodeId, id);
      if (id > (this.#ownTop ?? 0)) this.#ownTop = id;
    }
    return queued.map((row) => row.id);
  }

  /** Takes the kind's lock in `trx`, then forgets the nodes whose newest command is not this replica's. */
  async #forgetStale(trx: Db): Promise<void> {
    if (this.#dialect === 'postgres')
      await sql`select pg_advisory_xact_lock(${recomputationLockSpace}, ${recomputedKinds[this.#kind]})`.execute(
        trx,
      );
    if (this.#ownNewest.size === 0) return; // nothing remembered, nothing to forget
    // The kind's newest command is this replica's last one: nobody wrote since (one index seek;
    // runs of a kind are one at a time, so another writer's commands come after this replica's).
    const top = await trx
      .selectFrom('commands')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('kind', '=', this.#kind)
      .executeTakeFirst();
    if (top?.id !== null && top?.id !== undefined && Number(top.id) === this.#ownTop) return;
    const newest = new Map<number, number>();
    for (const row of await trx
      .selectFrom('commands')
      .select(['node_id', (eb) => eb.fn.max('id').as('id')])
      .where('kind', '=', this.#kind)
      .groupBy('node_id')
      .execute())
      newest.set(Number(row.node_id), Number(row.id));
    const stale = new Set<number>();
    for (const [nodeId, id] of this.#ownNewest) if (newest.get(nodeId) !== id) stale.add(nodeId);
    if (stale.size === 0) return;
    for (const [key, remembered] of this.#sent) if (stale.has(remembered.nodeId)) this.#sent.delete(key);
    for (const nodeId of stale) this.#ownNewest.delete(nodeId);
  }

  /** Forgets the keys `keep` rejects (endpoints gone since). */
  retain(keep: (key: K) => boolean): void {
    for (const key of this.#sent.keys()) if (!keep(key)) this.#sent.delete(key);
  }
}
