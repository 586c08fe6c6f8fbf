/**
 * `npm run bench:dataplane` (root): host-to-host TCP throughput (iperf3 -t 5) and ping RTT in one
 * netns topology, three ways in the same run:
 *
 *   a ──┐
 *       ├── bridge ── e1 (engine / Nebula lighthouse), ctl (controller)
 *   b ──┘
 *
 * - plain: a → b on the underlay addresses (veth + bridge, no overlay): the limit;
 * - Capsule: a → b through the overlay (the agents' TUN, sealed e2e, one engine hop e1), the
 *   contract of examples/use-cases/1-micro-segmentation (PointToPoint);
 * - Nebula (Debian's `nebula`): lighthouse in e1, a → b host to host on nebula1.
 *
 * Then, unless CAPSULE_BENCH_PROFILE=0, the engine and both agents are restarted with node's
 * `--cpu-prof` (not allowed in NODE_OPTIONS: it goes into their argv) for one more iperf3 run, and the functions with the most self time in each process
 * are listed (where the time goes).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminClient,
  applyUseCase,
  labDown,
  labNames,
  loadUseCase,
  logTail,
  namespaceName,
  netnsLabUp,
  parseTopology,
  readLabState,
  startProcess,
  stopProcesses,
  writeLabState,
} from '@capsule/lab';
import { markdownTable, writePerformanceSection } from './report';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'packages', 'cli', 'bin', 'capsule.js');
const labName = 'dpbench';
const dataDir = join(tmpdir(), 'capsule-bench-dataplane-lab');
const topology = parseTopology(`
name: ${labName}
underlay: 10.216.0.0/24
controller: { name: ctl }
engines: [{ name: e1 }]
links: []
hosts:
  - { name: a, engines: [e1] }
  - { name: b, engines: [e1] }
`);
const address = (node: string) => topology.nodes.find((n) => n.name === node)!.address;
const iperfSeconds = 5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function inNode(node: string, argv: readonly string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['netns', 'exec', namespaceName(labName, node), ...argv],
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function must(node: string, argv: readonly string[], timeoutMs?: number): Promise<string> {
  const run = await inNode(node, argv, timeoutMs);
  if (run.code !== 0) throw new Error(`${argv.join(' ')} on ${node} failed: ${run.stderr}${run.stdout}`);
  return run.stdout;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(200);
  }
}

interface Leg {
  name: string;
  rttAvgMs: number;
  rttMinMs: number;
  throughputMbps: number;
  retransmits: number;
  senderCpuPercent: number;
  /** UDP receive-buffer overflows, IP fragments and TUN drops during the iperf3 run, per node. */
  rcvbufErrors: Record<string, number>;
  fragments: Record<string, number>;
  tunDrops: Record<string, number>;
}

/** ping -c 20 and iperf3 -t 5 from a to `target` (an address b answers on in that leg). */
/** Counters of each node's namespace (absolute): UDP receive-buffer overflows, IP fragments made/reassembled, TUN drops. */
interface NodeCounters {
  rcvbufErrors: number;
  fragments: number;
  tunDrops: number;
}

async function nodeCounters(): Promise<Record<string, NodeCounters>> {
  const counters: Record<string, NodeCounters> = {};
  const sum = (text: string, pattern: RegExp) =>
    [...text.matchAll(pattern)].reduce((total, m) => total + Number(m[1]), 0);
  for (const node of ['a', 'b', 'e1']) {
    const nstat = (
      await inNode(node, [
        'nstat',
        '-a',
        '-z',
        '-s',
        'UdpRcvbufErrors',
        'Udp6RcvbufErrors',
        'IpFragCreates',
        'IpReasmReqds',
        'Ip6FragCreates',
        'Ip6ReasmReqds',
      ])
    ).stdout;
    // `ip -s -j link`: the TUN's rx/tx drops (a full txqueue, say); absent on e1 and the plain leg's peers.
    const links = JSON.parse((await inNode(node, ['ip', '-s', '-j', 'link', 'show'])).stdout || '[]') as {
      ifname: string;
      stats64?: { rx: { dropped: number }; tx: { dropped: number } };
    }[];
    const tun = links.find((link) => link.ifname === 'capsule0');
    counters[node] = {
      rcvbufErrors: sum(nstat, /RcvbufErrors\s+(\d+)/g),
      fragments: sum(nstat, /(?:FragCreates|ReasmReqds)\s+(\d+)/g),
      tunDrops: (tun?.stats64?.rx.dropped ?? 0) + (tun?.stats64?.tx.dropped ?? 0),
    };
  }
  return counters;
}

