/**
 * Durability: a controller process (`capsule controller start`) is SIGKILLed during a burst of
 * writes and restarted on the same store; every acknowledged write is there, every write that
 * is there is complete (its audit entry committed with it), and the store checks out. Both
 * stores. Also: SIGTERM stops the daemon cleanly (exit code 0).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, createApiClient } from '@capsule/api';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestStore, hasPostgres, type StoreKind } from '../../packages/controller/test/harness';

const root = join(import.meta.dirname, '..', '..');
const password = 'durable-password-1';

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function startProcess(store: string, dataDir: string): Promise<Running> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'test/controller/run-cli.ts'),
      'controller',
      'start',
      '--data-dir',
      dataDir,
      '--store',
      store,
      '--listen',
      '127.0.0.1:0',
      '--southbound-listen',
      '127.0.0.1:0',
      '--log-level',
      'warn',
      '--insecure-http',
    ],
    {
      cwd: root,
      env: { ...process.env, CAPSULE_ADMIN_PASSWORD: password },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 400; i += 1) {
    const match = /northbound (http:\/\/[^,\s]+)/.exec(output);
    if (match) return { child, url: match[1]!, output: () => output, exited };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`controller did not start:\n${output}`);
}

async function checkStoreConsistency(kind: StoreKind, url: string): Promise<void> {
  if (kind === 'sqlite') {
    const db = new SqliteDatabase(url, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Every reference resolves (the foreign keys would refuse otherwise; checked anyway).
    const orphans = await client.query(
      'SELECT count(*)::int AS n FROM users u LEFT JOIN domains d ON d.id = u.domain_id WHERE d.id IS NULL',
    );
    expect(orphans.rows[0].n).toBe(0);
  } finally {
    await client.end();
  }
}

const kinds: StoreKind[] = ['sqlite', 'postgres'];
for (const kind of kinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`durability on ${kind}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const cleanup of cleanups) await cleanup();
    });

    it('keeps every acknowledged write across SIGKILL, and stops cleanly on SIGTERM', async () => {
      const store = await createTestStore(kind);
      cleanups.push(store.drop);
      // Its own data dir (the signing key's file) for this store: a fresh 0700 one for PostgreSQL.
      let dataDir = join(store.url, '..');
      if (kind === 'postgres') {
        dataDir = mkdtempSync(join(tmpdir(), 'capsule-durability-'));
        cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
      }
      const first = await startProcess(store.url, dataDir);
      cleanups.push(async () => void first.child.kill('SIGKILL'));
      const client = createApiClient({ baseUrl: first.url });
      await client.login({ domain: 'default', username: 'admin', password });

      const acknowledged: string[] = [];
      const attempted: string[] = [];
      let stop = false;
      const worker = async (w: number) => {
        for (let i = 0; !stop; i += 1) {
          const name = `burst-${w}-${i}`;
          attempted.push(name);
          try {
            await client.domains.create({ name, kind: 'application', description: `worker ${w}` });
            acknowledged.push(name);
          } catch (error) {
            if (!(error instanceof ApiError)) throw error;
            return; // the connection died with the process
          }
        }
      };
      const workers = Array.from({ length: 8 }, (_, w) => worker(w));
      while (acknowledged.length < 150) await new Promise((r) => setTimeout(r, 5));
      first.child.kill('SIGKILL'); // writes are in flight
      stop = true;
      await Promise.all(workers);
      expect(await first.exited).toBeNull(); // killed by the signal

      const second = await startProcess(store.url, dataDir);
      try {
        const again = createApiClient({ baseUrl: second.url });
        await again.login({ domain: 'default', username: 'admin', password });
        const domains = (await again.domains.list({ limit: 1000 })).items.map((d) => d.name);
        const audit = (await again.audit.list({ limit: 1000 })).items;
        const missing = acknowledged.filter((name) => !domains.includes(name));
        expect(missing).toEqual([]);
        // Whatever got in (acknowledged or not) got in whole: its audit entry committed with it.
        const burst = domains.filter((name) => name.startsWith('burst-'));
        expect(burst.every((name) => attempted.includes(name))).toBe(true);
        const created = audit.filter((entry) => entry.action === 'create' && entry.objectType === 'domains');
        expect(created).toHaveLength(burst.length);
        expect(burst.length).toBeGreaterThanOrEqual(acknowledged.length);
        await checkStoreConsistency(kind, store.url);
      } finally {
        second.child.kill('SIGTERM');
        expect(await second.exited).toBe(0);
        expect(second.output()).toContain('controller stopped');
      }
    });
  });
}
