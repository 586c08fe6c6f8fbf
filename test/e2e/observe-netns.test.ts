/**
 * `capsule trace` and `capsule observe` on the netns lab of real daemons (controller, engines e1,
 * e2, e3 wired as the default lab: e1–e2 cost 10, e1–e3–e2 cost 2; agents h1 on e1 and h3 on e2
 * with TUN devices; every daemon from the CLI bundle): while `ping -6` runs from h1 to h3,
 * `capsule trace h1 h3 --lab-dir …` (the CLI bundle, from the root namespace, over the agents'
 * Unix sockets) shows the packets' hops e1 → e3 → e2 with per-hop times, and `capsule observe`
 * merges both agents' streams and e1's, a drop with its reason among them. The outputs are printed
 * (docs/getting-started.md shows them).
 *
 * Needs root, ip and ping, and the built CLI (`node scripts/build.mjs`); skipped otherwise
 * (outside CI; in CI a missing prerequisite fails).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminClient,
  agentSocketPath,
  applyUseCase,
  labDown,
  labNames,
  labPorts,
  loadUseCase,
  namespaceName,
  netnsLabUp,
  parseTopology,
} from '@capsule/lab';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Its daemons run the JavaScript data path end to end (both fast paths off), where the other netns
// suites run the default (on): CI keeps both ways on real daemons (docs/performance.md, "Fast path on
// and off"). The environment may still ask for either.
process.env.CAPSULE_ENGINE_FAST_PATH ??= '0';
process.env.CAPSULE_AGENT_FAST_PATH ??= '0';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'packages', 'cli', 'bin', 'capsule.js');
const labName = 'obsnet';
const dataDir = join(tmpdir(), 'capsule-test-observe-netns-lab');
const topology = parseTopology(`
name: ${labName}
underlay: 10.223.0.0/24
controller: { name: ctl }
engines: [{ name: e1 }, { name: e2 }, { name: e3 }]
links:
  - { between: [e1, e2], cost: 10 }
  - { between: [e1, e3] }
  - { between: [e3, e2] }
hosts:
  - { name: h1, engines: [e1] }
  - { name: h3, engines: [e2] }
`);
const address = (node: string) => topology.nodes.find((n) => n.name === node)!.address;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const socketOf = (node: string) => agentSocketPath(join(dataDir, node, 'data'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs argv (in a node's namespace when `node` is given); never throws on a non-zero exit. */
function run(node: string | undefined, argv: readonly string[], timeoutMs = 30_000): Promise<Run> {
  const [file, ...args] = node ? ['ip', 'netns', 'exec', namespaceName(labName, node), ...argv] : argv;
  return new Promise((resolve) => {
    execFile(
      file!,
      args,
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

const capsule = (...args: string[]) => run(undefined, [process.execPath, cli, ...args]);

/** What the tests read of `capsule agent status|endpoints|register`. */
interface AgentAnswer {
  hostId: string;
  items: { peers?: unknown[] }[];
}

async function agentCli(node: string, ...args: string[]): Promise<AgentAnswer> {
  const done = await capsule('agent', ...args, '--socket', socketOf(node));
  if (done.code !== 0)
    throw new Error(`capsule agent ${args.join(' ')} on ${node}: ${done.stderr}${done.stdout}`);
  return JSON.parse(done.stdout);
}

describe.skipIf(!canRun({ root: true, tools: ['ip', 'ping'] }) || !existsSync(cli))(
  'capsule trace and observe on the netns lab of real daemons',
  () => {
    let bHostId = '';
    let ping: ReturnType<typeof spawn> | undefined;

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
      const token = await applyUseCase(
        admin,
        loadUseCase(join(root, 'examples', 'use-cases', '1-micro-segmentation')),
      );
      bHostId = (await agentCli('h3', 'status')).hostId;
      await agentCli('h1', 'register', `web.shop.${labNames.hostDomain}.capsule`, '--token', token);
      await agentCli('h3', 'register', `db.shop.${labNames.hostDomain}.capsule`, '--token', token);
      for (let i = 0; i < 50; i++) {
        const { items } = await agentCli('h1', 'endpoints');
        if ((items[0]?.peers?.length ?? 0) > 0) break;
        await sleep(200);
      }
      // Real traffic: h1 pings h3 every 50 ms for the whole file.
      ping = spawn(
        'ip',
        ['netns', 'exec', namespaceName(labName, 'h1'), 'ping', '-6', '-i', '0.05', '-w', '60', bHostId],
        {
          stdio: 'ignore',
        },
      );
      await sleep(1000);
    }, 150_000);

    afterAll(async () => {
      ping?.kill();
      const report = await labDown(dataDir);
      expect(report.leftovers).toEqual([]);
    }, 60_000);

    it("traces h1's ping to h3 through e1 → e3 → e2, each hop with its time", async () => {
      const json = await capsule('trace', 'h1', 'h3', '--lab-dir', dataDir, '--packets', '3', '--json');
      expect(json.stderr).toBe('');
      expect(json.code).toBe(0);
      const packets = json.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(packets).toHaveLength(3);
      for (const packet of packets) {
        expect(packet.hops.map((hop: { name: string }) => hop.name)).toEqual(['e1', 'e3', 'e2']);
        expect(packet.verdict).toBe('DELIVER');
        const stamps = [
          packet.sentUs,
          ...packet.hops.map((hop: { timeUs: number }) => hop.timeUs),
          packet.receivedUs,
        ];
        // Each stamp is its own process's clock (systemClock.nowUs); on a failure, the whole packet.
        for (let i = 1; i < stamps.length; i++)
          expect(stamps[i], `stamp ${i} of ${JSON.stringify(packet)}`).toBeGreaterThanOrEqual(stamps[i - 1]);
        // One machine, four daemons between h1's TUN and h3's: well under 100 ms.
        expect(packet.receivedUs - packet.sentUs).toBeLessThan(100_000);
      }
      const table = await capsule('trace', 'h1', 'h3', '--lab-dir', dataDir, '--packets', '1');
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^ {2}2 {4}e3 \(engine [0-9a-f]{4}\) +\d+ +\d+ {2}FORWARD, fuel \d+$/m);
      console.log(`$ capsule trace h1 h3 --lab-dir ${dataDir} --packets 1\n${table.stdout}`);
    }, 60_000);

    it("merges h1's, h3's and e1's streams (observe over the agents' sockets and e1's HTTP port)", async () => {
      const observing = capsule(
        'observe',
        '--agent-socket',
        socketOf('h1'),
        '--agent-socket',
        socketOf('h3'),
        '--engine',
        `http://${address('e1')}:${labPorts.engineHttp}`,
        '--duration',
        '4',
      );
      await sleep(1000);
      // One traced packet (so the stream has something besides the flow's steady state), then a
      // packet to an address of the lab's /64 that no flow serves: h1's agent drops it (noFlow).
      const traced = await capsule('trace', 'h1', 'h3', '--lab-dir', dataDir, '--packets', '1');
      expect(traced.code).toBe(0);
      await run('h1', ['ping', '-6', '-c', '1', '-W', '1', 'fd00:ca:1ab::99']);
      const done = await observing;
      expect(done.code).toBe(0);
      expect(done.stdout).toMatch(/agent h1 +trace .*sent traced/);
      expect(done.stdout).toMatch(/agent h3 +trace .*delivered/);
      expect(done.stdout).toMatch(/agent h1 +drop .*fd00:ca:1ab::99 .*DROP noFlow \(out\)$/m);
      console.log(
        `$ capsule observe --agent-socket ${socketOf('h1')} --agent-socket ${socketOf('h3')} --engine http://${address('e1')}:${labPorts.engineHttp} --duration 4\n${done.stdout}${done.stderr}`,
      );
    }, 60_000);
  },
);
