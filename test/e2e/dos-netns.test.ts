/**
 * Denial of service against an engine, on the netns lab of real daemons (controller, engine e1,
 * agents a, b, c with TUN devices; every daemon from the CLI bundle), each flood bounded in count
 * and time:
 *
 * 1. A captured handshake replayed at 5,000 datagrams/s for 5 s towards e1 (tshark captures c's
 *    real NS to e1 after an agent restart; a node:dgram sender in c's namespace replays it) while
 *    a → b ping runs through e1 every 10 ms: ≥ 99 % of the echoes come back and their p99 RTT is
 *    ≤ 10 ms. Before the handshake guard every copy cost e1 a CGA, RSA and Ed25519 verification.
 * 2. A 60,000-connection UDP flood from a (one authorization, each connection its own flow label:
 *    role-addressed traffic, docs/agent.md) against e1's flow table (16,384 flows here); then c
 *    opens a new flow to b: its first ping is answered. Before flow-state fairness the flood held
 *    every slot and c's flow was refused (FLOW_TABLE_FULL).
 *
 * Needs root, ip, ping, curl, tshark and chrt, and the built CLI (`npm run build`); skipped otherwise
 * (outside CI; in CI a missing prerequisite fails).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { roleAddress } from '@capsule/agent';
import {
  adminClient,
  applyUseCase,
  labDown,
  labNames,
  labPorts,
  loadUseCase,
  namespaceName,
  netnsLabUp,
  parseTopology,
  readLabState,
  startProcess,
  stopProcesses,
  writeLabState,
} from '@capsule/lab';
import { canRun } from '@capsule/testkit';
import { formatIpv6, parseIpv6 } from '@capsule/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeRun, netnsLab, waitFor } from '../netns-lab';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'packages', 'cli', 'bin', 'capsule.js');
const labName = 'dosnet';
const dataDir = join(tmpdir(), 'capsule-test-dos-netns-lab');
const flowCapacity = 16_384;
const topology = parseTopology(`
name: ${labName}
underlay: 10.225.0.0/24
controller: { name: ctl }
engines: [{ name: e1, flowCapacity: ${flowCapacity} }]
links: []
hosts:
  - { name: a, engines: [e1] }
  - { name: b, engines: [e1] }
  - { name: c, engines: [e1] }
`);
const address = (node: string) => topology.nodes.find((n) => n.name === node)!.address;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// prioritize: the path's daemons (agents a and b, engine e1) in the real-time class, so the RTT
// measures this lab, not its neighbours (with no flood at all, ping a → b had a p99 RTT of 16–18 ms
// at nice 0 and at nice -10 alike on the busy CI machine, 3–6 ms with the path real-time). The flood
// sender keeps the default class: an attacker would sit on another machine.
const { inNode, agentCli, prioritize, deprioritize } = netnsLab(labName, dataDir, cli);

/** e1's /metrics, one sample by name and labels (0 when absent: the code before this test's fixes lacks some). */
async function engineMetric(name: string, labels = ''): Promise<number> {
  const run = await inNode('e1', [
    'curl',
    '-s',
    '-m',
    '5',
    `http://${address('e1')}:${labPorts.engineHttp}/metrics`,
  ]);
  const line = run.stdout.split('\n').find((text) => text.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Runs a node script in a namespace (argv after the script), resolving to its stdout. */
function nodeScript(
  node: string,
  script: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<NodeRun> {
  return inNode(node, [process.execPath, '-e', script, ...args], timeoutMs);
}

/**
 * Sends `total` datagrams at `perSecond` from a node:dgram socket: the same bytes (hex argv 4) to
 * one port, or 8 bytes to ports 1, 2, 3, … (no hex). Stops after `total` or 2 s past its schedule;
 * prints `sent elapsedMs`.
 */
const senderScript = `
const dgram = require('node:dgram');
const [family, host, port, perSecond, total, hex] = process.argv.slice(1);
const socket = dgram.createSocket(family === '6' ? 'udp6' : 'udp4');
const fixed = hex ? Buffer.from(hex, 'hex') : undefined;
const small = Buffer.alloc(8);
const rate = Number(perSecond), count = Number(total);
const limitMs = (count / rate) * 1000 + 2000;
let sent = 0;
const start = process.hrtime.bigint();
const tick = () => {
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  const due = Math.min(count, Math.floor((elapsedMs * rate) / 1000) + 1);
  while (sent < due) {
    if (fixed) socket.send(fixed, Number(port), host);
    else socket.send(small, 1 + (sent % 65535), host);
    sent++;
  }
  if (sent < count && elapsedMs < limitMs) setTimeout(tick, 1);
  else setTimeout(() => { console.log(sent + ' ' + Math.round(elapsedMs)); socket.close(); }, 50);
};
tick();
`;

/** ping's per-echo RTTs (ms) and its transmitted/received counts. */
function parsePing(output: string) {
  const rtts = [...output.matchAll(/icmp_seq=\d+ .*time=([\d.]+) ms/g)].map((match) => Number(match[1]));
  const summary = /(\d+) packets transmitted, (\d+) received/.exec(output);
  return { rtts, transmitted: Number(summary?.[1] ?? 0), received: Number(summary?.[2] ?? 0) };
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.POSITIVE_INFINITY;
};

describe.skipIf(!canRun({ root: true, tools: ['ip', 'ping', 'curl', 'tshark', 'chrt'] }) || !existsSync(cli))(
  'denial of service against an engine (netns lab of real daemons)',
  () => {
    const hostId: Record<string, string> = {};
    let token = '';

    const peerOf = async (node: string) => {
      const { items } = await agentCli(node, 'endpoints');
      return items[0]?.peers[0] as { hostId: string } | undefined;
    };

    beforeAll(async () => {
      const stale = await labDown(dataDir);
      if (stale.leftovers.length > 0) throw new Error(`stale lab left: ${stale.leftovers.join(', ')}`);
      const state = await netnsLabUp(topology, {
        dataDir,
        cliPath: cli,
        nodePath: process.execPath,
        env: process.env,
        readyTimeoutMs: 30_000,
      });
      const admin = await adminClient(
        state.controller!.northboundUrl,
        state.controller!.adminPassword,
        state.controller!.caSha256,
      );
      token = await applyUseCase(
        admin,
        loadUseCase(join(root, 'examples', 'use-cases', '1-micro-segmentation')),
      );
      for (const node of ['a', 'b', 'c']) hostId[node] = (await agentCli(node, 'status')).hostId;
      await agentCli('a', 'register', `web.shop.${labNames.hostDomain}.capsule`, '--token', token);
      await agentCli('b', 'register', `db.shop.${labNames.hostDomain}.capsule`, '--token', token);
      await waitFor('a knows b as its peer', () => peerOf('a'), 10_000);
    }, 150_000);

    afterAll(async () => {
      const report = await labDown(dataDir);
      expect(report.leftovers).toEqual([]);
    }, 60_000);

    it('a captured handshake replayed at 5,000/s for 5 s leaves a → b ping through e1 at ≥ 99 % delivery, p99 RTT ≤ 10 ms', async () => {
      // 1. Capture c's real NS to e1: tshark on e1's underlay, then c's agent restarts and handshakes.
      const capture = join(dataDir, 'c-handshake.pcapng');
      const tshark = spawn(
        'ip',
        [
          'netns',
          'exec',
          namespaceName(labName, 'e1'),
          'tshark',
          '-i',
          'eth0',
          '-f',
          `udp dst port ${labPorts.overlay} and src host ${address('c')}`,
          '-w',
          capture,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let tsharkLog = '';
      tshark.stderr!.on('data', (chunk) => (tsharkLog += chunk));
      await waitFor(
        'tshark capturing',
        async () => (/Capturing on/.test(tsharkLog) ? true : undefined),
        10_000,
      );
      const state = readLabState(dataDir)!;
      const index = state.processes.findIndex((record) => record.node === 'c');
      const old = state.processes[index]!;
      await stopProcesses([old]);
      state.processes[index] = startProcess(
        'c',
        old.argv,
        old.logFile,
        { ...process.env },
        state.nodes.find((n) => n.name === 'c')!.dir,
      );
      writeLabState(state);
      await waitFor(
        'c linked to e1 again',
        async () =>
          (await agentCli('c', 'status')).links.some((link: { state: string }) => link.state === 'up')
            ? true
            : undefined,
        30_000,
      );
      await sleep(500);
      const exited = new Promise((resolve) => tshark.once('exit', resolve));
      tshark.kill('SIGINT');
      await exited;
      const frames = await inNode('e1', ['tshark', '-r', capture, '-T', 'fields', '-e', 'udp.payload']);
      // A HANDSHAKE frame: link frame version 1 or 2 (the code before this change speaks 1), type 1.
      const handshake = frames.stdout
        .split('\n')
        .map((line) => line.trim().replaceAll(':', ''))
        .find((hex) => /^0[12]01/.test(hex) && hex.length > 400);
      expect(
        handshake,
        `a HANDSHAKE frame from c in the capture:\n${frames.stdout.slice(0, 400)}`,
      ).toBeDefined();

      for (const node of ['e1', 'a', 'b']) prioritize(node);
      try {
        await measureUnderReplayFlood(handshake!);
      } finally {
        // Back to the normal class before the next flood: real-time daemons under it would starve
        // the other test files' processes.
        for (const node of ['e1', 'a', 'b']) deprioritize(node);
      }
    }, 120_000);

    /** The ping a → b through e1 without a flood (for the log), then under the replay flood. */
    async function measureUnderReplayFlood(handshake: string): Promise<void> {
      const pingArgv = (count: number) => [
        'chrt',
        '-r',
        '10',
        'ping',
        '-6',
        '-n',
        '-i',
        '0.01',
        '-c',
        String(count),
        '-W',
        '1',
        hostId.b!,
      ];
      // The same ping without a flood, for the log: what the machine gives right now.
      const quiet = parsePing((await inNode('a', pingArgv(300), 30_000)).stdout);
      console.info(
        `ping a → b without a flood: ${quiet.received}/${quiet.transmitted}, RTT p50 ${percentile(quiet.rtts, 0.5)} ms, ` +
          `p99 ${percentile(quiet.rtts, 0.99)} ms, max ${percentile(quiet.rtts, 1)} ms`,
      );

      // 2. The flood and the ping at once: ping 10 ms apart for 6.5 s, the flood starts 0.5 s in.
      const rejectedBefore = await engineMetric(
        'capsule_engine_handshake_rejections_total',
        '{reason="replayed"}',
      );
      const verifiedBefore = await engineMetric('capsule_engine_handshakes_verified_total');
      const ping = inNode('a', pingArgv(650), 30_000);
      await sleep(500);
      const flood = await nodeScript(
        'c',
        senderScript,
        ['4', address('e1'), String(labPorts.overlay), '5000', '25000', handshake],
        20_000,
      );
      const pinged = parsePing((await ping).stdout);
      const [sent, floodMs] = flood.stdout.trim().split(' ').map(Number);
      const delivery = pinged.received / pinged.transmitted;
      const p99 = percentile(pinged.rtts, 0.99);
      console.info(
        `replay flood: ${sent} copies of c's NS in ${floodMs} ms; ping a → b: ${pinged.received}/${pinged.transmitted} ` +
          `(${(delivery * 100).toFixed(1)} %), RTT p50 ${percentile(pinged.rtts, 0.5)} ms, p99 ${p99} ms, max ${percentile(pinged.rtts, 1)} ms`,
      );
      expect(pinged.transmitted).toBe(650);
      expect(delivery).toBeGreaterThanOrEqual(0.99);
      expect(p99).toBeLessThanOrEqual(10);
      expect(sent).toBe(25_000);
      expect(floodMs).toBeLessThanOrEqual(7_000);
      // e1 dropped the copies as replays, before any public-key work, and counted them.
      const replayed =
        (await engineMetric('capsule_engine_handshake_rejections_total', '{reason="replayed"}')) -
        rejectedBefore;
      const verified = (await engineMetric('capsule_engine_handshakes_verified_total')) - verifiedBefore;
      console.info(`e1: ${replayed} replays dropped, ${verified} handshake messages verified meanwhile`);
      expect(replayed).toBeGreaterThanOrEqual(24_000); // UDP: a few may be lost in a socket buffer
      expect(verified).toBeLessThanOrEqual(10);
    }

    it('a 60,000-connection type I flood from a leaves c’s new flow through e1 working at once', async () => {
      // c takes the web role (a peer of b) now; it has sent nothing to b yet: its flow will be new at e1.
      await agentCli('c', 'register', `web.shop.${labNames.hostDomain}.capsule`, '--token', token);
      await waitFor('c knows b as its peer', () => peerOf('c'), 10_000);
      // a's flood goes to the db role's address: one capsule flow (type I, new label) per connection.
      const admin = await adminClient(
        readLabState(dataDir)!.controller!.northboundUrl,
        readLabState(dataDir)!.controller!.adminPassword,
        readLabState(dataDir)!.controller!.caSha256,
      );
      const contract = (await admin.contracts.list({ limit: 1000 })).items.find(
        (item) => item.name === 'shop',
      )!;
      const prefix = parseIpv6(hostId.a!);
      expect(prefix.ok).toBe(true);
      const dbRole = formatIpv6(
        roleAddress(prefix.ok ? prefix.value : new Uint8Array(16), contract.id, 'db'),
      );
      const typeIBefore = await engineMetric('capsule_engine_packets_by_type_total', '{type="I"}');
      const flood = await nodeScript('a', senderScript, ['6', dbRole, '0', '10000', '60000'], 30_000);
      const [sent, floodMs] = flood.stdout.trim().split(' ').map(Number);
      await sleep(1_000);
      const typeI = (await engineMetric('capsule_engine_packets_by_type_total', '{type="I"}')) - typeIBefore;
      const liveFlows = await engineMetric('capsule_engine_live_flows');
      console.info(
        `flow flood: ${sent} datagrams in ${floodMs} ms; e1 saw ${typeI} type I packets, holds ${liveFlows} flows`,
      );
      expect(sent).toBe(60_000);
      expect(floodMs).toBeLessThanOrEqual(12_000);
      // The flood is big enough to fill the table (16,384) many times over, had nothing stopped it.
      expect(typeI).toBeGreaterThan(2 * flowCapacity);
      // c's first ping to b opens its flow at e1 and is answered.
      const started = Date.now();
      const first = await inNode('c', ['ping', '-6', '-n', '-c', '1', '-W', '3', hostId.b!]);
      console.info(
        `c → b first ping after the flood: ${first.stdout.split('\n').find((l) => l.includes('time=')) ?? first.stdout.trim()} (${Date.now() - started} ms)`,
      );
      expect(first.stdout).toContain('1 received');
      // a held its authorization's share of e1's table (1/8: 2,048), and the rest of its flood was refused, counted.
      expect(liveFlows).toBeLessThanOrEqual(flowCapacity / 8 + 16);
      expect(
        await engineMetric('capsule_engine_drops_total', '{reason="FLOW_AUTHORIZATION_QUOTA"}'),
      ).toBeGreaterThan(flowCapacity);
    }, 120_000);
  },
);
