import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVICTION_SCAN, FlowRefusal, FlowTable } from './flow-table';

function keyBytes(source: number, destination: number): Uint8Array {
  const bytes = new Uint8Array(40);
  bytes[0] = 0xfd;
  bytes[15] = source;
  bytes[14] = source >> 8;
  bytes[16] = 0xfd;
  bytes[31] = destination;
  return bytes;
}

describe('FlowTable', () => {
  it('finds what it inserted, by the bytes of the packet, and forgets what it removed', () => {
    const table = new FlowTable(4);
    const a = keyBytes(1, 2);
    const id = table.insert(a, 0, 16, 0xabcde);
    expect(id).toBeGreaterThanOrEqual(0);
    expect(table.find(keyBytes(1, 2), 0, 16, 0xabcde)).toBe(id);
    expect(table.find(keyBytes(1, 2), 0, 16, 0xabcdf)).toBe(-1);
    expect(table.find(keyBytes(2, 1), 0, 16, 0xabcde)).toBe(-1);
    expect(table.flowLabelOf(id)).toBe(0xabcde);
    expect([...table.sourceOf(id)]).toEqual([...a.subarray(0, 16)]);
    table.remove(id);
    expect(table.find(a, 0, 16, 0xabcde)).toBe(-1);
    expect(table.size).toBe(0);
  });

  it('reports full instead of growing', () => {
    const table = new FlowTable(2);
    expect(table.insert(keyBytes(1, 1), 0, 16, 1)).not.toBe(-1);
    expect(table.insert(keyBytes(2, 1), 0, 16, 1)).not.toBe(-1);
    expect(table.insert(keyBytes(3, 1), 0, 16, 1)).toBe(-1);
  });

  it('behaves like a Map under random inserts and removals (backward-shift deletion keeps every key findable)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 3 })), {
          maxLength: 400,
        }),
        (operations) => {
          const table = new FlowTable(64);
          const model = new Map<string, number>();
          for (const [isInsert, source, label] of operations) {
            const key = `${source}/${label}`;
            const bytes = keyBytes(source, 9);
            if (isInsert && !model.has(key)) {
              const id = table.insert(bytes, 0, 16, label);
              if (model.size < 64) {
                expect(id).toBeGreaterThanOrEqual(0);
                model.set(key, id);
              } else expect(id).toBe(-1);
            } else if (!isInsert && model.has(key)) {
              table.remove(model.get(key)!);
              model.delete(key);
            }
            expect(table.size).toBe(model.size);
          }
          for (const [key, id] of model) {
            const [source, label] = key.split('/').map(Number);
            expect(table.find(keyBytes(source!, 9), 0, 16, label!)).toBe(id);
          }
        },
      ),
      { seed: testSeed, numRuns: 300 },
    );
  });
});

/** A packet-like key buffer: source host `host` (bytes 0..16), destination 1 (16..32). */
function hostKey(host: number): Uint8Array {
  const bytes = new Uint8Array(32);
  bytes[0] = 0xfd;
  bytes[14] = host >> 8;
  bytes[15] = host & 0xff;
  bytes[16] = 0xfd;
  bytes[31] = 1;
  return bytes;
}