async function measure(name: string, target: string, family: '-4' | '-6'): Promise<Leg> {
  await must('a', ['ping', family, '-c', '3', '-i', '0.2', '-W', '2', target]); // warm: flows, ARP/ND
  const ping = await must('a', ['ping', family, '-c', '20', '-i', '0.1', '-W', '2', target]);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(ping);
  const server = spawn(
    'ip',
    ['netns', 'exec', namespaceName(labName, 'b'), 'iperf3', '-s', '-1', '-p', '5202'],
    {
      stdio: 'ignore',
    },
  );
  try {
    await waitFor(
      'iperf3 server',
      async () => (await inNode('b', ['ss', '-ltnH', 'sport = :5202'])).stdout.includes('5202'),
      5000,
    );
    const before = await nodeCounters();
    const run = await must(
      'a',
      ['iperf3', family, '-c', target, '-p', '5202', '-t', String(iperfSeconds), '-J'],
      60_000,
    );
    const after = await nodeCounters();
    const delta = (key: keyof NodeCounters) =>
      Object.fromEntries(
        Object.entries(after).map(([node, count]) => [node, count[key] - (before[node]?.[key] ?? 0)]),
      );
    const result = JSON.parse(run);
    return {
      name,
      rttMinMs: Number(rtt?.[1] ?? Number.NaN),
      rttAvgMs: Number(rtt?.[2] ?? Number.NaN),
      throughputMbps: result.end.sum_received.bits_per_second / 1e6,
      retransmits: result.end.sum_sent.retransmits,
      senderCpuPercent: result.end.cpu_utilization_percent.host_total,
      rcvbufErrors: delta('rcvbufErrors'),
      fragments: delta('fragments'),
      tunDrops: delta('tunDrops'),
    };
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}

/** Nebula: a CA, a lighthouse in e1 (192.168.216.1), hosts a (.2) and b (.3); host to host. */
async function startNebula(dir: string): Promise<() => void> {
  const nebulaAddress = { e1: '192.168.216.1', a: '192.168.216.2', b: '192.168.216.3' } as const;
  const cert = (...args: string[]) =>
    new Promise<void>((resolve, reject) =>
      execFile('nebula-cert', args, { cwd: dir }, (error) => (error ? reject(error) : resolve())),
    );
  await cert('ca', '-name', 'capsule-bench');
  const children: ReturnType<typeof spawn>[] = [];
  for (const [node, overlay] of Object.entries(nebulaAddress)) {
    await cert('sign', '-name', node, '-ip', `${overlay}/24`);
    const isLighthouse = node === 'e1';
    const config = [
      'pki:',
      `  ca: ${join(dir, 'ca.crt')}`,
      `  cert: ${join(dir, `${node}.crt`)}`,
      `  key: ${join(dir, `${node}.key`)}`,
      'static_host_map:',
      `  "${nebulaAddress.e1}": ["${address('e1')}:4242"]`,
      'lighthouse:',
      `  am_lighthouse: ${isLighthouse}`,
      '  interval: 60',
      ...(isLighthouse ? ['  hosts: []'] : ['  hosts:', `    - "${nebulaAddress.e1}"`]),
      'listen:',
      '  host: 0.0.0.0',
      '  port: 4242',
      // The same 8 MiB socket buffers Capsule's overlay sockets get (the lab raised rmem_max and
      // wmem_max for both): with the kernel's default, b's socket overflowed under one TCP flow.
      '  read_buffer: 8388608',
      '  write_buffer: 8388608',
      'punchy:',
      '  punch: true',
      'tun:',
      '  dev: nebula1',
      '  mtu: 1300',
      'logging:',
      '  level: warning',
      'firewall:',
      '  outbound: [{ port: any, proto: any, host: any }]',
      '  inbound: [{ port: any, proto: any, host: any }]',
      '',
    ].join('\n');
    writeFileSync(join(dir, `${node}.yaml`), config);
    children.push(
      spawn(
        'ip',
        ['netns', 'exec', namespaceName(labName, node), 'nebula', '-config', join(dir, `${node}.yaml`)],
        {
          stdio: 'ignore',
        },
      ),
    );
  }
  return () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  };
}

