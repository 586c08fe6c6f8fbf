/**
 * The read-only views the console draws: `GET /api/v1/topology` (the nodes and links the caller
 * may see, each with a live flow count) and `GET /api/v1/endpoints/{id}/trace` (an endpoint's
 * computed paths to its peers, hop by hop).
 *
 * Flow counts are what the controller knows, not packet counters: a node's `flows` are its flow
 * authorizations in force (not revoked, not expired), its `paths` how many of the computed
 * endpoint → peer paths pass through or end at it; a link's `flows` how many of those paths cross
 * it. The paths are computed exactly as the hosts were sent them (context.ts `peersOf`: Dijkstra
 * over the usable links, the contract's path labels, the domain's trusted transit nodes), once per
 * visible endpoint per request: a topology read costs one path computation per endpoint (counted
 * in `capsule_path_computations_total`). Beside them, what the node itself last reported:
 * `liveFlows` from its keep-alive statistics (an engine's flow table, southbound/keepalive.ts).
 */
import { ApiError, EndpointTrace, ErrorBody, IdParams, Topology, type TracePath } from '@capsule/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from './auth';
import type { ControllerContext } from './context';
import { hasPermission, requirePermission, requireVisible, visibleDomain } from './rbac';
import type { Db } from './rows';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

interface NodeRow {
  id: number;
  hostname: string;
  type: 'host' | 'engine';
  status: 'provisioned' | 'registered' | 'down';
  domain: string;
  domain_id: number;
  host_id: string | null;
  labels: string;
  keepalive_statistics: string | null;
  last_keepalive_at: string | null;
}
interface LinkRow {
  id: number;
  domain_id: number;
  node_a: number;
  node_z: number;
  cost: number;
  labels: string;
  admin_state: 'up' | 'down';
  status: 'up' | 'down';
}
interface EndpointRow {
  id: number;
  node_id: number;
  contract_id: number;
  role: string;
}

/** `liveFlows` of a node's last keep-alive statistics; null when absent or not a count. */
function reportedLiveFlows(statistics: string | null): number | null {
  if (statistics === null) return null;
  try {
    const value = (JSON.parse(statistics) as Record<string, unknown>).liveFlows;
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
  } catch {
    return null;
  }
}

/** Every node and link (the trace needs them all: a path may cross another domain's engines). */
async function readGraph(db: Db): Promise<{ nodes: NodeRow[]; links: LinkRow[] }> {
  const [nodes, links] = await Promise.all([
    db
      .selectFrom('nodes as n')
      .innerJoin('domains as d', 'd.id', 'n.domain_id')
      .select([
        'n.id',
        'n.hostname',
        'n.type',
        'n.status',
        'd.name as domain',
        'n.domain_id',
        'n.host_id',
        'n.labels',
        'n.keepalive_statistics',
        'n.last_keepalive_at',
      ])
      .orderBy('n.id')
      .execute(),
    db
      .selectFrom('links')
      .select(['id', 'domain_id', 'node_a', 'node_z', 'cost', 'labels', 'admin_state', 'status'])
      .orderBy('id')
      .execute(),
  ]);
  return { nodes, links };
}

/** The link a computed path took between two adjacent nodes: the cheapest usable one joining them. */
function linkBetween(links: readonly LinkRow[], usable: (link: LinkRow) => boolean, a: number, z: number) {
  let best: LinkRow | undefined;
  for (const link of links)
    if (
      usable(link) &&
      ((link.node_a === a && link.node_z === z) || (link.node_a === z && link.node_z === a)) &&
      (!best || link.cost < best.cost)
    )
      best = link;
  return best;
}

/** An endpoint's computed paths to its peers, as node ids and links (what its host was sent). */
async function tracePaths(
  context: ControllerContext,
  graph: { nodes: NodeRow[]; links: LinkRow[] },
  endpoint: EndpointRow,
): Promise<TracePath[]> {
  const byHostId = new Map<string, NodeRow>();
  for (const node of graph.nodes) if (node.host_id !== null) byHostId.set(node.host_id, node);
  const status = new Map(graph.nodes.map((node) => [node.id, node.status]));
  const usable = (link: LinkRow) =>
    link.admin_state === 'up' &&
    link.status === 'up' &&
    status.get(link.node_a) === 'registered' &&
    status.get(link.node_z) === 'registered';
  const peers = await context.peersOf(context.store.db, {
    nodeId: endpoint.node_id,
    contractId: endpoint.contract_id,
    role: endpoint.role,
  });
  return peers.map((peer) => {
    const hops: TracePath['hops'] = [];
    let previous: number | undefined;
    for (const hostId of peer.path) {
      const node = byHostId.get(hostId);
      if (!node) break;
      const link = previous === undefined ? undefined : linkBetween(graph.links, usable, previous, node.id);
      hops.push({
        nodeId: node.id,
        hostname: node.hostname,
        type: node.type,
        hostId: node.host_id,
        linkId: link?.id ?? null,
      });
      previous = node.id;
    }
    return {
      peerEndpointId: peer.endpointId,
      peerRole: peer.role,
      peerHostId: peer.hostId,
      cost: peer.cost,
      hops: peer.cost < 0 ? [] : hops,
    };
  });
}

