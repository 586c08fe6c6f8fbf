import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type Generated, Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqlite, type SyncFile } from './sqlite-database';

interface Tables {
  t: { id: Generated<number>; v: string };
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A store whose WAL syncs wait until the test releases them. */
function heldStore() {
  const dir = mkdtempSync(join(tmpdir(), 'capsule-sqlite-'));
  dirs.push(dir);
  const pending: (() => void)[] = [];
  const syncFile: SyncFile = (_fd, done) => pending.push(() => done(null));
  const store = openSqlite(join(dir, 'test.db'), 'sync-before-reply', { syncFile });
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: store.database }) });
  const settled = (promise: Promise<void>) => {
    const state = { done: false };
    void promise.then(() => (state.done = true));
    return state;
  };
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  return { store, db, pending, settled, tick };
}

describe('openSqlite transactions', () => {
  it('a transaction that reads and then writes waits for a write lock held by another connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-sqlite-'));
    dirs.push(dir);
    const path = join(dir, 'test.db');
    const store = openSqlite(path, 'process-crash');
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: store.database }) });
    await sql`create table t (id integer primary key, v text not null)`.execute(db);
    await db.insertInto('t').values({ v: 'a' }).execute();
    // Another connection (as the checkpoint worker's TRUNCATE does) holds the write lock for 300 ms.
    const holder = new Worker(
      `const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
       const db = new Database(${JSON.stringify(path)});
       db.exec('begin immediate');
       require('node:worker_threads').parentPort.postMessage('locked');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
       db.exec('commit');
       db.close();`,
      { eval: true },
    );
    await new Promise((resolve) => holder.once('message', resolve));
    const started = Date.now();
    const count = await db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('t').select('id').execute(); // a read first…
      await trx.insertInto('t').values({ v: 'b' }).execute(); // …then a write
      return rows.length + 1;
    });
    expect(count).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100); // it waited for the lock, not failed
    await new Promise((resolve) => holder.once('exit', resolve));
    await store.close();
  });
});

describe('openSqlite durability barrier', () => {
  it('holds durable() until a sync that started after the write has finished, sharing syncs', async () => {
    const { store, db, pending, settled, tick } = heldStore();
    await sql`create table t (id integer primary key, v text not null)`.execute(db);
    const created = store.durable();
    expect(pending).toHaveLength(1);
    pending.shift()!();
    await created;
    const quiet = settled(store.durable());
    await tick();
    expect(quiet.done).toBe(true); // nothing written since: no sync
    expect(pending).toHaveLength(0);

    await db.insertInto('t').values({ v: 'a' }).execute();
    const first = settled(store.durable()); // starts a sync covering 'a'
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('t').values({ v: 'b' }).execute();
    });
    const second = settled(store.durable()); // 'b' was committed after that sync started
    const third = settled(store.durable());
    await tick();
    expect(pending).toHaveLength(1);
    expect([first.done, second.done, third.done]).toEqual([false, false, false]);
    pending.shift()!();
    await tick();
    expect([first.done, second.done, third.done]).toEqual([true, false, false]);
    expect(pending).toHaveLength(1); // one more sync, shared by both waiters
    pending.shift()!();
    await tick();
    expect([second.done, third.done]).toEqual([true, true]);
    expect(pending).toHaveLength(0);
    await store.close();
  });

  it('counts INSERT … RETURNING (a reader that writes) and fails waiters when the sync fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-sqlite-'));
    dirs.push(dir);
    let fail = false;
    let syncs = 0;
    const store = openSqlite(join(dir, 'test.db'), 'sync-before-reply', {
      syncFile: (_fd, done) => {
        syncs += 1;
        setImmediate(() => done(fail ? Object.assign(new Error('EIO'), { code: 'EIO' }) : null));
      },
    });
    const db = new Kysely<Tables>({
      dialect: new SqliteDialect({ database: store.database }),
    });
    await sql`create table t (id integer primary key, v text not null)`.execute(db);
    await store.durable();
    const before = syncs;
    const row = await db.insertInto('t').values({ v: 'x' }).returning('id').executeTakeFirstOrThrow();
    expect(row.id).toBe(1);
    await store.durable();
    expect(syncs).toBe(before + 1);
    await db.selectFrom('t').selectAll().execute();
    await store.durable();
    expect(syncs).toBe(before + 1); // reads need no sync
    fail = true;
    await db.insertInto('t').values({ v: 'y' }).execute();
    await expect(store.durable()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    fail = false;
    await store.durable(); // the next sync covers it
    await store.close();
  });

  it('checkpoints in a worker thread, not inside COMMIT, and truncates the WAL once writes stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-sqlite-'));
    dirs.push(dir);
    const path = join(dir, 'test.db');
    const failures: Error[] = [];
    const store = openSqlite(path, 'sync-before-reply', { onCheckpointFailure: (e) => failures.push(e) });
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: store.database }) });
    const pragma = async (name: string) =>
      Object.values((await sql.raw<Record<string, number>>(`pragma ${name}`).execute(db)).rows[0]!)[0];
    expect(await pragma('wal_autocheckpoint')).toBe(0);
    await sql`create table t (id integer primary key, v text not null)`.execute(db);
    // 3000 one-row commits of 1 KiB: far past the 1000 pages at which COMMIT used to checkpoint.
    for (let i = 0; i < 3000; i += 1)
      await db
        .insertInto('t')
        .values({ v: 'x'.repeat(1024) })
        .execute();
    await store.durable();
    const wal = () => statSync(`${path}-wal`).size;
    expect(wal()).toBeGreaterThan(1000 * 4096);
    const result = await store.checkpointNow!();
    expect(result.busy).toBe(0);
    expect(result.checkpointed).toBe(result.log);
    // Idle now: within a few ticks of the 500 ms timer the worker truncates the WAL.
    const deadline = Date.now() + 5000;
    while (wal() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(wal()).toBe(0);
    await db.insertInto('t').values({ v: 'after' }).execute();
    await store.durable();
    expect(failures).toEqual([]);
    await store.close();
    const again = openSqlite(path, 'process-crash');
    const reopened = new Kysely<Tables>({ dialect: new SqliteDialect({ database: again.database }) });
    expect((await reopened.selectFrom('t').select(sql<number>`count(*)`.as('n')).executeTakeFirst())?.n).toBe(
      3001,
    );
    await again.close();
  });
});
