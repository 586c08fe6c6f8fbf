/**
 * Flow events on the engine's HTTP port (`GET /api/v1/events`, NDJSON): new flow, verdict change,
 * drop with reason (the program's own code for PROGRAM_DROP), the program log decoded; filters;
 * hostile query strings; the program drop codes and CONTRACT memory (`@Shared`) readable.
 */
import { decodeFlowEvent, type FlowEvent } from '@capsule/api';
import { PacketType } from '@capsule/wire';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngineHttpServer, type EngineHttpServer } from '../src/index';
import { buildPacket, createTopology, pathThrough } from './harness';
import { chain, logThenRoute, route } from './programs';

const seed = Number(process.env.CAPSULE_TEST_SEED ?? 1806);
let server: EngineHttpServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** Reads NDJSON events from `url` until `count` arrived or `timeoutMs` passed. */
async function readEvents(url: string, count: number, start: () => Promise<void>, timeoutMs = 3000) {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('application/x-ndjson');
  const events: FlowEvent[] = [];
  const reader = response.body!.getReader();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  await start();
  let text = '';
  try {
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      let newline = text.indexOf('\n');
      while (newline >= 0) {
        const decoded = decodeFlowEvent(text.slice(0, newline));
        if ('error' in decoded) throw new Error(decoded.error);
        events.push(decoded.event);
        text = text.slice(newline + 1);
        newline = text.indexOf('\n');
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

async function lab() {
  const t = createTopology();
  const a = t.addHost('a', 0x0a);
  const b = t.addHost('b', 0x0b);
  const e1 = t.addEngine('e1', 0x701);
  await t.connect(a, e1);
  await t.connect(e1, b);
  server = createEngineHttpServer({ host: '127.0.0.1', port: 0 }, { engine: e1.engine });
  const url = await server.start();
  const send = (label: number, type: 1 | 3, code = route) =>
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
                auth: t.authorize(a.hostId, code.machineCode),
                path: pathThrough([e1.engineId]),
                code,
                data: new Uint8Array(16),
              }
            : { nextHeader: 59, packetType: PacketType.III, flags: 0 },
      }),
    );
  return { t, a, b, e1, url, send };
}

