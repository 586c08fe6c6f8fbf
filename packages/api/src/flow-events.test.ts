import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createFlowEventHub,
  decodeFlowEvent,
  FLOW_EVENT_HOPS_MAX,
  type FlowEvent,
  flowEventMatches,
  flowEventQuery,
  parseFlowEventFilter,
} from './flow-events';

const seed = Number(process.env.CAPSULE_TEST_SEED ?? 1807);

function manualClock() {
  let now = 1_000_000;
  return { nowMs: () => now, advance: (ms: number) => void (now += ms) };
}

const drop: FlowEvent = {
  timeMs: 1,
  node: 'engine 2001:db8::1',
  kind: 'drop',
  source: '2001:db8::a',
  destination: '2001:db8::b',
  contractId: 7,
  verdict: 'DROP',
  reason: 'UNKNOWN_FLOW',
};

describe('flow event filters', () => {
  it('match host (either end or the node), contract, verdict and kind', () => {
    expect(flowEventMatches(drop, {})).toBe(true);
    expect(flowEventMatches(drop, { host: '2001:db8::a' })).toBe(true);
    expect(flowEventMatches(drop, { host: '2001:db8::b' })).toBe(true);
    expect(flowEventMatches(drop, { host: '2001:db8::1' })).toBe(true);
    expect(flowEventMatches(drop, { host: '2001:db8::c' })).toBe(false);
    expect(flowEventMatches(drop, { contractId: 7 })).toBe(true);
    expect(flowEventMatches(drop, { contractId: 8 })).toBe(false);
    expect(flowEventMatches(drop, { verdict: 'DROP' })).toBe(true);
    expect(flowEventMatches(drop, { verdict: 'FORWARD' })).toBe(false);
    expect(flowEventMatches(drop, { kinds: ['flow', 'log'] })).toBe(false);
    expect(flowEventMatches({ ...drop, kind: 'lost', count: 3 }, { contractId: 8 })).toBe(true);
  });

  it('parse from a query and print back to the same filter', () => {
    const parsed = parseFlowEventFilter({
      host: 'web-1',
      contract: '12',
      verdict: 'forward',
      kind: 'flow,verdict',
    });
    expect(parsed).toEqual({
      filter: { host: 'web-1', contractId: 12, verdict: 'FORWARD', kinds: ['flow', 'verdict'] },
    });
    if (!('filter' in parsed)) throw new Error('unreachable');
    const again = parseFlowEventFilter(
      Object.fromEntries(new URLSearchParams(flowEventQuery(parsed.filter))),
    );
    expect(again).toEqual(parsed);
  });

  it('refuse unknown parameters and bad values, and never throw', () => {
    for (const query of [
      { hots: 'x' },
      { contract: '4294967296' },
      { contract: '0x10' },
      { verdict: 'NONE' },
      { kind: '' },
    ])
      expect(parseFlowEventFilter(query)).toHaveProperty('error');
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 300 })), (query) => {
        const result = parseFlowEventFilter(query);
        expect('filter' in result || 'error' in result).toBe(true);
      }),
      { seed, numRuns: 300 },
    );
  });
});

