/**
 * The use cases on the netns lab, with real applications: the real controller, engine and agent
 * daemons (`capsule lab up` from the CLI bundle) in network namespaces, the agents' TUN devices,
 * and ping (ICMPv6 echo), a small UDP sender/receiver (python3) or curl to a tiny python3 HTTP
 * server inside the hosts' namespaces — on the default topology and on examples/lab/wide.yaml (four
 * engines, members behind another engine), the use cases unchanged. The first runs the daemons'
 * native fast paths (the default), the second the JavaScript data path end to end (both fast
 * paths off: CAPSULE_ENGINE_FAST_PATH=0, CAPSULE_AGENT_FAST_PATH=0), so every use case passes both
 * ways on real daemons; each checks every daemon's status says which way it runs.
 * Needs root, ip, ping, curl and python3 and the built CLI (`npm run build`); skipped otherwise
 * (outside CI; in CI a missing prerequisite fails).
 *
 * The use cases are driven by `runNetnsUseCase` of @capsule/lab — the same runner `capsule demo`
 * uses — one test per use case, each asserting every step of examples/use-cases/<name> passed
 * (ping counts, the engines' own flow tables for `via`, the role-addressed receivers' counts) and
 * then what the step details report: 300 of 300 load-balanced connections within ±20% and 30 of
 * 30 curl connections to the server role's address answered by the three members, the
 * multicast members' full counts and nothing at the non-members, the waypoint e3 in the service
 * chain's flow tables, the failover gap under the use case's bound, the revoked flow stopped, and
 * content distribution's datagrams and curls at the nearest replica by path cost, then — the
 * nearest stopped under traffic — at the next one, the gap at most the issue's 1 s.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectNetnsLab,
  labPorts,
  loadUseCase,
  type NetnsUseCaseLab,
  readLabState,
  runNetnsUseCase,
  type UseCaseResult,
} from '@capsule/lab';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsLab } from '../netns-lab';

const root = join(import.meta.dirname, '../..');
const cli = join(root, 'packages/cli/bin/capsule.js');
const useCasesDir = join(root, 'examples/use-cases');

/**
 * The two wirings the use cases run on, unchanged: the default topology under another lab name and
 * segment (so it never meets a developer's lab), and examples/lab/wide.yaml as it is (four
 * engines, h2 and h5 behind e4; its own name and underlay). `nearest`: content distribution's replicas
 * by path cost from h1 on that wiring, nearest first. `fastPaths`: whether its daemons run their
 * native fast paths.
 */
const topologies = [
  {
    title: 'default topology',
    lab: 'uce',
    yaml: readFileSync(join(root, 'examples/lab/default.yaml'), 'utf8')
      .replace(/^name: default$/m, 'name: uce')
      .replace(/^underlay: 10\.77\.0\.0\/24$/m, 'underlay: 10.212.0.0/24'),
    nearest: ['h2', 'h3'],
    fastPaths: true,
  },
  {
    title: 'examples/lab/wide.yaml',
    lab: 'wide',
    yaml: readFileSync(join(root, 'examples/lab/wide.yaml'), 'utf8'),
    nearest: ['h3', 'h2'],
    fastPaths: false,
  },
] as const;

const built = existsSync(join(root, 'packages/cli/dist'));
if (!built) console.warn('use cases on the netns lab: skipped, build the CLI first (npm run build)');
const ready = canRun({ root: true, tools: ['ip', 'ping', 'curl', 'python3', 'iperf3'] }) && built;

/** Every step's line, for the failure message and the log. */
const describeResult = (result: UseCaseResult) =>
  [
    `${result.name}: ${result.passed ? 'PASS' : 'FAIL'}${result.error ? ` (${result.error})` : ''}`,
    ...result.steps.map((step) => `  ${step.passed ? 'ok' : 'FAILED'} ${step.step} — ${step.detail}`),
  ].join('\n');

