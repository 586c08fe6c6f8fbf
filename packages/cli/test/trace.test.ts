/**
 * `capsule trace` and `capsule observe` against real agents on the in-process lab (a controller,
 * three engines, five agents; the micro-segmentation use case's endpoints): the agents' REST APIs
 * on Unix sockets (and one on TCP with its token), real packets from h1's application to h3's
 * through e1, e3 and e2. The trace names the engines of the controller's path, in order, with
 * stamps that only go forward; observe merges two agents' streams, says when one goes away,
 * refuses a wrong token, and skips what a hostile socket sends that is not an event.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRestApiOptions, type RestApiServer, startRestApi } from '@capsule/agent';
import {
  applyUseCase,
  buildUdp6,
  defaultTopologyYaml,
  listUseCases,
  type MemoryLab,
  parseTopology,
  startMemoryLab,
} from '@capsule/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecordingIo, runCli } from '../src/main';

const dir = mkdtempSync(join(tmpdir(), 'capsule-cli-trace-'));
let lab: MemoryLab;
const apis: RestApiServer[] = [];
const socketOf = (host: string) => join(dir, `${host}.sock`);
let tcpUrl = '';
const tokenFile = join(dir, 'h1.token');

/** Sends UDP from h1's application to h3's every 10 ms until stopped. */
function traffic(): () => void {
  const h1 = lab.hosts.get('h1')!;
  const h3 = lab.hosts.get('h3')!;
  const source = h1.agent.status() as { hostId: string };
  const destination = h3.agent.status() as { hostId: string };
  let i = 0;
  const timer = setInterval(() => {
    h1.app.send(
      buildUdp6(source.hostId, destination.hostId, 40_000, 7, new TextEncoder().encode(String(i++))),
    );
  }, 10);
  return () => clearInterval(timer);
}

