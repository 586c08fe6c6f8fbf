/**
 * Controller throughput with autocannon against a real `capsule controller start` process, on
 * SQLite (the default, synchronous=FULL) and on PostgreSQL: node registrations per second (each a
 * full southbound registration — nonce check, CGA verification, RSA signature check, node
 * certificate signed, node stored with its audit entry) and the latency of reads at a fixed rate.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiClient, createSouthboundClient } from '@capsule/api';
import autocannon from 'autocannon';
import pg from 'pg';
import { makeNodeIdentity, registrationBody } from '../packages/controller/test/harness';
import { markdownTable, writePerformanceSection } from './report';

const root = join(import.meta.dirname, '..');
const password = 'bench-password-1';
const registrations = 2000;
const readRate = 500;
const readSeconds = 10;

async function startController(
  store: string,
  dataDir: string,
): Promise<{ child: ChildProcess; nb: string; sb: string }> {
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
    ],
    {
      cwd: root,
      env: { ...process.env, CAPSULE_ADMIN_PASSWORD: password },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  for (let i = 0; i < 600; i += 1) {
    const match = /northbound (\S+), southbound (\S+)/.exec(output);
    if (match) return { child, nb: match[1]!, sb: match[2]! };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`controller did not start: ${output}`);
}

async function measure(label: string, store: string, dataDir: string) {
  const { child, nb, sb } = await startController(store, dataDir);
  try {
    const admin = createApiClient({ baseUrl: nb });
    await admin.login({ domain: 'default', username: 'admin', password });
    const zone = await admin.zones.create({ name: 'bench', netprefix: 'fd00:bb:bb:bb::/64' });
    await admin.users.create({ login: 'hosts', password, roles: ['hostOwner'], zoneId: zone.id });
    const node = createSouthboundClient({ baseUrl: sb });
    await node.login({ domain: 'default', username: 'hosts', password });

    // Prepared outside the measurement: one nonce and one signed registration per node.
    const bodies: string[] = [];
    for (let i = 0; i < registrations; i += 1) {
      const { nonce } = await node.nonce();
      const identity = makeNodeIdentity(zone.netprefix);
      bodies.push(
        JSON.stringify(registrationBody(identity, nonce, { type: 'host', hostname: `bench-${i}` })),
      );
    }
    let next = 0;
    const register = await autocannon({
      url: sb,
      connections: 16,
      amount: registrations,
      requests: [
        {
          method: 'POST',
          path: '/sb/v1/register',
          headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/json' },
          setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
        },
      ],
    });
    const registered = (await admin.nodes.list({ limit: 1 })).total;
    const nodeId = (await admin.nodes.list({ limit: 1 })).items[0]!.id;

    const read = await autocannon({
      url: `${nb}/api/v1/nodes/${nodeId}`,
      connections: 10,
      overallRate: readRate,
      duration: readSeconds,
      headers: { authorization: `Bearer ${admin.token}` },
    });
    return {
      label,
      registrationsPerSecond: register['2xx'] / register.duration,
      registerErrors: register.non2xx + register.errors,
      registered,
      registerP99: register.latency.p99,
      readP50: read.latency.p50,
      readP99: read.latency.p99,
      readRate: read['2xx'] / read.duration,
      readErrors: read.non2xx + read.errors,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/** Runs the controller benchmark on SQLite and PostgreSQL and writes docs/performance.md. */
export async function run(): Promise<void> {
  const results = [];
  const dir = mkdtempSync(join(tmpdir(), 'capsule-bench-controller-'));
  try {
    results.push(await measure('SQLite (file, WAL, synchronous=FULL)', join(dir, 'controller.db'), dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const postgresUrl =
    process.env.CAPSULE_TEST_POSTGRES_URL ?? 'postgres://capsule:capsule@127.0.0.1:5432/capsule';
  const name = `capsule_bench_${randomBytes(4).toString('hex')}`;
  const adminClient = new pg.Client({ connectionString: postgresUrl });
  try {
    await adminClient.connect();
    await adminClient.query(`CREATE DATABASE ${name}`);
    const url = new URL(postgresUrl);
    url.pathname = `/${name}`;
    const pgDir = mkdtempSync(join(tmpdir(), 'capsule-bench-controller-'));
    try {
      results.push(await measure('PostgreSQL 15 (local, pool of 10)', url.toString(), pgDir));
    } finally {
      rmSync(pgDir, { recursive: true, force: true });
      await adminClient.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } catch (error) {
    process.stderr.write(`controller bench: PostgreSQL skipped (${(error as Error).message})\n`);
  } finally {
    await adminClient.end().catch(() => {});
  }
  for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
  const sqlite = results[0]!;
  const body = [
    `${registrations} node registrations (autocannon, 16 connections, each body signed in advance with`,
    'its own nonce and CGA), then reads of one node (`GET /api/v1/nodes/:id`, bearer token checked and',
    `its user re-read on every request) at a fixed ${readRate} requests/s for ${readSeconds} s over 10`,
    'connections (latency corrected for coordinated omission). The controller runs as its own process',
    '(`capsule controller start`) on the same 2-core machine as autocannon.',
    '',
    markdownTable(
      [
        'store',
        'registrations/s',
        'register p99',
        'failed',
        'reads/s achieved',
        'read p50',
        'read p99',
        'read errors',
      ],
      results.map((r) => [
        r.label,
        r.registrationsPerSecond.toFixed(0),
        `${r.registerP99} ms`,
        r.registerErrors,
        r.readRate.toFixed(0),
        `${r.readP50} ms`,
        `${r.readP99} ms`,
        r.readErrors,
      ]),
    ),
    '',
    `Targets (issue 5, SQLite): ≥ 1,000 registrations/s — ${sqlite.registrationsPerSecond >= 1000 ? 'met' : 'not met'};`,
    `read p99 < 20 ms at ${readRate} reads/s — ${sqlite.readP99 < 20 ? 'met' : 'not met'}.`,
  ].join('\n');
  writePerformanceSection(
    'controller',
    'Controller: registrations and reads',
    'npm run bench -- controller',
    body,
  );
}
