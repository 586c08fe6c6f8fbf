/**
 * Topology from the controller, in network namespaces with the real daemons (lab `tpo`, underlay
 * 10.228.0.0/24): no engine config names a peer and no agent config names an engine — the lab
 * declares the links and attachments through the controller's API and the controller pushes each
 * node its link set. With ping flowing h1 → h2 over e1–e2, a fourth engine e4 is started (one
 * start: namespace and daemon) and linked by ONE API call (`POST /api/v1/links` with a chain
 * e1–e4–e2); then the old path is cut by deleting the link e1–e2. The ping must resume within 2 s
 * and e4's FORWARD counter must grow; e1 and e2 must have closed their link.
 * Needs root, ip, ping and the built CLI (`npm run build`); skipped otherwise (outside CI).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiClient } from '@capsule/api';
import {
  adminClient,
  applyUseCase,
  labDown,
  labNames,
  labPorts,
  loadUseCase,
  namespaceName,
  netnsLabAddEngine,
  netnsLabUp,
  parseTopology,
} from '@capsule/lab';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsLab, waitFor } from '../netns-lab';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'packages', 'cli', 'bin', 'capsule.js');
const labName = 'tpo';
const dataDir = join(tmpdir(), 'capsule-test-topology-netns-lab');
const topology = parseTopology(`
name: ${labName}
underlay: 10.228.0.0/24
controller: { name: ctl }
engines: [{ name: e1 }, { name: e2 }]
links:
  - { between: [e1, e2], cost: 10 }
hosts:
  - { name: h1, engines: [e1] }
  - { name: h2, engines: [e2] }
`);
const built = existsSync(join(root, 'packages/cli/dist'));
const ready = canRun({ root: true, tools: ['ip', 'ping'] }) && built;
const { agentCli } = netnsLab(labName, dataDir, cli);

describe.skipIf(!ready)('topology from the controller (netns lab tpo)', () => {
  let admin: ApiClient;
  let h2HostId = '';
  let ping: ChildProcess | undefined;
  /** Arrival times (ms since the epoch) of the echo replies h1 receives. */
  const replies: number[] = [];
  const address = new Map<string, string>();

  /** An engine's FORWARD verdicts (its HTTP port, reachable from the root namespace over the bridge). */
  async function forwarded(engine: string): Promise<number> {
    const response = await fetch(`http://${address.get(engine)}:${labPorts.engineHttp}/api/v1/status`);
    const status = (await response.json()) as { counters?: { verdicts?: Record<string, number> } };
    return status.counters?.verdicts?.FORWARD ?? 0;
  }
  /** Every engine's drops by reason, and its packets by type (what a slow test run prints). */
  async function engineCounters(): Promise<string> {
    const parts: string[] = [];
    for (const engine of ['e1', 'e2', 'e4']) {
      const response = await fetch(`http://${address.get(engine)}:${labPorts.engineHttp}/api/v1/status`);
      const { counters } = (await response.json()) as {
        counters?: { drops?: Record<string, number>; packetsByType?: Record<string, number> };
      };
      parts.push(
        `${engine} types ${JSON.stringify(counters?.packetsByType)} drops ${JSON.stringify(counters?.drops)}`,
      );
    }
    return parts.join('; ');
  }
  const nodeId = async (name: string) =>
    (await admin.nodes.list({ limit: 500 })).items.find((node) => node.hostname === name)!.id;
  const linkUp = async (a: number, z: number) =>
    (await admin.links.list({ limit: 500 })).items.find(
      (link) =>
        ((link.nodeA === a && link.nodeZ === z) || (link.nodeA === z && link.nodeZ === a)) &&
        link.status === 'up',
    );

  beforeAll(async () => {
    const stale = await labDown(dataDir);
    if (stale.leftovers.length > 0) throw new Error(`stale lab left: ${stale.leftovers.join(', ')}`);
    const state = await netnsLabUp(topology, {
      dataDir,
      cliPath: cli,
      nodePath: process.execPath,
      env: process.env,
      readyTimeoutMs: 60_000,
    });
    for (const node of state.nodes) address.set(node.name, node.address);
    admin = await adminClient(
      state.controller!.northboundUrl,
      state.controller!.adminPassword,
      state.controller!.caSha256,
    );
    const token = await applyUseCase(
      admin,
      loadUseCase(join(root, 'examples', 'use-cases', '1-micro-segmentation')),
    );
    await agentCli('h1', 'register', `web.shop.${labNames.hostDomain}.capsule`, '--token', token);
    await agentCli('h2', 'register', `db.shop.${labNames.hostDomain}.capsule`, '--token', token);
    h2HostId = (await agentCli('h2', 'status')).hostId;
    await waitFor(
      'h1 knows h2 as its peer',
      async () => ((await agentCli('h1', 'endpoints')).items[0]?.peers?.length > 0 ? true : undefined),
      20_000,
    );
  }, 240_000);

  afterAll(async () => {
    if (ping && ping.exitCode === null) ping.kill('SIGKILL');
    const report = await labDown(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
    expect(report.leftovers).toEqual([]);
  }, 120_000);

  it('no config names a peer: the declared links are up, pushed by the controller', async () => {
    const e1 = await nodeId('e1');
    const e2 = await nodeId('e2');
    expect(await linkUp(e1, e2)).toMatchObject({ origin: 'admin', cost: 10 });
    expect(await linkUp(await nodeId('h1'), e1)).toMatchObject({ origin: 'admin' });
    expect(await linkUp(await nodeId('h2'), e2)).toMatchObject({ origin: 'admin' });
  });

  it('h1 pings h2 through e1–e2; e4 joins with one start and one API call; cutting e1–e2 moves the traffic onto e4 within 2 s', async () => {
    // A continuous ping, every 50 ms, its replies timestamped as they arrive.
    ping = spawn(
      'ip',
      ['netns', 'exec', namespaceName(labName, 'h1'), 'ping', '-6', '-n', '-i', '0.05', '-W', '1', h2HostId],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let buffered = '';
    ping.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) if (/bytes from .*icmp_seq=/.test(line)) replies.push(Date.now());
    });
    await waitFor('echo replies flowing', async () => (replies.length >= 10 ? true : undefined), 20_000);
    const e1Before = await forwarded('e1');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await forwarded('e1')).toBeGreaterThan(e1Before); // h1 → h2 crosses e1 (to e2)

    // One start: e4's namespace and daemon (its config: the controller, credentials, locator).
    const startedAt = Date.now();
    await netnsLabAddEngine(dataDir, 'e4', {
      cliPath: cli,
      nodePath: process.execPath,
      env: process.env,
      readyTimeoutMs: 60_000,
    });
    const registeredMs = Date.now() - startedAt;
    address.set(
      'e4',
      (await admin.nodes.list({ limit: 500 })).items
        .find((n) => n.hostname === 'e4')!
        .locator!.split(':')[0]!,
    );
    const [e1, e2, e4] = [await nodeId('e1'), await nodeId('e2'), await nodeId('e4')];
    // One API call: the chain e1–e4–e2 (cost 10 a link: the direct e1–e2 stays the shorter path).
    const linkedAt = Date.now();
    await admin.links.create({ nodeA: e1, via: [e4], nodeZ: e2, cost: 10 });
    await waitFor(
      'e1–e4 and e4–e2 up',
      async () => ((await linkUp(e1, e4)) && (await linkUp(e4, e2)) ? true : undefined),
      10_000,
    );
    const linkedMs = Date.now() - linkedAt;
    const e4Before = await forwarded('e4');

    // Cut the old path: delete the link e1–e2.
    const direct = await linkUp(e1, e2);
    expect(direct).toBeDefined();
    const repliesBeforeCut = replies.length;
    const cutAt = Date.now();
    await admin.links.remove(direct!.id);
    const resumed = await waitFor(
      'echo replies after the cut',
      async () => replies.slice(repliesBeforeCut).find((at) => at > cutAt + 100) ?? undefined,
      10_000,
    );
    // The longest silence around the cut: replies every 50 ms, so a gap is the traffic moving.
    const around = replies.filter((at) => at >= cutAt - 1000);
    let gapMs = 0;
    for (let i = 1; i < around.length; i++) gapMs = Math.max(gapMs, around[i]! - around[i - 1]!);
    console.info(
      `topology: e4 registered ${registeredMs} ms after its start, linked (one API call) and both links up ${linkedMs} ms later; ` +
        `after deleting e1–e2 the ping resumed ${resumed - cutAt} ms later (longest gap ${gapMs} ms); ` +
        (await engineCounters()),
    );
    expect(resumed - cutAt).toBeLessThan(2000);
    expect(gapMs).toBeLessThan(2000);
    await waitFor(
      "e4's forwarded counter grows",
      async () => ((await forwarded('e4')) > e4Before + 5 ? true : undefined),
      5_000,
    );
    // e1 and e2 were told to drop their link and closed it.
    await waitFor(
      'e1 has no link to e2',
      async () => {
        const response = await fetch(`http://${address.get('e1')}:${labPorts.engineHttp}/api/v1/links`);
        const { items } = (await response.json()) as { items: { peerName: string; up: boolean }[] };
        return items.some((link) => link.peerName === 'e2' && link.up) ? undefined : true;
      },
      10_000,
    );
    expect(await linkUp(e1, e2)).toBeUndefined();
  }, 180_000);
});