/** Registers the topology and trace routes (after the collections: `/endpoints/{id}/trace`). */
export function registerTopologyView(
  app: FastifyInstance,
  context: ControllerContext,
  authenticate: (request: FastifyRequest) => Promise<Principal>,
): void {
  const { db } = context.store;

  app.get(
    '/api/v1/topology',
    { schema: { tags: ['topology'], response: { 200: Topology, ...errors } } },
    async (request): Promise<Topology> => {
      const principal = await authenticate(request);
      requirePermission(principal, 'nodes', 'read');
      requirePermission(principal, 'links', 'read');
      const at = new Date(context.clock.nowMs()).toISOString();
      const graph = await readGraph(db);
      const nodeScope = visibleDomain(principal, 'nodes');
      const linkScope = visibleDomain(principal, 'links');
      const nodes = graph.nodes.filter((node) => nodeScope === undefined || node.domain_id === nodeScope);
      const links = graph.links.filter((link) => linkScope === undefined || link.domain_id === linkScope);

      let nodeFlows: Map<number, number> | undefined;
      if (hasPermission(principal, 'authorizations', 'read')) {
        const scope = visibleDomain(principal, 'authorizations');
        let query = db
          .selectFrom('authorizations')
          .select(['node_id'])
          .select((eb) => eb.fn.countAll<number>().as('flows'))
          .where('revoked_at', 'is', null)
          .where('not_after', '>', at);
        if (scope !== undefined) query = query.where('domain_id', '=', scope);
        const rows = await query.groupBy('node_id').execute();
        nodeFlows = new Map(rows.map((row) => [row.node_id, Number(row.flows)]));
      }

      let linkFlows: Map<number, number> | undefined;
      let nodePaths: Map<number, number> | undefined;
      if (hasPermission(principal, 'endpoints', 'read')) {
        const scope = visibleDomain(principal, 'endpoints');
        let query = db.selectFrom('endpoints').select(['id', 'node_id', 'contract_id', 'role']).orderBy('id');
        if (scope !== undefined) query = query.where('domain_id', '=', scope);
        linkFlows = new Map();
        nodePaths = new Map();
        for (const endpoint of await query.execute())
          for (const path of await tracePaths(context, graph, endpoint))
            for (const hop of path.hops) {
              nodePaths.set(hop.nodeId, (nodePaths.get(hop.nodeId) ?? 0) + 1);
              if (hop.linkId !== null) linkFlows.set(hop.linkId, (linkFlows.get(hop.linkId) ?? 0) + 1);
            }
      }

      const status = new Map(graph.nodes.map((node) => [node.id, node.status]));
      return {
        nodes: nodes.map((node) => ({
          id: node.id,
          hostname: node.hostname,
          type: node.type,
          status: node.status,
          domain: node.domain,
          hostId: node.host_id,
          labels: JSON.parse(node.labels) as string[],
          flows: nodeFlows ? (nodeFlows.get(node.id) ?? 0) : null,
          paths: nodePaths ? (nodePaths.get(node.id) ?? 0) : null,
          liveFlows: reportedLiveFlows(node.keepalive_statistics),
          lastKeepaliveAt: node.last_keepalive_at,
        })),
        links: links.map((link) => ({
          id: link.id,
          nodeA: link.node_a,
          nodeZ: link.node_z,
          cost: link.cost,
          labels: JSON.parse(link.labels) as string[],
          adminState: link.admin_state,
          status: link.status,
          usable:
            link.admin_state === 'up' &&
            link.status === 'up' &&
            status.get(link.node_a) === 'registered' &&
            status.get(link.node_z) === 'registered',
          flows: linkFlows ? (linkFlows.get(link.id) ?? 0) : null,
        })),
        at,
      };
    },
  );

  app.get(
    '/api/v1/endpoints/:id/trace',
    { schema: { tags: ['endpoints'], params: IdParams, response: { 200: EndpointTrace, ...errors } } },
    async (request): Promise<EndpointTrace> => {
      const principal = await authenticate(request);
      requirePermission(principal, 'endpoints', 'read');
      const id = (request.params as { id: number }).id;
      const endpoint = await db
        .selectFrom('endpoints')
        .select(['id', 'node_id', 'contract_id', 'role', 'domain_id'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!endpoint) throw new ApiError('NOT_FOUND', `no endpoint ${id}`);
      requireVisible(principal, 'endpoints', endpoint.domain_id);
      const paths = await tracePaths(context, await readGraph(db), endpoint);
      return {
        endpointId: endpoint.id,
        contractId: endpoint.contract_id,
        role: endpoint.role,
        nodeId: endpoint.node_id,
        paths,
      };
    },
  );
}
