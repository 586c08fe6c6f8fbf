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