describe('decodeFlowEvent', () => {
  it('reads what the hub writes', () => {
    expect(decodeFlowEvent(JSON.stringify(drop))).toEqual({ event: drop });
  });

  it('refuses lines that are not events, and never throws', () => {
    for (const line of [
      '',
      'null',
      '[]',
      '{"timeMs":1,"node":"x"}',
      '{"timeMs":"1","node":"x","kind":"drop"}',
      '{"timeMs":1,"node":"x","kind":"boom"}',
      '{"timeMs":1,"node":"x","kind":"drop","flowLabel":"7"}',
      '{"timeMs":1,"node":"x","kind":"drop","direction":"up"}',
      `{"timeMs":1,"node":"x","kind":"log","message":"${'a'.repeat(5000)}"}`,
    ])
      expect(decodeFlowEvent(line), line.slice(0, 60)).toHaveProperty('error');
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 })), (line) => {
        const result = decodeFlowEvent(line);
        expect('event' in result || 'error' in result).toBe(true);
      }),
      { seed, numRuns: 500 },
    );
  });

  it('reads a trace event with its hops, and refuses forged or oversized hops', () => {
    const hop = { engineId: 0x7f1c, timeUs: 0xffff_ffff, fuelUsed: 9, verdict: 3, reason: 0 };
    const trace: FlowEvent = { ...drop, kind: 'trace', direction: 'in', timeUs: 12, hops: [hop, hop] };
    expect(decodeFlowEvent(JSON.stringify(trace))).toEqual({ event: trace });
    const maxed = { ...trace, hops: Array.from({ length: FLOW_EVENT_HOPS_MAX }, () => hop) };
    expect(decodeFlowEvent(JSON.stringify(maxed))).toHaveProperty('event');
    for (const forged of [
      { hops: Array.from({ length: FLOW_EVENT_HOPS_MAX + 1 }, () => hop) },
      { hops: [{ ...hop, engineId: 0x1_0000 }] },
      { hops: [{ ...hop, timeUs: 2 ** 32 }] },
      { hops: [{ ...hop, verdict: 256 }] },
      { hops: [{ ...hop, reason: -1 }] },
      { hops: [{ ...hop, fuelUsed: 1.5 }] },
      { hops: [{ engineId: 1 }] },
      { hops: [[1, 2, 3, 4, 5]] },
      { hops: 'e1,e2' },
      { timeUs: -1 },
      { timeUs: 2 ** 32 },
      { timeUs: 0.5 },
    ])
      expect(decodeFlowEvent(JSON.stringify({ ...trace, ...forged })), JSON.stringify(forged)).toHaveProperty(
        'error',
      );
    fc.assert(
      fc.property(fc.array(fc.json({ maxDepth: 2 }), { maxLength: 30 }), (hops) => {
        const result = decodeFlowEvent(`{"timeMs":1,"node":"x","kind":"trace","hops":[${hops.join(',')}]}`);
        expect('event' in result || 'error' in result).toBe(true);
        if ('event' in result) expect(result.event.hops!.length).toBeLessThanOrEqual(FLOW_EVENT_HOPS_MAX);
      }),
      { seed, numRuns: 300 },
    );
  });
});

describe('flow event hub', () => {
  const sink = (backlog = () => 0) => {
    const lines: string[] = [];
    return { lines, write: (line: string) => void lines.push(line), backlogBytes: backlog };
  };

  it('is active only while someone observes, and sends each subscriber what its filter matches', () => {
    const hub = createFlowEventHub({ node: 'engine x' }, { clock: manualClock() });
    expect(hub.active).toBe(false);
    const all = sink();
    const contract8 = sink();
    const stopAll = hub.subscribe({}, all)!;
    const stop8 = hub.subscribe({ contractId: 8 }, contract8)!;
    expect(hub.active).toBe(true);
    expect(hub.admit()).toBe(true);
    hub.publish(drop);
    expect(all.lines).toEqual([`${JSON.stringify(drop)}\n`]);
    expect(contract8.lines).toEqual([]);
    stopAll();
    expect(hub.active).toBe(true);
    stop8();
    expect(hub.active).toBe(false);
  });

  it('builds at most eventsPerSecondMax events a second and tells each subscriber what it lost', () => {
    const clock = manualClock();
    const hub = createFlowEventHub({ node: 'engine x', eventsPerSecondMax: 3 }, { clock });
    const out = sink();
    hub.subscribe({}, out);
    let admitted = 0;
    for (let i = 0; i < 10; i++) if (hub.admit()) admitted++;
    expect(admitted).toBe(3);
    expect(hub.counters()).toMatchObject({ suppressed: 7 });
    clock.advance(1000);
    expect(hub.admit()).toBe(true);
    hub.publish(drop);
    expect(out.lines.map((line) => JSON.parse(line).kind)).toEqual(['lost', 'drop']);
    expect(JSON.parse(out.lines[0]!).count).toBe(7);
  });

  it('drops events for a subscriber whose sink is behind, counts them, and refuses subscribers past the limit', () => {
    let backlog = 0;
    const hub = createFlowEventHub(
      { node: 'n', backlogBytesMax: 100, subscribersMax: 1 },
      { clock: manualClock() },
    );
    const slow = sink(() => backlog);
    hub.subscribe({}, slow);
    expect(hub.subscribe({}, sink())).toBeUndefined();
    backlog = 101;
    hub.publish(drop);
    hub.publish(drop);
    expect(slow.lines).toEqual([]);
    expect(hub.counters().lost).toBe(2);
    backlog = 0;
    hub.publish(drop);
    expect(slow.lines.map((line) => JSON.parse(line))).toEqual([
      { timeMs: 1, node: 'n', kind: 'lost', count: 2 },
      drop,
    ]);
  });
});
