/**
 * Controller failover, the whole system: two controller daemons (`capsule controller start`, the
 * built CLI) on one PostgreSQL database, sharing the signing key and TLS certificate files (as
 * docs/controller.md tells to copy them); an engine (startEngineNode) and two agents (createAgent),
 * each given both southbound URLs and the one pin, on the in-process MemoryNetwork, with traffic
 * flowing h1 → e1 → h2. The controller the nodes use is killed with SIGKILL mid-traffic (and mid a
 * burst of API writes). Asserted:
 *  - every node re-homes on the survivor within 5 s (measured: its client's current replica is the
 *    survivor, its push channel is open again and a keep-alive was answered since the kill);
 *  - keep-alives go on through the survivor (the survivor records them), traffic keeps flowing;
 *  - a registration after the kill (a third agent, and its endpoint) goes through the survivor
 *    and takes effect (its traffic reaches h2), and so does a revocation (pushed by the survivor:
 *    h1's flow stops, the engine counts the revocation);
 *  - no acknowledged write is lost: every API write answered 2xx before the kill is on the survivor.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Agent,
  type AgentAppPort,
  createAgent,
  createMemoryIdentityStore,
  defaultAgentOptions,
  EgressResult,
} from '@capsule/agent';
import { type ApiClient, ApiError } from '@capsule/api';
import { createPinnedFetch } from '@capsule/controller';
import { type EngineIdentity, type EngineNode, startEngineNode } from '@capsule/engine';
import {
  exportPublicKeyDer,
  generateCgaSync,
  generateRsaKeyPairAsync,
  parseCertificateSha256,
  parseSubnetPrefix64,
} from '@capsule/identity';
import {
  adminClient,
  applyUseCase,
  bootstrapController,
  buildUdp6,
  labNames,
  loadUseCase,
  parseUdp6,
} from '@capsule/lab';
import { createMemoryNetwork, type MemoryNetwork, type Transport } from '@capsule/overlay';
import { isCI } from '@capsule/testkit';
import { systemClock } from '@capsule/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, hasPostgres } from '../../packages/controller/test/harness';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'packages/cli/bin/capsule.js');
const built = existsSync(join(root, 'packages/cli/dist/capsule.js'));
if (!built && isCI) throw new Error('CI must build the CLI bundle before this test');
if (!built) process.stderr.write('[skip] controller failover: no CLI bundle (node scripts/build.mjs)\n');

const adminPassword = 'failover-admin-1';
const nodePassword = 'failover-node-1';
/** The issue's bound on re-homing after the kill. */
const REHOME_BOUND_MS = 5000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject()));
    });
  });
}

interface Replica {
  child: ChildProcess;
  northboundUrl: string;
  southboundUrl: string;
  pin: string;
  output: () => string;
}

