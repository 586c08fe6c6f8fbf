/**
 * `npm run bench:dataplane [-- --rounds N]` (root): host-to-host TCP throughput (iperf3 -t 5),
 * ping RTT (avg and p99) and ping RTT under load (p50 and p99 of a ping every 10 ms while iperf3
 * saturates the same path) in one netns topology, four ways in the same run, the whole set
 * repeated N times (default 3; bench/dataplane-summary.ts):
 *
 *   a ──┐
 *       ├── bridge ── e1 (engine / Nebula lighthouse), ctl (controller)
 *   b ──┘
 *
 * - plain: a → b on the underlay addresses (veth + bridge, no overlay): the limit;
 * - Capsule: a → b through the overlay (the agents' TUN, sealed e2e, one engine hop e1), the
 *   contract of examples/use-cases/1-micro-segmentation (PointToPoint);
 * - Nebula (Debian's `nebula`): lighthouse in e1, a → b host to host on nebula1;
 * - wireguard-go (Debian's `wireguard-go`, configured with `wg` of `wireguard-tools`): a → b host to
 *   host on wga/wgb, the userspace WireGuard (the kernel module is not used).
 *
 * Nebula and wireguard-go are started once and stay up for every round; a peer whose tools are
 * missing is skipped with the reason printed (with CI=true it fails instead). Each ratio (Capsule /
 * Nebula, Capsule / wireguard-go, Capsule / the best of the two; Capsule's RTT / the best peer's)
 * is printed and written per round, with its median and range over the rounds. The targets:
 * Capsule's TCP throughput ≥ 2 × the best of Nebula and wireguard-go, and its ping RTT ≤ the best
 * of theirs (through one engine hop more than they have).
 *
 * After the rounds, Capsule once more through an anycast role (Capsule only: the peers have no
 * such thing): a as content distribution's client, b as its replica, a's iperf3 and pings to the
 * replica role's address, beside the unicast leg's medians.
 *
 * Then, unless CAPSULE_BENCH_PROFILE=0, the engine and both agents are restarted with node's
 * `--cpu-prof` and `--perf-basic-prof` (not allowed in NODE_OPTIONS: they go into their argv) for
 * one more iperf3 run, and the functions with the most self time in each process are listed
 * (where the time goes). Where `perf` works (`perf record -e cpu-clock`: a software clock, since
 * virtual machines often have no hardware counters), the whole machine is sampled during that run
 * as well, so the kernel's share (syscalls, TUN, UDP, veth, the inner TCP) shows beside
 * JavaScript's, per process.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminClient,
  applyUseCase,
  contractRoleAddress,
  labDown,
  labNames,
  labPorts,
  labSocketBufferBytes,
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
import type { AgentFastPathStats, FastPathStats } from '@capsule/wire';
import { netnsLab } from '../test/netns-lab';
import {
  average,
  dataplaneDefaults,
  formatSpread,
  type PeerName,
  parseDataplaneArgs,
  peerNames,
  percentile,
  type RoundRatios,
  roundRatios,
  spread,
  targetVerdict,
  throughputTargetFactor,
} from './dataplane-summary';
import { type HopLatency, type JourneyStep, measureHopLatency } from './hop-latency';
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

const { inNode, must, agentCli, agentRequest } = netnsLab(labName, dataDir, cli);

/** Unregisters every endpoint of `node`'s agent (its REST API). */
async function unregisterAll(node: string): Promise<void> {
  const { items } = await agentCli(node, 'endpoints');
  for (const item of items as { id: number }[]) {
    const answer = await agentRequest(node, 'DELETE', `/api/v1/endpoints/${item.id}`);
    if (answer.status >= 300) throw new Error(`${node}: unregister ${item.id}: ${answer.status}`);
  }
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
  rttP50Ms: number;
  rttP99Ms: number;
  /** Ping every 10 ms while iperf3 saturates the same path (undefined: not measured for this leg). */
  loadedRttAvgMs: number | undefined;
  loadedRttP50Ms: number | undefined;
  loadedRttP99Ms: number | undefined;
  /** Replies received, and the share of those pings lost (a reply still due at the deadline counts as lost). */
  loadedReplies: number | undefined;
  loadedLossPercent: number | undefined;
  throughputMbps: number;
  retransmits: number;
  senderCpuPercent: number;
  /** UDP receive-buffer overflows, IP fragments and TUN drops during the iperf3 run, per node. */
  rcvbufErrors: Record<string, number>;
  fragments: Record<string, number>;
  tunDrops: Record<string, number>;
}

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

