import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pathTo, shortestPaths, type TopologyLink } from './paths';

const link = (nodeA: number, nodeZ: number, cost: number, labels: string[] = []): TopologyLink => ({
  nodeA,
  nodeZ,
  cost,
  labels,
});

describe('shortestPaths', () => {
  // 1 - 2 -(50)- 3 - 4, and a shortcut 2 - 9 - 3 through node 9 (cost 2).
  const links = [link(1, 2, 10), link(2, 3, 50), link(3, 4, 10), link(2, 9, 1), link(9, 3, 1)];

  it('takes the cheapest path, and only through nodes canTransit accepts', () => {
    expect(pathTo(shortestPaths(1, links), 4)).toEqual({ nodes: [1, 2, 9, 3, 4], cost: 22 });
    const untrusted = shortestPaths(1, links, [], (node) => node !== 9);
    expect(pathTo(untrusted, 4)).toEqual({ nodes: [1, 2, 3, 4], cost: 70 });
    // The refused node is still reachable as an end, just never crossed.
    expect(pathTo(untrusted, 9)).toEqual({ nodes: [1, 2, 9], cost: 11 });
    // The source itself always transits; a cut leaves the target unreachable.
    expect(
      pathTo(
        shortestPaths(2, links, [], (node) => node === 2),
        4,
      ),
    ).toBeUndefined();
  });

  it('no path ever crosses a node canTransit refuses (property, random graphs)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 1, max: 12 }),
            fc.integer({ min: 1, max: 12 }),
            fc.integer({ min: 1, max: 100 }),
          ),
          {
            maxLength: 40,
          },
        ),
        fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 6 }),
        (edges, refused) => {
          const topology = edges.filter(([a, z]) => a !== z).map(([a, z, cost]) => link(a, z, cost));
          const tree = shortestPaths(1, topology, [], (node) => !refused.includes(node));
          for (let target = 2; target <= 12; target += 1) {
            const path = pathTo(tree, target);
            if (path) for (const inner of path.nodes.slice(1, -1)) expect(refused).not.toContain(inner);
          }
        },
      ),
      { seed: testSeed, numRuns: 300 },
    );
  });
});
