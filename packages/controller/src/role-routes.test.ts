import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pathTo, shortestPaths, type TopologyLink } from './paths';
import { computeLabelRoutes, computeNearestRoutes, computeRoleRoutes, mergeRoleRoutes } from './role-routes';

// The default lab: engines 1 (e1), 2 (e2), 3 (e3); hosts 11, 12 on e1 and 13, 14, 15 on e2.
//   11, 12 ── e1 ──(10)── e2 ── 13, 14, 15
//              └─(1)─ e3 ─(1)─┘
const link = (nodeA: number, nodeZ: number, cost: number): TopologyLink => ({
  nodeA,
  nodeZ,
  cost,
  labels: [],
});
const lab: TopologyLink[] = [
  link(1, 2, 10),
  link(1, 3, 1),
  link(2, 3, 1),
  link(1, 11, 10),
  link(1, 12, 10),
  link(2, 13, 10),
  link(2, 14, 10),
  link(2, 15, 10),
];
const engines = [1, 2, 3];

describe('computeRoleRoutes', () => {
  it('marks each engine’s next hop toward every member, per contract', () => {
    const routes = computeRoleRoutes(engines, lab, [
      // contract 7: the balanced role (tag 3) on 13, 14, 15
      { contractId: 7, tag: 3, nodeId: 13 },
      { contractId: 7, tag: 3, nodeId: 14 },
      { contractId: 7, tag: 3, nodeId: 15 },
      // contract 9: the multicast members (tag 5) on 12 and 13
      { contractId: 9, tag: 5, nodeId: 12 },
      { contractId: 9, tag: 5, nodeId: 13 },
    ]);
    // e1 reaches e2's hosts over the cheap path through e3, not the direct link.
    expect(routes.get(1)).toEqual(
      new Map([
        [7, new Map([[3, 1 << 3]])],
        [
          9,
          new Map([
            [3, 1 << 5],
            [12, 1 << 5],
          ]),
        ],
      ]),
    );
    expect(routes.get(3)).toEqual(
      new Map([
        [7, new Map([[2, 1 << 3]])],
        [
          9,
          new Map([
            [2, 1 << 5],
            [1, 1 << 5],
          ]),
        ],
      ]),
    );
    expect(routes.get(2)).toEqual(
      new Map([
        [
          7,
          new Map([
            [13, 1 << 3],
            [14, 1 << 3],
            [15, 1 << 3],
          ]),
        ],
        [
          9,
          new Map([
            [13, 1 << 5],
            [3, 1 << 5],
          ]),
        ],
      ]),
    );
  });

  it('follows the topology: a cut link moves the route, an unreachable member has none', () => {
    const cut = lab.filter((l) => !(l.nodeA === 1 && l.nodeZ === 3));
    const routes = computeRoleRoutes(engines, cut, [{ contractId: 7, tag: 3, nodeId: 13 }]);
    expect(routes.get(1)?.get(7)).toEqual(new Map([[2, 1 << 3]]));
    const isolated = computeRoleRoutes(engines, lab, [{ contractId: 7, tag: 3, nodeId: 99 }]);
    for (const id of engines) expect(isolated.get(id)).toEqual(new Map());
  });

  it('never routes through a host, and ignores tags outside 0..31', () => {
    // Host 20 is linked to e1 and e2 at cost 1: still not a way from e1 to e2.
    const dual = [...lab, link(1, 20, 1), link(2, 20, 1)];
    const routes = computeRoleRoutes(engines, dual, [
      { contractId: 7, tag: 3, nodeId: 13 },
      { contractId: 7, tag: 32, nodeId: 14 },
      { contractId: 7, tag: -1, nodeId: 14 },
    ]);
    expect(routes.get(1)?.get(7)).toEqual(new Map([[3, 1 << 3]]));
    expect(routes.get(2)?.get(7)).toEqual(new Map([[13, 1 << 3]]));
  });

  it('agrees with the shortest path from every engine to every member (property)', () => {
    const graph = fc
      .array(
        fc.record({
          a: fc.integer({ min: 1, max: 6 }),
          z: fc.integer({ min: 1, max: 6 }),
          cost: fc.integer({ min: 1, max: 20 }),
        }),
        { maxLength: 14 },
      )
      .map((edges) => edges.filter((e) => e.a !== e.z).map((e) => link(e.a, e.z, e.cost)));
    fc.assert(
      fc.property(graph, fc.integer({ min: 1, max: 6 }), (edges, member) => {
        const all = [1, 2, 3, 4, 5, 6];
        const routes = computeRoleRoutes(all, edges, [{ contractId: 1, tag: 0, nodeId: member }]);
        for (const engine of all) {
          const marked = routes.get(engine)?.get(1);
          const path = pathTo(shortestPaths(engine, edges), member);
          if (!path || engine === member) {
            expect(marked).toBeUndefined();
            continue;
          }
          // Exactly one next hop, at the same cost as the engine's own shortest path.
          expect(marked?.size).toBe(1);
          const [next] = [...marked!.keys()];
          const viaNext = next === member ? 0 : pathTo(shortestPaths(next!, edges), member)!.cost;
          const hop = Math.min(
            ...edges
              .filter(
                (e) => (e.nodeA === engine && e.nodeZ === next) || (e.nodeZ === engine && e.nodeA === next),
              )
              .map((e) => e.cost),
          );
          expect(hop + viaNext).toBe(path.cost);
        }
      }),
      { seed: testSeed, numRuns: 300 },
    );
  });
});

