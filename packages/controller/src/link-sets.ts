/**
 * Link sets: the overlay links each node must have, computed from the store (docs/controller.md,
 * "Engine links"). The controller pushes each node its set (`link-set` commands, context.ts) and
 * answers it at registration; the node dials the peers it is told to dial and closes the links
 * of an earlier set that a new one no longer names.
 *
 * A node's set, from the `links` rows (the one owner of links) and its zone:
 * - every declared link (origin `admin`, admin state up) with a registered peer that has a host id
 *   and a locator — for an engine its engine peers, for a host its engines (its attachments);
 * - an engine in a zone with `engineMesh`: every other registered engine of the zone too, with
 *   the cost of its row when there is one (else `defaultLinkCost`), unless an administrator set
 *   that row down;
 * - a host with no declared attachment: every registered engine of its zone (the host attaches
 *   to them all), except those whose row an administrator set down.
 *
 * One end of each link dials: a host always (engines never dial hosts), and of two engines the
 * one with the lower node id; the other end answers. Entries are in peer node id order, so an
 * unchanged set has the same text (context.ts pushes a set only when it changed).
 */
import type { LinkSetEntry } from '@capsule/api';
import type { Db } from './rows';
import { defaultLinkCost } from './southbound/link-registration';

/** A registered node as the link sets read it. */
interface SetNode {
  id: number;
  type: 'host' | 'engine';
  zoneId: number;
  hostId: string;
  hostname: string;
  locator: string;
}

/** The link sets of `nodeIds` (every registered node when absent), by node id. */
export async function computeLinkSets(
  db: Db,
  nodeIds?: readonly number[],
): Promise<Map<number, LinkSetEntry[]>> {
  // A set names engines only: for some nodes' sets, the engines and those nodes are enough (and
  // their own link rows), not every host (a registration storm read every node per host).
  const only = nodeIds === undefined ? undefined : [...nodeIds];
  if (only?.length === 0) return new Map();
  let nodeQuery = db
    .selectFrom('nodes')
    .select(['id', 'type', 'zone_id', 'host_id', 'hostname', 'locator'])
    .where('status', '=', 'registered')
    .where('host_id', 'is not', null);
  if (only) nodeQuery = nodeQuery.where((eb) => eb.or([eb('type', '=', 'engine'), eb('id', 'in', only)]));
  const rows = await nodeQuery.orderBy('id').execute();
  const nodes = new Map<number, SetNode>();
  for (const row of rows)
    nodes.set(row.id, {
      id: row.id,
      type: row.type,
      zoneId: row.zone_id,
      hostId: row.host_id!,
      hostname: row.hostname,
      locator: row.locator ?? '',
    });
  const meshZones = new Set(
    (await db.selectFrom('zones').select('id').where('engine_mesh', '=', 1).execute()).map((zone) => zone.id),
  );
  let linkQuery = db.selectFrom('links').select(['node_a', 'node_z', 'cost', 'admin_state', 'origin']);
  if (only) linkQuery = linkQuery.where((eb) => eb.or([eb('node_a', 'in', only), eb('node_z', 'in', only)]));
  const links = await linkQuery.execute();
  /** Per node: peer id → the row's cost and admin state, and whether it is declared. */
  const rowsOf = new Map<number, Map<number, { cost: number; up: boolean; declared: boolean }>>();
  for (const link of links)
    for (const [one, other] of [
      [link.node_a, link.node_z],
      [link.node_z, link.node_a],
    ] as const) {
      const byPeer = rowsOf.get(one) ?? new Map();
      byPeer.set(other, {
        cost: link.cost,
        up: link.admin_state === 'up',
        declared: link.origin === 'admin',
      });
      rowsOf.set(one, byPeer);
    }
  const engines = [...nodes.values()].filter((node) => node.type === 'engine');
  const sets = new Map<number, LinkSetEntry[]>();
  for (const id of nodeIds ?? [...nodes.keys()]) {
    const node = nodes.get(id);
    if (!node) continue;
    const byPeer = rowsOf.get(id) ?? new Map();
    const wanted = new Map<number, number>(); // peer id → cost
    for (const [peerId, row] of byPeer) {
      const peer = nodes.get(peerId);
      if (row.declared && row.up && peer?.type === 'engine') wanted.set(peerId, row.cost);
    }
    const zoneWide =
      (node.type === 'engine' && meshZones.has(node.zoneId)) || (node.type === 'host' && wanted.size === 0);
    if (zoneWide)
      for (const engine of engines) {
        if (engine.id === id || engine.zoneId !== node.zoneId || wanted.has(engine.id)) continue;
        const row = byPeer.get(engine.id);
        if (row && !row.up) continue;
        wanted.set(engine.id, row?.cost ?? defaultLinkCost);
      }
    const entries: LinkSetEntry[] = [];
    for (const peerId of [...wanted.keys()].sort((a, b) => a - b)) {
      const peer = nodes.get(peerId)!;
      if (!peer.locator) continue; // nowhere to dial
      entries.push({
        peer: peer.hostId,
        name: peer.hostname,
        locator: peer.locator,
        cost: Math.min(Math.max(wanted.get(peerId)!, 1), 65535),
        dial: node.type === 'host' || id < peerId,
      });
    }
    sets.set(id, entries);
  }
  return sets;
}
