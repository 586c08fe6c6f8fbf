/**
 * Scale by simulation (`npm run bench -- scale [--hosts N] [--engines N] [--replicas N]
 * [--rounds N]`): one real controller (`capsule controller start`, its own process, SQLite file,
 * TLS with its own certificate) and simulated nodes speaking the real southbound API over HTTPS
 * with the controller's certificate pinned, as real nodes do — each with its own CGA and
 * X25519 key (RSA keys from a pool: `nodeKeys`) — but without TUN or UDP data planes:
 *
 * - engines register with the engine's own `registerEngine` and run the engine's own controller
 *   hooks (`createControllerHooks`: the push channel and keep-alives), and register their links
 *   to each other (a ring plus chords, costs 1–4);
 * - hosts log in, register, register the link to their engine (host i to engine i mod E) and open
 *   their push channel, as the agent does; then `--replicas` of them register an endpoint in a
 *   role with a link tag (so every engine has role routes toward them) and the rest a client
 *   endpoint of the same contract.
 *
 * Measured: the registration storm (all hosts, `concurrency` at a time), the endpoint phase, the
 * controller's path and role-route recomputations (its `capsule_controller_recompute_seconds`
 * histogram), and, for membership changes (a replica's endpoint deleted, its authorization revoked:
 * every engine gets a revocation and new role routes) and link changes (an engine link reported down, then up), the
 * time from the change's request to each node's push — p50/p99 over the engines — with the
 * controller's CPU (user + system, all threads, from /proc like process.cpuUsage) and RSS.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type ApiClient,
  createApiClient,
  createSouthboundClient,
  type PushEvent,
  type SouthboundClient,
} from '@capsule/api';
import { createPinnedFetch } from '@capsule/controller';
import { type EngineCounters, registerEngine } from '@capsule/engine';
import { parseCertificateSha256, parseIpv6Address } from '@capsule/identity';
import { silentLogger, systemClock } from '@capsule/wire';
import { makeNodeIdentity, registrationBody, tinyProgram } from '../packages/controller/test/harness';
import { createControllerHooks } from '../packages/engine/src/southbound';
import { markdownTable, writePerformanceSection } from './report';

const root = join(import.meta.dirname, '..');
const password = 'bench-password-1';

/** What a run is told (`--hosts`, `--engines`, `--replicas`, `--rounds`). */
export interface ScaleOptions {
  hosts: number;
  engines: number;
  /** Hosts holding the tagged (replica) role; the other hosts hold the client role. */
  replicas: number;
  /** Membership changes (revoke a replica, then register it again) measured per round. */
  membershipChanges: number;
  /** Link changes (an engine link down, then up) measured per round. */
  linkChanges: number;
  /** Registrations in flight at once during the storm. */
  concurrency: number;
  rounds: number;
}

export const defaultScaleOptions: ScaleOptions = {
  hosts: 1000,
  engines: 50,
  replicas: 50,
  membershipChanges: 5,
  linkChanges: 5,
  concurrency: 50,
  rounds: 3,
};

/** `--name N` options from argv (unknown ones are refused: a misspelt count must not go unnoticed). */
export function scaleOptionsOf(argv: readonly string[]): ScaleOptions {
  const options = { ...defaultScaleOptions };
  const names: Record<string, keyof ScaleOptions> = {
    '--hosts': 'hosts',
    '--engines': 'engines',
    '--replicas': 'replicas',
    '--membership-changes': 'membershipChanges',
    '--link-changes': 'linkChanges',
    '--concurrency': 'concurrency',
    '--rounds': 'rounds',
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) continue;
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined];
    const key = names[flag];
    if (!key) throw new Error(`bench scale: unknown option ${flag} (${Object.keys(names).join(', ')})`);
    const text = inline ?? argv[++i];
    const value = Number(text);
    if (!Number.isInteger(value) || value < (key === 'replicas' ? 1 : 0))
      throw new Error(`bench scale: ${flag} must be a whole number, got ${text}`);
    options[key] = value;
  }
  if (options.engines < 2) throw new Error('bench scale: --engines must be at least 2');
  options.replicas = Math.min(options.replicas, options.hosts);
  return options;
}