for (const { title, lab, yaml: topology, nearest, fastPaths } of topologies)
  describe.skipIf(!ready)(
    `use cases with real applications (netns lab, runNetnsUseCase, ${title}, fast paths ${
      fastPaths ? 'on' : 'off'
    })`,
    () => {
      let dir: string;
      let netns: NetnsUseCaseLab;
      /** Each host's agent fast path counters now: packets its egress and its ingress took natively. */
      let fastPathTaken: (hosts: string[]) => Promise<{ out: number; in: number }[]>;

      /** Every daemon's drop counters by name (engine: drops by reason; agents: data plane and links). */
      let dropCounters: () => Promise<Map<string, number>>;

      async function run(name: string): Promise<UseCaseResult> {
        const before = await dropCounters();
        const result = await runNetnsUseCase(netns, loadUseCase(join(useCasesDir, name)));
        console.info(describeResult(result));
        if (!result.passed) {
          // What each daemon dropped during the run: where a lost packet went.
          const after = await dropCounters();
          const grown = [...after]
            .map(([key, count]) => [key, count - (before.get(key) ?? 0)] as const)
            .filter(([, delta]) => delta > 0);
          console.error(
            `drops during ${name}: ${grown.map(([key, delta]) => `${key} +${delta}`).join(', ') || 'none counted'}`,
          );
        }
        expect(result.error, describeResult(result)).toBeUndefined();
        expect(result.steps.length).toBeGreaterThan(0);
        for (const step of result.steps) expect(step.passed, describeResult(result)).toBe(true);
        expect(result.passed).toBe(true);
        return result;
      }

      beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'capsule-netns-e2e-'));
        const file = join(dir, 'topology.yaml');
        const switched = fastPaths ? '1' : '0';
        writeFileSync(file, topology);
        try {
          execFileSync('node', [cli, 'lab', 'up', '--topology', file, '--data-dir', join(dir, 'lab')], {
            encoding: 'utf8',
            timeout: 180_000,
            stdio: ['ignore', 'ignore', 'inherit'],
            env: { ...process.env, CAPSULE_ENGINE_FAST_PATH: switched, CAPSULE_AGENT_FAST_PATH: switched },
          });
        } catch (error) {
          // The daemons' logs stay when lab up fails: what each said about its links and commands.
          for (const name of readdirSync(join(dir, 'lab'))
            .filter((f) => f.endsWith('.log'))
            .sort()) {
            const lines = readFileSync(join(dir, 'lab', name), 'utf8')
              .split('\n')
              .filter((line) => /link|command|push channel|refused/.test(line));
            console.error(`${name} (${lines.length} lines about links and commands, the last 30):`);
            for (const line of lines.slice(-30)) console.error(`  ${line.slice(0, 400)}`);
          }
          throw error;
        }
        const state = readLabState(join(dir, 'lab'))!;
        netns = await connectNetnsLab(join(dir, 'lab'), state);
        expect(netns.hostIds.size).toBe(state.topology.nodes.length - 1); // engines and hosts registered
        // Every daemon runs the data path this wiring asks for (its status: `fastPath` null when off).
        const { must, agentRequest } = netnsLab(state.name, join(dir, 'lab'), cli);
        fastPathTaken = (hosts) =>
          Promise.all(
            hosts.map(async (host) => {
              const { fastPath } = (await agentRequest(host, 'GET', '/api/v1/status')).body;
              return { out: fastPath?.taken ?? 0, in: fastPath?.ingressTaken ?? 0 };
            }),
          );
        /** An engine's status (its HTTP API, from inside its namespace). */
        const engineStatus = async (node: (typeof state.nodes)[number]) =>
          JSON.parse(
            await must(node.name, [
              'curl',
              '-sf',
              `http://${node.address}:${labPorts.engineHttp}/api/v1/status`,
            ]),
          );
        dropCounters = async () => {
          const counts = new Map<string, number>();
          const add = (prefix: string, record: Record<string, unknown> | null | undefined) => {
            for (const [key, value] of Object.entries(record ?? {}))
              if (typeof value === 'number') counts.set(`${prefix}.${key}`, value);
          };
          for (const node of state.nodes) {
            if (node.kind === 'engine') {
              add(`${node.name}.drops`, (await engineStatus(node)).counters?.drops);
            } else if (node.kind === 'host') {
              const { body } = await agentRequest(node.name, 'GET', '/api/v1/statistics');
              add(`${node.name}.drops`, body.drops);
              add(`${node.name}.linkDrops`, body.linkDrops);
            }
          }
          return counts;
        };
        for (const node of state.nodes) {
          if (node.kind === 'controller') continue;
          const status =
            node.kind === 'engine'
              ? await engineStatus(node)
              : (await agentRequest(node.name, 'GET', '/api/v1/status')).body;
          expect(status.fastPath === null, `${node.name}'s fast path`).toBe(!fastPaths);
        }
      }, 240_000);

      afterAll(() => {
        if (dir && existsSync(join(dir, 'lab')))
          execFileSync('node', [cli, 'lab', 'down', '--data-dir', join(dir, 'lab')], {
            encoding: 'utf8',
            timeout: 120_000,
            stdio: ['ignore', 'inherit', 'inherit'],
          });
        if (dir) rmSync(dir, { recursive: true, force: true });
        expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`cpl-${lab}-`);
      }, 150_000);

      it('micro-segmentation: allowed role pairs ping (every echo) and stream iperf3 TCP, every other pair is dropped', async () => {
        const result = await run('1-micro-segmentation');
        const delivered = result.steps.filter((s) => s.step.endsWith('delivered'));
        const dropped = result.steps.filter((s) => s.step.endsWith('dropped'));
        expect(delivered.length).toBeGreaterThan(0);
        expect(dropped.length).toBeGreaterThan(0);
        for (const step of delivered) expect(step.detail).toMatch(/: (\d+)\/\1 echo replies/);
        for (const step of dropped) expect(step.detail).toMatch(/: 0\/\d+ echo replies/);
        // iperf3 web → db carries data; web → web never connects.
        expect(delivered[0]!.detail).toMatch(/iperf3 TCP to h3: [1-9][\d.]* Mbit\/s for 2 s/);
        expect(dropped[0]!.detail).toMatch(/iperf3 to h2: /);
        expect(dropped[0]!.detail).not.toMatch(/Mbit/);
      }, 120_000);

      it('load balancing: 300 of 300 UDP connections to the server role, spread over h3, h4, h5 within ±20%; 30 of 30 curl over TCP answered by the members', async () => {
        const before = await fastPathTaken(['h1', 'h3', 'h4', 'h5']);
        const result = await run('2-load-balancing');
        const after = await fastPathTaken(['h1', 'h3', 'h4', 'h5']);
        const match = /received by h3, h4, h5: (\d+), (\d+), (\d+) of 300/.exec(result.steps[0]!.detail);
        expect(match, result.steps[0]!.detail).not.toBeNull();
        const counts = match!.slice(1).map(Number);
        expect(counts.reduce((a, b) => a + b, 0)).toBe(300);
        for (const count of counts) expect(Math.abs(count - 100)).toBeLessThanOrEqual(20);
        // TCP to the role address: every curl answered (by a member, from the role address), each member some.
        const http = result.steps.find((step) => step.step.includes('curl over TCP'));
        expect(http, describeResult(result)).toBeDefined();
        const answers = /HTTP answers from h3, h4, h5: (\d+), (\d+), (\d+) of 30 /.exec(http!.detail);
        expect(answers, http!.detail).not.toBeNull();
        const byMember = answers!.slice(1).map(Number);
        expect(byMember.reduce((a, b) => a + b, 0)).toBe(30);
        for (const count of byMember) expect(count).toBeGreaterThan(0);
        // With the fast paths on, the role-addressed packets go natively at both ends: h1's to the
        // role address (a connection's first packet too, once the flow's first went through
        // JavaScript), and the members' receipt (after a packet of each type went through it).
        const outAtH1 = after[0]!.out - before[0]!.out;
        const inAtMembers = after.slice(1).reduce((sum, now, i) => sum + now.in - before[i + 1]!.in, 0);
        console.info(
          `load balancing: h1's egress took ${outAtH1}, the members' ingress ${inAtMembers} natively`,
        );
        if (fastPaths) {
          expect(outAtH1).toBeGreaterThanOrEqual(250);
          expect(inAtMembers).toBeGreaterThanOrEqual(250);
        }
      }, 180_000);

      it('multicast: datagrams to the member role reach h2 and h3 (all of them), not h4 or h5', async () => {
        const before = await fastPathTaken(['h1', 'h2', 'h3']);
        const result = await run('3-multicast');
        const after = await fastPathTaken(['h1', 'h2', 'h3']);
        expect(result.steps[0]!.detail).toMatch(/h2, h3: 20, 20 of 20; by h4, h5: 0, 0/);
        const taken = after.map((now, i) => ({ out: now.out - before[i]!.out, in: now.in - before[i]!.in }));
        console.info(
          `multicast: h1's egress took ${taken[0]!.out}, h2's and h3's ingress ${taken[1]!.in}, ${taken[2]!.in}`,
        );
        // Natively with the fast paths on: the sender's datagrams (2 ms apart; its first goes
        // through egress). The members' share is printed, not bounded: while the engines set the
        // new flow up in JavaScript the next datagrams queue there and reach a member in one
        // receive batch, whose first goes up for its template and the rest behind it to keep their
        // order (HELD) — a run with the use case right after the lab came up gave 13 and 0, after
        // the load-balancing run 16 and 14. The load-balancing test bounds the members' share.
        if (fastPaths) expect(taken[0]!.out).toBeGreaterThanOrEqual(15);
      }, 90_000);

      it('service chain: ping h1 ↔ h3 passes the waypoint engine e3 (its flow table counts the flow)', async () => {
        const result = await run('4-service-chain');
        for (const step of result.steps) expect(step.detail).toMatch(/counted the flow: e1, e2, e3/);
      }, 90_000);

      it('failover: ping h1 → h3 every 10 ms across a cut of the underlay e1–e3; the gap is measured and bounded', async () => {
        const result = await run('5-failover');
        const cut = result.steps.find((step) => step.gapMs !== undefined);
        expect(cut, 'the cut step reports its gap').toBeDefined();
        console.info(`netns failover: longest gap ${cut!.gapMs} ms`);
        expect(cut!.gapMs!).toBeLessThanOrEqual(2000);
        // After the cut h1 → h3 goes the direct way (e1, e2 only).
        expect(result.steps[2]!.detail).toMatch(/counted the flow: e1, e2$/);
      }, 120_000);

      it('revocation: ping works, the authorization is revoked, the next ping (1 s later) gets nothing', async () => {
        const result = await run('6-revocation');
        expect(result.steps[0]!.detail).toMatch(/: (\d+)\/\1 echo replies/);
        expect(result.steps.at(-1)!.detail).toMatch(/: 0\/\d+ echo replies/);
      }, 90_000);

      it(`content distribution: h1's datagrams and curls reach the nearest replica (${nearest[0]}); when it stops, ${nearest[1]} within 1 s`, async () => {
        const [first, next] = nearest;
        const result = await run('7-content-distribution');
        expect(result.steps[0]!.detail).toContain(`nearest: ${first} (`);
        expect(result.steps[0]!.detail).toMatch(new RegExp(`received by ${first}: 20 of 20`));
        // iperf3 to the role address (TCP through the anycast role, to the nearest replica).
        const stream = /iperf3 TCP to (h\d) at [0-9a-f:]+: ([\d.]+) Mbit\/s/.exec(result.steps[0]!.detail);
        expect(stream, result.steps[0]!.detail).not.toBeNull();
        expect(stream![1]).toBe(first);
        console.info(
          `netns content distribution (${title}): iperf3 to the role address ${stream![2]} Mbit/s`,
        );
        const http = result.steps[1]!;
        expect(http.step).toContain('curl over TCP');
        const stop = result.steps.find((step) => step.gapMs !== undefined);
        expect(stop, 'the stop step reports its gap').toBeDefined();
        expect(stop!.step).toContain('stop nearest under traffic h1 → role replica');
        console.info(`netns content distribution (${title}): ${stop!.detail}`);
        expect(stop!.gapMs!).toBeLessThanOrEqual(1000);
        expect(stop!.detail).toContain(`traffic moved to ${next}`);
        expect(result.steps.at(-2)!.detail).toContain(`nearest: ${next} (`);
      }, 120_000);

      // Two contracts between h1 and h3 at once (test/e2e/two-contracts): each agent has a flow
      // per contract to the other host. The replica's answers come from its role address, which
      // only the content flow carries: before each agent kept one flow per peer host (the first
      // registered's), they went out on the shop flow and h1 dropped them as spoofed.
      it('two contracts between the same two hosts: each carried on its own flow, the replica’s TCP answers from its role address included', async () => {
        const before = await fastPathTaken(['h1', 'h3']);
        const result = await runNetnsUseCase(netns, loadUseCase(join(root, 'test/e2e/two-contracts')));
        const after = await fastPathTaken(['h1', 'h3']);
        console.info(describeResult(result));
        expect(result.error, describeResult(result)).toBeUndefined();
        for (const step of result.steps) expect(step.passed, describeResult(result)).toBe(true);
        expect(
          result.steps.some((step) => step.step.includes('curl over TCP')),
          describeResult(result),
        ).toBe(true);
        expect(result.steps[1]!.detail).toMatch(/received by h3: 20 of 20/);
        expect(result.steps[1]!.detail).toMatch(/iperf3 TCP to h3 at [0-9a-f:]+: [\d.]+ Mbit\/s/);
        // With the fast paths on, both flows go natively both ways (each installed by its source
        // out and its flow label in): h1's iperf3 data to h3's CGA and to the role address, h3's
        // answers from its CGA and from the role address.
        const [h1, h3] = [0, 1].map((i) => ({
          out: after[i]!.out - before[i]!.out,
          in: after[i]!.in - before[i]!.in,
        }));
        console.info(
          `two contracts (${title}): natively h1 out ${h1!.out} in ${h1!.in}, h3 out ${h3!.out} in ${h3!.in}`,
        );
        if (fastPaths)
          for (const taken of [h1!.out, h1!.in, h3!.out, h3!.in]) expect(taken).toBeGreaterThanOrEqual(1000);
      }, 120_000);
    },
  );
