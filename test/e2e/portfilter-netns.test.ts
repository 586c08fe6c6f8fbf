/**
 * The library's PortFilter on the netns lab of real daemons (controller, engines e1 and e2, agents
 * a on e1 and b on e2 with TUN devices; every daemon from the CLI bundle): a template of
 * examples/programs/PortFilter.java with the variables protocol 6 and port 8080 (client entry
 * `toPort`, server entry `fromPort`). `curl` from a to an HTTP server on b's port 8080 gets its
 * answer; `iperf3` from a to b's port 5201 cannot even connect, and e1 counts its SYNs as program
 * drops (capsule_engine_program_drops_total{code="258"}, PortFilter's DENIED). The ports the
 * engines' program read are those of the TRANSPORT chunk, which b's agent checked against every
 * packet it opened (transportMismatch stays 0).
 *
 * Needs root, ip, curl, python3 and iperf3, and the built CLI (`node scripts/build.mjs`); skipped
 * otherwise (outside CI; in CI a missing prerequisite fails).
 */
import { spawn } from 'node:child_process';
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
  namespaceName,
  netnsLabUp,
  parseTopology,
  type UseCase,
} from '@capsule/lab';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsLab, waitFor } from '../netns-lab';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'packages', 'cli', 'bin', 'capsule.js');
const labName = 'prt';
const dataDir = join(tmpdir(), 'capsule-test-portfilter-netns-lab');
const topology = parseTopology(`
name: ${labName}
underlay: 10.229.0.0/24
controller: { name: ctl }
engines: [{ name: e1 }, { name: e2 }]
links:
  - { between: [e1, e2] }
hosts:
  - { name: a, engines: [e1] }
  - { name: b, engines: [e2] }
`);
const address = (node: string) => topology.nodes.find((n) => n.name === node)!.address;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const { inNode, agentCli } = netnsLab(labName, dataDir, cli);

/** The template, contract and service: PortFilter letting TCP 8080 through, nothing else. */
const portOnly: UseCase = {
  name: 'port-filter',
  title: 'TCP 8080 only',
  dir: join(root, 'examples', 'programs'),
  documents: [
    {
      kind: 'template',
      name: 'port-only',
      program: 'PortFilter.java',
      roles: [
        { name: 'client', entry: 'toPort', variables: { protocol: 6, port: 8080 } },
        { name: 'server', entry: 'fromPort', variables: { protocol: 6, port: 8080 } },
      ],
    },
    {
      kind: 'contract',
      name: 'web',
      template: 'port-only',
      roles: [
        { name: 'client', peer: 'server' },
        { name: 'server', peer: 'client' },
      ],
    },
    {
      kind: 'service',
      name: 'web-app',
      grants: [
        { contract: 'web', role: 'client' },
        { contract: 'web', role: 'server' },
      ],
    },
  ],
  endpoints: [],
  steps: [],
};

