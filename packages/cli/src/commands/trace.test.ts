import type { FlowEvent } from '@capsule/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatTrace, pairArrivals } from './trace';

const seed = Number(process.env.CAPSULE_TEST_SEED ?? 4242);
const hop = (engineId: number, timeUs: number) => ({ engineId, timeUs, fuelUsed: 0, verdict: 1, reason: 0 });
const out = (flowLabel: number, timeUs: number): FlowEvent => ({
  timeMs: 0,
  node: 'agent a',
  kind: 'trace',
  direction: 'out',
  flowLabel,
  timeUs,
});
const arrived = (flowLabel: number, firstUs: number, receivedUs: number): FlowEvent => ({
  timeMs: 0,
  node: 'agent b',
  kind: 'trace',
  direction: 'in',
  flowLabel,
  timeUs: receivedUs,
  verdict: 'DELIVER',
  hops: [hop(1, firstUs), hop(2, firstUs + 10)],
});

describe('pairArrivals', () => {
  it('pairs each arrival with the latest departure of its label before its first record', () => {
    const packets = pairArrivals(
      // A program-traced arrival before any armed departure, then two armed packets out of order.
      [arrived(7, 50, 90), arrived(7, 1_050, 1_100), arrived(7, 2_050, 2_100), arrived(8, 3_000, 3_010)],
      [out(7, 2_000), out(7, 1_000), out(9, 2_990)],
      (id) => `e${id}`,
    );
    expect(packets.map((p) => p.sentUs)).toEqual([undefined, 1_000, 2_000, undefined]);
    expect(packets[1]!.hops.map((h) => h.name)).toEqual(['e1', 'e2']);
  });

  it('pairs across the 2^32 µs wrap, and not with a departure after the arrival or 10 s before', () => {
    const wrap = 2 ** 32 - 100;
    expect(pairArrivals([arrived(1, 50, 80)], [out(1, wrap)], String)[0]!.sentUs).toBe(wrap);
    expect(pairArrivals([arrived(1, 50, 80)], [out(1, 60)], String)[0]!.sentUs).toBeUndefined();
    expect(
      pairArrivals([arrived(1, 20_000_000, 20_000_050)], [out(1, 5_000_000)], String)[0]!.sentUs,
    ).toBeUndefined();
  });

  it('never throws on any events, and uses each departure once at most', () => {
    const event = fc.record({
      flowLabel: fc.integer({ min: 0, max: 3 }),
      timeUs: fc.option(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { nil: undefined }),
      hops: fc.option(
        fc.array(
          fc.record({
            engineId: fc.integer({ min: 0, max: 0xffff }),
            timeUs: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
            fuelUsed: fc.nat(),
            verdict: fc.integer({ min: 0, max: 255 }),
            reason: fc.integer({ min: 0, max: 255 }),
          }),
          { maxLength: 21 },
        ),
        { nil: undefined },
      ),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), fc.array(event, { maxLength: 30 }), (ins, outs) => {
        const packets = pairArrivals(
          ins.map((e) => ({ ...e, timeMs: 0, node: 'b', kind: 'trace' as const, direction: 'in' as const })),
          outs.map((e) => ({
            ...e,
            timeMs: 0,
            node: 'a',
            kind: 'trace' as const,
            direction: 'out' as const,
          })),
          String,
        );
        expect(packets).toHaveLength(ins.length);
        const sent = packets.map((p) => p.sentUs).filter((t) => t !== undefined);
        expect(sent.length).toBeLessThanOrEqual(outs.filter((o) => o.timeUs !== undefined).length);
        for (const packet of packets) expect(() => formatTrace(packet, 'a', 'b')).not.toThrow();
      }),
      { seed, numRuns: 300 },
    );
  });
});

describe('formatTrace', () => {
  it('gives each node its time since the first stamp and since the previous one', () => {
    const [packet] = pairArrivals([arrived(5, 1_200, 1_500)], [out(5, 1_000)], (id) => `e${id}`);
    expect(formatTrace(packet!, 'h1', 'h3')).toBe(
      [
        'flow #5',
        '  HOP  NODE                        AT (µs)  +HOP (µs)  WHAT',
        '  0    h1 (agent)                        0          -  sent',
        '  1    e1 (engine 0001)                200        200  FORWARD, fuel 0',
        '  2    e2 (engine 0002)                210         10  FORWARD, fuel 0',
        '  3    h3 (agent)                      500        290  delivered',
        '  total 500 µs',
        '',
      ].join('\n'),
    );
  });
});
