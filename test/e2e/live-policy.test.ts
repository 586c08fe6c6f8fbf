/**
 * Live policy and the endpoint lifecycle end to end on the in-process lab (default topology): the
 * real controller, three engines and five agents with real link layers, packets sent by the
 * hosts' applications through the agents and engines. Measured at the receiving application:
 *
 * - a contract disabled through the API stops its flow within 1 s of the call while another
 *   contract's flow, sent at the same time, loses nothing;
 * - an application's unregistration at its agent reaches the controller (endpoint gone there, its
 *   authorization revoked at the engines: the flow stops);
 * - an agent restarted (a new agent on the same identity store) registers its endpoints again by
 *   itself, and traffic resumes within 5 s with no action by the application;
 * - with 6 s authorizations the agents renew theirs before they run out: a flow kept up for 10 s
 *   loses nothing and the engines drop nothing as expired.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyUseCase,
  buildUdp6,
  defaultTopologyYaml,
  engineLinks,
  type MemoryLab,
  parseTopology,
  parseUdp6,
  startMemoryLab,
} from '@capsule/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pointToPoint } from './point-to-point';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A UDP stream from `from` to `to` (one datagram every `intervalMs` on its own source port),
 * with the receive time of each datagram at the receiving application.
 */
function stream(lab: MemoryLab, from: string, to: string, port: number, intervalMs = 10) {
  const received: number[] = [];
  let sent = 0;
  let refused = 0;
  const off = lab.hosts.get(to)!.app.onPacket((packet) => {
    const udp = parseUdp6(packet);
    if (udp?.sourcePort === port && udp.destinationPort === 9000) received.push(performance.now());
  });
  const timer = setInterval(() => {
    const sender = lab.hosts.get(from)!;
    const target = lab.hosts.get(to)!;
    const packet = buildUdp6(
      sender.agent.hostId!,
      target.agent.hostId!,
      port,
      9000,
      new Uint8Array([sent & 255]),
    );
    sent += 1;
    if (sender.app.send(packet) !== 'sent') refused += 1;
  }, intervalMs);
  return {
    received,
    get sent() {
      return sent;
    },
    get refused() {
      return refused;
    },
    /** Stops sending; resolves once the datagrams in flight had 300 ms to arrive (and are counted). */
    async stop() {
      clearInterval(timer);
      await sleep(300);
      off();
    },
  };
}

