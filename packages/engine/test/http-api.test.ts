/** The engine's HTTP port: /metrics in the Prometheus text format, flows, links and status as JSON. */
import { PacketType } from '@capsule/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngineHttpServer, type Engine, type EngineHttpServer } from '../src/index';
import { buildPacket, createTopology, pathThrough } from './harness';
import { route } from './programs';

let server: EngineHttpServer | undefined;
afterEach(async () => {
  await server?.stop();
});

describe('engine HTTP port', () => {
  it('serves counters per verdict, drop reason, link and flow, and the live flows', async () => {
    const t = createTopology();
    const a = t.addHost('a', 0x0a);
    const b = t.addHost('b', 0x0b);
    const e1 = t.addEngine('e1', 0x601);
    await t.connect(a, e1);
    await t.connect(e1, b);
    const auth = t.authorize(a.hostId, route.machineCode);
    const path = pathThrough([e1.engineId]);
    a.send(
      e1,
      buildPacket({
        source: a.hostId,
        destination: b.hostId,
        flowLabel: 42,
        header: {
          nextHeader: 59,
          packetType: PacketType.I,
          flags: 0,
          auth,
          path,
          code: route,
          data: new Uint8Array(8),
        },
      }),
    );
    a.send(
      e1,
      buildPacket({
        source: a.hostId,
        destination: b.hostId,
        flowLabel: 43,
        header: { nextHeader: 59, packetType: PacketType.III, flags: 0 },
      }),
    );
    await t.settle();
    server = createEngineHttpServer({ host: '127.0.0.1', port: 0 }, { engine: e1.engine });
    const url = await server.start();

    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    for (const line of text.trim().split('\n'))
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{(\w+="[^"]*",?)+\})? \d+(\.\d+)?)$/);
    expect(text).toContain('capsule_engine_verdicts_total{verdict="DELIVER"} 1');
    expect(text).toContain('capsule_engine_drops_total{reason="UNKNOWN_FLOW"} 1');
    expect(text).toContain('capsule_engine_drops_total{reason="AUTH_FORGED"} 0');
    expect(text).toContain('capsule_engine_packets_by_type_total{type="I"} 1');
    expect(text).toMatch(
      /capsule_engine_link_packets_total\{link="\d+",peer="a",kind="host",direction="in"\} 2/,
    );
    expect(text).toMatch(
      /capsule_engine_flow_packets_total\{src="2001:db8::aa00:0:0:a",dst="[^"]+",label="42"\} 1/,
    );

    const flows = (await (await fetch(`${url}/api/v1/flows`)).json()) as {
      items: { flowLabel: number; lastVerdict: string }[];
      total: number;
    };
    expect(flows.total).toBe(1);
    expect(flows.items[0]).toMatchObject({ flowLabel: 42, lastVerdict: 'DELIVER' });
    const status = (await (await fetch(`${url}/api/v1/status`)).json()) as { engineId: number };
    expect(status.engineId).toBe(0x601);
    expect((await fetch(`${url}/nothing`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('answers 500 with a JSON error when the engine fails to answer, and keeps serving', async () => {
    const failing = {
      engineId: 7,
      counters: () => {
        throw new Error('counters unavailable');
      },
      flows: () => [],
      links: () => [],
    } as unknown as Engine;
    server = createEngineHttpServer({ host: '127.0.0.1', port: 0 }, { engine: failing });
    const url = await server.start();
    const failed = await fetch(`${url}/api/v1/status`);
    expect(failed.status).toBe(500);
    expect(await failed.json()).toMatchObject({ code: 'INTERNAL', message: 'Error: counters unavailable' });
    expect((await fetch(`${url}/api/v1/flows`)).status).toBe(200);
  });
});