describe('engine flow events', () => {
  it('streams a new flow, its verdict, a drop with its reason and the decoded program log', async () => {
    const { t, e1, url, send } = await lab();
    const events = await readEvents(`${url}/api/v1/events`, 4, async () => {
      send(7, 1, logThenRoute);
      send(8, 3);
      await t.settle();
    });
    expect(events.map((e) => e.kind)).toEqual(['flow', 'log', 'verdict', 'drop']);
    const [flow, log, verdict, drop] = events as [FlowEvent, FlowEvent, FlowEvent, FlowEvent];
    expect(log).toMatchObject({ message: '257', value: 257 });
    expect(flow).toMatchObject({ flowLabel: 7, contractId: expect.any(Number), serial: expect.any(String) });
    expect(flow.node).toMatch(/^engine /);
    expect(verdict).toMatchObject({ flowLabel: 7, verdict: 'DELIVER' });
    expect(drop).toMatchObject({ flowLabel: 8, verdict: 'DROP', reason: 'UNKNOWN_FLOW' });
    expect(drop.source).toBe(flow.source);
    expect(e1.engine.counters().events.published).toBe(4);
    // The stream ended with the client: nobody observes, nothing is built.
    // The server side of an aborted stream closes a moment later (longer under load).
    for (let i = 0; i < 200 && e1.engine.events.active; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(e1.engine.events.active).toBe(false);
    send(9, 3);
    await t.settle();
    expect(e1.engine.counters().events.published).toBe(4);
  });

  it('filters by verdict and host on the engine side, and counts program drop codes', async () => {
    const { t, a, e1, url, send } = await lab();
    const drops = await readEvents(`${url}/api/v1/events?verdict=drop&kind=drop`, 1, async () => {
      send(1, 1, route);
      send(2, 1, chain); // entry 0 routes: DELIVER (no waypoint check at entry 0)
      send(3, 3);
      await t.settle();
    });
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ kind: 'drop', reason: 'UNKNOWN_FLOW', flowLabel: 3 });
    const other = await readEvents(
      `${url}/api/v1/events?host=2001:db8::dead`,
      1,
      async () => {
        send(4, 3);
        await t.settle();
      },
      300,
    );
    expect(other).toEqual([]);
    const source = e1.engine.flows()[0]!.source;
    const mine = await readEvents(`${url}/api/v1/events?host=${source}`, 1, async () => {
      send(5, 3);
      await t.settle();
    });
    expect(mine[0]).toMatchObject({ source, reason: 'UNKNOWN_FLOW' });
    expect(a.received).toHaveLength(0);
  });

  it("counts PROGRAM_DROP by the program's code in /metrics and shows it in the drop event", async () => {
    const t = createTopology();
    const a = t.addHost('a', 0x0a);
    const b = t.addHost('b', 0x0b);
    const e1 = t.addEngine('e1', 0x711);
    await t.connect(a, e1);
    await t.connect(e1, b);
    server = createEngineHttpServer({ host: '127.0.0.1', port: 0 }, { engine: e1.engine });
    const url = await server.start();
    const hop = (engineId: number, entryIndex: number) => ({ engineId, entryIndex, flags: 0 });
    const events = await readEvents(`${url}/api/v1/events?kind=drop`, 1, async () => {
      a.send(
        e1,
        buildPacket({
          source: a.hostId,
          destination: b.hostId,
          flowLabel: 1,
          header: {
            nextHeader: 59,
            packetType: PacketType.I,
            flags: 0,
            auth: t.authorize(a.hostId, chain.machineCode),
            path: { creationTime: 0, hopIndex: 0, defaultEntry: 0, hops: [hop(e1.engineId, 2)] },
            code: chain,
            data: new Uint8Array(8),
          },
        }),
      );
      await t.settle();
    });
    expect(events[0]).toMatchObject({ reason: 'PROGRAM_DROP', programReason: 259 });
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain('capsule_engine_program_drops_total{code="259"} 1');
    expect(text).toContain('capsule_engine_events_total{outcome="published"} 2'); // the flow, the drop
    expect(e1.engine.counters().programDrops).toEqual({ '259': 1 });
  });

  it('serves CONTRACT memory (where @Shared fields live) per contract', async () => {
    const { t, url, send } = await lab();
    send(1, 1, route);
    send(1, 3);
    await t.settle();
    const contracts = (await (await fetch(`${url}/api/v1/contracts`)).json()) as {
      items: { contractId: number; liveFlows: number }[];
    };
    expect(contracts.items).toHaveLength(1);
    const { contractId, liveFlows } = contracts.items[0]!;
    expect(liveFlows).toBe(1);
    const memory = (await (await fetch(`${url}/api/v1/contracts/${contractId}/memory`)).json()) as {
      bytes: string;
    };
    expect(memory.bytes).toHaveLength(4096 * 2);
    // route's CONTRACT word 0 counts every packet it ran on (AMOADD): the type I and the type III.
    expect(Buffer.from(memory.bytes, 'hex').readUInt32LE(0)).toBe(1);
    expect((await fetch(`${url}/api/v1/contracts/${contractId + 1}/memory`)).status).toBe(404);
    expect((await fetch(`${url}/api/v1/contracts/99999999999/memory`)).status).toBe(404);
  });

  it('refuses hostile query strings with 400 and never crashes', async () => {
    const { url, e1 } = await lab();
    for (const query of [
      'verdict=MAYBE',
      'contract=-1',
      'contract=99999999999',
      'contract=1e3',
      'kind=flow,nope',
      'host=',
      `host=${'a'.repeat(300)}`,
      'hots=x',
      'verdict=DROP&verdict=FORWARD',
      `x=${'y'.repeat(2000)}`,
      'host=%0a',
    ]) {
      const response = await fetch(`${url}/api/v1/events?${query}`);
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as { code: string }).code).toBe('VALIDATION');
    }
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 60 }), async (raw) => {
        const controller = new AbortController();
        const response = await fetch(`${url}/api/v1/events?${encodeURI(raw)}`, { signal: controller.signal });
        expect([200, 400]).toContain(response.status);
        controller.abort();
      }),
      { seed, numRuns: 60 },
    );
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
    // The server side of an aborted stream closes a moment later (longer under load).
    for (let i = 0; i < 200 && e1.engine.events.active; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(e1.engine.counters().events.subscribers).toBe(0);
  });

  it('refuses observers past the limit (503)', async () => {
    const { e1, url } = await lab();
    const controllers: AbortController[] = [];
    for (let i = 0; i < 16; i++) {
      const controller = new AbortController();
      controllers.push(controller);
      expect((await fetch(`${url}/api/v1/events`, { signal: controller.signal })).status).toBe(200);
    }
    expect((await fetch(`${url}/api/v1/events`)).status).toBe(503);
    for (const controller of controllers) controller.abort();
    // The server side of an aborted stream closes a moment later (longer under load).
    for (let i = 0; i < 200 && e1.engine.events.active; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(e1.engine.counters().events.subscribers).toBe(0);
  });
});