describe('computeNearestRoutes', () => {
  // Replicas on 12 (behind e1, host link 10) and 13 (behind e2): e1's nearest is 12 (cost 10);
  // e2's is 13; e3 is 11 from either (e3–e1–12 = 1 + 10, e3–e2–13 = 1 + 10): the tie goes to the
  // lower previous node id, e1.
  const replicas = [
    { contractId: 7, tag: 5, nodeId: 12 },
    { contractId: 7, tag: 5, nodeId: 13 },
  ];

  it('marks one link per engine: the first hop toward the nearest member by path cost', () => {
    const routes = computeNearestRoutes(engines, lab, replicas);
    expect(routes.get(1)?.get(7)).toEqual(new Map([[12, 1 << 5]]));
    expect(routes.get(2)?.get(7)).toEqual(new Map([[13, 1 << 5]]));
    expect(routes.get(3)?.get(7)).toEqual(new Map([[1, 1 << 5]]));
    // The all-members routes of the same members mark both directions at e1 and e3.
    const all = computeRoleRoutes(engines, lab, replicas);
    expect(all.get(1)?.get(7)?.size).toBe(2);
  });

  it('counts cost, not hops: a far host link makes the other replica the nearest', () => {
    // 12's host link costs 25: from e1, 13 (1 + 1 + 10 = 12 via e3) is nearer than 12 (25).
    const dear = lab.map((l) => (l.nodeZ === 12 ? link(1, 12, 25) : l));
    const routes = computeNearestRoutes(engines, dear, replicas);
    expect(routes.get(1)?.get(7)).toEqual(new Map([[3, 1 << 5]]));
    expect(routes.get(3)?.get(7)).toEqual(new Map([[2, 1 << 5]]));
  });

  it('moves to the next nearest when the nearest leaves or its link goes', () => {
    const left = computeNearestRoutes(engines, lab, replicas.slice(1));
    expect(left.get(1)?.get(7)).toEqual(new Map([[3, 1 << 5]]));
    const cut = computeNearestRoutes(
      engines,
      lab.filter((l) => l.nodeZ !== 12),
      replicas,
    );
    expect(cut.get(1)?.get(7)).toEqual(new Map([[3, 1 << 5]]));
    const none = computeNearestRoutes(engines, lab, []);
    for (const id of engines) expect(none.get(id)).toEqual(new Map());
  });

  it('passes through a member host but no other host, and ignores tags outside 0..31', () => {
    // Host 20 (no member) and member 12 each linked to e1 and e2 at cost 1.
    const dual = [...lab, link(1, 20, 1), link(2, 20, 1)];
    const routes = computeNearestRoutes(engines, dual, [
      { contractId: 7, tag: 5, nodeId: 13 },
      { contractId: 7, tag: 40, nodeId: 20 },
    ]);
    expect(routes.get(1)?.get(7)).toEqual(new Map([[3, 1 << 5]]));
    const viaMember = computeNearestRoutes(engines, [...lab, link(2, 12, 1)], replicas);
    expect(viaMember.get(2)?.get(7)).toEqual(new Map([[12, 1 << 5]]));
  });

  it('following the bit from any engine reaches a member at the lowest cost over all members (property)', () => {
    const graph = fc
      .array(
        fc.record({
          a: fc.integer({ min: 1, max: 8 }),
          z: fc.integer({ min: 1, max: 8 }),
          cost: fc.integer({ min: 1, max: 20 }),
        }),
        { maxLength: 18 },
      )
      .map((edges) => edges.filter((e) => e.a !== e.z).map((e) => link(e.a, e.z, e.cost)));
    // Nodes 1..5 are engines, 6..8 hosts.
    const all = [1, 2, 3, 4, 5];
    fc.assert(
      fc.property(
        graph,
        fc.uniqueArray(fc.integer({ min: 6, max: 8 }), { minLength: 1, maxLength: 3 }),
        (edges, memberNodes) => {
          const members = memberNodes.map((nodeId) => ({ contractId: 1, tag: 2, nodeId }));
          const routes = computeNearestRoutes(all, edges, members);
          const isMember = new Set(memberNodes);
          // The true distance: the cheapest path over engines and member hosts to any member.
          const transit = (node: number) => node <= 5 || isMember.has(node);
          for (const engine of all) {
            const best = Math.min(
              ...memberNodes.map(
                (m) => pathTo(shortestPaths(engine, edges, [], transit), m)?.cost ?? Infinity,
              ),
            );
            const marked = routes.get(engine)?.get(1);
            if (best === Infinity) {
              expect(marked).toBeUndefined();
              continue;
            }
            // Walk the marked links; the cost walked equals the best.
            let at = engine;
            let walked = 0;
            for (let hops = 0; hops < 10 && !isMember.has(at); hops += 1) {
              const next = [...(routes.get(at)?.get(1)?.keys() ?? [])];
              expect(next).toHaveLength(1);
              walked += Math.min(
                ...edges
                  .filter(
                    (e) => (e.nodeA === at && e.nodeZ === next[0]) || (e.nodeZ === at && e.nodeA === next[0]),
                  )
                  .map((e) => e.cost),
              );
              at = next[0]!;
            }
            expect(isMember.has(at)).toBe(true);
            expect(walked).toBe(best);
          }
        },
      ),
      { seed: testSeed, numRuns: 300 },
    );
  });
});

