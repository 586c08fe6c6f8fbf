/**
 * `capsule observe` and `capsule engine shared` against a real engine (the pipeline on the
 * in-memory topology, its real HTTP port): a program compiled by the SDK that counts packets in a
 * @Shared int[] and calls Services.log(257); the events as NDJSON and as a table, filters, bad
 * flags, an unreachable engine, and a hostile event source (garbage lines, an endless line).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngineHttpServer, type EngineHttpServer } from '@capsule/engine';
import { compile } from '@capsule/sdk';
import { PacketType, programImageToJson } from '@capsule/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPacket, createTopology, pathThrough } from '../../engine/test/harness';
import { createRecordingIo, runCli } from '../src/main';

const source = `
import capsule.*;

class Counted {
  @Shared static int[] packets = new int[4];
  @Shared static int total;

  @Entry
  static void entry(Packet p, Engine e, Action a) {
    Services.fetchAdd(packets, 2, 1);
    total = total + 1;
    Services.log(257);
    a.deliver();
  }
}
`;

const dir = mkdtempSync(join(tmpdir(), 'capsule-cli-observe-'));
let server: EngineHttpServer;
let url: string;
let lab: Awaited<ReturnType<typeof startLab>>;

async function startLab() {
  const compiled = compile(source);
  if (!compiled.image) throw new Error(compiled.diagnostics.map((d) => d.message).join('\n'));
  const image = compiled.image;
  writeFileSync(join(dir, 'counted.json'), programImageToJson(image));
  const t = createTopology();
  const a = t.addHost('a', 0x0a);
  const b = t.addHost('b', 0x0b);
  const e1 = t.addEngine('e1', 0x901);
  await t.connect(a, e1);
  await t.connect(e1, b);
  const program = { machineCode: image.code, entryOffsets: image.entries.map((entry) => entry.offset) };
  const auth = t.authorize(a.hostId, image.code);
  const send = (label: number, type: 1 | 3) =>
    a.send(
      e1,
      buildPacket({
        source: a.hostId,
        destination: b.hostId,
        flowLabel: label,
        header:
          type === 1
            ? {
                nextHeader: 59,
                packetType: PacketType.I,
                flags: 0,
                auth,
                path: pathThrough([e1.engineId]),
                code: program,
                data: new Uint8Array(Math.max(4, image.regions.dataBytes)),
              }
            : { nextHeader: 59, packetType: PacketType.III, flags: 0 },
      }),
    );
  return { t, a, b, e1, send };
}

/** Runs `capsule …` and, once the engine has an observer, `whileObserved`. */
async function observeWhile(args: string[], whileObserved: () => Promise<void>) {
  // The previous command's stream is closed (its server side goes a moment after the client).
  for (let i = 0; i < 200 && lab.e1.engine.events.active; i++) await new Promise((r) => setTimeout(r, 10));
  const io = createRecordingIo({ cwd: dir });
  const running = runCli(args, io);
  for (let i = 0; i < 200 && !lab.e1.engine.events.active; i++) await new Promise((r) => setTimeout(r, 10));
  expect(lab.e1.engine.events.active).toBe(true);
  await whileObserved();
  const code = await running;
  return { code, io };
}

