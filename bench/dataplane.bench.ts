/**
 * `npm run bench:dataplane` (root): host-to-host TCP throughput (iperf3 -t 5), ping RTT (avg and
 * p99) and ping RTT under load (p99 while iperf3 saturates the same path) in one netns topology,
 * four ways in the same run:
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
 * Each ratio (Capsule / Nebula, Capsule / wireguard-go) is printed and written with the figures.
 * The targets: Capsule's TCP throughput ≥ 2 × the best of Nebula and wireguard-go, and its ping RTT
 * ≤ the best of theirs (through one engine hop more than they have).
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
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  rttP99Ms: number;
  /** Ping while iperf3 saturates the same path (undefined: not measured for this leg). */
  loadedRttAvgMs: number | undefined;
  loadedRttP99Ms: number | undefined;
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

/** The `p`-th percentile (0..100) of ascending `sorted` (nearest rank); NaN when empty. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const average = (values: readonly number[]) =>
  values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;

/** Pings sent per RTT measurement, and their interval (root may go below 0.2 s). */
const pingCount = 100;
const pingIntervalS = '0.02';

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
 * From a to `target` (an address b answers on in that leg): ping (pingCount, every 20 ms), iperf3
 * TCP for iperfSeconds, and with `underLoad` ping again while another iperf3 saturates the path.
 */