describe('computeLabelRoutes', () => {
  it('marks a labelled engine, labelled links at both engine ends, and the next hops toward a labelled node', () => {
    const labelled: TopologyLink[] = lab.map((l) =>
      (l.nodeA === 1 && l.nodeZ === 3) || (l.nodeA === 2 && l.nodeZ === 3)
        ? { ...l, labels: ['preferred'] }
        : l,
    );
    const { links, engineTags } = computeLabelRoutes(
      engines,
      labelled,
      new Map([
        [3, ['waypoint']],
        [11, ['waypoint-host-ignored']],
      ]),
      [
        { contractId: 4, label: 'waypoint', bit: 1 },
        { contractId: 5, label: 'preferred', bit: 4 },
        { contractId: 5, label: 'nowhere', bit: 6 },
        { contractId: 5, label: 'preferred', bit: 40 },
      ],
    );
    expect(engineTags).toEqual(new Map([[3, new Map([[4, 1 << 1]])]]));
    expect(links.get(1)).toEqual(
      new Map([
        [4, new Map([[3, 1 << 1]])],
        [5, new Map([[3, 1 << 4]])],
      ]),
    );
    expect(links.get(2)).toEqual(
      new Map([
        [4, new Map([[3, 1 << 1]])],
        [5, new Map([[3, 1 << 4]])],
      ]),
    );
    expect(links.get(3)).toEqual(
      new Map([
        [
          5,
          new Map([
            [1, 1 << 4],
            [2, 1 << 4],
          ]),
        ],
      ]),
    );
  });

  it('merges route maps bit by bit', () => {
    const into = new Map([[1, new Map([[7, new Map([[2, 1]])]])]]);
    mergeRoleRoutes(
      into,
      new Map([
        [
          1,
          new Map([
            [
              7,
              new Map([
                [2, 4],
                [3, 8],
              ]),
            ],
          ]),
        ],
        [2, new Map([[9, new Map([[1, 2]])]])],
      ]),
    );
    expect(into).toEqual(
      new Map([
        [
          1,
          new Map([
            [
              7,
              new Map([
                [2, 5],
                [3, 8],
              ]),
            ],
          ]),
        ],
        [2, new Map([[9, new Map([[1, 2]])]])],
      ]),
    );
  });
});