/** Ping round-trip times, each reply's `time=` (ms), sorted ascending. */
function pingTimes(output: string): number[] {
  return [...output.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
}

/** The loss of a ping run ("10 packets transmitted, 9 received" → 10); NaN when it has no summary. */
function pingLossPercent(output: string): number {
  const match = /(\d+) packets transmitted, (\d+) received/.exec(output);
  if (!match || Number(match[1]) === 0) return Number.NaN;
  return 100 * (1 - Number(match[2]) / Number(match[1]));
}

/** Pings sent per RTT measurement, and their interval (root may go below 0.2 s). */
/** Each leg's RTT pings (--pings, --ping-interval-ms). */
interface PingPlan {
  count: number;
  intervalS: string;
}
/** The hop-by-hop pings' interval. */
const pingIntervalS = '0.02';
/** Under load: a ping every 10 ms for iperfSeconds, while another iperf3 saturates the path. */
const loadedPingIntervalS = '0.01';

function startIperfServer(): ReturnType<typeof spawn> {
  return spawn('ip', ['netns', 'exec', namespaceName(labName, 'b'), 'iperf3', '-s', '-1', '-p', '5202'], {
    stdio: 'ignore',
  });
}

async function iperfServerUp(): Promise<void> {
  await waitFor(
    'iperf3 server',
    async () => (await inNode('b', ['ss', '-ltnH', 'sport = :5202'])).stdout.includes('5202'),
    5000,
  );
}

/**
 * From a to `target` (an address b answers on in that leg): ping (`pings`), iperf3 TCP for
 * iperfSeconds, and with `underLoad` ping again while another iperf3 saturates the path.
 */
async function measure(
  name: string,
  target: string,
  family: '-4' | '-6',
  underLoad: boolean,
  pings: PingPlan,
  /** Called just before and just after the RTT pings (the Capsule leg reads its fast paths). */
  aroundPings?: (edge: 'start' | 'end') => Promise<void>,
): Promise<Leg> {
  await must('a', ['ping', family, '-c', '3', '-i', '0.2', '-W', '2', target]); // warm: flows, ARP/ND
  await aroundPings?.('start');
  const times = pingTimes(
    await must(
      'a',
      ['ping', family, '-c', String(pings.count), '-i', pings.intervalS, '-W', '2', target],
      60_000 + pings.count * Number(pings.intervalS) * 1000,
    ),
  );
  await aroundPings?.('end');
  let server = startIperfServer();
  try {
    await iperfServerUp();
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
    let loaded: number[] | undefined;
    let loadedLossPercent: number | undefined;
    if (underLoad) {
      if (server.exitCode === null) server.kill('SIGKILL');
      server = startIperfServer();
      await iperfServerUp();
      // iperf3 saturates a → b for iperfSeconds + 2; the pings start 1 s in: a ping every 10 ms for
      // iperfSeconds, and a deadline (-w) a second later, before iperf3 ends. (A deadline at
      // iperfSeconds cut off the last ping in flight and counted it lost: 1 of ~490 a leg.)
      const load = must(
        'a',
        ['iperf3', family, '-c', target, '-p', '5202', '-t', String(iperfSeconds + 2), '-J'],
        60_000,
      );
      await sleep(1000);
      const loadedCount = Math.round(iperfSeconds / Number(loadedPingIntervalS));
      const output = (
        await inNode('a', [
          'ping',
          family,
          '-c',
          String(loadedCount),
          '-i',
          loadedPingIntervalS,
          '-w',
          String(iperfSeconds + 1),
          '-W',
          '2',
          target,
        ])
      ).stdout;
      loaded = pingTimes(output);
      loadedLossPercent = pingLossPercent(output);
      await load;
    }
    return {
      name,
      rttMinMs: times[0] ?? Number.NaN,
      rttAvgMs: average(times),
      rttP50Ms: percentile(times, 50),
      rttP99Ms: percentile(times, 99),
      loadedRttAvgMs: loaded && average(loaded),
      loadedRttP50Ms: loaded && percentile(loaded, 50),
      loadedRttP99Ms: loaded && percentile(loaded, 99),
      loadedReplies: loaded?.length,
      loadedLossPercent,
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

/**
 * wireguard-go (Debian's package; keys and peers set with `wg`): a on wga (192.168.217.2), b on
 * wgb (.3), host to host over the same bridge, MTU 1420 (WireGuard's default). Interface names
 * differ per host because wireguard-go's control sockets (/var/run/wireguard/NAME.sock) are in
 * the file system, which the namespaces share.
 */
async function startWireguard(dir: string): Promise<() => void> {
  const hosts = {
    a: { iface: 'wga', overlay: '192.168.217.2' },
    b: { iface: 'wgb', overlay: '192.168.217.3' },
  } as const;
  const wg = (args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const child = execFile('wg', args, { encoding: 'utf8' }, (error, stdout) =>
        error ? reject(error) : resolve(stdout.trim()),
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  const keys: Record<string, { privateFile: string; publicKey: string }> = {};
  for (const node of ['a', 'b']) {
    const privateKey = await wg(['genkey']);
    const privateFile = join(dir, `wg-${node}.key`);
    writeFileSync(privateFile, `${privateKey}\n`, { mode: 0o600 });
    keys[node] = { privateFile, publicKey: await wg(['pubkey'], `${privateKey}\n`) };
  }
  const children: ReturnType<typeof spawn>[] = [];
  const stop = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  };
  try {
    for (const [node, { iface, overlay }] of Object.entries(hosts)) {
      const other = node === 'a' ? 'b' : 'a';
      children.push(
        spawn('ip', ['netns', 'exec', namespaceName(labName, node), 'wireguard-go', '-f', iface], {
          stdio: 'ignore',
          env: { ...process.env, WG_PROCESS_FOREGROUND: '1' },
        }),
      );
      await waitFor(
        `wireguard-go ${iface} on ${node}`,
        async () => (await inNode(node, ['ip', 'link', 'show', iface])).code === 0,
        10_000,
      );
      await must(node, [
        'wg',
        'set',
        iface,
        'private-key',
        keys[node]!.privateFile,
        'listen-port',
        '51820',
        'peer',
        keys[other]!.publicKey,
        'endpoint',
        `${address(other)}:51820`,
        'allowed-ips',
        `${hosts[other as 'a' | 'b'].overlay}/32`,
      ]);
      await must(node, ['ip', 'address', 'add', `${overlay}/24`, 'dev', iface]);
      await must(node, ['ip', 'link', 'set', iface, 'mtu', '1420', 'up']);
    }
    // The same socket buffers as Capsule and Nebula: this wireguard-go asks for none (later
    // releases ask for 7 MiB), so they are set on its UDP sockets from outside once it is up.
    for (const [index, node] of ['a', 'b'].entries()) {
      await waitFor(
        `wireguard-go's UDP socket on ${node}`,
        async () => (await inNode(node, ['ss', '-uanH', 'sport = :51820'])).stdout.includes('51820'),
        10_000,
      );
      await setUdpSocketBuffers(children[index]!.pid!, labSocketBufferBytes);
    }
  } catch (error) {
    stop();
    throw error;
  }
  return stop;
}

/**
 * Sets SO_RCVBUF and SO_SNDBUF to `bytes` on every UDP socket of process `pid` (root): each
 * socket is duplicated into a python3 with pidfd_getfd(2), which shares the socket itself, so the
 * option applies to the process's socket. Capped by net.core.rmem_max / wmem_max like a process's
 * own setsockopt (the lab raised them). Fails unless at least one socket was set.
 */
async function setUdpSocketBuffers(pid: number, bytes: number): Promise<void> {
  const script = `
import ctypes, os, socket, sys
pid, size = int(sys.argv[1]), int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(pid)
done = 0
for name in os.listdir(f'/proc/{pid}/fd'):
    try:
        if not os.readlink(f'/proc/{pid}/fd/{name}').startswith('socket:'):
            continue
    except FileNotFoundError:
        continue
    fd = libc.syscall(438, pidfd, int(name), 0)  # pidfd_getfd(2): the same number on every architecture
    if fd < 0:
        raise OSError(ctypes.get_errno(), f'pidfd_getfd {pid} fd {name}')
    s = socket.socket(fileno=fd)
    if s.family in (socket.AF_INET, socket.AF_INET6) and s.type == socket.SOCK_DGRAM:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        done += 1
    s.close()
print(done)
`;
  const done = await new Promise<string>((resolve, reject) =>
    execFile('python3', ['-c', script, String(pid), String(bytes)], { encoding: 'utf8' }, (error, stdout) =>
      error ? reject(error) : resolve(stdout.trim()),
    ),
  );
  if (!(Number(done) > 0)) throw new Error(`no UDP socket of process ${pid} to set the buffers of`);
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
      `  read_buffer: ${labSocketBufferBytes}`,
      `  write_buffer: ${labSocketBufferBytes}`,
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

/** Whether `perf record` works here (a software clock event, system wide). */
function perfWorks(): boolean {
  try {
    execFileSync('perf', ['record', '-e', 'cpu-clock', '-a', '-o', '/dev/null', '--', 'true'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}

interface PerfProfile {
  /** Share of all samples per process (engine, agents, iperf3, kernel threads, idle). */
  byProcess: { process: string; percent: number; kernelPercent: number }[];
  /** Top symbols per lab daemon (share of that process's samples). */
  topSymbols: { process: string; top: { symbol: string; percent: number }[] }[];
}

/**
 * Reads a system-wide `perf record` file: the share of each process (by pid: the daemons are
 * named by `names`), the kernel part of it, and each daemon's top symbols (JavaScript functions
 * through node's --perf-basic-prof map files).
 */
function readPerf(file: string, names: Map<number, string>): PerfProfile {
  const script = execFileSync(
    'perf',
    ['report', '-i', file, '--stdio', '--sort', 'pid,dso,sym', '-g', 'none', '--percent-limit', '0.05'],
    { encoding: 'utf8', maxBuffer: 256 << 20 },
  );
  const perProcess = new Map<string, { percent: number; kernel: number; symbols: Map<string, number> }>();
  for (const line of script.split('\n')) {
    // "    12.34%     1234:node    [kernel.kallsyms]    [k] symbol"
    const match = /^\s*([\d.]+)%\s+(\d+):(\S+)\s+(\S+)\s+\[(.)\]\s+(.*)$/.exec(line);
    if (!match) continue;
    const percent = Number(match[1]);
    const pid = Number(match[2]);
    const command = match[3]!;
    const name =
      names.get(pid) ?? (pid === 0 ? 'idle' : command.startsWith('iperf3') ? 'iperf3' : `other (${command})`);
    const entry = perProcess.get(name) ?? { percent: 0, kernel: 0, symbols: new Map<string, number>() };
    entry.percent += percent;
    if (match[5] === 'k') entry.kernel += percent;
    const symbol = `${match[6]!.trim().slice(0, 90)} (${match[4] === '[kernel.kallsyms]' ? 'kernel' : match[4]!.split('/').pop()})`;
    entry.symbols.set(symbol, (entry.symbols.get(symbol) ?? 0) + percent);
    perProcess.set(name, entry);
  }
  const byProcess = [...perProcess.entries()]
    .map(([process, entry]) => ({ process, percent: entry.percent, kernelPercent: entry.kernel }))
    .sort((x, y) => y.percent - x.percent)
    .filter((row) => row.percent >= 0.5);
  const topSymbols = [...names.values()].map((process) => {
    const entry = perProcess.get(process);
    const total = entry?.percent ?? 0;
    return {
      process,
      top: [...(entry?.symbols.entries() ?? [])]
        .sort((x, y) => y[1] - x[1])
        .slice(0, 12)
        .map(([symbol, percent]) => ({ symbol, percent: (100 * percent) / Math.max(total, 1e-9) })),
    };
  });
  return { byProcess, topSymbols };
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

/**
 * Anycast through the engine, beside the micro-segmentation endpoints (so a and b have endpoints of
 * two contracts in common: each agent has a unicast flow per contract to the other, b's answers
 * from the role address take the content flow, natively: docs/agent.md, "Several contracts to one
 * peer host"): a registers as content distribution's client and b as its replica
 * (examples/use-cases/7-content-distribution: the Nearest program sends each packet a client sends
 * to the replica role's address to the nearest replica — b, the only one here); returns that role
 * address once a reaches it (b's agent holds it on its TUN). The packets a sends there go out on
 * its role flow, one capsule flow per connection, and b takes them in as a member.
 */
async function registerRoleEndpoints(admin: Awaited<ReturnType<typeof adminClient>>, bHostId: string) {
  const token = await applyUseCase(
    admin,
    loadUseCase(join(root, 'examples', 'use-cases', '7-content-distribution')),
  );
  await agentCli('a', 'register', `client.content.${labNames.hostDomain}.capsule`, '--token', token);
  await agentCli('b', 'register', `replica.content.${labNames.hostDomain}.capsule`, '--token', token);
  // The hosts of one zone share its /64: the address a derives from its own is the one from b's.
  const role = await contractRoleAddress(admin, 'content', 'replica', bHostId);
  if (role === undefined) throw new Error('bench dataplane: no content contract, or b has no host id');
  await waitFor(
    'a reaches the replica role',
    async () => (await inNode('a', ['ping', '-6', '-c', '1', '-W', '1', role])).code === 0,
    20_000,
  );
  return role;
}

/** Pings followed hop by hop per leg (measureHopLatency). */
const hopPings = 300;

/** A ping's journey through the Capsule leg: a's agent, engine e1, b's agent, and back. */
function capsuleJourney(): JourneyStep[] {
  const [a, e1, b] = [address('a'), address('e1'), address('b')];
  const tunA = { node: 'a', device: 'capsule0' };
  const tunB = { node: 'b', device: 'capsule0' };
  const ethA = { node: 'a', device: 'eth0' };
  const ethE1 = { node: 'e1', device: 'eth0' };
  const ethB = { node: 'b', device: 'eth0' };
  // A link frame carrying the 104-byte ICMPv6 echo is longer than it (keep-alives are shorter).
  const frame = (from: string, to: string) => ({ kind: 'udp' as const, from, to, minIpLength: 104 + 28 });
  return [
    { point: tunA, match: { kind: 'echo', reply: false } },
    { point: ethA, match: frame(a, e1), gap: 'agent a: TUN → link', crossing: true },
    { point: ethE1, match: frame(a, e1), gap: 'veth a → e1' },
    { point: ethE1, match: frame(e1, b), gap: 'engine e1 (a → b)', crossing: true },
    { point: ethB, match: frame(e1, b), gap: 'veth e1 → b' },
    { point: tunB, match: { kind: 'echo', reply: false }, gap: 'agent b: link → TUN', crossing: true },
    { point: tunB, match: { kind: 'echo', reply: true }, gap: 'b’s kernel (echo reply)' },
    { point: ethB, match: frame(b, e1), gap: 'agent b: TUN → link', crossing: true },
    { point: ethE1, match: frame(b, e1), gap: 'veth b → e1' },
    { point: ethE1, match: frame(e1, a), gap: 'engine e1 (b → a)', crossing: true },
    { point: ethA, match: frame(e1, a), gap: 'veth e1 → a' },
    { point: tunA, match: { kind: 'echo', reply: true }, gap: 'agent a: link → TUN', crossing: true },
  ];
}

/** A ping's journey through a peer's leg: its daemon on a, the veth, its daemon on b, and back. */
function peerJourney(peer: PeerLeg): JourneyStep[] {
  const [a, b] = [address('a'), address('b')];
  const devices = peer.name === 'Nebula' ? ['nebula1', 'nebula1'] : ['wga', 'wgb'];
  const tunA = { node: 'a', device: devices[0]! };
  const tunB = { node: 'b', device: devices[1]! };
  const ethA = { node: 'a', device: 'eth0' };
  const ethB = { node: 'b', device: 'eth0' };
  // Its datagram carrying the 84-byte ICMP echo is longer than it (keep-alives are shorter).
  const datagram = (from: string, to: string) => ({ kind: 'udp' as const, from, to, minIpLength: 84 + 28 });
  return [
    { point: tunA, match: { kind: 'echo', reply: false } },
    { point: ethA, match: datagram(a, b), gap: `${peer.name} a: TUN → UDP`, crossing: true },
    { point: ethB, match: datagram(a, b), gap: 'veth a → b' },
    { point: tunB, match: { kind: 'echo', reply: false }, gap: `${peer.name} b: UDP → TUN`, crossing: true },
    { point: tunB, match: { kind: 'echo', reply: true }, gap: 'b’s kernel (echo reply)' },
    { point: ethB, match: datagram(b, a), gap: `${peer.name} b: TUN → UDP`, crossing: true },
    { point: ethA, match: datagram(b, a), gap: 'veth b → a' },
    { point: tunA, match: { kind: 'echo', reply: true }, gap: `${peer.name} a: UDP → TUN`, crossing: true },
  ];
}

/** The crossings' and the rest's share of a leg's round trip, as a table row. */
function hopSummaryRow(leg: string, latency: HopLatency): string[] {
  const crossings = latency.gaps.filter((gap) => gap.crossing);
  const sum = (gaps: readonly { meanUs: number }[]) => gaps.reduce((total, gap) => total + gap.meanUs, 0);
  return [
    leg,
    String(crossings.length),
    fixed(sum(crossings), 0),
    fixed(sum(crossings) / crossings.length, 0),
    fixed(sum(latency.gaps.filter((gap) => !gap.crossing)), 0),
    `${fixed(latency.roundTripMeanUs, 0)} (${fixed(latency.roundTripP50Us, 0)})`,
    `${latency.samples} / ${latency.requests}`,
  ];
}

function hopSummaryLine(leg: string, latency: HopLatency): string {
  const [, count, sum, each, rest, roundTrip, followed] = hopSummaryRow(leg, latency);
  return `${leg}: ${count} process crossings, ${sum} µs (${each} µs each), veths and kernel ${rest} µs; round trip ${roundTrip} µs; ${followed} followed`;
}

/** The tools every leg needs, and the ones each peer needs on top (missing: that peer is skipped). */
const requiredTools = ['ip', 'iperf3', 'ping', 'nstat', 'ss'];
const peerTools: Record<PeerName, string[]> = {
  Nebula: ['nebula', 'nebula-cert'],
  // python3: it sets wireguard-go's socket buffers (setUdpSocketBuffers).
  'wireguard-go': ['wireguard-go', 'wg', 'python3'],
};

/** The tools among `tools` that are not an executable file in a directory of PATH. */
function missingTools(tools: readonly string[]): string[] {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  return tools.filter(
    (tool) =>
      !dirs.some((dir) => {
        try {
          accessSync(join(dir, tool), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
  );
}

/** What `argv` prints that matches `pattern` (its first group): a peer's version for its label. */
function toolVersion(argv: readonly string[], pattern: RegExp): string {
  try {
    const output = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: 'pipe' });
    return pattern.exec(output)?.[1] ?? '(version unknown)';
  } catch {
    return '(version unknown)';
  }
}

/** An overlay compared with Capsule: how to start it (once, for every round) and where b answers on it. */
interface PeerLeg {
  name: PeerName;
  /** As its binary prints it. */
  version: string;
  label: string;
  target: string;
  /** The UDP port its sockets are bound to (for their buffer sizes). */
  port: number;
  start: (dir: string) => Promise<() => void>;
}

function peerLegs(): PeerLeg[] {
  const nebula = toolVersion(['nebula', '-version'], /Version: (\S+)/);
  const wireguard = toolVersion(['wireguard-go', '--version'], /wireguard-go v?(\S+)/);
  return [
    {
      name: 'Nebula',
      version: nebula,
      label: `Nebula ${nebula} (host to host, lighthouse in e1)`,
      target: '192.168.216.3',
      port: 4242,
      start: startNebula,
    },
    {
      name: 'wireguard-go',
      version: wireguard,
      label: `wireguard-go ${wireguard} (host to host)`,
      target: '192.168.217.3',
      port: 51820,
      start: startWireguard,
    },
  ];
}

const plainLabel = 'plain veth + bridge (no overlay)';
const capsuleLabel = 'Capsule (TUN, e2e sealed, via engine e1)';

/**
 * The buffers of the UDP socket bound to `port` in `node`, as `ss -m` shows them (rb, tb: the
 * kernel books twice what SO_RCVBUF / SO_SNDBUF asked for); undefined when no socket is bound.
 */
async function udpSocketBuffers(
  node: string,
  port: number,
): Promise<{ rcv: number; snd: number } | undefined> {
  const output = (await inNode(node, ['ss', '-uamnH', `sport = :${port}`])).stdout;
  const match = /\brb(\d+),t\d+,tb(\d+)/.exec(output);
  return match ? { rcv: Number(match[1]), snd: Number(match[2]) } : undefined;
}

const kib = (bytes: number) =>
  bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${Math.round(bytes / 1024)} KiB`;

/**
 * A daemon's fast-path counters (the engine's `fastPath` in /api/v1/status, an agent's in its
 * status: @capsule/wire's FastPathStats and AgentFastPathStats), and an agent's e2e rekeys (its
 * statistics: epochs moved to as a sender, followed as a receiver); null when off.
 */
interface FastPathCounts {
  readonly engine?: FastPathStats;
  readonly agent?: AgentFastPathStats;
  readonly e2eRekeys?: { readonly sent: number; readonly received: number };
}
const fastPathNodes = ['a', 'e1', 'b'] as const;

/** The fast-path counters of the Capsule leg's three daemons now (absolute). */
async function fastPathCounts(): Promise<Record<(typeof fastPathNodes)[number], FastPathCounts | null>> {
  const engine = JSON.parse(
    await must('e1', ['curl', '-sf', `http://${address('e1')}:${labPorts.engineHttp}/api/v1/status`]),
  ) as { fastPath?: FastPathStats | null };
  const agent = async (node: string) => {
    const stats = ((await agentCli(node, 'status')) as { fastPath?: AgentFastPathStats | null }).fastPath;
    const { e2eRekeys } = (await agentRequest(node, 'GET', '/api/v1/statistics')).body as {
      e2eRekeys: { sent: number; received: number };
    };
    return stats ? { agent: stats, e2eRekeys } : null;
  };
  return {
    a: await agent('a'),
    e1: engine.fastPath ? { engine: engine.fastPath } : null,
    b: await agent('b'),
  };
}

/**
 * One socket's or TUN reader's side of a fast path: what it took of what it was offered, the DATA
 * frames with a packet among what a socket offered (not the link layer's handshakes, cookies and
 * keep-alives, which always go up), and why it handed up the rest.
 */
interface FastPathSide {
  readonly label: string;
  readonly taken: number;
  readonly offered: number;
  readonly packets: number | undefined;
  readonly handedUp: Readonly<Record<string, number>>;
}

/** The engine's one side; an agent's egress (from its TUN) and ingress (from its socket). */
function sidesOf(counts: FastPathCounts): FastPathSide[] {
  const { engine, agent } = counts;
  if (engine)
    return [
      {
        label: '',
        taken: engine.taken,
        offered: engine.offered,
        packets: engine.packetsOffered,
        handedUp: engine.handedUp,
      },
    ];
  if (!agent) return [];
  return [
    {
      label: 'egress ',
      taken: agent.taken,
      offered: agent.offered,
      packets: undefined,
      handedUp: agent.handedUp.out,
    },
    {
      label: 'ingress ',
      taken: agent.ingressTaken,
      offered: agent.ingressOffered,
      packets: agent.ingressPacketsOffered,
      handedUp: agent.handedUp.in,
    },
  ];
}

/** What each daemon's fast path took of what it was offered between two readings, in words. */
function fastPathShare(
  before: Record<string, FastPathCounts | null>,
  after: Record<string, FastPathCounts | null>,
): Record<string, string> {
  const share: Record<string, string> = {};
  const percent = (part: number, whole: number) => (whole > 0 ? ((100 * part) / whole).toFixed(1) : '—');
  const count = (n: number) => n.toLocaleString('en-US');
  for (const node of fastPathNodes) {
    const [from, to] = [before[node], after[node]];
    if (!from || !to) {
      share[node] = 'off';
      continue;
    }
    const fromSides = sidesOf(from);
    share[node] = sidesOf(to)
      .map((now, i) => {
        const was = fromSides[i]!;
        const taken = now.taken - was.taken;
        const offered = now.offered - was.offered;
        const ofPackets =
          now.packets === undefined
            ? ''
            : `; of the ${count(now.packets - (was.packets ?? 0))} with a packet ${percent(
                taken,
                now.packets - (was.packets ?? 0),
              )}%`;
        const up = Object.entries(now.handedUp)
          .map(([reason, n]) => [reason, n - (was.handedUp[reason] ?? 0)] as const)
          .filter(([, n]) => n > 0)
          .map(([reason, n]) => `${reason} ${count(n)}`);
        const whys = up.length > 0 ? `; up: ${up.join(', ')}` : '';
        return `${now.label}${count(taken)} of ${count(offered)} (${percent(taken, offered)}%${ofPackets}${whys})`;
      })
      .join(', ');
    // The e2e rekeys in between: with the fast path on, none of their packets need go up.
    const sent = (to.e2eRekeys?.sent ?? 0) - (from.e2eRekeys?.sent ?? 0);
    const received = (to.e2eRekeys?.received ?? 0) - (from.e2eRekeys?.received ?? 0);
    if (sent + received > 0) share[node] += `; e2e rekeys: sent ${sent}, followed ${received}`;
  }
  return share;
}

/** One round: the four legs in order (plain, Capsule, then each peer that runs). */
interface Round {
  round: number;
  /** 1-minute load average when the round started. */
  loadAvg1m: number;
  plain: Leg;
  capsule: Leg;
  peers: Partial<Record<PeerName, Leg>>;
  ratios: RoundRatios;
  /** Per Capsule daemon, what its fast path took of what it was offered during the Capsule leg. */
  fastPath: Record<string, string>;
  /** The same during the leg's RTT pings alone (iperf3's packets outnumber them 10,000 to 1). */
  fastPathPings: Record<string, string>;
}

async function measureRound(
  round: number,
  rounds: number,
  capsuleTarget: string,
  peers: readonly PeerLeg[],
  pings: PingPlan,
): Promise<Round> {
  const loadAvg1m = loadavg()[0]!;
  const say = (what: string) => process.stdout.write(`round ${round}/${rounds}: ${what} …\n`);
  say('plain veth');
  const plain = await measure(plainLabel, address('b'), '-4', false, pings);
  say('Capsule');
  const fastPathBefore = await fastPathCounts();
  const atPings: Partial<Record<'start' | 'end', Awaited<ReturnType<typeof fastPathCounts>>>> = {};
  const capsule = await measure(capsuleLabel, capsuleTarget, '-6', true, pings, async (edge) => {
    atPings[edge] = await fastPathCounts();
  });
  const fastPath = fastPathShare(fastPathBefore, await fastPathCounts());
  const fastPathPings = fastPathShare(atPings.start!, atPings.end!);
  const measured: Partial<Record<PeerName, Leg>> = {};
  for (const peer of peers) {
    say(peer.name);
    measured[peer.name] = await measure(peer.label, peer.target, '-4', true, pings);
  }
  return {
    round,
    loadAvg1m,
    plain,
    capsule,
    peers: measured,
    ratios: roundRatios(capsule, measured),
    fastPath,
    fastPathPings,
  };
}

const fixed = (value: number | undefined, digits: number) =>
  value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);

/** Capsule's median ping RTT over the lowest median of the peers (beside the target's averages). */
function rttP50OverBest(round: Round): number | undefined {
  const peers = Object.values(round.peers).map((leg) => leg!.rttP50Ms);
  const best = peers.length > 0 ? Math.min(...peers) : undefined;
  return best && best > 0 ? round.capsule.rttP50Ms / best : undefined;
}

/** A round's ratios in words (printed after the round, and written). */
function ratioLine(round: Round): string {
  const r = round.ratios;
  return (
    `round ${round.round}: throughput Capsule / Nebula ${fixed(r.capsuleOver.Nebula, 2)}, ` +
    `Capsule / wireguard-go ${fixed(r.capsuleOver['wireguard-go'], 2)}, ` +
    `Capsule / best (${r.bestThroughputPeer ?? 'none'}) ${fixed(r.capsuleOverBest, 2)} ` +
    `(target ≥ ${throughputTargetFactor}: ${r.throughputMet === undefined ? 'not measured' : r.throughputMet ? 'met' : 'not met'}); ` +
    `RTT avg Capsule ${fixed(round.capsule.rttAvgMs, 3)} ms vs best peer (${r.bestRttPeer ?? 'none'}) ` +
    `${fixed(r.bestPeerRttMs, 3)} ms: ${fixed(r.capsuleRttOverBest, 2)}× ` +
    `(target ≤ 1: ${r.rttMet === undefined ? 'not measured' : r.rttMet ? 'met' : 'not met'}; ` +
    `RTT p50 ${fixed(rttP50OverBest(round), 2)}× the best peer's p50); ` +
    `under load p50/p99 ms: ${[
      ['Capsule', round.capsule] as const,
      ...peerNames.flatMap((name) => (round.peers[name] ? [[name, round.peers[name]!] as const] : [])),
    ]
      .map(([name, leg]) => `${name} ${fixed(leg.loadedRttP50Ms, 3)}/${fixed(leg.loadedRttP99Ms, 3)}`)
      .join(', ')}`
  );
}

export async function run(args: readonly string[] = []): Promise<void> {
  const options = parseDataplaneArgs(args);
  const pings: PingPlan = { count: options.pings, intervalS: String(options.pingIntervalMs / 1000) };
  // Hop by hop: 300 pings 20 ms apart, or the legs' own pings when another interval was asked for.
  const hopPlan: PingPlan =
    options.pingIntervalMs === dataplaneDefaults.pingIntervalMs
      ? { count: hopPings, intervalS: pingIntervalS }
      : pings;
  if (process.getuid?.() !== 0) throw new Error('bench dataplane needs root (network namespaces, TUN)');
  const missing = missingTools(requiredTools);
  if (missing.length > 0) throw new Error(`bench dataplane needs ${missing.join(', ')} on PATH`);
  // A peer whose tools are missing is skipped (said why); in CI every leg must run.
  const peers: PeerLeg[] = [];
  const skipped: string[] = [];
  for (const peer of peerLegs()) {
    const absent = missingTools(peerTools[peer.name]);
    if (absent.length === 0) {
      peers.push(peer);
      continue;
    }
    const reason = `${peer.name} leg skipped: ${absent.join(', ')} not found on PATH`;
    if (process.env.CI === 'true')
      throw new Error(`bench dataplane: ${reason} (CI=true: every leg must run)`);
    process.stdout.write(`${reason}\n`);
    skipped.push(reason);
  }
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root }, (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  await labDown(dataDir);
  const scratch = mkdtempSync(join(tmpdir(), 'capsule-bench-dataplane-'));
  const rounds: Round[] = [];
  const buffers: { leg: string; a: string }[] = [];
  const profiles: { process: string; top: { fn: string; percent: number }[] }[] = [];
  const hops: { leg: string; latency: HopLatency }[] = [];
  /** Capsule to the replica role's address (anycast), after the rounds, with what its fast paths took. */
  let anycast: { leg: Leg; fastPath: Record<string, string> } | undefined;
  let profiledMbps = Number.NaN;
  let perf: PerfProfile | undefined;
  const loadBefore = loadavg()[0]!;
  const uptimeBefore = execFileSync('uptime', { encoding: 'utf8' }).trim();
  const stopPeers: (() => void)[] = [];
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
    const admin = await adminClient(
      state.controller!.northboundUrl,
      state.controller!.adminPassword,
      state.controller!.caSha256,
    );
    const token = await applyUseCase(
      admin,
      loadUseCase(join(root, 'examples', 'use-cases', '1-micro-segmentation')),
    );
    const bHostId = await registerEndpoints(token);

    for (const peer of peers) {
      process.stdout.write(`starting ${peer.name} …\n`);
      stopPeers.push(await peer.start(scratch));
      await waitFor(
        `${peer.name} a → b`,
        async () => (await inNode('a', ['ping', '-c', '1', '-W', '1', peer.target])).code === 0,
        20_000,
      );
    }
    for (const [leg, port] of [
      ['Capsule', labPorts.overlay] as const,
      ...peers.map((peer) => [peer.name, peer.port] as const),
    ]) {
      const granted = await udpSocketBuffers('a', port);
      buffers.push({ leg, a: granted ? `${kib(granted.rcv)} / ${kib(granted.snd)}` : '?' });
    }

    for (let round = 1; round <= options.rounds; round += 1) {
      const result = await measureRound(round, options.rounds, bHostId, peers, pings);
      rounds.push(result);
      process.stdout.write(`${ratioLine(result)}\n`);
      process.stdout.write(
        `round ${round}: fast path took, during the Capsule leg: ${fastPathNodes
          .map((node) => `${node} ${result.fastPath[node]}`)
          .join('; ')}\n`,
      );
      process.stdout.write(
        `round ${round}: fast path took, during its RTT pings alone: ${fastPathNodes
          .map((node) => `${node} ${result.fastPathPings[node]}`)
          .join('; ')}\n`,
      );
    }
    if (missingTools(['tcpdump']).length === 0) {
      for (const [leg, steps, target, family] of [
        ['Capsule', capsuleJourney(), bHostId, '-6'] as const,
        ...peers.map((peer) => [peer.name, peerJourney(peer), peer.target, '-4'] as const),
      ]) {
        process.stdout.write(`${leg}: a ping's round trip, hop by hop …\n`);
        const latency = await measureHopLatency(steps, {
          namespaceOf: (node) => namespaceName(labName, node),
          scratch,
          traffic: () =>
            must(
              'a',
              ['ping', family, '-c', String(hopPlan.count), '-i', hopPlan.intervalS, '-W', '2', '-q', target],
              60_000 + hopPlan.count * Number(hopPlan.intervalS) * 1000,
            ),
        });
        hops.push({ leg, latency });
        process.stdout.write(`${hopSummaryLine(leg, latency)}\n`);
      }
    } else {
      const reason = 'per-hop latency skipped: tcpdump not found on PATH';
      if (process.env.CI === 'true') throw new Error(`bench dataplane: ${reason} (CI=true)`);
      process.stdout.write(`${reason}\n`);
      skipped.push(reason);
    }
    for (const stop of stopPeers.splice(0)) stop();

    process.stdout.write('Capsule through an anycast role …\n');
    const role = await registerRoleEndpoints(admin, bHostId);
    const fastPathBefore = await fastPathCounts();
    const leg = await measure('Capsule, a → the replica role (anycast)', role, '-6', false, pings);
    anycast = { leg, fastPath: fastPathShare(fastPathBefore, await fastPathCounts()) };
    // The micro-segmentation endpoints alone again, for the profiled run.
    for (const node of ['a', 'b']) await unregisterAll(node);
    await registerEndpoints(token);
    process.stdout.write(
      `Capsule through an anycast role: ${fixed(leg.throughputMbps, 0)} Mbit/s, RTT avg ${fixed(leg.rttAvgMs, 3)} ms; fast path took: ${fastPathNodes
        .map((node) => `${node} ${anycast!.fastPath[node]}`)
        .join('; ')}\n`,
    );

    if (process.env.CAPSULE_BENCH_PROFILE !== '0') {
      process.stdout.write('Capsule with --cpu-prof (and perf) …\n');
      const profileDir = join(scratch, 'profiles');
      const nodes = ['e1', 'a', 'b'];
      await restartDaemons(nodes, (node) => [
        '--cpu-prof',
        `--cpu-prof-dir=${join(profileDir, node)}`,
        '--perf-basic-prof',
      ]);
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
      const perfFile = join(scratch, 'perf.data');
      let recorder: ReturnType<typeof spawn> | undefined;
      const measuring = measure('profiled', peer, '-6', false, pings);
      if (perfWorks()) {
        // The pings come first (about 3 s): sample the iperf3 part only.
        await sleep(3500);
        recorder = spawn(
          'perf',
          [
            'record',
            '-e',
            'cpu-clock',
            '-F',
            '999',
            '-a',
            '-o',
            perfFile,
            '--',
            'sleep',
            String(iperfSeconds - 2),
          ],
          { stdio: 'ignore' },
        );
      }
      profiledMbps = (await measuring).throughputMbps;
      if (recorder) {
        await new Promise((resolve) =>
          recorder!.exitCode === null ? recorder!.on('exit', resolve) : resolve(0),
        );
        const names = new Map<number, string>();
        for (const record of readLabState(dataDir)!.processes)
          if (nodes.includes(record.node))
            names.set(record.pid, record.node === 'e1' ? 'engine e1' : `agent ${record.node}`);
        if (existsSync(perfFile)) perf = readPerf(perfFile, names);
      }
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
    for (const stop of stopPeers) stop();
    const report = await labDown(dataDir);
    rmSync(scratch, { recursive: true, force: true });
    if (report.leftovers.length > 0) process.stderr.write(`leftovers: ${report.leftovers.join(', ')}\n`);
  }
  const uptimeAfter = execFileSync('uptime', { encoding: 'utf8' }).trim();
  const rmemDefault = Number(readFileSync('/proc/sys/net/core/rmem_default', 'utf8'));
  const ran: PeerName[] = peers.map((peer) => peer.name);
  const wireguardVersion = peers.find((peer) => peer.name === 'wireguard-go')?.version;

  // Each leg over the rounds: plain, Capsule, then the peers that ran.
  const legKeys: { label: string; pick: (round: Round) => Leg | undefined; overlay: boolean }[] = [
    { label: plainLabel, pick: (round) => round.plain, overlay: false },
    { label: capsuleLabel, pick: (round) => round.capsule, overlay: true },
    ...peers.map((peer) => ({
      label: peer.label,
      pick: (round: Round) => round.peers[peer.name],
      overlay: true,
    })),
  ];
  const over = (pick: (round: Round) => number | undefined) => spread(rounds.map(pick));
  const legSpread = (key: (typeof legKeys)[number], figure: (leg: Leg) => number | undefined) =>
    over((round) => {
      const leg = key.pick(round);
      return leg && figure(leg);
    });
  const ms = (value: number | undefined) => fixed(value, 3);
  const summaryRows = legKeys.map((key) => [
    key.label,
    formatSpread(
      legSpread(key, (leg) => leg.throughputMbps),
      1,
    ),
    formatSpread(
      legSpread(key, (leg) => leg.retransmits),
      0,
    ),
    formatSpread(
      legSpread(key, (leg) => leg.rttAvgMs),
      3,
    ),
    formatSpread(
      legSpread(key, (leg) => leg.rttP50Ms),
      3,
    ),
    formatSpread(
      legSpread(key, (leg) => leg.rttP99Ms),
      3,
    ),
    key.overlay
      ? formatSpread(
          legSpread(key, (leg) => leg.loadedRttP50Ms),
          3,
        )
      : '—',
    key.overlay
      ? formatSpread(
          legSpread(key, (leg) => leg.loadedRttP99Ms),
          3,
        )
      : '—',
    key.overlay
      ? formatSpread(
          legSpread(key, (leg) => leg.loadedLossPercent),
          1,
        )
      : '—',
  ]);
  const verdict = (met: boolean | undefined) => (met === undefined ? '—' : met ? 'met' : 'not met');
  const ratioRows = rounds.map((round) => {
    const r = round.ratios;
    return [
      String(round.round),
      round.loadAvg1m.toFixed(2),
      fixed(r.capsuleOver.Nebula, 2),
      fixed(r.capsuleOver['wireguard-go'], 2),
      `${fixed(r.capsuleOverBest, 2)} (${r.bestThroughputPeer ?? '—'})`,
      verdict(r.throughputMet),
      ms(round.capsule.rttAvgMs),
      `${ms(r.bestPeerRttMs)} (${r.bestRttPeer ?? '—'})`,
      fixed(r.capsuleRttOverBest, 2),
      verdict(r.rttMet),
      fixed(rttP50OverBest(round), 2),
    ];
  });
  const capsuleOverBest = over((round) => round.ratios.capsuleOverBest);
  const capsuleRttOverBest = over((round) => round.ratios.capsuleRttOverBest);
  if (rounds.length > 1)
    ratioRows.push([
      '**median (min–max)**',
      formatSpread(
        over((round) => round.loadAvg1m),
        2,
      ),
      formatSpread(
        over((round) => round.ratios.capsuleOver.Nebula),
        2,
      ),
      formatSpread(
        over((round) => round.ratios.capsuleOver['wireguard-go']),
        2,
      ),
      formatSpread(capsuleOverBest, 2),
      '',
      formatSpread(
        over((round) => round.capsule.rttAvgMs),
        3,
      ),
      formatSpread(
        over((round) => round.ratios.bestPeerRttMs),
        3,
      ),
      formatSpread(capsuleRttOverBest, 2),
      '',
      formatSpread(over(rttP50OverBest), 2),
    ]);
  const detailRows = rounds.flatMap((round) =>
    legKeys.flatMap((key) => {
      const leg = key.pick(round);
      if (!leg) return [];
      return [
        [
          String(round.round),
          leg.name,
          leg.throughputMbps.toFixed(1),
          `${((100 * leg.throughputMbps) / round.plain.throughputMbps).toFixed(1)}%`,
          leg.retransmits,
          leg.senderCpuPercent.toFixed(0),
          ms(leg.rttMinMs),
          ms(leg.rttAvgMs),
          ms(leg.rttP50Ms),
          ms(leg.rttP99Ms),
          ms(leg.loadedRttP50Ms),
          ms(leg.loadedRttP99Ms),
          leg.loadedReplies === undefined
            ? '—'
            : `${fixed(leg.loadedLossPercent, 1)}% (${leg.loadedReplies} replies)`,
          `a ${leg.rcvbufErrors.a}, e1 ${leg.rcvbufErrors.e1}, b ${leg.rcvbufErrors.b}`,
          `a ${leg.fragments.a}, e1 ${leg.fragments.e1}, b ${leg.fragments.b}`,
          `a ${leg.tunDrops.a}, b ${leg.tunDrops.b}`,
        ],
      ];
    }),
  );
  const targets = [
    `**Targets** (per round: its legs measured one after the other): Capsule TCP ≥ ` +
      `${throughputTargetFactor} × the best of Nebula and wireguard-go: ` +
      `${targetVerdict(rounds.map((round) => round.ratios.throughputMet))}, Capsule / best ` +
      `${formatSpread(capsuleOverBest, 2)}; Capsule RTT avg ≤ the best of theirs: ` +
      `${targetVerdict(rounds.map((round) => round.ratios.rttMet))}, Capsule / best ` +
      `${formatSpread(capsuleRttOverBest, 2)}.`,
  ];
  for (const line of [...rounds.map(ratioLine), ...targets]) process.stdout.write(`${line}\n`);
  const cores = cpus().length;
  const body = [
    `Host a → host b, iperf3 TCP ${iperfSeconds} s (received rate) and ping (${pings.count} × 56 bytes,`,
    `${options.pingIntervalMs} ms apart; p99 by nearest rank); "under load": a ping every`,
    `${Number(loadedPingIntervalS) * 1000} ms for ${iperfSeconds} s (p50, p99, loss) while another iperf3`,
    `(${iperfSeconds + 2} s) saturates the same path. Every leg in each round, ${rounds.length} round${rounds.length === 1 ? '' : 's'}`,
    `in one run on the same namespaces (a, b, e1 on one bridge; ${ran.join(' and ') || 'no peer'} ${ran.length === 1 ? 'stays' : 'stay'} up`,
    'for every round). Each overlay at its own default MTU, which fits the 1,500-byte underlay without',
    'fragmenting (the fragment column shows it): Capsule TUN 1280 (one engine hop: a → e1 → b),',
    `${[ran.includes('Nebula') && 'Nebula 1300', ran.includes('wireguard-go') && 'wireguard-go 1420'].filter(Boolean).join(' and ') || 'no peer'} (host to host). UDP socket buffers of host a`,
    `(receive / send, as \`ss -m\` shows them: the kernel books twice what was asked): ${buffers
      .map(({ leg, a }) => `${leg} ${a}`)
      .join(
        ', ',
      )}. Capsule${ran.includes('Nebula') ? ' and Nebula' : ''} ask${ran.includes('Nebula') ? '' : 's'} for ${kib(labSocketBufferBytes)}.`,
    ...(ran.includes('wireguard-go')
      ? [
          `wireguard-go's own request (none in 0.0.20220316, which would keep net.core.rmem_default,`,
          `${kib(rmemDefault)} here; 7 MiB in later releases; this is ${wireguardVersion}) is overridden: the bench`,
          'sets the same size on its UDP sockets from outside (pidfd_getfd(2) and setsockopt).',
        ]
      : []),
    ...(skipped.length > 0 ? ['', ...skipped.map((reason) => `**${reason}.**`)] : []),
    '',
    `\`uptime\` before the run: \`${uptimeBefore}\`; after: \`${uptimeAfter}\` (${cores} cores).`,
    ...(loadBefore >= 0.5
      ? [
          `**Measured under load:** other work was running on the machine (1-minute load average ${loadBefore.toFixed(2)}`,
          'before the lab was built): these figures are not final; compare the legs within this run only.',
        ]
      : []),
    '',
    '### Per leg: median (min–max) over the rounds',
    '',
    markdownTable(
      [
        'path',
        'TCP Mbit/s',
        'retransmits',
        'RTT avg ms',
        'RTT p50 ms',
        'RTT p99 ms',
        'under load: RTT p50 ms',
        'under load: RTT p99 ms',
        'under load: ping loss %',
      ],
      summaryRows,
    ),
    '',
    '### Ratios per round',
    '',
    markdownTable(
      [
        'round',
        'load avg (1 min) at its start',
        'Capsule / Nebula (TCP)',
        'Capsule / wireguard-go (TCP)',
        'Capsule / best peer (TCP)',
        `≥ ${throughputTargetFactor}`,
        'Capsule RTT avg ms',
        'best peer RTT avg ms',
        'Capsule RTT / best peer',
        '≤ 1',
        'RTT p50: Capsule / best peer (beside the target)',
      ],
      ratioRows,
    ),
    '',
    ...targets,
    '',
    '### The fast paths during the Capsule leg',
    '',
    "What each fast path took of what it was offered over the whole Capsule leg (pings, iperf3, iperf3 under load), and over the leg's RTT pings alone (iperf3's packets outnumber them 10,000 to 1, so a ping going through JavaScript does not show in the first); the rest woke JavaScript. Agents: egress counts packets from the TUN device, ingress datagrams from the socket; the engine: datagrams from the socket. What the sockets offered includes the link layer's keep-alives and handshakes, which always go up (over the pings alone a few percent of it at a ping every 20 ms, about half at one a second), so each socket's share is also given over the DATA frames with a packet in them alone. An agent's e2e rekeys in between (sent: epochs it moved to as a sender; followed: as a receiver) are given too.",
    '',
    markdownTable(
      ['round', 'of', ...fastPathNodes.map((node) => `${node === 'e1' ? 'engine' : 'agent'} ${node}`)],
      rounds.flatMap((round) =>
        (
          [
            ['the whole leg', round.fastPath],
            ['its RTT pings', round.fastPathPings],
          ] as const
        ).map(([of, share]) => [String(round.round), of, ...fastPathNodes.map((node) => share[node] ?? '—')]),
      ),
    ),
    '',
    '### Every leg of every round',
    '',
    markdownTable(
      [
        'round',
        'path',
        'TCP Mbit/s',
        'of plain',
        'retransmits',
        'iperf3 sender CPU %',
        'RTT min ms',
        'RTT avg ms',
        'RTT p50 ms',
        'RTT p99 ms',
        'under load: RTT p50 ms',
        'under load: RTT p99 ms',
        'under load: ping loss',
        'UDP receive-buffer drops',
        'IP fragments (made + reassembled)',
        'TUN drops',
      ],
      detailRows,
    ),
    '',
    ...(anycast
      ? [
          '### Through an anycast role (Capsule only; after the rounds)',
          '',
          "a registered as examples/use-cases/7-content-distribution's client, b as its replica: a's",
          "iperf3 and pings go to the replica role's address (its role flow: a capsule flow per",
          'connection, the Nearest program choosing b at e1) and b takes them in as a member. Beside',
          "it, the unicast Capsule leg's median over the rounds.",
          '',
          markdownTable(
            ['path', 'TCP Mbit/s', 'RTT avg ms', 'RTT p99 ms'],
            [
              [
                'a → the replica role (anycast)',
                fixed(anycast.leg.throughputMbps, 0),
                fixed(anycast.leg.rttAvgMs, 3),
                fixed(anycast.leg.rttP99Ms, 3),
              ],
              [
                'a → b (unicast; median of the rounds)',
                fixed(spread(rounds.map((r) => r.capsule.throughputMbps))?.median, 0),
                fixed(spread(rounds.map((r) => r.capsule.rttAvgMs))?.median, 3),
                fixed(spread(rounds.map((r) => r.capsule.rttP99Ms))?.median, 3),
              ],
            ],
          ),
          '',
          `Fast path, during the anycast leg: ${fastPathNodes.map((node) => `${node} ${anycast!.fastPath[node]}`).join('; ')}.`,
          '',
        ]
      : []),
    ...(hops.length > 0
      ? [
          `### Where a ping's round trip goes, hop by hop (${hopPlan.count} pings, ${Number(hopPlan.intervalS) * 1000} ms apart, after the rounds)`,
          '',
          "tcpdump on a's and b's overlay device and on the underlay interface of a, b (and e1 for Capsule);",
          'each echo request followed through the captures (bench/hop-latency.ts). A process crossing is',
          "one daemon's wake-up, receive, work and send; the veth gaps are the kernel's path between",
          "namespaces; b's kernel answers the ping. Microseconds, over the requests followed through.",
          '',
          markdownTable(
            [
              'path',
              'process crossings',
              'their sum, mean µs',
              'per crossing, mean µs',
              'veths and b’s kernel, mean µs',
              'round trip at a’s overlay device, mean (p50) µs',
              'followed / sent',
            ],
            hops.map(({ leg, latency }) => hopSummaryRow(leg, latency)),
          ),
          '',
          markdownTable(
            ['path', 'gap', 'mean µs', 'p50 µs', 'p90 µs'],
            hops.flatMap(({ leg, latency }) =>
              latency.gaps.map((gap) => [
                leg,
                gap.crossing ? `**${gap.gap}**` : gap.gap,
                fixed(gap.meanUs, 0),
                fixed(gap.p50Us, 0),
                fixed(gap.p90Us, 0),
              ]),
            ),
          ),
          '',
        ]
      : []),
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
    ...(perf
      ? [
          '### The whole machine during the profiled run (perf, cpu-clock, all CPUs)',
          '',
          'Share of all samples on all CPUs (100% = every CPU busy for the whole sampled time) per process, and the kernel part of it:',
          '',
          markdownTable(
            ['process', 'share of samples %', 'in the kernel %'],
            perf.byProcess.map((row) => [row.process, row.percent.toFixed(1), row.kernelPercent.toFixed(1)]),
          ),
          '',
          ...perf.topSymbols.flatMap(({ process: name, top }) => [
            `**${name}**: top symbols (share of its samples)`,
            '',
            markdownTable(
              ['symbol', '%'],
              top.map(({ symbol, percent }) => [`\`${symbol.replace(/\|/g, '\\|')}\``, percent.toFixed(1)]),
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