/** Starts `capsule controller start --config …` and waits for its URLs and certificate pin. */
async function startReplica(dir: string, store: string): Promise<Replica> {
  const [north, south] = [await freePort(), await freePort()];
  const config = join(dir, 'controller.yaml');
  writeFileSync(
    config,
    `dataDir: ${join(dir, 'data')}\nstore: "${store}"\nlisten: 127.0.0.1:${north}\nsouthboundListen: 127.0.0.1:${south}\n` +
      'keepaliveIntervalMs: 1000\nlogLevel: warn\n',
  );
  const child = spawn(process.execPath, [cli, 'controller', 'start', '--config', config], {
    cwd: root,
    env: { ...process.env, CAPSULE_ADMIN_PASSWORD: adminPassword },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  for (let i = 0; i < 600 && child.exitCode === null; i += 1) {
    const urls = /northbound (https:\/\/\S+), southbound (https:\/\/\S+)/.exec(output);
    const pin = /certificate sha256 ([0-9a-f:]+)/.exec(output);
    if (urls && pin)
      return { child, northboundUrl: urls[1]!, southboundUrl: urls[2]!, pin: pin[1]!, output: () => output };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`controller did not start:\n${output}`);
}

/** A fresh engine identity (RSA key, CGA with Sec 0 under `netprefix`), in memory. */
async function memoryIdentity(netprefix: string): Promise<EngineIdentity> {
  const rsa = await generateRsaKeyPairAsync();
  const rsaPublicKeyDer = exportPublicKeyDer(createPublicKey(rsa.privateKey));
  const cga = generateCgaSync({
    publicKey: rsaPublicKeyDer,
    sec: 0,
    subnetPrefix: parseSubnetPrefix64(netprefix),
  });
  return {
    hostId: cga.address,
    cgaParameters: cga.parametersBytes,
    rsaPrivateKey: rsa.privateKey,
    rsaPublicKeyDer,
  };
}

/** An in-process application on an agent: send IPv6 packets, see the ones delivered. */
function appPort() {
  /** Each packet delivered, stamped when it arrived. */
  const received: { packet: Uint8Array; atMs: number }[] = [];
  let egress: ((bytes: Uint8Array, offset: number, length: number) => EgressResult) | undefined;
  const port: AgentAppPort = {
    start: (send) => {
      egress = send;
    },
    write: (bytes, offset, length) => {
      if (received.length < 100_000)
        received.push({ packet: bytes.slice(offset, offset + length), atMs: Date.now() });
    },
  };
  return {
    port,
    received,
    send: (packet: Uint8Array) => egress?.(packet, 0, packet.length) === EgressResult.SENT,
  };
}

describe.skipIf(!hasPostgres || !built)(
  'nodes fail over between two controller replicas on one PostgreSQL',
  () => {
    let dir: string;
    let store: Awaited<ReturnType<typeof createTestStore>>;
    let one: Replica;
    let two: Replica;
    let network: MemoryNetwork;
    const stops: (() => Promise<unknown> | unknown)[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'capsule-failover-'));
      store = await createTestStore('postgres');
      mkdirSync(join(dir, 'one'), { mode: 0o700 });
      mkdirSync(join(dir, 'two', 'data'), { recursive: true, mode: 0o700 });
      one = await startReplica(join(dir, 'one'), store.url);
      stops.push(() => one.child.kill('SIGKILL'));
      // The second replica holds copies of the first's signing key and certificate (0600).
      for (const file of ['controller-key.pem', 'tls-cert.pem', 'tls-key.pem'])
        copyFileSync(join(dir, 'one', 'data', file), join(dir, 'two', 'data', file));
      two = await startReplica(join(dir, 'two'), store.url);
      stops.push(() => two.child.kill('SIGKILL'));
      network = createMemoryNetwork();
    }, 120_000);

    afterAll(async () => {
      for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
      await store?.drop().catch(() => {});
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('re-homes every node within 5 s of a SIGKILL; keep-alives, registration, revocation and traffic go on through the survivor; no acknowledged write is lost', async () => {
      expect(two.pin).toBe(one.pin);
      const pin = parseCertificateSha256(one.pin)!;
      const pinned = createPinnedFetch(pin);
      const southUrls = [one.southboundUrl, two.southboundUrl];
      const admin: ApiClient = await adminClient(one.northboundUrl, adminPassword, one.pin);
      await bootstrapController(admin, nodePassword);
      const token = await applyUseCase(
        admin,
        loadUseCase(join(root, 'examples/use-cases/1-micro-segmentation')),
      );

      // e1 and the agents, all on replica one first (the first URL), both URLs given.
      const e1Address = { host: '10.31.0.1', port: 7447 };
      const e1Transport = network.attach(e1Address);
      stops.push(() => e1Transport.close());
      const e1: EngineNode = await startEngineNode(
        {
          controllerUrl: southUrls[0]!,
          controllerUrls: southUrls,
          credentials: {
            domain: labNames.engineDomain,
            username: labNames.engineUser,
            password: nodePassword,
          },
          hostname: 'e1',
          linkKeepAliveIntervalMs: 250,
        },
        { transport: e1Transport, identity: memoryIdentity, clock: systemClock, fetch: pinned },
      );
      stops.push(() => e1.stop());
      const hosts = new Map<
        string,
        { agent: Agent; app: ReturnType<typeof appPort>; transport: Transport }
      >();
      const startHost = async (name: string, address: string) => {
        const transport = network.attach({ host: address, port: 7447 });
        stops.push(() => transport.close());
        const app = appPort();
        const agent = createAgent(
          {
            ...defaultAgentOptions,
            hostName: name,
            controllerUrl: southUrls[0]!,
            controllerUrls: southUrls,
            credentials: { domain: labNames.hostDomain, username: labNames.hostUser, password: nodePassword },
            rest: { ...defaultAgentOptions.rest, socketPath: undefined, tcp: undefined },
            resolver: undefined,
            tun: undefined,
            cgaSec: 0,
            keepaliveIntervalMs: 1000,
            retryIntervalMs: 200,
            linkKeepAliveIntervalMs: 250,
          },
          { identityStore: createMemoryIdentityStore(), transport, app: app.port, fetch: pinned },
        );
        await agent.start();
        stops.push(() => agent.stop());
        const host = { agent, app, transport };
        hosts.set(name, host);
        return host;
      };
      const h1 = await startHost('h1', '10.31.0.11');
      const h2 = await startHost('h2', '10.31.0.12');
      const linksUp = () => e1.linkLayer.links().filter((link) => link.state === 'up').length;
      for (let i = 0; i < 300 && linksUp() < 2; i += 1) await sleep(50);
      expect(linksUp()).toBe(2);
      const web = (await h1.agent.registerEndpoint({
        serviceToken: token,
        contract: 'shop',
        role: 'web',
      })) as {
        authorizationSerial: string;
      };
      await h2.agent.registerEndpoint({ serviceToken: token, contract: 'shop', role: 'db' });

      // Traffic h1 → h2 every 20 ms, numbered; h2 records what arrives (by sender and number).
      const arrivals = new Map<string, { seq: number; atMs: number }[]>();
      const watch = (to: ReturnType<typeof appPort>) => () => {
        for (const { packet, atMs } of to.received.splice(0)) {
          const udp = parseUdp6(packet);
          if (udp?.destinationPort !== 9000) continue;
          const list = arrivals.get(udp.source) ?? [];
          list.push({ seq: Number(new TextDecoder().decode(udp.payload)), atMs });
          arrivals.set(udp.source, list);
        }
      };
      const collect = watch(h2.app);
      const senders = new Map<string, { seq: number }>();
      const traffic = setInterval(() => {
        for (const [name, state] of senders) {
          const from = hosts.get(name)!;
          from.app.send(
            buildUdp6(
              from.agent.hostId!,
              h2.agent.hostId!,
              40_000,
              9000,
              new TextEncoder().encode(String(state.seq++)),
            ),
          );
        }
        collect();
      }, 20);
      stops.push(() => clearInterval(traffic));
      senders.set('h1', { seq: 0 });
      const arrivedFrom = (name: string, sinceMs = 0) =>
        (arrivals.get(hosts.get(name)!.agent.hostId!) ?? []).filter((a) => a.atMs >= sinceMs).length;
      for (let i = 0; i < 200 && arrivedFrom('h1') < 20; i += 1) await sleep(50);
      expect(arrivedFrom('h1'), 'traffic flows h1 → e1 → h2 before the kill').toBeGreaterThanOrEqual(20);

      // Every node uses replica one, its push channel open.
      const session = () => ({
        e1: e1.controllerStatus(),
        h1: h1.agent.status() as { controller: ControllerStatus },
        h2: h2.agent.status() as { controller: ControllerStatus },
      });
      const before = session();
      expect(before.e1).toMatchObject({ url: one.southboundUrl, pushOpen: true, failovers: 0 });
      expect(before.h1.controller).toMatchObject({ url: one.southboundUrl, pushOpen: true, failovers: 0 });
      expect(before.h2.controller).toMatchObject({ url: one.southboundUrl, pushOpen: true, failovers: 0 });

      // A burst of API writes through replica one, killed in the middle of it.
      const acknowledged: number[] = [];
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing && i < 10_000; i += 1) {
          try {
            acknowledged.push((await admin.domains.create({ name: `ack-${i}`, kind: 'application' })).id);
          } catch (error) {
            if (!(error instanceof ApiError)) throw error;
            return; // the replica is gone
          }
        }
      })();
      await sleep(300);
      const keepalivesAtKill = {
        e1: e1.controllerStatus().keepalivesSent,
        h1: h1.agent.status() as { controller: ControllerStatus },
        h2: h2.agent.status() as { controller: ControllerStatus },
      };
      const killedAtMs = Date.now();
      one.child.kill('SIGKILL');
      await writer;
      writing = false;
      expect(acknowledged.length, 'writes were acknowledged before the kill').toBeGreaterThan(0);

      // Re-homed: on replica two, push open, a keep-alive answered since the kill.
      const rehomedAtMs = new Map<string, number>();
      while (rehomedAtMs.size < 3 && Date.now() - killedAtMs < 20_000) {
        const now = session();
        const nodes: [string, ControllerStatus, number][] = [
          ['e1', now.e1, keepalivesAtKill.e1],
          ['h1', now.h1.controller, keepalivesAtKill.h1.controller.keepalivesSent],
          ['h2', now.h2.controller, keepalivesAtKill.h2.controller.keepalivesSent],
        ];
        for (const [name, status, keepalivesBefore] of nodes)
          if (
            !rehomedAtMs.has(name) &&
            status.url === two.southboundUrl &&
            status.pushOpen &&
            status.keepalivesSent > keepalivesBefore
          )
            rehomedAtMs.set(name, Date.now() - killedAtMs);
        await sleep(20);
      }
      process.stdout.write(
        `controller failover: re-homed after ${[...rehomedAtMs].map(([n, ms]) => `${n} ${ms} ms`).join(', ')}\n`,
      );
      for (const name of ['e1', 'h1', 'h2']) {
        expect(rehomedAtMs.get(name), `${name} re-homed`).toBeDefined();
        expect(rehomedAtMs.get(name)!, `${name} re-homed within 5 s`).toBeLessThanOrEqual(REHOME_BOUND_MS);
      }
      const after = session();
      expect(after.e1.failovers).toBeGreaterThanOrEqual(1);
      expect(after.h1.controller.failovers).toBeGreaterThanOrEqual(1);
      const metrics = await (async () => h1.agent.metrics())();
      expect(metrics).toMatch(/^capsule_agent_controller_failovers_total [1-9]/m);

      // No acknowledged write lost: each is on the survivor.
      const survivor = await adminClient(two.northboundUrl, adminPassword, two.pin);
      for (const id of acknowledged) expect((await survivor.domains.get(id)).name).toMatch(/^ack-/);

      // Keep-alives go on through the survivor: it records them (the nodes' last keep-alive moves on).
      const lastKeepalive = async () =>
        new Map(
          (await survivor.nodes.list({ limit: 100 })).items.map((n) => [n.hostname, n.lastKeepaliveAt]),
        );
      const seen = await lastKeepalive();
      await sleep(2500);
      const seenLater = await lastKeepalive();
      for (const name of ['e1', 'h1', 'h2'])
        expect(
          Date.parse(seenLater.get(name) ?? '') > Date.parse(seen.get(name) ?? ''),
          `${name} keep-alives`,
        ).toBe(true);
      // Traffic kept flowing h1 → h2 after the kill.
      expect(arrivedFrom('h1', killedAtMs + 1000)).toBeGreaterThan(20);

      // A registration after the kill: a third agent (its first URL is the dead replica) and its endpoint.
      const h3 = await startHost('h3', '10.31.0.13');
      expect((h3.agent.status() as { controller: ControllerStatus }).controller.url).toBe(two.southboundUrl);
      for (let i = 0; i < 200 && linksUp() < 3; i += 1) await sleep(50);
      await h3.agent.registerEndpoint({ serviceToken: token, contract: 'shop', role: 'web' });
      senders.set('h3', { seq: 0 });
      for (let i = 0; i < 200 && arrivedFrom('h3') < 20; i += 1) await sleep(50);
      expect(
        arrivedFrom('h3'),
        'the endpoint registered through the survivor carries traffic',
      ).toBeGreaterThanOrEqual(20);

      // A revocation after the kill, through the survivor: h1's flow stops, the engine counts it.
      const revocationsBefore = e1.engine.counters().revocations;
      const authorization = (await survivor.authorizations.list({ limit: 1000 })).items.find(
        (a) => a.serial === web.authorizationSerial,
      );
      expect(authorization).toBeDefined();
      await survivor.authorizations.revoke(authorization!.id);
      const revokedAtMs = Date.now();
      for (let i = 0; i < 500 && e1.engine.counters().revocations === revocationsBefore; i += 1)
        await sleep(10);
      expect(e1.engine.counters().revocations, 'the engine got the revocation').toBeGreaterThan(
        revocationsBefore,
      );
      const engineRevokedAtMs = Date.now();
      process.stdout.write(
        `controller failover: revocation at the engine ${engineRevokedAtMs - revokedAtMs} ms after the API answered\n`,
      );
      expect(engineRevokedAtMs - revokedAtMs).toBeLessThan(REHOME_BOUND_MS);
      await sleep(1000);
      // Nothing of h1's arrives once the engine holds the revocation (100 ms for packets in flight).
      expect(arrivedFrom('h1', engineRevokedAtMs + 100), 'h1 revoked: nothing more arrives').toBe(0);
      expect(arrivedFrom('h3', engineRevokedAtMs + 100), 'h3 unaffected').toBeGreaterThan(10);
    }, 180_000);
  },
);

interface ControllerStatus {
  url: string;
  pushOpen: boolean;
  failovers: number;
  keepalivesSent: number;
}