/** Self time per function of a .cpuprofile: the top `count`, as percentages of the busy samples (idle excluded). */
function topSelfTime(file: string, count: number): { fn: string; percent: number }[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: {
      id: number;
      hitCount?: number;
      callFrame: { functionName: string; url: string; lineNumber: number };
    }[];
  };
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    total += hits;
    const where = url ? `${url.split('/').slice(-2).join('/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
  }
  return [...byFunction.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, count)
    .map(([fn, hits]) => ({ fn, percent: (100 * hits) / Math.max(1, total) }));
}

/** Restarts daemons of the lab with extra node flags (the state file follows). */
async function restartDaemons(
  nodes: readonly string[],
  nodeFlags: (node: string) => string[],
): Promise<void> {
  const state = readLabState(dataDir)!;
  for (const node of nodes) {
    const index = state.processes.findIndex((record) => record.node === node);
    const old = state.processes[index]!;
    await stopProcesses([old]);
    const dir = state.nodes.find((n) => n.name === node)!.dir;
    // argv is `ip netns exec NS node CLI …`: the flags go right after the node binary.
    const at = old.argv.indexOf(process.execPath) + 1;
    const argv = [...old.argv.slice(0, at), ...nodeFlags(node), ...old.argv.slice(at)];
    state.processes[index] = startProcess(node, argv, old.logFile, process.env, dir);
    writeLabState(state);
  }
}

async function stopDaemons(nodes: readonly string[]): Promise<void> {
  const state = readLabState(dataDir)!;
  await stopProcesses(
    state.processes.filter((record) => nodes.includes(record.node)),
    15_000,
  );
}

const agentCli = async (node: string, ...args: string[]) =>
  JSON.parse(await must(node, [process.execPath, cli, 'agent', ...args]));

async function registerEndpoints(token: string): Promise<string> {
  await agentCli('a', 'register', `web.shop.${labNames.hostDomain}.capsule`, '--token', token);
  await agentCli('b', 'register', `db.shop.${labNames.hostDomain}.capsule`, '--token', token);
  let peer: string | undefined;
  await waitFor(
    'a knows b',
    async () => {
      const { items } = await agentCli('a', 'endpoints');
      peer = items[0]?.peers[0]?.hostId;
      return Boolean(peer);
    },
    15_000,
  );
  return peer!;
}

export async function run(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench dataplane needs root (network namespaces, TUN)');
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root }, (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  await labDown(dataDir);
  const scratch = mkdtempSync(join(tmpdir(), 'capsule-bench-dataplane-'));
  const legs: Leg[] = [];
  const profiles: { process: string; top: { fn: string; percent: number }[] }[] = [];
  let profiledMbps = Number.NaN;
  const loadBefore = loadavg()[0]!;
  let stopNebula = () => {};
  try {
    const state = await netnsLabUp(topology, {
      dataDir,
      cliPath: cli,
      nodePath: process.execPath,
      env: process.env,
      readyTimeoutMs: 30_000,
      // Shows among others the sysctl net.core.rmem_max / wmem_max raised for the 8 MiB socket buffers.
      progress: (line) => process.stdout.write(`lab: ${line}\n`),
    });
    const admin = await adminClient(state.controller!.northboundUrl, state.controller!.adminPassword);
    const token = await applyUseCase(
      admin,
      loadUseCase(join(root, 'examples', 'use-cases', '1-micro-segmentation')),
    );
    const bHostId = await registerEndpoints(token);

    process.stdout.write('plain veth …\n');
    legs.push(await measure('plain veth + bridge (no overlay)', address('b'), '-4'));
    process.stdout.write('Capsule …\n');
    legs.push(await measure('Capsule (TUN, e2e sealed, via engine e1)', bHostId, '-6'));
    process.stdout.write('Nebula …\n');
    stopNebula = await startNebula(scratch);
    await waitFor(
      'nebula a → b',
      async () => (await inNode('a', ['ping', '-c', '1', '-W', '1', '192.168.216.3'])).code === 0,
      20_000,
    );
    legs.push(await measure('Nebula 1.6.1 (host to host, lighthouse in e1)', '192.168.216.3', '-4'));
    stopNebula();

    if (process.env.CAPSULE_BENCH_PROFILE !== '0') {
      process.stdout.write('Capsule with --cpu-prof …\n');
      const profileDir = join(scratch, 'profiles');
      const nodes = ['e1', 'a', 'b'];
      await restartDaemons(nodes, (node) => ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, node)}`]);
      for (const node of ['a', 'b'])
        await waitFor(
          `agent ${node} up with --cpu-prof`,
          async () => (await agentCli(node, 'status')).controller.connected,
          30_000,
        ).catch((error) => {
          const record = readLabState(dataDir)!.processes.find((p) => p.node === node)!;
          throw new Error(`${(error as Error).message}\n${logTail(record.logFile, 20)}`);
        });
      const peer = await registerEndpoints(token);
      profiledMbps = (await measure('profiled', peer, '-6')).throughputMbps;
      await stopDaemons(nodes);
      for (const node of nodes) {
        const files = readdirSync(join(profileDir, node)).filter((f) => f.endsWith('.cpuprofile'));
        for (const file of files)
          profiles.push({
            process: node === 'e1' ? 'engine e1' : `agent ${node} (${node === 'a' ? 'sender' : 'receiver'})`,
            top: topSelfTime(join(profileDir, node, file), 8),
          });
      }
    }
  } finally {
    stopNebula();
    const report = await labDown(dataDir);
    rmSync(scratch, { recursive: true, force: true });
    if (report.leftovers.length > 0) process.stderr.write(`leftovers: ${report.leftovers.join(', ')}\n`);
  }

  const plain = legs[0]!;
  const capsule = legs[1]!;
  const nebula = legs[2]!;
  const rows = legs.map((leg) => [
    leg.name,
    leg.throughputMbps.toFixed(1),
    `${((100 * leg.throughputMbps) / plain.throughputMbps).toFixed(1)}%`,
    leg.retransmits,
    leg.senderCpuPercent.toFixed(0),
    leg.rttMinMs.toFixed(3),
    leg.rttAvgMs.toFixed(3),
    `a ${leg.rcvbufErrors.a}, e1 ${leg.rcvbufErrors.e1}, b ${leg.rcvbufErrors.b}`,
    `a ${leg.fragments.a}, e1 ${leg.fragments.e1}, b ${leg.fragments.b}`,
    `a ${leg.tunDrops.a}, b ${leg.tunDrops.b}`,
  ]);
  for (const leg of legs)
    process.stdout.write(
      `${leg.name}: ${leg.throughputMbps.toFixed(1)} Mbit/s, RTT avg ${leg.rttAvgMs} ms\n`,
    );
  const ratio = capsule.throughputMbps / nebula.throughputMbps;
  const body = [
    `Host a → host b, iperf3 TCP ${iperfSeconds} s (received rate) and ping (20 × 56 bytes, 0.1 s apart),`,
    'all three legs in one run on the same namespaces (a, b, e1 on one bridge); 1-minute load average',
    `${loadBefore.toFixed(2)} when the run started (the machine is shared: figures move with the load).`,
    'Capsule (TUN MTU 1280) and Nebula (MTU 1300) both get 8 MiB UDP socket buffers.',
    '',
    markdownTable(
      [
        'path',
        'TCP Mbit/s',
        'of plain',
        'retransmits',
        'iperf3 sender CPU %',
        'RTT min ms',
        'RTT avg ms',
        'UDP receive-buffer drops',
        'IP fragments (made + reassembled)',
        'TUN drops',
      ],
      rows,
    ),
    '',
    `**Capsule / Nebula throughput: ${ratio.toFixed(2)}** (target ≥ 1: ${ratio >= 1 ? 'met' : 'not met'}).` +
      ` Capsule RTT avg ${capsule.rttAvgMs.toFixed(2)} ms vs Nebula ${nebula.rttAvgMs.toFixed(2)} ms.`,
    '',
    ...(profiles.length > 0
      ? [
          `### Where the time goes (Capsule, one more iperf3 run with \`--cpu-prof\` on the engine and both agents: ${profiledMbps.toFixed(1)} Mbit/s)`,
          '',
          'Self time per function, share of the busy samples (idle excluded) of that process over its whole life (start-up included):',
          '',
          ...profiles.flatMap(({ process: name, top }) => [
            `**${name}**`,
            '',
            markdownTable(
              ['function', 'self %'],
              top.map(({ fn, percent }) => [`\`${fn.replace(/\|/g, '\\|')}\``, percent.toFixed(1)]),
            ),
            '',
          ]),
        ]
      : []),
  ].join('\n');
  writePerformanceSection(
    'dataplane',
    'Data plane: host to host through one engine',
    'npm run bench:dataplane',
    body,
  );
}
