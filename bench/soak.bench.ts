/**
 * `npm run bench -- soak` (root; runs only when named): a real-time soak of the netns lab, the
 * daemons as a deployment runs them (controller, engine, three agents on TUN):
 *
 *   a ──┐
 *   b ──┼── bridge ── e1 (engine), ctl (controller)      lab `sok`, underlay 10.227.0.0/24
 *   c ──┘
 *
 * For CAPSULE_SOAK_SECONDS (default 600):
 * - measured: a → b through the overlay (contract `shop`, examples/use-cases/1-micro-segmentation):
 *   ping every 200 ms the whole time, and iperf3 TCP in back-to-back chunks of `iperfChunkS`
 *   (a chunk that fails is counted, not fatal);
 * - every `policyEveryS` a policy change, alternately narrowing and widening another contract
 *   (`side`, c → b): disable it, enable it again (and register its endpoints again), drop the
 *   client's grant, grant it again; each one's effect checked (c → b pings fail, or answer) and the
 *   time it took measured;
 * - once, at half time, the measured contract itself is disabled for `outageS` and enabled again
 *   (its endpoints registered again): the outage seen by the pings is measured;
 * - every `sampleEveryS` the RSS (VmRSS of /proc/PID/status) and open file descriptors
 *   (/proc/PID/fd) of the controller, the engine and each agent.
 *
 * Printed and written to docs/performance.md: ping loss % (whole run, and outside the measured
 * outage), ping p50/p99, iperf3 throughput per chunk (median, min), the policy changes' times to
 * effect, the outage, and RSS and fds at start and end of each process, with the load of the
 * machine (`uptime` before and after).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminClient,
  applyUseCase,
  labDown,
  labNames,
  loadUseCase,
  namespaceName,
  netnsLabUp,
  parseTopology,
  type UseCase,
} from '@capsule/lab';
import { netnsLab } from '../test/netns-lab';
import { markdownTable, writePerformanceSection } from './report';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'packages', 'cli', 'bin', 'capsule.js');
const labName = 'sok';
const dataDir = join(tmpdir(), 'capsule-bench-soak-lab');
const topology = parseTopology(`
name: ${labName}
underlay: 10.227.0.0/24
controller: { name: ctl }
engines: [{ name: e1 }]
links: []
hosts:
  - { name: a, engines: [e1] }
  - { name: b, engines: [e1] }
  - { name: c, engines: [e1] }
`);

/** The soak's knobs, in one place. */
const soak = {
  durationS: Number(process.env.CAPSULE_SOAK_SECONDS ?? 600),
  policyEveryS: 30,
  sampleEveryS: 10,
  iperfChunkS: 20,
  pingIntervalS: 0.2,
  outageS: 10,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const { inNode, must, agentCli } = netnsLab(labName, dataDir, cli);

/** Resolves with the ms it took `check` to hold (polled every 100 ms), or rejects after `timeoutMs`. */
async function timeUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await check().catch(() => false))) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(100);
  }
  return performance.now() - started;
}

/** The point-to-point contract `side` (client ↔ server), as live-policy tests build it. */
const sideUseCase: UseCase = {
  name: 'side',
  title: 'side',
  dir: join(root, 'examples', 'use-cases', '6-revocation'),
  documents: [
    {
      kind: 'template',
      name: 't-side',
      program: '../../programs/PointToPoint.java',
      roles: [
        { name: 'client', entry: 'route' },
        { name: 'server', entry: 'route' },
      ],
    },
    {
      kind: 'contract',
      name: 'side',
      template: 't-side',
      roles: [
        { name: 'client', peer: 'server' },
        { name: 'server', peer: 'client' },
      ],
    },
    {
      kind: 'service',
      name: 's-side',
      grants: [
        { contract: 'side', role: 'client' },
        { contract: 'side', role: 'server' },
      ],
    },
  ],
  endpoints: [],
  steps: [],
};

/** One sample of a process: resident set (kB) and open file descriptors. */
interface Sample {
  atS: number;
  rssKb: number;
  fds: number;
}

