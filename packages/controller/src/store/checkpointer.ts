/**
 * WAL checkpoints off the event loop. The serving connection runs with `wal_autocheckpoint = 0`
 * (a checkpoint inside a COMMIT copies up to thousands of pages and syncs the database file on
 * the event loop: 10–30 ms stalls under load); instead a worker thread with its own
 * better-sqlite3 connection to the same file checkpoints on a timer: PASSIVE whenever the WAL has
 * frames not yet copied (it takes no lock that writers or readers wait for, so the serving
 * connection never blocks on it), and TRUNCATE once the WAL has been idle for a tick and is fully
 * copied (it briefly takes the write lock, which is why it only runs when nobody writes).
 *
 * The worker's connection runs `synchronous = NORMAL`: SQLite syncs the WAL before a checkpoint
 * copies it and the database file after, so a checkpoint never exposes unsynced data and a WAL
 * restart never drops synced frames — the same guarantees as the automatic checkpoints it
 * replaces. Should the worker die, the serving connection goes back to automatic checkpoints.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How the checkpoint worker behaves. */
export interface CheckpointerOptions {
  /** The database file (not `:memory:`). */
  path: string;
  /** Period of the checkpoint timer. */
  intervalMs: number;
  /** Called once if the worker fails (the caller re-enables automatic checkpoints). */
  onFailure(error: Error): void;
}

/** A running checkpoint worker. */
export interface Checkpointer {
  /** Runs one PASSIVE checkpoint now; resolves to SQLite's `{busy, log, checkpointed}`. */
  checkpointNow(): Promise<{ busy: number; log: number; checkpointed: number }>;
  /** Stops the timer and closes the worker's connection. */
  close(): Promise<void>;
}

/** The worker's code (plain CommonJS: it runs from source and from the CLI bundle alike). */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { statSync } = require('node:fs');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 200');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const truncate = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)');
let lastStamp = '';
let idle = false;
function walStamp() {
  try {
    const stat = statSync(workerData.path + '-wal');
    return stat.size + ':' + stat.mtimeMs;
  } catch {
    return 'none';
  }
}
function tick() {
  const stamp = walStamp();
  if (stamp === 'none' || stamp.startsWith('0:')) return;
  if (stamp !== lastStamp) {
    lastStamp = stamp;
    idle = false;
    passive.get();
    return;
  }
  if (idle) return;
  const result = passive.get();
  if (result.busy === 0 && result.log === result.checkpointed) {
    try {
      truncate.get();
    } catch (error) {
      if (error.code !== 'SQLITE_BUSY') throw error;
      return; // a writer came along: try again next tick
    }
    lastStamp = walStamp();
    idle = true;
  }
}
const timer = setInterval(() => {
  try {
    tick();
  } catch (error) {
    clearInterval(timer);
    parentPort.postMessage({ kind: 'failed', message: String(error && error.message) });
  }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message.kind === 'checkpoint') {
    try {
      const result = passive.get();
      parentPort.postMessage({ kind: 'checkpointed', id: message.id, result });
    } catch (error) {
      parentPort.postMessage({ kind: 'checkpointed', id: message.id, error: String(error.message) });
    }
  } else if (message.kind === 'close') {
    clearInterval(timer);
    db.close();
    parentPort.close();
  }
});
`;

/** Starts the checkpoint worker for `options.path`. */
export function startCheckpointer(options: CheckpointerOptions): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(workerSource, {
    eval: true,
    workerData: { driver, path: options.path, intervalMs: options.intervalMs },
  });
  worker.unref();
  let closing = false;
  let failed = false;
  let nextId = 0;
  const pending = new Map<
    number,
    {
      resolve: (value: { busy: number; log: number; checkpointed: number }) => void;
      reject: (e: Error) => void;
    }
  >();
  const fail = (error: Error) => {
    if (failed || closing) return;
    failed = true;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
    options.onFailure(error);
  };
  worker.on(
    'message',
    (message: { kind: string; id?: number; result?: never; error?: string; message?: string }) => {
      if (message.kind === 'failed') fail(new Error(`checkpoint worker: ${message.message}`));
      else if (message.kind === 'checkpointed' && message.id !== undefined) {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(message.error));
        else waiter?.resolve(message.result!);
      }
    },
  );
  worker.on('error', (error) => fail(error));
  worker.on('exit', (code) => {
    if (!closing) fail(new Error(`checkpoint worker exited with code ${code}`));
  });
  return {
    checkpointNow() {
      if (failed || closing) return Promise.reject(new Error('the checkpoint worker is not running'));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ kind: 'checkpoint', id });
      });
    },
    async close() {
      if (closing) return;
      closing = true;
      if (failed) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.ref(); // an unref'd worker would let the process exit before the close finished
      worker.postMessage({ kind: 'close' });
      await exited;
    },
  };
}