async function measure(name: string, target: string, family: '-4' | '-6', underLoad: boolean): Promise<Leg> {
  await must('a', ['ping', family, '-c', '3', '-i', '0.2', '-W', '2', target]); // warm: flows, ARP/ND
  const times = pingTimes(
    await must('a', ['ping', family, '-c', String(pingCount), '-i', pingIntervalS, '-W', '2', target]),
  );
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
    if (underLoad) {
      if (server.exitCode === null) server.kill('SIGKILL');
      server = startIperfServer();
      await iperfServerUp();
      // iperf3 saturates a → b for iperfSeconds + 2; the pings start 1 s in and end before it does.
      const load = must(
        'a',
        ['iperf3', family, '-c', target, '-p', '5202', '-t', String(iperfSeconds + 2), '-J'],
        60_000,
      );
      await sleep(1000);
      const loadedCount = Math.round((iperfSeconds * 1000) / (Number(pingIntervalS) * 1000) / 1.5);
      loaded = pingTimes(
        (
          await inNode('a', [
            'ping',
            family,
            '-c',
            String(loadedCount),
            '-i',
            pingIntervalS,
            '-W',
            '2',
            target,
          ])
        ).stdout,
      );
      await load;
    }
    return {
      name,
      rttMinMs: times[0] ?? Number.NaN,
      rttAvgMs: average(times),
      rttP99Ms: percentile(times, 99),
      loadedRttAvgMs: loaded && average(loaded),
      loadedRttP99Ms: loaded && percentile(loaded, 99),
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
  } catch (error) {
    stop();
    throw error;
  }
  return stop;
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
  let perf: PerfProfile | undefined;
  const loadBefore = loadavg()[0]!;
  let stopNebula = () => {};
  let stopWireguard = () => {};
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

    process.stdout.write('plain veth …\n');
    legs.push(await measure('plain veth + bridge (no overlay)', address('b'), '-4', false));
    process.stdout.write('Capsule …\n');
    legs.push(await measure('Capsule (TUN, e2e sealed, via engine e1)', bHostId, '-6', true));
    process.stdout.write('Nebula …\n');
    stopNebula = await startNebula(scratch);
    await waitFor(
      'nebula a → b',
      async () => (await inNode('a', ['ping', '-c', '1', '-W', '1', '192.168.216.3'])).code === 0,
      20_000,
    );
    legs.push(await measure('Nebula 1.6.1 (host to host, lighthouse in e1)', '192.168.216.3', '-4', true));
    stopNebula();
    process.stdout.write('wireguard-go …\n');
    stopWireguard = await startWireguard(scratch);
    await waitFor(
      'wireguard-go a → b',
      async () => (await inNode('a', ['ping', '-c', '1', '-W', '1', '192.168.217.3'])).code === 0,
      20_000,
    );
    legs.push(await measure('wireguard-go 0.0.20220316 (host to host)', '192.168.217.3', '-4', true));
    stopWireguard();

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
      const measuring = measure('profiled', peer, '-6', false);
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
    stopNebula();
    stopWireguard();
    const report = await labDown(dataDir);
    rmSync(scratch, { recursive: true, force: true });
    if (report.leftovers.length > 0) process.stderr.write(`leftovers: ${report.leftovers.join(', ')}\n`);
  }

  const plain = legs[0]!;
  const capsule = legs[1]!;
  const nebula = legs[2]!;
  const wireguard = legs[3]!;
  const ms = (value: number | undefined) => (value === undefined ? '—' : value.toFixed(3));
  const rows = legs.map((leg) => [
    leg.name,
    leg.throughputMbps.toFixed(1),
    `${((100 * leg.throughputMbps) / plain.throughputMbps).toFixed(1)}%`,
    leg.retransmits,
    leg.senderCpuPercent.toFixed(0),
    leg.rttMinMs.toFixed(3),
    leg.rttAvgMs.toFixed(3),
    leg.rttP99Ms.toFixed(3),
    ms(leg.loadedRttAvgMs),
    ms(leg.loadedRttP99Ms),
    `a ${leg.rcvbufErrors.a}, e1 ${leg.rcvbufErrors.e1}, b ${leg.rcvbufErrors.b}`,
    `a ${leg.fragments.a}, e1 ${leg.fragments.e1}, b ${leg.fragments.b}`,
    `a ${leg.tunDrops.a}, b ${leg.tunDrops.b}`,
  ]);
  const bestPeerMbps = Math.max(nebula.throughputMbps, wireguard.throughputMbps);
  const bestPeerRttMs = Math.min(nebula.rttAvgMs, wireguard.rttAvgMs);
  const ratios = [
    `Capsule / Nebula throughput ${(capsule.throughputMbps / nebula.throughputMbps).toFixed(2)}, ` +
      `Capsule / wireguard-go ${(capsule.throughputMbps / wireguard.throughputMbps).toFixed(2)}, ` +
      `Capsule / plain ${(capsule.throughputMbps / plain.throughputMbps).toFixed(3)}`,
    `RTT avg: Capsule / Nebula ${(capsule.rttAvgMs / nebula.rttAvgMs).toFixed(2)}, ` +
      `Capsule / wireguard-go ${(capsule.rttAvgMs / wireguard.rttAvgMs).toFixed(2)}`,
    `RTT p99 under load: Capsule ${ms(capsule.loadedRttP99Ms)} ms, Nebula ${ms(nebula.loadedRttP99Ms)} ms, ` +
      `wireguard-go ${ms(wireguard.loadedRttP99Ms)} ms (Capsule / Nebula ` +
      `${((capsule.loadedRttP99Ms ?? Number.NaN) / (nebula.loadedRttP99Ms ?? Number.NaN)).toFixed(2)})`,
  ];
  for (const leg of legs)
    process.stdout.write(
      `${leg.name}: ${leg.throughputMbps.toFixed(1)} Mbit/s, RTT avg ${leg.rttAvgMs.toFixed(3)} ms, ` +
        `p99 ${leg.rttP99Ms.toFixed(3)} ms, under load p99 ${ms(leg.loadedRttP99Ms)} ms\n`,
    );
  for (const line of ratios) process.stdout.write(`${line}\n`);
  const throughputMet = capsule.throughputMbps >= 2 * bestPeerMbps;
  const rttMet = capsule.rttAvgMs <= bestPeerRttMs;
  const body = [
    `Host a → host b, iperf3 TCP ${iperfSeconds} s (received rate) and ping (${pingCount} × 56 bytes,`,
    `${Number(pingIntervalS) * 1000} ms apart; p99 by nearest rank); "under load": ping from a to b while`,
    `another iperf3 (${iperfSeconds + 2} s) saturates the same path. All four legs in one run on the same`,
    'namespaces (a, b, e1 on one bridge); 1-minute load average',
    `${loadBefore.toFixed(2)} when the run started (the machine is shared: figures move with the load).`,
    'Capsule (TUN MTU 1280, one engine hop: a → e1 → b), Nebula (MTU 1300, host to host) and',
    'wireguard-go (MTU 1420, host to host); Capsule and Nebula get 8 MiB UDP socket buffers.',
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
        'RTT p99 ms',
        'under load: RTT avg ms',
        'under load: RTT p99 ms',
        'UDP receive-buffer drops',
        'IP fragments (made + reassembled)',
        'TUN drops',
      ],
      rows,
    ),
    '',
    ...ratios.map((line) => `- ${line}`),
    '',
    `**Targets:** Capsule TCP ≥ 2 × the best of Nebula and wireguard-go (${(2 * bestPeerMbps).toFixed(1)} Mbit/s): ` +
      `${throughputMet ? 'met' : 'not met'} (${capsule.throughputMbps.toFixed(1)}); Capsule RTT avg ≤ the best ` +
      `of theirs (${bestPeerRttMs.toFixed(3)} ms): ${rttMet ? 'met' : 'not met'} (${capsule.rttAvgMs.toFixed(3)}).`,
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