describe('FlowTable admission: quotas and eviction', () => {
  it('admits under the quotas and counts each owner', () => {
    const table = new FlowTable({ capacity: 16, perSourceMax: 4, perAuthorizationMax: 3 });
    const a = hostKey(1);
    expect(table.admit(a, 0, 16, 1, 0, 7, 0)).toBeGreaterThanOrEqual(0);
    expect(table.admit(a, 0, 16, 2, 0, 7, 0)).toBeGreaterThanOrEqual(0);
    expect(table.admit(a, 0, 16, 3, 0, 8, 0)).toBeGreaterThanOrEqual(0);
    expect(table.flowsOfSource(a, 0)).toBe(3);
    expect(table.flowsOfAuthorization(0, 7)).toBe(2);
    expect(table.flowsOfAuthorization(0, 8)).toBe(1);
    expect(table.heaviestSourceFlows).toBe(3);
    table.remove(table.find(a, 0, 16, 3));
    expect(table.flowsOfAuthorization(0, 8)).toBe(0);
    expect(table.flowsOfSource(a, 0)).toBe(2);
    expect(table.heaviestSourceFlows).toBe(2);
  });

  it('a source at its quota gives up its own idlest flow, never another host’s, and is refused while all are active', () => {
    const evicted: number[] = [];
    const table = new FlowTable({ capacity: 16, perSourceMax: 3, evictionIdleMs: 1_000 }, (id) =>
      evicted.push(id),
    );
    const a = hostKey(1);
    const b = hostKey(2);
    const bFlow = table.admit(b, 0, 16, 1, 0, 2, 0);
    const ids = [1, 2, 3].map((label) => table.admit(a, 0, 16, label, 0, 1, label * 100));
    // All of a's flows were seen within the last second: the fourth is refused.
    expect(table.admit(a, 0, 16, 4, 0, 1, 500)).toBe(FlowRefusal.SOURCE_QUOTA);
    expect(evicted).toEqual([]);
    // 1.1 s after the first, a's first flow is idle enough: it goes, the new one comes in.
    const fourth = table.admit(a, 0, 16, 4, 0, 1, 1_100);
    expect(fourth).toBeGreaterThanOrEqual(0);
    expect(evicted).toEqual([ids[0]]);
    expect(table.find(a, 0, 16, 1)).toBe(-1);
    expect(table.find(b, 0, 16, 1)).toBe(bFlow);
    expect(table.flowsOfSource(a, 0)).toBe(3);
    expect(table.evictions.sourceQuota).toBe(1);
  });

  it('gives an active flow at the head a second chance and takes the idle one behind it', () => {
    const evicted: number[] = [];
    const table = new FlowTable({ capacity: 16, perSourceMax: 3, evictionIdleMs: 1_000 }, (id) =>
      evicted.push(id),
    );
    const a = hostKey(1);
    const [first, second] = [1, 2, 3].map((label) => table.admit(a, 0, 16, label, 0, 1, 0));
    table.lastSeenMs[first!] = 4_500; // the oldest flow is busy
    expect(table.admit(a, 0, 16, 4, 0, 1, 5_000)).toBeGreaterThanOrEqual(0);
    expect(evicted).toEqual([second]);
    expect(table.find(a, 0, 16, 1)).toBe(first);
  });

  it('an authorization at its quota gives up its own flow, or is refused (AUTHORIZATION_QUOTA)', () => {
    const evicted: number[] = [];
    const table = new FlowTable(
      { capacity: 16, perSourceMax: 10, perAuthorizationMax: 2, evictionIdleMs: 1_000 },
      (id) => evicted.push(id),
    );
    const a = hostKey(1);
    const first = table.admit(a, 0, 16, 1, 0, 5, 0);
    table.admit(a, 0, 16, 2, 0, 5, 0);
    expect(table.admit(a, 0, 16, 3, 0, 5, 10)).toBe(FlowRefusal.AUTHORIZATION_QUOTA);
    expect(table.admit(a, 0, 16, 3, 0, 6, 10)).toBeGreaterThanOrEqual(0); // another authorization of a
    expect(table.admit(a, 0, 16, 4, 0, 5, 2_000)).toBeGreaterThanOrEqual(0);
    expect(evicted).toEqual([first]);
    expect(table.evictions.authorizationQuota).toBe(1);
  });

  it('when full, takes an idle flow of the heaviest source; the requester’s own when it is as heavy; else FULL', () => {
    const evicted: number[] = [];
    const table = new FlowTable({ capacity: 6, evictionIdleMs: 1_000 }, (id) => evicted.push(id));
    const heavy = hostKey(1);
    const light = hostKey(2);
    const newcomer = hostKey(3);
    const heavyIds = [1, 2, 3, 4].map((label) => table.admit(heavy, 0, 16, label, 0, 1, 0));
    const lightIds = [1, 2].map((label) => table.admit(light, 0, 16, label, 0, 2, 0));
    expect(table.size).toBe(6);
    expect(table.heaviestSourceFlows).toBe(4);
    // Everyone was seen just now: nothing may go.
    expect(table.admit(newcomer, 0, 16, 1, 0, 3, 10)).toBe(FlowRefusal.FULL);
    // Later, the newcomer's flow takes the heaviest source's oldest, not the light one's.
    expect(table.admit(newcomer, 0, 16, 1, 0, 3, 2_000)).toBeGreaterThanOrEqual(0);
    expect(evicted).toEqual([heavyIds[0]]);
    for (const id of lightIds) expect(table.flowLabelOf(id)).toBeGreaterThan(0);
    expect(table.flowsOfSource(light, 0)).toBe(2);
    // The heaviest (3 now) opening another gives up its own flow.
    expect(table.admit(heavy, 0, 16, 9, 0, 1, 2_000)).toBeGreaterThanOrEqual(0);
    expect(evicted).toEqual([heavyIds[0], heavyIds[1]]);
    expect(table.evictions.tableFull).toBe(2);
    expect(table.flowsOfSource(light, 0)).toBe(2);
  });

  it('looks at no more than EVICTION_SCAN flows per admission', () => {
    const table = new FlowTable({ capacity: 64, perSourceMax: 40, evictionIdleMs: 1_000 });
    const a = hostKey(1);
    for (let label = 1; label <= 40; label++) table.admit(a, 0, 16, label, 0, 1, 0);
    // The 9th oldest is the only idle one: the first admission rotates 8 active ones and gives up.
    for (let label = 1; label <= 40; label++) table.lastSeenMs[table.find(a, 0, 16, label)] = 5_000;
    table.lastSeenMs[table.find(a, 0, 16, EVICTION_SCAN + 1)] = 0;
    expect(table.admit(a, 0, 16, 100, 0, 1, 5_500)).toBe(FlowRefusal.SOURCE_QUOTA);
    expect(table.admit(a, 0, 16, 100, 0, 1, 5_500)).toBeGreaterThanOrEqual(0);
    expect(table.find(a, 0, 16, EVICTION_SCAN + 1)).toBe(-1);
  });

  it('moves a flow to its renewed authorization', () => {
    const table = new FlowTable({ capacity: 8, perAuthorizationMax: 2 });
    const a = hostKey(1);
    const id = table.admit(a, 0, 16, 1, 0, 1, 0);
    table.setAuthorization(id, 0, 2);
    expect(table.flowsOfAuthorization(0, 1)).toBe(0);
    expect(table.flowsOfAuthorization(0, 2)).toBe(1);
    table.remove(id);
    expect(table.flowsOfAuthorization(0, 2)).toBe(0);
    expect(table.size).toBe(0);
  });

  it('one host flooding never keeps the others\u2019 new flows out, and only its own flows are evicted (fast-check)', () => {
    const capacity = 256;
    const quota = 64;
    const behaving = 6;
    const perBehaving = 20; // 6 × 20 + 64 ≤ 256
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('flood' as const), count: fc.integer({ min: 1, max: 80 }) }),
      fc.record({ kind: fc.constant('open' as const), host: fc.integer({ min: 1, max: behaving }) }),
      fc.record({ kind: fc.constant('touch' as const), host: fc.integer({ min: 1, max: behaving }) }),
      fc.record({ kind: fc.constant('close' as const), host: fc.integer({ min: 1, max: behaving }) }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
      fc.record({ kind: fc.constant('expire' as const) }),
    );
    fc.assert(
      fc.property(
        fc.array(operation, { maxLength: 200 }),
        fc.boolean(),
        fc.constantFrom(1, 4),
        (operations, perAuthorizationQuota, flooderAuthorizations) => {
          const flooder = 0xf1;
          const owner = new Map<number, number>(); // live flow id → host
          const evicted: number[] = [];
          const table = new FlowTable(
            {
              capacity,
              perSourceMax: quota,
              perAuthorizationMax: perAuthorizationQuota ? quota / 2 : quota,
              evictionIdleMs: 1_000,
            },
            (id) => {
              evicted.push(owner.get(id)!);
              owner.delete(id);
            },
          );
          let now = 0;
          let nextLabel = 1;
          const flowsOf = (host: number) => [...owner].filter(([, h]) => h === host).map(([id]) => id);
          for (const op of operations) {
            if (op.kind === 'flood') {
              for (let i = 0; i < op.count; i++) {
                // Its flows under one authorization, or spread over four (then the source quota binds).
                const serial = 0xf100 + (nextLabel % flooderAuthorizations);
                const id = table.admit(hostKey(flooder), 0, 16, nextLabel++, 0, serial, now);
                if (id >= 0) owner.set(id, flooder);
              }
            } else if (op.kind === 'open') {
              if (flowsOf(op.host).length < perBehaving) {
                const id = table.admit(hostKey(op.host), 0, 16, nextLabel++, 0, op.host, now);
                expect(id, `host ${op.host}'s new flow`).toBeGreaterThanOrEqual(0);
                owner.set(id, op.host);
              }
            } else if (op.kind === 'touch') {
              for (const id of flowsOf(op.host)) table.lastSeenMs[id] = now;
            } else if (op.kind === 'close') {
              const id = flowsOf(op.host)[0];
              if (id !== undefined) {
                table.remove(id);
                owner.delete(id);
              }
            } else if (op.kind === 'advance') now += op.ms;
            else
              for (const [id] of [...owner])
                if (now - table.lastSeenMs[id]! > 10_000) {
                  table.remove(id);
                  owner.delete(id);
                }
            expect(table.size).toBe(owner.size);
            expect(table.flowsOfSource(hostKey(flooder), 0)).toBe(flowsOf(flooder).length);
            expect(table.flowsOfSource(hostKey(flooder), 0)).toBeLessThanOrEqual(quota);
          }
          expect(evicted.every((host) => host === flooder)).toBe(true);
          for (const [id, host] of owner)
            expect(table.find(hostKey(host), 0, 16, table.flowLabelOf(id))).toBe(id);
        },
      ),
      { seed: testSeed, numRuns: 200 },
    );
  });
});