/** An engine's /metrics sample by name and labels (0 when absent). */
async function engineMetric(engine: string, name: string, labels = ''): Promise<number> {
  const run = await inNode(engine, [
    'curl',
    '-s',
    '-m',
    '5',
    `http://${address(engine)}:${labPorts.engineHttp}/metrics`,
  ]);
  const line = run.stdout.split('\n').find((text) => text.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** An agent's GET /api/v1/statistics over its Unix socket. */
async function agentStatistics(node: string): Promise<{ drops: Record<string, number> }> {
  const socket = agentSocketPath(join(dataDir, node, 'data'));
  const run = await inNode(node, [
    'curl',
    '-s',
    '-m',
    '5',
    '--unix-socket',
    socket,
    'http://agent/api/v1/statistics',
  ]);
  return JSON.parse(run.stdout);
}

/** A long-running command in a node's namespace, resolved once its output shows `marker`. */
function serverIn(node: string, argv: readonly string[], marker: string) {
  const child = spawn('ip', ['netns', 'exec', namespaceName(labName, node), ...argv]);
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${argv[0]} on ${node} not ready in 20 s`)), 20_000);
    const look = (chunk: Buffer) => {
      if (String(chunk).includes(marker)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('close', () => reject(new Error(`${argv[0]} on ${node} exited`)));
  });
  ready.catch(() => {});
  return { ready, stop: () => child.kill('SIGTERM') };
}

const httpServerScript = `
import http.server, socket
class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"port 8080 on b"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = Server(("::", 8080), Handler)
print("ready", flush=True)
server.serve_forever()
`;

describe.skipIf(!canRun({ root: true, tools: ['ip', 'curl', 'python3', 'iperf3'] }) || !existsSync(cli))(
  'PortFilter (TCP 8080 only) at the engines on the netns lab of real daemons',
  () => {
    let bHostId = '';
    const servers: { stop(): void }[] = [];

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
      const token = await applyUseCase(admin, portOnly);
      bHostId = (await agentCli('b', 'status')).hostId;
      await agentCli('a', 'register', `client.web.${labNames.hostDomain}.capsule`, '--token', token);
      await agentCli('b', 'register', `server.web.${labNames.hostDomain}.capsule`, '--token', token);
      await waitFor(
        "a's peer b",
        async () => ((await agentCli('a', 'endpoints')).items[0]?.peers?.length > 0 ? true : undefined),
        30_000,
      );
      const http = serverIn('b', ['python3', '-c', httpServerScript], 'ready');
      const iperf = serverIn('b', ['iperf3', '-s', '-p', '5201', '--forceflush'], 'listening');
      servers.push(http, iperf);
      await Promise.all([http.ready, iperf.ready]);
    }, 180_000);

    afterAll(async () => {
      for (const server of servers) server.stop();
      await sleep(200);
      const report = await labDown(dataDir);
      expect(report.leftovers).toEqual([]);
    }, 60_000);

    it('passes curl to the server on TCP 8080', async () => {
      // The first connection may race the engines' links and the flow's set-up: a few tries.
      const body = await waitFor(
        'curl to b:8080',
        async () => {
          const run = await inNode('a', ['curl', '-6', '-g', '-s', '-m', '5', `http://[${bHostId}]:8080/`]);
          return run.code === 0 ? run.stdout : undefined;
        },
        30_000,
      );
      expect(body).toBe('port 8080 on b');
      for (let i = 0; i < 5; i++) {
        const run = await inNode('a', ['curl', '-6', '-g', '-s', '-m', '5', `http://[${bHostId}]:8080/`]);
        expect(run.code).toBe(0);
        expect(run.stdout).toBe('port 8080 on b');
      }
      expect((await agentStatistics('b')).drops.transportMismatch).toBe(0);
    }, 60_000);

    it('drops iperf3 to TCP 5201 at e1, counted as program drops (DENIED)', async () => {
      const deniedBefore = await engineMetric('e1', 'capsule_engine_program_drops_total', '{code="258"}');
      const run = await inNode(
        'a',
        ['iperf3', '-6', '-c', bHostId, '-p', '5201', '-t', '2', '-J', '--connect-timeout', '3000'],
        30_000,
      );
      const metrics = await inNode('e1', [
        'curl',
        '-s',
        '-m',
        '5',
        `http://${address('e1')}:${labPorts.engineHttp}/metrics`,
      ]);
      const detail = `${run.stdout.slice(0, 600)}\n${metrics.stdout
        .split('\n')
        .filter((line) => /program_(drops|runs)|verdicts|cached/.test(line))
        .join('\n')}`;
      // iperf3 3.12 exits 0 with -J even when it cannot connect: its report says what happened.
      const report = JSON.parse(run.stdout) as { error?: string; end?: { sum_received?: unknown } };
      expect(report.error, detail).toMatch(/unable to connect/);
      expect(report.end?.sum_received).toBeUndefined();
      const deniedAfter = await engineMetric('e1', 'capsule_engine_program_drops_total', '{code="258"}');
      // At least the SYN and one retransmission within the 3 s connect time-out.
      expect(deniedAfter - deniedBefore).toBeGreaterThanOrEqual(2);
      expect(await engineMetric('e2', 'capsule_engine_program_drops_total', '{code="258"}')).toBe(0);
      // And curl to 8080 still passes after it.
      const again = await inNode('a', ['curl', '-6', '-g', '-s', '-m', '5', `http://[${bHostId}]:8080/`]);
      expect(again.stdout).toBe('port 8080 on b');
    }, 60_000);
  },
);