describe('live policy and the endpoint lifecycle (in-process lab)', () => {
  let lab: MemoryLab;
  const tokens = new Map<string, string>();
  beforeAll(async () => {
    lab = await startMemoryLab(parseTopology(defaultTopologyYaml), {
      dataDir: mkdtempSync(join(tmpdir(), 'capsule-live-policy-')),
    });
    for (const name of ['alpha', 'beta', 'gamma', 'delta'])
      tokens.set(name, await applyUseCase(lab.admin, pointToPoint(name)));
  }, 120_000);
  afterAll(async () => {
    await lab?.stop();
  });

  const register = (host: string, contract: string, role: string) =>
    lab.hosts
      .get(host)!
      .agent.registerEndpoint({ serviceToken: tokens.get(contract)!, contract, role }) as Promise<{
      id: number;
      authorizationSerial: string;
    }>;

  it('a contract disabled through the API stops its flow within 1 s; another contract’s flow loses nothing', async () => {
    await register('h4', 'alpha', 'server');
    await register('h1', 'alpha', 'client');
    await register('h5', 'beta', 'server');
    await register('h2', 'beta', 'client');
    await sleep(500); // the servers learn their peers by path-change
    const contract = (await lab.admin.contracts.list()).items.find((c) => c.name === 'alpha')!;
    const affected = stream(lab, 'h1', 'h4', 31_001);
    const unaffected = stream(lab, 'h2', 'h5', 31_002);
    await sleep(1000);
    expect(affected.received.length, 'alpha flows before the change').toBeGreaterThan(20);
    const calledAt = performance.now();
    await lab.admin.contracts.update(contract.id, { enabled: false });
    await sleep(2000);
    await Promise.all([affected.stop(), unaffected.stop()]);
    // It was flowing up to the call …
    expect(affected.received.filter((at) => at > calledAt - 300).length).toBeGreaterThan(0);
    // … and stopped within a second of it.
    const lastMs = Math.max(...affected.received) - calledAt;
    console.info(`live policy: last alpha datagram ${lastMs.toFixed(0)} ms after the API call`);
    expect(lastMs).toBeLessThan(1000);
    const drops = {
      engines: [...lab.engines.values()].map(({ name, engine }) => [name, engine.counters().drops]),
      hosts: ['h2', 'h5'].map((name) => [name, lab.hosts.get(name)!.agent.statistics()]),
    };
    expect(unaffected.refused, JSON.stringify(drops)).toBe(0);
    expect(unaffected.received.length, JSON.stringify(drops)).toBe(unaffected.sent);
    // The engines dropped it as revoked, or the agent no longer had the endpoint.
    const endpoints = (await lab.admin.endpoints.list({ limit: 1000 })).items;
    expect(endpoints.filter((e) => e.contractId === contract.id)).toEqual([]);
  }, 30_000);

  it('an unregistration at the agent reaches the controller: endpoint gone, authorization revoked, the flow stops', async () => {
    const server = await register('h3', 'gamma', 'server');
    const client = await register('h1', 'gamma', 'client');
    await sleep(500);
    const flow = stream(lab, 'h3', 'h1', 31_003);
    await sleep(800);
    expect(flow.received.length).toBeGreaterThan(30);
    expect(await lab.hosts.get('h1')!.agent.unregisterEndpoint(client.id)).toBe(true);
    const unregisteredAt = performance.now();
    await sleep(1500);
    await flow.stop();
    expect(Math.max(...flow.received) - unregisteredAt).toBeLessThan(1000);
    const endpoints = (await lab.admin.endpoints.list({ limit: 1000 })).items.map((e) => e.id);
    expect(endpoints).toContain(server.id);
    expect(endpoints).not.toContain(client.id);
    const authorization = (await lab.admin.authorizations.list({ limit: 1000 })).items.find(
      (a) => a.serial === client.authorizationSerial,
    );
    expect(authorization).toMatchObject({ endpointId: null, revokedAt: expect.any(String) });
    // Unknown here: false, and nothing is sent.
    expect(await lab.hosts.get('h1')!.agent.unregisterEndpoint(client.id)).toBe(false);
  }, 30_000);

  it('an agent restart restores its endpoints by itself: traffic resumes within 5 s', async () => {
    await register('h4', 'delta', 'server');
    await register('h2', 'delta', 'client');
    await sleep(500);
    const before = (await lab.admin.endpoints.list({ limit: 1000 })).items.filter((e) => e.role === 'client');
    const flow = stream(lab, 'h2', 'h4', 31_004);
    await sleep(500);
    expect(flow.received.length).toBeGreaterThan(20);
    // The saved file is input too: unreadable entries and a forged token are dropped at the restart.
    const store = lab.hosts.get('h2')!.identityStore;
    const saved = (await store.load())!;
    expect(saved.endpoints).toContainEqual({
      serviceToken: tokens.get('delta'),
      contract: 'delta',
      role: 'client',
    });
    await store.save({
      ...saved,
      endpoints: [
        ...(saved.endpoints ?? []),
        null,
        { serviceToken: 5 },
        { serviceToken: '1:forged', contract: 'delta', role: 'client' },
      ] as never,
    });
    const restartedAt = performance.now();
    const host = await lab.restartHost('h2');
    const countAtRestart = flow.received.length;
    // No registration by the application: the agent restores what it had saved.
    let resumedMs: number | undefined;
    while (performance.now() - restartedAt < 8000) {
      await sleep(50);
      if (flow.received.length > countAtRestart + 5) {
        resumedMs = flow.received[countAtRestart + 5]! - restartedAt;
        break;
      }
    }
    await flow.stop();
    console.info(`live policy: traffic resumed ${resumedMs?.toFixed(0)} ms after the agent restart began`);
    expect(resumedMs).toBeDefined();
    expect(resumedMs!).toBeLessThan(5000);
    expect(
      host.agent.listEndpoints().map((e) => (e as { contract?: string } | undefined)?.contract),
    ).toContain('delta');
    const kept = (await store.load())!.endpoints!;
    expect(
      kept.every((entry) => typeof entry?.serviceToken === 'string' && entry.serviceToken !== '1:forged'),
    ).toBe(true);
    expect(kept).toContainEqual({ serviceToken: tokens.get('delta'), contract: 'delta', role: 'client' });
    // The same endpoint, renewed: no duplicate at the controller.
    const after = (await lab.admin.endpoints.list({ limit: 1000 })).items.filter((e) => e.role === 'client');
    expect(after.map((e) => e.id).sort()).toEqual(before.map((e) => e.id).sort());
  }, 30_000);

  it('a decommissioned host (node deleted) is cut off within 1 s: its flow stops, its engine closes the link and refuses it', async () => {
    const token = await applyUseCase(lab.admin, pointToPoint('epsilon'));
    for (const [host, role] of [
      ['h3', 'server'],
      ['h5', 'client'],
    ] as const)
      await lab.hosts.get(host)!.agent.registerEndpoint({ serviceToken: token, contract: 'epsilon', role });
    await sleep(500);
    const flow = stream(lab, 'h5', 'h3', 31_006);
    await sleep(800);
    expect(flow.received.length).toBeGreaterThan(20);
    const node = (await lab.admin.nodes.list({ limit: 1000 })).items.find((n) => n.hostname === 'h5')!;
    const calledAt = performance.now();
    await lab.admin.nodes.remove(node.id);
    const e2 = lab.engines.get('e2')!;
    const linkToH5 = () => e2.linkLayer.links().find((l) => l.peerName === 'h5');
    while (linkToH5()?.state === 'up' && performance.now() - calledAt < 2000) await sleep(10);
    const closedMs = performance.now() - calledAt;
    await sleep(3000);
    await flow.stop();
    const lastMs = Math.max(...flow.received) - calledAt;
    console.info(
      `live policy: decommissioned h5 — link closed at e2 ${closedMs.toFixed(0)} ms, last datagram ${lastMs.toFixed(0)} ms after the call`,
    );
    expect(linkToH5()).toMatchObject({ state: 'down', downReason: 'revoked' });
    expect(closedMs).toBeLessThan(1000);
    expect(lastMs).toBeLessThan(1000);
    // h5 keeps trying (its link, its registration): refused.
    expect(e2.linkLayer.handshakeRejections.revoked).toBeGreaterThan(0);
    expect((await lab.admin.nodes.list({ limit: 1000 })).items.some((n) => n.hostname === 'h5')).toBe(false);
  }, 30_000);
});