/**
 * RSA-2048 keys for the nodes: a pool of `count` keys made once and kept in the temp dir across
 * runs (outside the measurement), used round-robin. Every node still has its own CGA (a random
 * modifier: its own host id) and X25519 key; the controller's work per registration (CGA check,
 * RSA signature check) is the same whoever else holds the RSA key. A pool, because making 1,050
 * RSA keys takes many minutes on a loaded 2-core machine.
 */
async function nodeKeys(count: number): Promise<{ privateKey: KeyObject; publicKey: KeyObject }[]> {
  const file = join(tmpdir(), 'capsule-bench-scale-rsa-keys.json');
  let pems: string[] = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as string[]) : [];
  if (pems.length < count) {
    process.stdout.write(`making ${count - pems.length} RSA-2048 node keys (kept in ${file})\n`);
    const make = promisify(generateKeyPair);
    const fresh: string[] = [];
    for (let i = pems.length; i < count; i += 8) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(8, count - i) }, () =>
          make('rsa', {
            modulusLength: 2048,
            privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
            publicKeyEncoding: { type: 'spki', format: 'pem' },
          }),
        ),
      );
      fresh.push(...batch.map((pair) => pair.privateKey as unknown as string));
    }
    pems = [...pems, ...fresh];
    writeFileSync(file, JSON.stringify(pems), { mode: 0o600 });
  }
  return pems.slice(0, count).map((pem) => {
    const privateKey = createPrivateKey(pem);
    return { privateKey, publicKey: createPublicKey(privateKey) };
  });
}

/** RSA keys in the pool (see `nodeKeys`). */
const rsaPoolSize = 100;

/** The controller process: URLs, certificate pin, and its CPU and memory from /proc. */
interface ControllerProcess {
  child: ChildProcess;
  nb: string;
  sb: string;
  pin: Uint8Array;
  /** User + system CPU of every thread of the process so far, ms. */
  cpuMs(): number;
  /** Resident set now and at its peak, MiB. */
  rssMiB(): { now: number; peak: number };
}

