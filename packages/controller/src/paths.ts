/**
 * Path computation: Dijkstra over the registered links. A link is usable when its admin state and
 * status are `up` and both nodes are registered; its weight is its cost. When `requiredLabels` is
 * given, only links carrying every one of those labels are used (path selection by label). When
 * `canTransit` is given, a path may end at any node but passes only through nodes it accepts (a
 * domain's paths cross only the engines that domain trusts: context.ts `peersOf`).
 */

/** One usable edge of the topology (links are undirected). */
export interface TopologyLink {
  nodeA: number;
  nodeZ: number;
  cost: number;
  labels: readonly string[];
}

/** A computed path: the node ids from source to target (both included) and its total cost. */
export interface ComputedPath {
  nodes: number[];
  cost: number;
}

/** Shortest paths from `source` to every reachable node; read one with `pathTo`. */
export function shortestPaths(
  source: number,
  links: readonly TopologyLink[],
  requiredLabels: readonly string[] = [],
  canTransit: (node: number) => boolean = () => true,
): Map<number, { cost: number; previous: number | undefined }> {
  const adjacency = new Map<number, { to: number; cost: number }[]>();
  for (const link of links) {
    if (!requiredLabels.every((label) => link.labels.includes(label))) continue;
    const from = adjacency.get(link.nodeA) ?? [];
    from.push({ to: link.nodeZ, cost: link.cost });
    adjacency.set(link.nodeA, from);
    const back = adjacency.get(link.nodeZ) ?? [];
    back.push({ to: link.nodeA, cost: link.cost });
    adjacency.set(link.nodeZ, back);
  }
  const best = new Map<number, { cost: number; previous: number | undefined }>([
    [source, { cost: 0, previous: undefined }],
  ]);
  const done = new Set<number>();
  // A binary heap of [cost, node]; stale entries are skipped when popped.
  const heap: [number, number][] = [[0, source]];
  const push = (entry: [number, number]) => {
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]![0] <= heap[i]![0]) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  };
  const pop = (): [number, number] => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]![0] < heap[m]![0]) m = l;
        if (r < heap.length && heap[r]![0] < heap[m]![0]) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  while (heap.length > 0) {
    const [cost, node] = pop();
    if (done.has(node)) continue;
    done.add(node);
    // Reached, but nothing goes on through it: a path may end here, never cross it.
    if (node !== source && !canTransit(node)) continue;
    for (const edge of adjacency.get(node) ?? []) {
      if (done.has(edge.to)) continue;
      const next = cost + edge.cost;
      const known = best.get(edge.to);
      // Ties go to the smaller previous-node id, so every replica computes the same path.
      if (!known || next < known.cost || (next === known.cost && node < (known.previous ?? Infinity))) {
        best.set(edge.to, { cost: next, previous: node });
        push([next, edge.to]);
      }
    }
  }
  return best;
}

/** The path to `target` from a `shortestPaths` result, or undefined when unreachable. */
export function pathTo(
  tree: Map<number, { cost: number; previous: number | undefined }>,
  target: number,
): ComputedPath | undefined {
  const end = tree.get(target);
  if (!end) return undefined;
  const nodes: number[] = [];
  for (let at: number | undefined = target; at !== undefined; at = tree.get(at)?.previous) nodes.unshift(at);
  return { nodes, cost: end.cost };
}