describe('credential renewal (in-process lab, 6 s authorizations, 12 s node certificates)', () => {
  let lab: MemoryLab;
  const linkDowns: string[] = [];
  beforeAll(async () => {
    lab = await startMemoryLab(parseTopology(defaultTopologyYaml), {
      dataDir: mkdtempSync(join(tmpdir(), 'capsule-renewal-')),
      authorizationLifetimeMs: 6000,
      certificateLifetimeMs: 12_000,
    });
    // The declared links only: until a host hears its declared attachments it links to every
    // engine of its zone, and the links it then closes go down at the engines by timeout.
    const topology = parseTopology(defaultTopologyYaml);
    for (const { name, linkLayer } of lab.engines.values()) {
      const declared = new Set(engineLinks(topology, name).map((l) => l.peer));
      linkLayer.onLinkChange((link) => {
        if (link.state === 'down' && declared.has(link.peerName))
          linkDowns.push(`${name} → ${link.peerName}: ${link.downReason}`);
      });
    }
  }, 120_000);
  afterAll(async () => {
    await lab?.stop();
  });

  it('agents renew before their authorizations run out: a 10 s flow loses nothing, nothing is dropped as expired', async () => {
    const token = await applyUseCase(lab.admin, pointToPoint('renewed'));
    for (const [host, role] of [
      ['h4', 'server'],
      ['h1', 'client'],
    ] as const)
      await lab.hosts.get(host)!.agent.registerEndpoint({ serviceToken: token, contract: 'renewed', role });
    await sleep(500);
    const flow = stream(lab, 'h1', 'h4', 31_005, 20);
    await sleep(10_000);
    await flow.stop();
    await sleep(300);
    const expired = [...lab.engines.values()].reduce(
      (sum, { engine }) => sum + (engine.counters().drops.AUTH_EXPIRED ?? 0),
      0,
    );
    const renewals = (
      lab.hosts.get('h1')!.agent.status() as { controller: { authorizationRenewals: number } }
    ).controller.authorizationRenewals;
    console.info(
      `renewal: ${flow.received.length}/${flow.sent} datagrams over 10 s, ${renewals} renewals at h1, ${expired} expired drops`,
    );
    expect(renewals).toBeGreaterThanOrEqual(2);
    expect(expired).toBe(0);
    expect(flow.received.length).toBe(flow.sent);
  }, 60_000);

  it('nodes renew their certificates while running: over two certificate lifetimes no link goes down and a flow loses nothing', async () => {
    const token = await applyUseCase(lab.admin, pointToPoint('certified'));
    for (const [host, role] of [
      ['h5', 'server'],
      ['h2', 'client'],
    ] as const)
      await lab.hosts.get(host)!.agent.registerEndpoint({ serviceToken: token, contract: 'certified', role });
    await sleep(500);
    const flow = stream(lab, 'h2', 'h5', 31_006, 50);
    await sleep(26_000); // the first certificates end 12 s after the lab started, their renewals 24 s
    await flow.stop();
    const engineRenewals = [...lab.engines.values()].map(
      ({ name, engine }) => [name, engine.counters().linkLayer.certificateSwaps] as const,
    );
    const hostRenewals = [...lab.hosts.values()].map(
      ({ name, agent }) =>
        [
          name,
          (agent.status() as { controller: { certificateRenewals: number } }).controller.certificateRenewals,
        ] as const,
    );
    console.info(
      `certificate renewal: ${flow.received.length}/${flow.sent} datagrams over 26 s; renewals ${JSON.stringify([...engineRenewals, ...hostRenewals])}; links down ${linkDowns.length}`,
    );
    for (const [name, renewals] of [...engineRenewals, ...hostRenewals])
      expect(renewals, `${name} renewed its certificate`).toBeGreaterThanOrEqual(2);
    expect(linkDowns).toEqual([]);
    expect(flow.received.length).toBe(flow.sent);
  }, 90_000);
});
