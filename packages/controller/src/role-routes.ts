/**
 * Role routes: where the members of a role are, as each engine's programs need it. A template role
 * with a `linkTag` bit asks the controller to mark, on every engine, the links that lead toward a
 * member of that role; the engine shows those bits to the contract's programs only (the contract's
 * view of the ENGINE record's link tags), so programs such as LoadBalancer and Multicast find the
 * members with `Services.lookupTag` and `Engine.linkTags` without any tag configured on a device.
 *
 * "Toward a member" is the first hop of the shortest path (the same Dijkstra, costs and tie-breaks
 * as the endpoints' PATHs) from the engine to the member's node; a member attached to the engine
 * itself is reached over its host link. Hosts are path ends, never transit. Pure: the topology and
 * the members in, each engine's tag words out.
 */
import { shortestPaths, type TopologyLink } from './paths';

/** One endpoint of a role that has a link tag: the contract, the tag bit, the member's node. */
export interface TaggedMember {
  contractId: number;
  /** 0..31. */
  tag: number;
  nodeId: number;
}

/** One engine's role routes: contract id → neighbor node id → tag bits (u32). */
export type EngineRoleRoutes = Map<number, Map<number, number>>;

/**
 * The role routes of every engine in `engineIds`: for each member, one shortest-path tree rooted
 * at the member's node; every engine in it marks the link to its parent in the tree (its next
 * hop toward the member) with the member's tag, for the member's contract. Engines with no route
 * get an empty map. Cost: one Dijkstra per distinct member node and tag set.
 */
export function computeRoleRoutes(
  engineIds: readonly number[],
  links: readonly TopologyLink[],
  members: readonly TaggedMember[],
): Map<number, EngineRoleRoutes> {
  const engines = new Set(engineIds);
  const routes = new Map<number, EngineRoleRoutes>();
  for (const id of engineIds) routes.set(id, new Map());
  // Members grouped by node: one tree per node, whatever the number of roles it holds.
  const byNode = new Map<number, { contractId: number; bit: number }[]>();
  for (const member of members) {
    if (member.tag < 0 || member.tag > 31) continue;
    const list = byNode.get(member.nodeId) ?? [];
    list.push({ contractId: member.contractId, bit: (1 << member.tag) >>> 0 });
    byNode.set(member.nodeId, list);
  }
  for (const [memberNode, tags] of byNode) {
    const tree = shortestPaths(memberNode, links, [], (node) => engines.has(node));
    for (const [node, entry] of tree) {
      if (entry.previous === undefined || !engines.has(node)) continue;
      const engine = routes.get(node)!;
      for (const { contractId, bit } of tags) {
        let byNeighbor = engine.get(contractId);
        if (!byNeighbor) {
          byNeighbor = new Map();
          engine.set(contractId, byNeighbor);
        }
        byNeighbor.set(entry.previous, ((byNeighbor.get(entry.previous) ?? 0) | bit) >>> 0);
      }
    }
  }
  return routes;
}

/**
 * Nearest-member routes: for each (contract, tag) — a template role's `nearestTag` — every
 * engine marks one link only: its next hop on the cheapest path to the role's *nearest* member
 * (the lowest total path cost over all members; ties to the lower node id, as in `shortestPaths`).
 * One Dijkstra per (contract, tag) from a virtual source joined to every member at cost 0, so
 * each engine's parent in the tree is its next hop toward whichever member is nearest to it.
 * Following the bit from any engine reaches that member: each hop's own nearest member is no
 * farther than the rest of the path (subpaths of shortest paths are shortest). A member host
 * may carry the path on (it is nearer than anything behind it); other hosts never do. An engine
 * that is itself a member gets no bit from it (it has nothing to forward to); an engine that
 * reaches no member gets no bit.
 */
