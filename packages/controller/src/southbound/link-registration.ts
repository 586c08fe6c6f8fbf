/**
 * Link registration and state: a node reports a link it established with a neighbor (after
 * neighbor discovery), `down` when it finds the link dead and `up` again when it is back. The
 * link's status is stored and paths are recomputed and pushed either way, so paths avoid a dead
 * link. Policy refuses (LINK_REFUSED) unregistered peers, self-links, host-to-host links, and
 * bringing `up` a link an administrator set `down` (a `down` report is taken); domain isolation
 * refuses (DOMAIN_NOT_PEERED) a link to a node of another domain that no peering covers
 * (domain-trust.ts). A link is the controller's once it exists: the cost a node reports is taken
 * when the link is created only, so an administrator's cost and labels survive the node reporting
 * the link again (a restart). A link a node makes on its own (no administrator declared it: a
 * zone's full mesh, a host with no declared attachment) is stored with origin `node`; a `down`
 * report of a link the controller does not have (an administrator deleted it, and its ends
 * closed it) is refused (NOT_FOUND) and stores nothing.
 */
import { ApiError, type Link, type SbLinkRequest } from '@capsule/api';
import { formatIpv6Address, parseIpv6Address } from '@capsule/identity';
import type { Principal } from '../auth';
import { linkIsPeered } from '../domain-trust';
import { type Db, selectLinkRows, toLink } from '../rows';
import { requireNode, type SouthboundServices } from './services';

/** The default cost of a link registered without one. */
export const defaultLinkCost = 10;

/** Registers (or updates the state of) the link between the calling node and a peer. */
export async function registerLink(
  db: Db,
  input: { principal: Principal; request: SbLinkRequest },
  services: Pick<SouthboundServices, 'clock' | 'audit' | 'publishChanges'>,
): Promise<Link> {
  const { principal, request } = input;
  const node = await requireNode(db, principal);
  const peerAddress = parseIpv6Address(request.peerHostId);
  if (!peerAddress) throw new ApiError('VALIDATION_FAILED', 'peerHostId is not an IPv6 address');
  const peer = await db
    .selectFrom('nodes')
    .selectAll()
    .where('host_id', '=', formatIpv6Address(peerAddress))
    .where('status', '=', 'registered')
    .executeTakeFirst();
  if (!peer) throw new ApiError('LINK_REFUSED', 'the peer is not a registered node');
  if (peer.id === node.id) throw new ApiError('LINK_REFUSED', 'a node cannot link to itself');
  if (node.type === 'host' && peer.type === 'host')
    throw new ApiError('LINK_REFUSED', 'hosts link to engines only (policy)');
  if (!(await linkIsPeered(db, node, peer)))
    throw new ApiError(
      'DOMAIN_NOT_PEERED',
      `${peer.type} ${peer.hostname ?? peer.id} belongs to another domain, and no peering lets this node's domain use it`,
    );
  // A link is stored once, from its lower node id (a) to the higher (z).
  const [a, z] = node.id < peer.id ? [node.id, peer.id] : [peer.id, node.id];
  const [endA, endZ] =
    node.id < peer.id
      ? [request.localEndpoint, request.remoteEndpoint]
      : [request.remoteEndpoint, request.localEndpoint];
  const status = request.status ?? 'up';
  const linkId = await db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('links')
      .selectAll()
      .where('node_a', '=', a)
      .where('node_z', '=', z)
      .executeTakeFirst();
    let id: number;
    if (!existing && status === 'down')
      throw new ApiError('NOT_FOUND', 'no such link: nothing to report down (deleted at the controller?)');
    if (existing) {
      if (existing.admin_state === 'down' && status === 'up')
        throw new ApiError('LINK_REFUSED', 'an administrator disabled this link');
      await trx
        .updateTable('links')
        .set({ endpoint_a: endA, endpoint_z: endZ, status })
        .where('id', '=', existing.id)
        .execute();
      id = existing.id;
    } else {
      const row = await trx
        .insertInto('links')
        .values({
          domain_id: node.domain_id,
          node_a: a,
          node_z: z,
          endpoint_a: endA,
          endpoint_z: endZ,
          cost: request.cost ?? defaultLinkCost,
          labels: '[]',
          admin_state: 'up',
          status,
          origin: 'node',
          created_at: new Date(services.clock.nowMs()).toISOString(),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      id = row.id;
    }
    await services.audit(trx, principal, 'register', 'links', id, node.domain_id, {
      peer: request.peerHostId,
      status,
    });
    return id;
  });
  // A host's link changes its own link set only (no other set names a host).
  await services.publishChanges([
    {
      kind: 'topology',
      ...(node.type === 'host' || peer.type === 'host'
        ? { linkSetNodes: [node.type === 'host' ? node.id : peer.id] }
        : {}),
    },
  ]);
  return toLink(await selectLinkRows(db).where('t.id', '=', linkId).executeTakeFirstOrThrow());
}