beforeAll(async () => {
  lab = await startLab();
  server = createEngineHttpServer({ host: '127.0.0.1', port: 0 }, { engine: lab.e1.engine });
  url = await server.start();
}, 60_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('capsule observe', () => {
  it('streams a new flow, the decoded program log (257, not bytes) and the verdict as NDJSON', async () => {
    const { code, io } = await observeWhile(
      ['observe', '--engine', url, '--json', '--count', '3'],
      async () => {
        lab.send(1, 1);
        await lab.t.settle();
      },
    );
    expect(code).toBe(0);
    const events = io
      .stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.map((e) => e.kind)).toEqual(['flow', 'log', 'verdict']);
    expect(events[1]).toMatchObject({ message: '257', value: 257 });
    expect(events[2]).toMatchObject({ verdict: 'DELIVER', flowLabel: 1 });
  });

  it('prints a table, filtered by verdict on the engine', async () => {
    const { code, io } = await observeWhile(
      ['observe', '--engine', url, '--verdict', 'drop', '--count', '1'],
      async () => {
        lab.send(1, 3); // a known flow: DELIVER, filtered out
        lab.send(77, 3); // no such flow: UNKNOWN_FLOW
        await lab.t.settle();
      },
    );
    expect(code).toBe(0);
    const lines = io.stdout().trim().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+NODE\s+EVENT\s+FLOW\s+CONTRACT\s+WHAT$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/engine \S+\s+drop\s+\S+ → \S+ #77\s+-\s+DROP UNKNOWN_FLOW$/);
  });

  it('stops after --duration with nothing to show, and refuses bad flags with exit 1', async () => {
    const quiet = await observeWhile(
      ['observe', '--engine', url, '--duration', '0.2', '--kind', 'log'],
      async () => {},
    );
    expect(quiet.code).toBe(0);
    expect(quiet.io.stdout()).toBe('');
    for (const args of [
      ['--verdict', 'MAYBE'],
      ['--contract', 'web'],
      ['--kind', 'flow,bogus'],
      ['--count', '0'],
      ['--count', '1.5'],
      ['--duration', '-1'],
      ['--engine', 'ftp://x'],
      ['--engine', 'not a url'],
      ['--host', ''],
    ]) {
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(['observe', ...args], io), args.join(' ')).toBe(1);
      expect(io.stderr(), args.join(' ')).toMatch(/^error \[CLI_BAD_OPTION\]/);
    }
  });

  it('says which engine it cannot reach', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['observe', '--engine', `http://127.0.0.1:${port}`], io)).toBe(1);
    expect(io.stderr()).toMatch(
      new RegExp(`^error \\[CLI_ENGINE_UNREACHABLE\\]: cannot observe http://127.0.0.1:${port}`),
    );
  });

  it('skips what a hostile source sends that is not an event, and keeps the good events', async () => {
    const good = { timeMs: 0, node: 'engine x', kind: 'drop', reason: 'HOP_LIMIT' };
    const hostile: Server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/x-ndjson' });
      response.write('not json\n{"timeMs":1}\n[1,2]\n');
      response.write(`${'x'.repeat(10_000)}`);
      response.write(`\n${JSON.stringify({ ...good, flowLabel: '7' })}\n`);
      response.end(`${JSON.stringify(good)}\n`);
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', () => resolve()));
    const hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['observe', '--engine', hostileUrl, '--json'], io)).toBe(0);
    await new Promise<void>((resolve) => hostile.close(() => resolve()));
    expect(io.stdout()).toBe(`${JSON.stringify(good)}\n`);
    expect(io.stderr().match(/unreadable event skipped/g)?.length).toBeGreaterThanOrEqual(5);
  });
});

describe('capsule engine shared', () => {
  it("prints a contract's @Shared fields by the image's layout", async () => {
    const contracts = createRecordingIo({ cwd: dir });
    expect(await runCli(['engine', 'shared', '--url', url, '--json'], contracts)).toBe(0);
    const [{ contractId }] = JSON.parse(contracts.stdout()) as [{ contractId: number }];
    const io = createRecordingIo({ cwd: dir });
    const code = await runCli(
      ['engine', 'shared', '--url', url, '--contract', String(contractId), '--image', 'counted.json'],
      io,
    );
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    // Two packets of flow 1 ran the program (its type I, then a type III).
    expect(io.stdout()).toMatch(/^packets \(int\[\], offset \d+\): \[0, 0, 2, 0\]$/m);
    expect(io.stdout()).toMatch(/^total \(int, offset \d+\): 2$/m);
    const raw = createRecordingIo({ cwd: dir });
    expect(await runCli(['engine', 'shared', '--url', url, '--contract', String(contractId)], raw)).toBe(0);
    expect(raw.stdout()).toMatch(/^word@\d+ \(int, offset \d+\): 2$/m);
  });

  it('refuses a bad contract id, an unknown contract and a file that is not an image', async () => {
    writeFileSync(join(dir, 'bad.json'), '{"format": "something else"}');
    const cases: [string[], RegExp][] = [
      [['--contract', '12abc'], /CLI_BAD_OPTION/],
      [['--contract', '4000000'], /CLI_ENGINE_UNREACHABLE.*HTTP 404 no contract 4000000 here/],
      [['--contract', '1', '--image', 'bad.json'], /IMAGE_INVALID/],
      [['--contract', '1', '--image', 'missing.json'], /CLI_BAD_FILE/],
    ];
    for (const [args, message] of cases) {
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(['engine', 'shared', '--url', url, ...args], io), args.join(' ')).toBe(1);
      expect(io.stderr(), args.join(' ')).toMatch(message);
    }
  });
});
