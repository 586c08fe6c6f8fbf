/**
 * The SQLite side of the store: one better-sqlite3 connection behind Kysely's `SqliteDatabase`
 * port, with two additions that the controller's throughput depends on.
 *
 * Prepared statements are kept by SQL text (Kysely prepares every query afresh; a prepare costs
 * tens of microseconds, about as much as running the statement).
 *
 * Durability (`durability: 'sync-before-reply'`) is a group commit off the event loop. The
 * connection runs `synchronous = NORMAL`: a commit writes its WAL frames (so a process crash
 * loses nothing) without the fsync that `FULL` would do on the event loop at every commit. Every
 * statement that may write (COMMIT included) bumps a counter; `durable()` resolves once an
 * fdatasync of the WAL file that started after the caller's last write has finished. One sync
 * runs at a time and covers every commit written before it started, so concurrent requests share
 * it. The HTTP layer holds every reply until `durable()` resolves: no answer leaves the process
 * before the writes it may depend on — its own or ones it read — are on stable storage, which is
 * what `synchronous = FULL` guarantees for acknowledged writes. Checkpoints sync the WAL and the
 * database themselves (SQLite does so in NORMAL mode too), so a WAL restart never drops synced
 * frames.
 *
 * Checkpoints run in a worker thread with its own connection (see checkpointer.ts), not inside
 * COMMITs on the event loop: the serving connection has `wal_autocheckpoint = 0`.
 */
import { chmodSync, closeSync, fdatasync, openSync, statSync } from 'node:fs';
import { ApiError } from '@capsule/api';
import SqliteDatabase from 'better-sqlite3';
import type { SqliteDatabase as KyselySqliteDatabase, SqliteStatement } from 'kysely';
import { type Checkpointer, startCheckpointer } from './checkpointer';

/** Statements kept by SQL text; the oldest is dropped beyond this (`in (?, ?, …)` lists vary). */
const statementCacheSize = 512;

/** What a commit guarantees before its reply. */
export type SqliteDurability = 'sync-before-reply' | 'process-crash';

/** An open SQLite connection. */
export interface SqliteStore {
  /** The port Kysely's SqliteDialect runs on. */
  readonly database: KyselySqliteDatabase;
  /** Resolves once every write made before the call is on stable storage (see the file comment). */
  durable(): Promise<void>;
  /** Waits for a running sync, then closes the connection. */
  close(): Promise<void>;
  /** File stores: runs a PASSIVE checkpoint in the checkpoint worker now (for tests). */
  checkpointNow?: Checkpointer['checkpointNow'];
}

/** Period of the checkpoint worker's timer. */
const checkpointIntervalMs = 500;

/** The sync of the WAL file (a port so tests can hold it). */
export type SyncFile = (fd: number, done: (error: NodeJS.ErrnoException | null) => void) => void;

/** The mode of the database file and (SQLite copies it) of its -wal and -shm files: the owner's only. */
export const SQLITE_FILE_MODE = 0o600;

/**
 * Creates the database file with mode 0600 before SQLite does (SQLite would create it 0644 less
 * the umask, and gives the -wal and -shm files the database file's mode), and takes group and
 * other permissions away from an existing database and its -wal and -shm files.
 */
export function restrictSqliteFiles(path: string): void {
  closeSync(openSync(path, 'a', SQLITE_FILE_MODE));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch {
      continue; // no -wal or -shm yet
    }
    if ((mode & 0o077) !== 0) chmodSync(file, mode & 0o700);
  }
}

/** Opens `path` (or `:memory:`) in WAL mode; a file is created (or restricted to) mode 0600. */
export function openSqlite(
  path: string,
  durability: SqliteDurability,
  deps: { syncFile?: SyncFile; onCheckpointFailure?: (error: Error) => void } = {},
): SqliteStore {
  const syncFile = deps.syncFile ?? fdatasync;
  if (path !== ':memory:' && path !== '') restrictSqliteFiles(path);
  const sqlite = new SqliteDatabase(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');

  /** Statements that may have written (COMMIT included), in order; `synced` of them are on disk. */
  let writes = 0;
  let synced = 0;
  const cache = new Map<string, SqliteStatement>();
  const database: KyselySqliteDatabase = {
    close: () => sqlite.close(),
    prepare(sql) {
      const cached = cache.get(sql);
      if (cached) return cached;
      // Kysely opens transactions with a deferred `begin`. A deferred transaction that reads and
      // then writes cannot wait for the write lock (SQLite answers SQLITE_BUSY at once, without
      // the busy handler, while another connection holds it — the checkpoint worker's TRUNCATE
      // does): so every transaction takes the write lock at `begin immediate`, which does wait.
      // This connection is the only one serving requests, so nothing is serialized that was not.
      const statement = sqlite.prepare(sql === 'begin' ? 'begin immediate' : sql);
      const mayWrite = !statement.readonly || !statement.reader;
      const wrapped: SqliteStatement = {
        reader: statement.reader,
        all(parameters) {
          if (mayWrite) writes += 1; // INSERT … RETURNING is a reader that writes
          return statement.all(parameters as unknown[]);
        },
        run(parameters) {
          writes += 1;
          return statement.run(parameters as unknown[]);
        },
        iterate(parameters) {
          // A statement being iterated cannot run again until the iteration ends: use a fresh one.
          return sqlite.prepare(sql).iterate(parameters as unknown[]);
        },
      };
      if (cache.size >= statementCacheSize) cache.delete(cache.keys().next().value!);
      cache.set(sql, wrapped);
      return wrapped;
    },
  };

  const inMemory = path === ':memory:' || path === '';
  if (inMemory)
    return {
      database,
      durable: () => Promise.resolve(),
      close: async () => void sqlite.close(),
    };

  sqlite.pragma('wal_autocheckpoint = 0');
  const checkpointer = startCheckpointer({
    path,
    intervalMs: checkpointIntervalMs,
    onFailure(error) {
      // Back to checkpoints inside COMMIT: slower replies, but the WAL stays bounded.
      sqlite.pragma('wal_autocheckpoint = 1000');
      deps.onCheckpointFailure?.(error);
    },
  });
  if (durability === 'process-crash')
    return {
      database,
      durable: () => Promise.resolve(),
      checkpointNow: checkpointer.checkpointNow,
      async close() {
        await checkpointer.close();
        sqlite.close();
      },
    };

  // The WAL file exists once a transaction has run in WAL mode.
  sqlite.prepare('select count(*) from sqlite_master').get();
  const walFd = openSync(`${path}-wal`, 'r');
  let walClosed = false;
  let waiters: { target: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  let syncing: Promise<void> | undefined;

  const startSync = () => {
    const covers = writes;
    syncing = new Promise<void>((done) =>
      syncFile(walFd, (error) => {
        syncing = undefined;
        if (!error) synced = covers;
        const waiting = waiters;
        waiters = [];
        for (const waiter of waiting) {
          if (waiter.target <= synced) waiter.resolve();
          else if (error)
            waiter.reject(new ApiError('UNAVAILABLE', `the store could not sync: ${error.message}`));
          else waiters.push(waiter);
        }
        if (waiters.length > 0) startSync();
        done();
      }),
    );
  };

  return {
    database,
    durable() {
      const target = writes;
      if (target <= synced) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiters.push({ target, resolve, reject });
        if (!syncing) startSync();
      });
    },
    checkpointNow: checkpointer.checkpointNow,
    async close() {
      await checkpointer.close();
      while (syncing) await syncing;
      if (!walClosed) closeSync(walFd);
      walClosed = true;
      sqlite.close();
    },
  };
}