export function computeNearestRoutes(
  engineIds: readonly number[],
  links: readonly TopologyLink[],
  members: readonly TaggedMember[],
): Map<number, EngineRoleRoutes> {
  const engines = new Set(engineIds);
  const routes = new Map<number, EngineRoleRoutes>();
  for (const id of engineIds) routes.set(id, new Map());
  const groups = new Map<string, { contractId: number; bit: number; nodes: Set<number> }>();
  for (const member of members) {
    if (member.tag < 0 || member.tag > 31) continue;
    const key = `${member.contractId}/${member.tag}`;
    const group = groups.get(key) ?? {
      contractId: member.contractId,
      bit: (1 << member.tag) >>> 0,
      nodes: new Set<number>(),
    };
    group.nodes.add(member.nodeId);
    groups.set(key, group);
  }
  // Node ids are positive: 0 is free for the virtual source.
  const virtual = 0;
  for (const { contractId, bit, nodes } of groups.values()) {
    const joined: TopologyLink[] = [
      ...links,
      ...[...nodes].map((nodeId) => ({ nodeA: virtual, nodeZ: nodeId, cost: 0, labels: [] })),
    ];
    const tree = shortestPaths(virtual, joined, [], (node) => engines.has(node) || nodes.has(node));
    for (const [node, entry] of tree) {
      if (entry.previous === undefined || entry.previous === virtual || !engines.has(node)) continue;
      const engine = routes.get(node)!;
      const byNeighbor = engine.get(contractId) ?? new Map<number, number>();
      byNeighbor.set(entry.previous, ((byNeighbor.get(entry.previous) ?? 0) | bit) >>> 0);
      engine.set(contractId, byNeighbor);
    }
  }
  return routes;
}

/** A template's label tag, for one contract of the template: `label` is bit `bit` for its programs. */
export interface LabelRule {
  contractId: number;
  label: string;
  /** 0..31. */
  bit: number;
}

/** Label routes: link bits by engine (as role routes) and engine bits by engine, by contract. */
export interface LabelRoutes {
  links: Map<number, EngineRoleRoutes>;
  /** Engine node id → contract id → the engine's own tag bits. */
  engineTags: Map<number, Map<number, number>>;
}

/**
 * Label routes: for each rule, an engine that carries the label gets the bit in its own tags; a
 * link that carries it gets the bit at both engine ends; and every engine's next hop toward a node
 * carrying it (a waypoint engine) gets the bit, as for a role's members. Only usable links count
 * (a link that is down carries nothing until it is back).
 */
export function computeLabelRoutes(
  engineIds: readonly number[],
  links: readonly TopologyLink[],
  nodeLabels: ReadonlyMap<number, readonly string[]>,
  rules: readonly LabelRule[],
): LabelRoutes {
  const engines = new Set(engineIds);
  const toward: TaggedMember[] = [];
  const engineTags = new Map<number, Map<number, number>>();
  const valid = rules.filter((rule) => rule.bit >= 0 && rule.bit <= 31);
  for (const rule of valid) {
    const bit = (1 << rule.bit) >>> 0;
    for (const [nodeId, labels] of nodeLabels) {
      if (!labels.includes(rule.label)) continue;
      toward.push({ contractId: rule.contractId, tag: rule.bit, nodeId });
      if (!engines.has(nodeId)) continue;
      const byContract = engineTags.get(nodeId) ?? new Map<number, number>();
      byContract.set(rule.contractId, ((byContract.get(rule.contractId) ?? 0) | bit) >>> 0);
      engineTags.set(nodeId, byContract);
    }
  }
  const routes = computeRoleRoutes(engineIds, links, toward);
  for (const rule of valid) {
    const bit = (1 << rule.bit) >>> 0;
    for (const link of links) {
      if (!link.labels.includes(rule.label)) continue;
      for (const [end, other] of [
        [link.nodeA, link.nodeZ],
        [link.nodeZ, link.nodeA],
      ] as const) {
        const engine = routes.get(end);
        if (!engine) continue;
        const byNeighbor = engine.get(rule.contractId) ?? new Map<number, number>();
        byNeighbor.set(other, ((byNeighbor.get(other) ?? 0) | bit) >>> 0);
        engine.set(rule.contractId, byNeighbor);
      }
    }
  }
  return { links: routes, engineTags };
}

/** Adds `from`'s bits into `into` (both: engine → contract → neighbor → bits). */
export function mergeRoleRoutes(
  into: Map<number, EngineRoleRoutes>,
  from: ReadonlyMap<number, EngineRoleRoutes>,
) {
  for (const [engineId, byContract] of from) {
    const target = into.get(engineId) ?? new Map<number, Map<number, number>>();
    for (const [contractId, byNeighbor] of byContract) {
      const neighbors = target.get(contractId) ?? new Map<number, number>();
      for (const [neighbor, bits] of byNeighbor)
        neighbors.set(neighbor, ((neighbors.get(neighbor) ?? 0) | bits) >>> 0);
      target.set(contractId, neighbors);
    }
    into.set(engineId, target);
  }
}
