/**
 * The order a node applies commands in: each id once; a link-set or link-tags older than the newest
 * of its kind never (it would undo the newer); a path-change's update of an endpoint older than the
 * one that endpoint has never; revocations always; forgotten after a registration.
 */
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCommandOrder } from './command-order';
import { type NodeCommandKind, nodeCommandKinds } from './node-command';

describe('command order', () => {
  it('applies each id once, whatever its kind', () => {
    const order = createCommandOrder();
    for (const kind of nodeCommandKinds) {
      const id = 100 + nodeCommandKinds.indexOf(kind);
      expect(order.accept(id, kind), kind).toBe(true);
      expect(order.accept(id, kind), kind).toBe(false);
    }
    expect(order.refused).toEqual({ duplicate: nodeCommandKinds.length, stale: 0 });
  });

  it("takes a command as it came: the decoded command once, then undefined; the decoder's refusal", () => {
    const order = createCommandOrder();
    const command = {
      id: 3,
      kind: 'link-set',
      payload: { links: [] },
      createdAt: '2026-12-07T00:00:00.000Z',
    };
    expect(order.take(command)).toEqual({ ok: true, value: command });
    expect(order.take(command)).toEqual({ ok: true, value: undefined });
    expect(order.take({ ...command, id: 2 })).toEqual({ ok: true, value: undefined }); // stale
    expect(order.take({ ...command, id: 'four' })).toMatchObject({ ok: false, error: { code: 'BAD_FIELD' } });
    expect(order.refused).toEqual({ duplicate: 1, stale: 1 });
  });

  it('refuses a link set or link tags older than the newest of its kind, not of the other kind', () => {
    const order = createCommandOrder();
    expect(order.accept(7, 'link-set')).toBe(true);
    // A keep-alive answer that left before 7 was pushed, with the set 7 replaced.
    expect(order.accept(5, 'link-set')).toBe(false);
    expect(order.accept(6, 'link-tags')).toBe(true);
    expect(order.accept(4, 'link-tags')).toBe(false);
    expect(order.accept(8, 'link-set')).toBe(true);
    expect(order.refused).toEqual({ duplicate: 0, stale: 2 });
    // A stale command is seen: coming again, it is a duplicate.
    expect(order.accept(5, 'link-set')).toBe(false);
    expect(order.refused).toEqual({ duplicate: 1, stale: 2 });
  });

  it('applies older revocations, refreshes and path-changes (each adds or replaces per endpoint)', () => {
    const order = createCommandOrder();
    expect(order.accept(10, 'revocation')).toBe(true);
    for (const [id, kind] of [
      [3, 'revocation'],
      [2, 'refresh-configuration'],
      [1, 'report-statistics'],
      [4, 'path-change'],
    ] as const)
      expect(order.accept(id, kind), kind).toBe(true);
  });

  it("refuses an endpoint's update from an older path-change than the one it has, per endpoint", () => {
    const order = createCommandOrder();
    expect(order.acceptEndpoint(9, 1)).toBe(true);
    expect(order.acceptEndpoint(8, 1)).toBe(false);
    // Command 8's update of endpoint 2 is the newest endpoint 2 has had.
    expect(order.acceptEndpoint(8, 2)).toBe(true);
    // Two updates of one endpoint in one command: both apply, in order.
    expect(order.acceptEndpoint(9, 1)).toBe(true);
    expect(order.refused.stale).toBe(1);
    order.forgetEndpoint(1);
    expect(order.acceptEndpoint(3, 1)).toBe(true);
  });

  it('starts over after a registration (a restored controller may count from lower), still refusing ids it saw', () => {
    const order = createCommandOrder();
    expect(order.accept(500, 'link-set')).toBe(true);
    expect(order.acceptEndpoint(500, 1)).toBe(true);
    order.restart();
    expect(order.accept(3, 'link-set')).toBe(true);
    expect(order.acceptEndpoint(3, 1)).toBe(true);
    expect(order.accept(500, 'link-set')).toBe(false);
  });

  it('forgets the oldest half of the ids it remembers, not all of them', () => {
    const order = createCommandOrder(10);
    for (let id = 1; id <= 11; id += 1) expect(order.accept(id, 'revocation')).toBe(true);
    // 11 held > 10: the oldest 6 forgotten, the newest 5 (7…11) kept — the ones likely to come again.
    for (let id = 7; id <= 11; id += 1) expect(order.accept(id, 'revocation'), `${id}`).toBe(false);
    expect(order.accept(6, 'revocation')).toBe(true);
    expect(order.accept(1, 'revocation')).toBe(true);
  });

  it('leaves the newest state of each kind applied last, whatever order and repeats the commands come in', () => {
    const replacing: NodeCommandKind[] = ['link-set', 'link-tags'];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 60 }), fc.constantFrom(...replacing)), {
          minLength: 1,
          maxLength: 80,
        }),
        (deliveries) => {
          // One command per id (an id has one kind): the first kind drawn for it.
          const kindOf = new Map<number, NodeCommandKind>();
          for (const [id, kind] of deliveries) if (!kindOf.has(id)) kindOf.set(id, kind);
          const order = createCommandOrder();
          const applied = new Map<NodeCommandKind, number[]>();
          for (const [id] of deliveries) {
            const kind = kindOf.get(id)!;
            if (order.accept(id, kind)) applied.set(kind, [...(applied.get(kind) ?? []), id]);
          }
          for (const kind of replacing) {
            const ids = applied.get(kind) ?? [];
            // Applied in increasing id order, each once…
            for (let i = 1; i < ids.length; i += 1) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
            // …and the last applied is the newest delivered.
            const delivered = [...kindOf].filter(([, k]) => k === kind).map(([id]) => id);
            if (delivered.length > 0) expect(ids.at(-1)).toBe(Math.max(...delivered));
          }
        },
      ),
      { seed: testSeed, numRuns: 500 },
    );
  });
});