function sampleProcess(pid: number): Omit<Sample, 'atS'> | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
    return { rssKb, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function run(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench soak needs root (network namespaces, TUN)');
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root }, (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  await labDown(dataDir);
  const uptimeBefore = execFileSync('uptime', { encoding: 'utf8' }).trim();
  const loadBefore = loadavg()[0]!;
  const state = await netnsLabUp(topology, {
    dataDir,
    cliPath: cli,
    nodePath: process.execPath,
    env: process.env,
    readyTimeoutMs: 60_000,
    progress: (line) => process.stdout.write(`lab: ${line}\n`),
  });
  const ping: { atS: number; rttMs: number | undefined }[] = [];
  const chunks: { atS: number; mbps: number | undefined; error?: string }[] = [];
  const policy: { atS: number; change: string; effectMs: number }[] = [];
  const samples = new Map<string, Sample[]>();
  let outage: { fromS: number; toS: number; enabledAtS: number; registeredAtS: number } | undefined;
  let pinger: ReturnType<typeof spawn> | undefined;
  const t0 = performance.now();
  const nowS = () => (performance.now() - t0) / 1000;
  try {
    const { northboundUrl, adminPassword, caSha256 } = state.controller!;
    const admin = async () => adminClient(northboundUrl, adminPassword, caSha256);
    const shopToken = await applyUseCase(
      await admin(),
      loadUseCase(join(root, 'examples', 'use-cases', '1-micro-segmentation')),
    );
    const sideToken = await applyUseCase(await admin(), sideUseCase);
    const name = (role: string, contract: string) => `${role}.${contract}.${labNames.hostDomain}.capsule`;
    const registerShop = async () => {
      await agentCli('a', 'register', name('web', 'shop'), '--token', shopToken);
      await agentCli('b', 'register', name('db', 'shop'), '--token', shopToken);
    };
    const registerSide = async (roles: readonly ('client' | 'server')[]) => {
      if (roles.includes('server'))
        await agentCli('b', 'register', name('server', 'side'), '--token', sideToken);
      if (roles.includes('client'))
        await agentCli('c', 'register', name('client', 'side'), '--token', sideToken);
    };
    await registerShop();
    await registerSide(['server', 'client']);
    const peerOf = async (node: string, contract: string) => {
      const { items } = await agentCli(node, 'endpoints');
      return (items as { contract?: string; peers: { hostId: string }[] }[]).find(
        (e) => e.contract === contract,
      )?.peers[0]?.hostId as string | undefined;
    };
    let bHostId: string | undefined;
    await timeUntil('a knows b', async () => Boolean((bHostId = await peerOf('a', 'shop'))), 20_000);
    let bSideHostId: string | undefined;
    await timeUntil('c knows b', async () => Boolean((bSideHostId = await peerOf('c', 'side'))), 20_000);
    const sideAnswers = async () =>
      (await inNode('c', ['ping', '-6', '-c', '1', '-W', '1', bSideHostId!])).code === 0;
    await timeUntil('c → b answers', sideAnswers, 20_000);
    await must('a', ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', bHostId!]);

    // The processes to sample: the daemons as the lab recorded them.
    const pids = new Map(state.processes.map((record) => [record.node, record.pid]));
    const sample = () => {
      for (const [node, pid] of pids) {
        const taken = sampleProcess(pid);
        if (taken) samples.set(node, [...(samples.get(node) ?? []), { atS: nowS(), ...taken }]);
      }
    };
    sample();

    // Ping a → b the whole time (-D: timestamps, -O: report each unanswered one).
    const pingCount = Math.round(soak.durationS / soak.pingIntervalS);
    pinger = spawn(
      'ip',
      [
        'netns',
        'exec',
        namespaceName(labName, 'a'),
        'ping',
        '-6',
        '-D',
        '-O',
        '-i',
        String(soak.pingIntervalS),
        '-W',
        '1',
        '-c',
        String(pingCount),
        bHostId!,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let pending = '';
    pinger.stdout!.setEncoding('utf8').on('data', (text: string) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const answered = /icmp_seq=\d+ .*time=([\d.]+) ms/.exec(line);
        if (answered) ping.push({ atS: nowS(), rttMs: Number(answered[1]) });
        else if (/no answer yet for icmp_seq=/.test(line)) ping.push({ atS: nowS(), rttMs: undefined });
      }
    });
    const pingDone = new Promise<void>((resolve) => pinger!.once('exit', () => resolve()));

    // iperf3 a → b in chunks until the end.
    const iperfLoop = (async () => {
      const server = spawn(
        'ip',
        ['netns', 'exec', namespaceName(labName, 'b'), 'iperf3', '-s', '-p', '5203'],
        {
          stdio: 'ignore',
        },
      );
      try {
        await timeUntil(
          'iperf3 server',
          async () => (await inNode('b', ['ss', '-ltnH', 'sport = :5203'])).stdout.includes('5203'),
          5000,
        );
        while (nowS() + soak.iperfChunkS <= soak.durationS) {
          const atS = nowS();
          const run = await inNode(
            'a',
            [
              'iperf3',
              '-6',
              '-c',
              bHostId!,
              '-p',
              '5203',
              '-t',
              String(soak.iperfChunkS),
              '-J',
              '--connect-timeout',
              '3000',
            ],
            (soak.iperfChunkS + 30) * 1000,
          );
          try {
            const result = JSON.parse(run.stdout);
            if (result.error) throw new Error(result.error);
            chunks.push({ atS, mbps: result.end.sum_received.bits_per_second / 1e6 });
          } catch (error) {
            chunks.push({ atS, mbps: undefined, error: (error as Error).message.slice(0, 120) });
            await sleep(1000);
          }
        }
      } finally {
        server.kill('SIGKILL');
      }
    })();

    // Samples and policy changes on their own clocks until the end.
    const sampler = setInterval(sample, soak.sampleEveryS * 1000);
    const outageAtS =
      Math.floor(soak.durationS / 2 / soak.policyEveryS) * soak.policyEveryS + soak.policyEveryS / 2;
    let step = 0;
    while (nowS() < soak.durationS - soak.policyEveryS) {
      const nextS = (step + 1) * soak.policyEveryS;
      if (outage === undefined && nextS > outageAtS) {
        // The measured contract itself: disabled for outageS, enabled again, registered again.
        await sleep(Math.max(0, (outageAtS - nowS()) * 1000));
        const api = await admin();
        const shop = (await api.contracts.list({ limit: 100 })).items.find((c) => c.name === 'shop')!;
        const fromS = nowS();
        await api.contracts.update(shop.id, { enabled: false });
        await sleep(soak.outageS * 1000);
        await api.contracts.update(shop.id, { enabled: true });
        const enabledAtS = nowS();
        await registerShop();
        const registeredAtS = nowS();
        await timeUntil('a knows b again', async () => (await peerOf('a', 'shop')) === bHostId, 20_000);
        // The outage ends at the first answered ping after the contract was enabled again.
        await timeUntil(
          'a → b answers again',
          async () => ping.some((p) => p.atS > enabledAtS && p.rttMs !== undefined),
          30_000,
        );
        outage = {
          fromS,
          toS: ping.find((p) => p.atS > enabledAtS && p.rttMs !== undefined)!.atS,
          enabledAtS,
          registeredAtS,
        };
        policy.push({
          atS: fromS,
          change: `measured contract shop: disabled ${soak.outageS} s, enabled`,
          effectMs: (outage.toS - enabledAtS) * 1000,
        });
      }
      await sleep(Math.max(0, (nextS - nowS()) * 1000));
      step += 1;
      const api = await admin();
      const side = (await api.contracts.list({ limit: 100 })).items.find((c) => c.name === 'side')!;
      const service = (await api.services.list({ limit: 100 })).items.find((s) => s.name === 's-side')!;
      const grants = [
        { contractId: side.id, role: 'client' },
        { contractId: side.id, role: 'server' },
      ];
      const atS = nowS();
      const closed = async () => !(await sideAnswers());
      switch (step % 4) {
        case 1:
          await api.contracts.update(side.id, { enabled: false });
          policy.push({
            atS,
            change: 'side: contract disabled (narrow)',
            effectMs: await timeUntil('side closed', closed, 20_000),
          });
          break;
        case 2:
          await api.contracts.update(side.id, { enabled: true });
          await registerSide(['server', 'client']);
          policy.push({
            atS,
            change: 'side: contract enabled, endpoints registered (widen)',
            effectMs: await timeUntil('side open', sideAnswers, 20_000),
          });
          break;
        case 3:
          await api.services.update(service.id, { grants: grants.filter((g) => g.role === 'server') });
          policy.push({
            atS,
            change: "side: client's grant dropped (narrow)",
            effectMs: await timeUntil('side closed', closed, 20_000),
          });
          break;
        default:
          await api.services.update(service.id, { grants });
          await registerSide(['client']);
          policy.push({
            atS,
            change: 'side: client granted, registered (widen)',
            effectMs: await timeUntil('side open', sideAnswers, 20_000),
          });
      }
      process.stdout.write(
        `${atS.toFixed(0)} s: ${policy.at(-1)!.change}: ${policy.at(-1)!.effectMs.toFixed(0)} ms\n`,
      );
    }
    await pingDone;
    await iperfLoop;
    clearInterval(sampler);
    sample();
  } finally {
    pinger?.kill('SIGKILL');
    await labDown(dataDir);
  }

  // Figures.
  const uptimeAfter = execFileSync('uptime', { encoding: 'utf8' }).trim();
  const inOutage = (atS: number) => outage !== undefined && atS >= outage.fromS && atS <= outage.toS + 1;
  const lostAll = ping.filter((p) => p.rttMs === undefined).length;
  const outside = ping.filter((p) => !inOutage(p.atS));
  const lostOutside = outside.filter((p) => p.rttMs === undefined).length;
  const rtts = ping.flatMap((p) => (p.rttMs === undefined ? [] : [p.rttMs])).sort((x, y) => x - y);
  const good = chunks.flatMap((c) => (c.mbps === undefined ? [] : [c.mbps])).sort((x, y) => x - y);
  const failed = chunks.filter((c) => c.mbps === undefined);
  // A chunk overlaps the outage when it started less than a chunk before it, or during it.
  const failedInOutage = failed.filter(
    (c) => outage !== undefined && c.atS >= outage.fromS - soak.iperfChunkS && c.atS <= outage.toS,
  );
  const changes = policy.filter((p) => p.change.startsWith('side'));
  const effectOf = (kind: string) =>
    changes
      .filter((p) => p.change.includes(kind))
      .map((p) => p.effectMs)
      .sort((x, y) => x - y);
  const narrowing = effectOf('(narrow)');
  const widening = effectOf('(widen)');
  const resources = [...samples].map(([node, list]) => {
    const first = list[0]!;
    const last = list.at(-1)!;
    const label = node === 'ctl' ? 'controller' : node === 'e1' ? 'engine e1' : `agent ${node}`;
    const maxRss = Math.max(...list.map((s) => s.rssKb));
    return [
      label,
      (first.rssKb / 1024).toFixed(1),
      (last.rssKb / 1024).toFixed(1),
      (maxRss / 1024).toFixed(1),
      first.fds,
      last.fds,
      Math.max(...list.map((s) => s.fds)),
      list.length,
    ];
  });
  const summary = {
    durationS: soak.durationS,
    pings: ping.length,
    lossPercent: (100 * lostAll) / Math.max(1, ping.length),
    lossOutsideOutagePercent: (100 * lostOutside) / Math.max(1, outside.length),
    rttP50Ms: percentile(rtts, 50),
    rttP99Ms: percentile(rtts, 99),
    iperfChunks: chunks.length,
    iperfFailed: failed.length,
    iperfFailedInOutage: failedInOutage.length,
    mbpsMedian: percentile(good, 50),
    mbpsMin: good[0],
    outageS: outage ? outage.toS - outage.fromS : undefined,
    recoveryAfterEnableS: outage ? outage.toS - outage.enabledAtS : undefined,
    registrationAfterEnableS: outage ? outage.registeredAtS - outage.enabledAtS : undefined,
    policyChanges: policy.length,
  };
  console.log(JSON.stringify(summary, null, 1));
  console.table(resources);
  const body = [
    `A real-time soak of the netns lab (lab \`${labName}\`, underlay 10.227.0.0/24: controller, engine e1, agents a, b, c on TUN) for ${soak.durationS} s:`,
    `ping a → b through the overlay every ${soak.pingIntervalS * 1000} ms, iperf3 TCP a → b in back-to-back ${soak.iperfChunkS} s chunks, a policy change every ${soak.policyEveryS} s on another contract (\`side\`, c → b: disabled, enabled, a grant dropped, granted again, each one's effect waited for with c → b pings),`,
    `once the measured contract itself disabled for ${soak.outageS} s and enabled again (its endpoints registered again), and the RSS and open fds of every daemon sampled every ${soak.sampleEveryS} s.`,
    `Machine load: \`${uptimeBefore}\` before, \`${uptimeAfter}\` after (1-min load ${loadBefore.toFixed(1)} at the start; other work shared the 2 cores). Run under \`flock /tmp/capsule-netns.lock\`.`,
    'The simulated-time counterpart (90 days in-process, every rotation counted): test/e2e/soak-timewarp.test.ts, docs/architecture.md "Tests".',
    '',
    markdownTable(
      ['ping a → b', 'figure'],
      [
        ['pings (answered + unanswered)', ping.length],
        ['loss, whole run', `${summary.lossPercent.toFixed(2)} %`],
        [
          "loss outside the measured contract's outage",
          `${summary.lossOutsideOutagePercent.toFixed(2)} % (${lostOutside} of ${outside.length})`,
        ],
        ['RTT p50 / p99', `${summary.rttP50Ms.toFixed(2)} / ${summary.rttP99Ms.toFixed(2)} ms`],
        [
          `measured contract disabled ${soak.outageS} s`,
          outage
            ? `pings unanswered for ${(outage.toS - outage.fromS).toFixed(1)} s; first answer ${(outage.toS - outage.enabledAtS).toFixed(1)} s after it was enabled; the two \`capsule agent register\` calls that follow (a node process each) were done ${(outage.registeredAtS - outage.enabledAtS).toFixed(1)} s after it`
            : 'not reached',
        ],
      ],
    ),
    '',
    markdownTable(
      ['iperf3 a → b', 'figure'],
      [
        [
          'chunks',
          `${chunks.length} × ${soak.iperfChunkS} s (${failed.length} failed, ${failedInOutage.length} of them during the measured contract's outage${failed.length ? `: ${[...new Set(failed.map((c) => c.error))].join('; ')}` : ''})`,
        ],
        [
          'throughput median / min',
          `${summary.mbpsMedian.toFixed(0)} / ${(summary.mbpsMin ?? Number.NaN).toFixed(0)} Mbit/s`,
        ],
      ],
    ),
    '',
    markdownTable(
      ['policy changes on `side`', 'figure'],
      [
        ['changes (narrow, widen alternately)', changes.length],
        [
          'narrowing: time until a c → b ping fails, p50 / max (each try waits 1 s for its answer)',
          `${percentile(narrowing, 50).toFixed(0)} / ${(narrowing.at(-1) ?? Number.NaN).toFixed(0)} ms`,
        ],
        [
          'widening: time from the endpoints registered again until a c → b ping answers, p50 / max',
          `${percentile(widening, 50).toFixed(0)} / ${(widening.at(-1) ?? Number.NaN).toFixed(0)} ms`,
        ],
      ],
    ),
    '',
    markdownTable(
      [
        'process',
        'RSS start MiB',
        'RSS end MiB',
        'RSS max MiB',
        'fds start',
        'fds end',
        'fds max',
        'samples',
      ],
      resources,
    ),
  ].join('\n');
  writePerformanceSection(
    'soak',
    'Soak: the netns lab for ten minutes under policy churn',
    `npm run bench -- soak`,
    body,
  );
}