beforeAll(async () => {
  lab = await startMemoryLab(parseTopology(defaultTopologyYaml), { dataDir: join(dir, 'lab') });
  const useCase = listUseCases(join(import.meta.dirname, '../../../examples/use-cases')).find(
    (u) => u.name === 'micro-segmentation',
  )!;
  const token = await applyUseCase(lab.admin, useCase);
  for (const endpoint of useCase.endpoints)
    await lab.hosts
      .get(endpoint.host)!
      .agent.registerEndpoint({ serviceToken: token, contract: endpoint.contract, role: endpoint.role });
  // Until h3's application receives h1's packets (h3 learns h1 as its peer by the controller's
  // push: on a loaded machine that takes more than a moment), so every traced packet can arrive.
  let received = 0;
  const off = lab.hosts.get('h3')!.app.onPacket(() => void (received += 1));
  const stop = traffic();
  for (let i = 0; i < 300 && received === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  stop();
  off();
  if (received === 0) throw new Error('h3 received nothing from h1 in 15 s');
  for (const host of ['h1', 'h2', 'h3']) {
    const agent = lab.hosts.get(host)!.agent;
    apis.push(
      await startRestApi(
        {
          ...defaultRestApiOptions,
          socketPath: socketOf(host),
          socketGroup: 'no-such-group-here',
          tcp: host === 'h1' ? { host: '127.0.0.1', port: 0 } : undefined,
          tokenFile,
        },
        { agent },
      ),
    );
  }
  tcpUrl = `http://127.0.0.1:${apis[0]!.tcp!.port}`;
}, 120_000);
afterAll(async () => {
  for (const api of apis) await api.close();
  await lab?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The engine names of the lab by their 16-bit ids. */
function engineNames(): Map<number, string> {
  const names = new Map<number, string>();
  for (const [name, engine] of lab.engines) {
    const groups = engine.hostId.split(':');
    names.set(Number.parseInt(groups[groups.length - 1]!, 16), name);
  }
  return names;
}

describe('capsule trace', () => {
  it("shows h1 → h3's hops (e1, e3, e2: the controller's path) with times that only go forward", async () => {
    const stop = traffic();
    const io = createRecordingIo({ cwd: dir });
    // Named by h1's endpoint (its one flow to h3: the same flow as without).
    const [endpoint] = lab.hosts.get('h1')!.agent.listEndpoints() as { id: number }[];
    const code = await runCli(
      [
        'trace',
        socketOf('h1'),
        socketOf('h3'),
        '--packets',
        '2',
        '--json',
        '--endpoint',
        String(endpoint!.id),
      ],
      io,
    );
    stop();
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    const packets = io
      .stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(packets).toHaveLength(2);
    const names = engineNames();
    for (const packet of packets) {
      expect(packet.hops.map((hop: { engineId: number }) => names.get(hop.engineId))).toEqual([
        'e1',
        'e3',
        'e2',
      ]);
      expect(packet.verdict).toBe('DELIVER');
      expect(packet.sentUs).toBeTypeOf('number');
      const stamps = [
        packet.sentUs,
        ...packet.hops.map((hop: { timeUs: number }) => hop.timeUs),
        packet.receivedUs,
      ];
      for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThanOrEqual(stamps[i - 1]);
      // In one process on a memory network: well under a second end to end.
      expect(packet.receivedUs - packet.sentUs).toBeLessThan(1_000_000);
      // e1 and e3 forward along the PATH, e2 delivers (VM verdict codes FORWARD 1, DELIVER 3).
      expect(packet.hops.map((hop: { verdict: number }) => hop.verdict)).toEqual([1, 1, 3]);
    }
  }, 30_000);

  it('prints the hops as a table (over TCP with the token for FROM)', async () => {
    const stop = traffic();
    const io = createRecordingIo({ cwd: dir });
    const code = await runCli(
      ['trace', tcpUrl, socketOf('h3'), '--packets', '1', '--token-file', tokenFile],
      io,
    );
    stop();
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    const lines = io.stdout().trim().split('\n');
    expect(lines[0]).toMatch(/^trace h1 \(\S+\) → h3 \(\S+\): the next 1 packets of the flow$/);
    expect(lines[1]).toMatch(/^flow #\d+, contract \d+$/);
    expect(lines[3]).toMatch(/^ {2}0 {4}h1 \(agent\) +0 +- {2}sent$/);
    expect(lines[4]).toMatch(
      /^ {2}1 {4}engine [0-9a-f]{4} \(engine [0-9a-f]{4}\) +\d+ +\d+ {2}FORWARD, fuel \d+$/,
    );
    expect(lines[7]).toMatch(/^ {2}4 {4}h3 \(agent\) +\d+ +\d+ {2}delivered$/);
    expect(lines[8]).toMatch(/^ {2}total \d+ µs$/);
  }, 30_000);

  it('says there is no traffic, and refuses bad arguments and unknown flows', async () => {
    const quiet = createRecordingIo({ cwd: dir });
    expect(await runCli(['trace', socketOf('h1'), socketOf('h3'), '--timeout', '0.5'], quiet)).toBe(1);
    expect(quiet.stderr()).toMatch(/no packet from h1 to h3 in 0.5 s: trace follows the flow's own packets/);
    // h2 and h1 hold the same role (web): no flow between them at h1.
    const noFlow = createRecordingIo({ cwd: dir });
    expect(await runCli(['trace', socketOf('h1'), socketOf('h2'), '--timeout', '0.5'], noFlow)).toBe(1);
    expect(noFlow.stderr()).toMatch(
      /AGENT_UNREACHABLE.*refused POST \/api\/v1\/trace: HTTP 404 a flow to \S+ not found/,
    );
    // An endpoint of h1's with no flow to h3 (none has this id).
    const noSuchEndpoint = createRecordingIo({ cwd: dir });
    expect(
      await runCli(
        ['trace', socketOf('h1'), socketOf('h3'), '--endpoint', '999999', '--timeout', '0.5'],
        noSuchEndpoint,
      ),
    ).toBe(1);
    expect(noSuchEndpoint.stderr()).toMatch(/HTTP 404 a flow of endpoint 999999 to \S+ not found/);
    for (const [args, message] of [
      [['h1', socketOf('h3')], /CLI_BAD_OPTION.*neither an agent socket path nor a URL/],
      [[socketOf('h1'), socketOf('h1')], /CLI_BAD_OPTION.*same host/],
      [[socketOf('h1'), socketOf('h3'), '--packets', '0'], /CLI_BAD_OPTION/],
      [[socketOf('h1'), socketOf('h3'), '--packets', '101'], /CLI_BAD_OPTION/],
      [[socketOf('h1'), socketOf('h3'), '--timeout', 'soon'], /CLI_BAD_OPTION/],
      [[socketOf('h1'), socketOf('h3'), '--endpoint', '0'], /CLI_BAD_OPTION.*--endpoint/],
      [[socketOf('h1'), socketOf('h3'), '--endpoint', '1.5'], /CLI_BAD_OPTION.*--endpoint/],
      [
        [socketOf('h1'), socketOf('h3'), '--endpoint', '2147483648'],
        /CLI_BAD_OPTION.*--endpoint must be a positive integer/,
      ],
      [[join(dir, 'missing.sock'), socketOf('h3')], /AGENT_UNREACHABLE.*missing.sock/],
      [[tcpUrl, socketOf('h3'), '--token-file', join(dir, 'nope')], /CLI_READ_FAILED.*token/],
    ] as [string[], RegExp][]) {
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(['trace', ...args], io), args.join(' ')).toBe(1);
      expect(io.stderr(), args.join(' ')).toMatch(message);
    }
  }, 30_000);

  it("arms at most 100 packets and only a flow's peer (the agent API refuses the rest)", async () => {
    const { createRestApi } = await import('@capsule/agent');
    const app = createRestApi({ bodyLimitBytes: 4096 }, { agent: lab.hosts.get('h1')!.agent });
    const h3 = (lab.hosts.get('h3')!.agent.status() as { hostId: string }).hostId;
    const post = (body: unknown) =>
      app.inject({ method: 'POST', url: '/api/v1/trace', payload: body as Record<string, unknown> });
    expect((await post({ peer: h3, packets: 101 })).statusCode).toBe(400);
    expect((await post({ peer: h3, packets: 0 })).statusCode).toBe(400);
    expect((await post({ peer: h3, extra: 1 })).statusCode).toBe(400);
    expect((await post({ peer: 'not an address' })).statusCode).toBe(400);
    expect((await post({ peer: '2001:db8::1' })).statusCode).toBe(404);
    expect((await post({ peer: '::::' })).statusCode).toBe(404);
    // By endpoint: h1's own endpoint with a flow to h3 names it; an id with no flow there does not.
    const [endpoint] = lab.hosts.get('h1')!.agent.listEndpoints() as { id: number }[];
    expect((await post({ peer: h3, endpoint: 0 })).statusCode).toBe(400);
    expect((await post({ peer: h3, endpoint: 'one' })).statusCode).toBe(400);
    const stranger = await post({ peer: h3, endpoint: endpoint!.id + 1000 });
    expect(stranger.statusCode).toBe(404);
    expect(stranger.json().message).toContain(`a flow of endpoint ${endpoint!.id + 1000} to ${h3}`);
    expect((await post({ peer: h3, packets: 2, endpoint: endpoint!.id })).json()).toEqual({
      peer: h3,
      packets: 2,
      endpoint: endpoint!.id,
    });
    const armed = await post({ peer: h3, packets: 5 });
    expect(armed.statusCode).toBe(200);
    expect(armed.json()).toEqual({ peer: h3, packets: 5, endpoint: endpoint!.id });
    // Disarm: the next test's trace must not see these.
    expect((await post({ peer: h3, packets: 1 })).statusCode).toBe(200);
    const stop = traffic();
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop();
    await app.close();
  });
});

describe('capsule observe on agents', () => {
  it('merges two agents streams (over their sockets): h1 sends a trace, h3 receives it', async () => {
    const stop = traffic();
    const observing = (async () => {
      const io = createRecordingIo({ cwd: dir });
      const code = await runCli(
        [
          'observe',
          '--agent-socket',
          socketOf('h1'),
          '--agent-socket',
          socketOf('h3'),
          '--kind',
          'trace',
          '--json',
          '--count',
          '2',
          '--duration',
          '10',
        ],
        io,
      );
      return { code, io };
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const h3 = (lab.hosts.get('h3')!.agent.status() as { hostId: string }).hostId;
    lab.hosts.get('h1')!.agent.traceFlow(h3, 1);
    const { code, io } = await observing;
    stop();
    expect(code).toBe(0);
    const events = io
      .stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.map((e) => `${e.node} ${e.direction}`).sort()).toEqual(['agent h1 out', 'agent h3 in']);
    expect(events.find((e) => e.direction === 'in').hops).toHaveLength(3);
  }, 30_000);

  it('reaches an agent over TCP with its token, and says so when the token is wrong', async () => {
    const io = createRecordingIo({ cwd: dir });
    expect(
      await runCli(['observe', '--agent', tcpUrl, '--token-file', tokenFile, '--duration', '0.3'], io),
    ).toBe(0);
    expect(io.stderr()).toBe('');
    const wrong = join(dir, 'wrong.token');
    writeFileSync(wrong, 'not-the-token\n');
    const refused = createRecordingIo({ cwd: dir });
    expect(
      await runCli(['observe', '--agent', tcpUrl, '--token-file', wrong, '--duration', '0.3'], refused),
    ).toBe(1);
    expect(refused.stderr()).toMatch(/AGENT_UNREACHABLE.*refused the event stream: HTTP 401/);
    expect(readFileSync(tokenFile, 'utf8').length).toBeGreaterThan(10);
  });

  it('goes on when one source goes away, fails when every one fails, and skips hostile lines', async () => {
    // A hostile "agent" on a Unix socket: garbage, a forged kind, an endless line, one good event.
    const hostilePath = join(dir, 'hostile.sock');
    const good = { timeMs: 1, node: 'agent x', kind: 'drop', reason: 'noFlow', direction: 'out' };
    const hostile = createNetServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n');
        socket.write('not json\n{"timeMs":1,"node":"x","kind":"nuke"}\n');
        socket.write(`${JSON.stringify({ ...good, kind: 'trace', hops: [{ engineId: 70000 }] })}\n`);
        socket.write('y'.repeat(10_000));
        socket.end(`\n${JSON.stringify(good)}\n`);
      });
    });
    await new Promise<void>((resolve) => hostile.listen(hostilePath, () => resolve()));
    const io = createRecordingIo({ cwd: dir });
    const code = await runCli(
      [
        'observe',
        '--agent-socket',
        hostilePath,
        '--agent-socket',
        socketOf('h2'),
        '--json',
        '--duration',
        '1',
      ],
      io,
    );
    await new Promise<void>((resolve) => hostile.close(() => resolve()));
    expect(code).toBe(0);
    expect(io.stdout()).toBe(`${JSON.stringify(good)}\n`);
    expect(io.stderr().match(/unreadable event skipped/g)?.length).toBeGreaterThanOrEqual(4);
    expect(io.stderr()).toMatch(/hostile.sock: the event stream (ended|broke off)/);
    const none = createRecordingIo({ cwd: dir });
    expect(
      await runCli(
        ['observe', '--agent-socket', join(dir, 'a.sock'), '--agent-socket', join(dir, 'b.sock')],
        none,
      ),
    ).toBe(1);
    expect(none.stderr()).toMatch(/^error \[AGENT_UNREACHABLE\]: cannot observe .*a.sock/);
    for (const args of [
      ['--agent-socket', ''],
      ['--agent', 'ftp://x'],
      ['--kind', 'trace,bogus'],
    ]) {
      const bad = createRecordingIo({ cwd: dir });
      expect(await runCli(['observe', ...args], bad), args.join(' ')).toBe(1);
      expect(bad.stderr(), args.join(' ')).toMatch(/^error \[CLI_BAD_OPTION\]/);
    }
    // An unknown flag is a usage error (commander's exit code 2), for observe and trace alike.
    for (const args of [
      ['observe', '--bogus'],
      ['trace', 'a', 'b', '--bogus'],
    ]) {
      const bad = createRecordingIo({ cwd: dir });
      expect(await runCli(args, bad), args.join(' ')).toBe(2);
      expect(bad.stderr()).toMatch(/unknown option '--bogus'/);
    }
  }, 30_000);
});