async function startController(dataDir: string): Promise<ControllerProcess> {
  const child = spawn(
    process.execPath,
    [
      // e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile the controller (written when it stops).
      ...(process.env.CAPSULE_BENCH_CONTROLLER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      '--import',
      'tsx',
      join(root, 'test/controller/run-cli.ts'),
      'controller',
      'start',
      '--data-dir',
      dataDir,
      '--store',
      join(dataDir, 'controller.db'),
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
  const ticks = 100; // USER_HZ on Linux
  const proc = `/proc/${child.pid}`;
  for (let i = 0; i < 1200; i += 1) {
    const urls = /northbound (\S+), southbound (\S+)/.exec(output);
    const sha = /certificate sha256 (\S+)/.exec(output);
    if (urls && sha)
      return {
        child,
        nb: urls[1]!,
        sb: urls[2]!,
        pin: parseCertificateSha256(sha[1]!)!,
        cpuMs: () => {
          // Fields after the command name: utime and stime are the 12th and 13th.
          const stat = readFileSync(`${proc}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticks;
        },
        rssMiB: () => {
          const status = readFileSync(`${proc}/status`, 'utf8');
          const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
          return { now: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
        },
      };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`controller did not start: ${output}`);
}

/** The controller's recompute histogram: total seconds and count per kind. */
async function recomputeTotals(
  nb: string,
  doFetch: typeof fetch,
): Promise<Record<'paths' | 'role-routes', { sum: number; count: number }>> {
  const text = await (await doFetch(`${nb}/metrics`)).text();
  const read = (kind: string, what: 'sum' | 'count') =>
    Number(
      new RegExp(`capsule_controller_recompute_seconds_${what}\\{kind="${kind}"\\} (\\S+)`).exec(text)?.[1] ??
        0,
    );
  return {
    paths: { sum: read('paths', 'sum'), count: read('paths', 'count') },
    'role-routes': { sum: read('role-routes', 'sum'), count: read('role-routes', 'count') },
  };
}

/** A simulated node: its client and the times (performance.now()) it received each pushed command. */
interface SimNode {
  name: string;
  type: 'host' | 'engine';
  client: SouthboundClient;
  hostId: string;
  arrivals: { atMs: number; kind: string; bytes: number }[];
}

/** Runs `work` over `items`, `concurrency` at a time. */
async function pool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}

const percentile = (values: readonly number[], p: number) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

/** Waits until no node received anything for `quietMs` (at most `maxMs`). */
async function settle(nodes: readonly SimNode[], quietMs: number, maxMs: number): Promise<void> {
  const start = performance.now();
  const last = () => Math.max(0, ...nodes.map((node) => node.arrivals.at(-1)?.atMs ?? 0));
  while (performance.now() - start < maxMs) {
    await new Promise((r) => setTimeout(r, 100));
    if (performance.now() - Math.max(last(), start) >= quietMs) return;
  }
}

/** The first arrival after `t0` at each node that got one, ms after `t0`. */
function firstArrivals(nodes: readonly SimNode[], t0: number, kinds?: readonly string[]): number[] {
  const delays: number[] = [];
  for (const node of nodes) {
    const hit = node.arrivals.find((a) => a.atMs >= t0 && (!kinds || kinds.includes(a.kind)));
    if (hit) delays.push(hit.atMs - t0);
  }
  return delays;
}

/** What one change did: engines and hosts told, delays, pushes, the controller's CPU. */
interface ChangeFigures {
  engines: number[];
  hosts: number[];
  frames: number;
  bytes: number;
  cpuMs: number;
  /** The change's request failed. */
  failed: boolean;
}

/** What a kind of change did, over its repetitions: delays to the engines told, and per change. */
interface ChangeSummary {
  p50: number;
  p99: number;
  max: number;
  enginesTold: number;
  changes: number;
  hostsTold: number;
  frames: number;
  megabytes: number;
  cpuMsPerChange: number;
  /** Changes whose request failed. */
  failedChanges: number;
}

/** One round's figures. */
export interface ScaleRound {
  stormSeconds: number;
  stormFailures: number;
  /** Endpoint registrations tried again after a timeout, and those that failed three times. */
  endpointRetries: number;
  endpointFailures: number;
  stormCpuSeconds: number;
  endpointSeconds: number;
  endpointCpuSeconds: number;
  pathsMeanMs: number;
  pathsCount: number;
  roleRoutesMeanMs: number;
  roleRoutesCount: number;
  /** A replica's endpoint deleted: every engine is told (revocation, new role routes). */
  membership: ChangeSummary;
  /** The replica registered again: the engines whose routes change are told. */
  added: ChangeSummary;
  /** An engine link reported down or up. */
  link: ChangeSummary;
  rssMiB: number;
  peakRssMiB: number;
  load: number;
}

async function measureRound(
  options: ScaleOptions,
  keys: Awaited<ReturnType<typeof nodeKeys>>,
): Promise<ScaleRound> {
  const dir = mkdtempSync(join(tmpdir(), 'capsule-bench-scale-'));
  const controller = await startController(dir);
  const doFetch = createPinnedFetch(controller.pin);
  const aborts: AbortController[] = [];
  const stops: (() => void)[] = [];
  try {
    const admin: ApiClient = createApiClient({ baseUrl: controller.nb, fetch: doFetch });
    await admin.login({ domain: 'default', username: 'admin', password });
    const zone = await admin.zones.create({ name: 'scale', netprefix: 'fd00:5ca1:e::/64' });
    await admin.users.create({
      login: 'nodes',
      password,
      roles: ['hostOwner', 'engineOwner'],
      zoneId: zone.id,
    });
    const credentials = { domain: 'default', username: 'nodes', password };
    const template = await admin.templates.create({
      name: 'content',
      image: tinyProgram(),
      roles: [
        { name: 'client', entry: 'client' },
        { name: 'server', entry: 'server', linkTag: 3 },
      ],
    });
    await admin.contracts.create({
      name: 'content',
      templateId: template.id,
      roles: [
        { name: 'client', peer: 'server' },
        { name: 'server', peer: 'client' },
      ],
    });
    const contract = (await admin.contracts.list({ limit: 10 })).items.find((c) => c.name === 'content')!;
    const service = await admin.services.create({
      name: 'content',
      grants: [
        { contractId: contract.id, role: 'client' },
        { contractId: contract.id, role: 'server' },
      ],
    });
    const serviceToken = (await admin.serviceTokens.create({ serviceId: service.id, ttlSeconds: 86_400 }))
      .token!;

    const listen = (node: SimNode) => (event: PushEvent) => {
      const command = event.payload as { kind?: string } | undefined;
      node.arrivals.push({
        atMs: performance.now(),
        kind: command?.kind ?? event.kind,
        bytes: JSON.stringify(event).length,
      });
    };

    // Engines: the engine's own registration and controller hooks.
    const engines: SimNode[] = [];
    const counters = {
      packetsIn: 0,
      packetsOut: 0,
      verdicts: {},
      liveFlows: 0,
      programRuns: 0,
    } as unknown as EngineCounters;
    await pool(
      Array.from({ length: options.engines }, (_, i) => i),
      8,
      async (i) => {
        const identity = makeNodeIdentity(zone.netprefix, keys[i % keys.length]!);
        // Each node its own pinned fetch, as each daemon has: its own kept connections.
        const client = createSouthboundClient({
          baseUrl: controller.sb,
          fetch: createPinnedFetch(controller.pin),
        });
        const node: SimNode = {
          name: `e${i}`,
          type: 'engine',
          client,
          hostId: identity.hostId,
          arrivals: [],
        };
        const registration = await registerEngine(client, {
          credentials,
          hostname: node.name,
          locator: `198.51.100.${(i % 250) + 1}:7447`,
          hostId: parseIpv6Address(identity.hostId)!,
          cgaParameters: identity.cga.parametersBytes,
          rsaPrivateKey: identity.rsa.privateKey,
          rsaPublicKeyDer: identity.publicKeyDer,
          x25519PublicKey: identity.x25519.publicKeyRaw,
        });
        const record = listen(node);
        const hooks = createControllerHooks(
          { locator: undefined, keepaliveIntervalMs: registration.configuration.keepaliveIntervalMs },
          {
            client,
            clock: systemClock,
            logger: silentLogger,
            counters: () => counters,
            revoke: () => {},
            refreshLinks: () => {},
            setContractTags: () => {},
          },
        );
        // The engine's hooks obey each command; the bench also notes when it arrived.
        const abort = new AbortController();
        aborts.push(abort);
        await client.events((event) => {
          record(event);
          const command = event.payload as Parameters<typeof hooks.obey>[0] | undefined;
          if (command && typeof command === 'object' && 'kind' in command) hooks.obey(command);
        }, abort.signal);
        engines[i] = node;
      },
    );
    // Engine links: a ring and chords to i + 7, costs 1–4.
    const engineLinks: [number, number, number][] = [];
    for (let i = 0; i < options.engines; i += 1) {
      engineLinks.push([i, (i + 1) % options.engines, 1 + (i % 4)]);
      if (options.engines > 14) engineLinks.push([i, (i + 7) % options.engines, 2 + (i % 3)]);
    }
    await pool(engineLinks, 8, async ([a, z, cost]) => {
      await engines[a]!.client.registerLink({
        peerHostId: engines[z]!.hostId,
        localEndpoint: `198.51.100.${(a % 250) + 1}:7447`,
        remoteEndpoint: `198.51.100.${(z % 250) + 1}:7447`,
        cost,
      });
    });

    // The registration storm: every host logs in, registers, registers its link, opens its push channel.
    const hosts: SimNode[] = [];
    let stormFailures = 0;
    const identities = Array.from({ length: options.hosts }, (_, i) =>
      makeNodeIdentity(zone.netprefix, keys[(options.engines + i) % keys.length]!),
    );
    const stormCpu0 = controller.cpuMs();
    const stormStart = performance.now();
    await pool(identities, options.concurrency, async (identity, i) => {
      // Each node its own pinned fetch, as each daemon has: its own kept connections.
      const client = createSouthboundClient({
        baseUrl: controller.sb,
        fetch: createPinnedFetch(controller.pin),
      });
      const node: SimNode = { name: `h${i}`, type: 'host', client, hostId: identity.hostId, arrivals: [] };
      try {
        await client.login(credentials);
        const { nonce } = await client.nonce();
        await client.register(registrationBody(identity, nonce, { type: 'host', hostname: node.name }));
        const engine = engines[i % options.engines]!;
        await client.registerLink({
          peerHostId: engine.hostId,
          localEndpoint: `203.0.113.${(i % 250) + 1}:7448`,
          remoteEndpoint: '198.51.100.1:7447',
          cost: 1,
        });
        const abort = new AbortController();
        aborts.push(abort);
        await client.events(listen(node), abort.signal);
        hosts[i] = node;
      } catch (error) {
        stormFailures += 1;
        if (stormFailures <= 3) process.stderr.write(`host ${i}: ${(error as Error).message}\n`);
      }
    });
    const stormSeconds = (performance.now() - stormStart) / 1000;
    const stormCpuSeconds = (controller.cpuMs() - stormCpu0) / 1000;
    process.stdout.write(
      `storm: ${options.hosts} hosts in ${stormSeconds.toFixed(1)} s (${stormFailures} failed), controller CPU ${stormCpuSeconds.toFixed(1)} s\n`,
    );
    const live = hosts.filter(Boolean);

    // Endpoints: replicas (tagged role) first, then clients.
    const recompute0 = await recomputeTotals(controller.nb, doFetch);
    const endpointCpu0 = controller.cpuMs();
    const endpointStart = performance.now();
    const endpointIds = new Map<SimNode, number>();
    const replicas = live.slice(0, options.replicas);
    // A registration that times out is tried again (as the agent does), at most three times.
    let endpointRetries = 0;
    let endpointFailures = 0;
    await pool(live, options.concurrency, async (host, i) => {
      for (let attempt = 1; ; attempt += 1)
        try {
          const answer = await host.client.registerEndpoint({
            serviceToken,
            contract: 'content',
            role: i < options.replicas ? 'server' : 'client',
          });
          endpointIds.set(host, answer.endpoint.id);
          return;
        } catch (error) {
          if (attempt === 3) {
            endpointFailures += 1;
            if (endpointFailures <= 3)
              process.stderr.write(`endpoint of ${host.name}: ${(error as Error).message}\n`);
            return;
          }
          endpointRetries += 1;
        }
    });
    const endpointSeconds = (performance.now() - endpointStart) / 1000;
    const endpointCpuSeconds = (controller.cpuMs() - endpointCpu0) / 1000;
    process.stdout.write(
      `endpoints: ${live.length} in ${endpointSeconds.toFixed(1)} s (${endpointRetries} retried, ${endpointFailures} failed), controller CPU ${endpointCpuSeconds.toFixed(1)} s\n`,
    );
    await settle([...engines, ...live], 1500, 120_000);

    const all = [...engines, ...live];
    const measureChange = async (change: () => Promise<void>): Promise<ChangeFigures> => {
      const cpu0 = controller.cpuMs();
      const t0 = performance.now();
      // A change whose request fails (a timeout on an overloaded controller) is counted, not fatal.
      let failed = false;
      try {
        await change();
      } catch (error) {
        failed = true;
        process.stderr.write(`change failed: ${(error as Error).message}\n`);
      }
      await settle(all, 1500, 60_000);
      const after = all.flatMap((node) => node.arrivals.filter((a) => a.atMs >= t0));
      return {
        engines: firstArrivals(engines, t0),
        hosts: firstArrivals(live, t0),
        frames: after.length,
        bytes: after.reduce((sum, a) => sum + a.bytes, 0),
        cpuMs: controller.cpuMs() - cpu0,
        failed,
      };
    };
    const summarize = (list: ChangeFigures[]) => {
      const delays = list.flatMap((c) => c.engines);
      return {
        p50: percentile(delays, 50),
        p99: percentile(delays, 99),
        max: Math.max(...delays),
        enginesTold: delays.length / Math.max(1, list.length),
        changes: list.length,
        hostsTold: list.reduce((sum, c) => sum + c.hosts.length, 0) / Math.max(1, list.length),
        frames: list.reduce((sum, c) => sum + c.frames, 0) / Math.max(1, list.length),
        megabytes: list.reduce((sum, c) => sum + c.bytes, 0) / Math.max(1, list.length) / 2 ** 20,
        cpuMsPerChange: list.reduce((sum, c) => sum + c.cpuMs, 0) / Math.max(1, list.length),
        failedChanges: list.filter((c) => c.failed).length,
      };
    };

    // Membership: a replica's endpoint deleted (its authorization revoked) (every engine: revocation + new role routes),
    // then the replica registers again (the engines whose routes change).
    const membership: ChangeFigures[] = [];
    const added: ChangeFigures[] = [];
    for (let k = 0; k < options.membershipChanges; k += 1) {
      const registered = replicas.filter((replica) => endpointIds.has(replica));
      const replica = registered[k % registered.length]!;
      const endpointId = endpointIds.get(replica)!;
      membership.push(
        await measureChange(async () => {
          await admin.endpoints.remove(endpointId);
        }),
      );
      const back = await measureChange(async () => {
        const answer = await replica.client.registerEndpoint({
          serviceToken,
          contract: 'content',
          role: 'server',
        });
        endpointIds.set(replica, answer.endpoint.id);
      });
      added.push(back);
    }
    // Links: an engine link reported down by its engine, then up.
    const link: ChangeFigures[] = [];
    for (let k = 0; k < options.linkChanges; k += 1) {
      const [a, z, cost] = engineLinks[(k * 7) % engineLinks.length]!;
      for (const status of ['down', 'up'] as const)
        link.push(
          await measureChange(async () => {
            await engines[a]!.client.registerLink({
              peerHostId: engines[z]!.hostId,
              localEndpoint: `198.51.100.${(a % 250) + 1}:7447`,
              remoteEndpoint: `198.51.100.${(z % 250) + 1}:7447`,
              cost,
              status,
            });
          }),
        );
    }
    const recompute1 = await recomputeTotals(controller.nb, doFetch);
    const mean = (kind: 'paths' | 'role-routes') => {
      const count = recompute1[kind].count - recompute0[kind].count;
      return {
        meanMs: count > 0 ? ((recompute1[kind].sum - recompute0[kind].sum) / count) * 1000 : Number.NaN,
        count,
      };
    };
    const rss = controller.rssMiB();
    return {
      stormSeconds,
      stormFailures,
      endpointRetries,
      endpointFailures,
      stormCpuSeconds,
      endpointSeconds,
      endpointCpuSeconds,
      pathsMeanMs: mean('paths').meanMs,
      pathsCount: mean('paths').count,
      roleRoutesMeanMs: mean('role-routes').meanMs,
      roleRoutesCount: mean('role-routes').count,
      membership: summarize(membership),
      added: summarize(added),
      link: summarize(link),
      rssMiB: rss.now,
      peakRssMiB: rss.peak,
      load: loadavg()[0]!,
    };
  } finally {
    for (const stop of stops) stop();
    for (const abort of aborts) abort.abort();
    controller.child.kill('SIGTERM');
    await new Promise((r) => controller.child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const range = (values: number[], digits = 0) =>
  values.length === 1
    ? values[0]!.toFixed(digits)
    : `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;

/** Runs the scale bench and writes its section of docs/performance.md. */
export async function run(): Promise<void> {
  const options = scaleOptionsOf(process.argv.slice(2));
  process.stdout.write(`${JSON.stringify(options)}\n`);
  const keys = await nodeKeys(rsaPoolSize);
  const shell = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  const cpuModel = /Model name:\s*(.+)/.exec(shell('lscpu', []))?.[1] ?? 'unknown';
  const uptimeBefore = shell('uptime', []);
  const rounds: ScaleRound[] = [];
  for (let round = 0; round < options.rounds; round += 1) {
    const result = await measureRound(options, keys);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    rounds.push(result);
  }
  /** One figure per round, and its range over the rounds. */
  const row = (label: string, pick: (r: ScaleRound) => number, digits = 0) => [
    label,
    ...rounds.map((r) => pick(r).toFixed(digits)),
    range(rounds.map(pick), digits),
  ];
  const text = (label: string, pick: (r: ScaleRound) => string) => [label, ...rounds.map(pick), ''];
  const change = (name: string, pick: (r: ScaleRound) => ChangeSummary) => [
    row(`${name} → engine push: p50 (ms)`, (r) => pick(r).p50),
    row(`${name} → engine push: p99 (ms)`, (r) => pick(r).p99),
    text(`${name}: changes (failed)`, (r) => `${pick(r).changes} (${pick(r).failedChanges})`),
    text(
      `${name}: engines / hosts told, per change`,
      (r) => `${pick(r).enginesTold.toFixed(0)} / ${pick(r).hostsTold.toFixed(0)}`,
    ),
    text(
      `${name}: push frames, MiB, controller CPU (ms), per change`,
      (r) =>
        `${pick(r).frames.toFixed(0)}, ${pick(r).megabytes.toFixed(1)}, ${pick(r).cpuMsPerChange.toFixed(0)}`,
    ),
  ];
  const table = markdownTable(
    ['figure', ...rounds.map((_, i) => `round ${i + 1}`), 'range'],
    [
      text(
        'registration storm: hosts registered (failed)',
        (r) => `${options.hosts - r.stormFailures} (${r.stormFailures})`,
      ),
      row('registration storm: wall time (s)', (r) => r.stormSeconds, 1),
      row('registration storm: controller CPU (s)', (r) => r.stormCpuSeconds, 1),
      row(
        'registration storm: controller CPU per host registered (ms)',
        (r) => (r.stormCpuSeconds * 1000) / Math.max(1, options.hosts - r.stormFailures),
      ),
      row(
        `endpoints (${options.replicas} replicas, the rest clients): wall time (s)`,
        (r) => r.endpointSeconds,
        1,
      ),
      text(
        'endpoints: retried after a timeout (failed three times)',
        (r) => `${r.endpointRetries} (${r.endpointFailures})`,
      ),
      row('endpoints: controller CPU (s)', (r) => r.endpointCpuSeconds, 1),
      row('path recomputation, mean (ms)', (r) => r.pathsMeanMs),
      text('path recomputations (count)', (r) => String(r.pathsCount)),
      row('role-route recomputation, mean (ms)', (r) => r.roleRoutesMeanMs),
      text('role-route recomputations (count)', (r) => String(r.roleRoutesCount)),
      ...change('replica removed', (r) => r.membership),
      ...change('replica added', (r) => r.added),
      ...change('engine link down/up', (r) => r.link),
      row('controller RSS at the end (MiB)', (r) => r.rssMiB),
      row('controller peak RSS (MiB)', (r) => r.peakRssMiB),
      text('load average (1 min) at the end', (r) => r.load.toFixed(1)),
    ],
  );
  process.stdout.write(`\n${table}\n`);
  const defaults =
    options.hosts === defaultScaleOptions.hosts && options.engines === defaultScaleOptions.engines;
  if (!defaults) {
    process.stdout.write('bench scale: not the default counts; docs/performance.md left as it is\n');
    return;
  }
  const stormMet = rounds.filter((r) => r.stormFailures === 0 && r.stormSeconds <= 60).length;
  const pushMet = rounds.filter((r) =>
    [r.membership, r.added, r.link].every((c) => c.failedChanges === 0 && c.p99 <= 1000),
  ).length;
  const verdict = (met: number) =>
    `${met === rounds.length ? 'met' : met > 0 ? 'met in some rounds only' : 'not met'} (${met} of ${rounds.length} rounds)`;
  const body = [
    `One controller (\`capsule controller start\`, its own process, SQLite file, TLS) and ${options.engines} engines and`,
    `${options.hosts} hosts simulated in the bench process, each with its own CGA (host id) and X25519 key (RSA-2048 keys from a pool of ${rsaPoolSize}), speaking the`,
    'southbound API over HTTPS with the certificate pinned, as the daemons do (each node its own pinned fetch, which',
    "keeps its connections), without data planes. Engines register with the engine's `registerEngine`, obey",
    "pushed commands with the engine's `createControllerHooks` and register their links (a ring and chords to",
    `i + 7, costs 1–4). The storm: every host logs in, takes a nonce, registers, registers its link to engine`,
    `i mod ${options.engines} and opens its push channel, ${options.concurrency} hosts at a time. Then ${options.replicas} hosts register an`,
    'endpoint in a role with a `linkTag` (role routes on every engine) and the others a client endpoint of the',
    `same contract, ${options.concurrency} at a time, each tried again after a timeout (10 s, the client's) at most three times, as the agent does. Then ${options.membershipChanges} times: a replica's endpoint deleted through the API (every engine gets a`,
    "revocation and new role routes; the figure is the time from the request to each engine's first push, over",
    `all engines) and registered again; and ${options.linkChanges} engine links reported down, then up, by their engine. The`,
    "controller's CPU is user + system time of all its threads (/proc, as `process.cpuUsage` counts it), RSS",
    'from /proc; recomputation times from its `capsule_controller_recompute_seconds` histogram (endpoints and',
    'changes, not the storm).',
    '',
    `CPU (\`lscpu\`): ${cpuModel}. \`uptime\` before: \`${uptimeBefore}\`; after: \`${shell('uptime', [])}\`.`,
    '',
    table,
    '',
    `Targets (issue 15): 1,000 hosts registered in ≤ 60 s on SQLite — ${verdict(stormMet)};`,
    `a membership or link change at every engine in ≤ 1 s p99 — ${verdict(pushMet)}.`,
  ].join('\n');
  writePerformanceSection(
    'scale',
    'Scale by simulation: 1,000 hosts, 50 engines, one controller',
    'npm run bench -- scale',
    body,
  );
}
