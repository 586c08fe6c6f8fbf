/**
 * Domain isolation in the topology: which engines a domain trusts. A domain trusts its own nodes,
 * and the engines of another domain that a systemAdmin peered it with (`peerings`: every engine
 * of the peer domain, or one). Link registration refuses a link between domains that no peering
 * covers (DOMAIN_NOT_PEERED, link-registration.ts), and a domain's paths cross only nodes it
 * trusts (context.ts `peersOf`), so an engine owner of one domain cannot put its engine into
 * another domain's paths by registering links to that domain's engines.
 */
import { sql } from 'kysely';
import type { Db } from './rows';

/** What the trust rule reads of a node. */
export interface TrustedNodeFields {
  id: number;
  domain_id: number;
  type: string;
}

/** True when `domainId` trusts `node`: a node of its own, or an engine a peering covers. */
export async function domainTrusts(db: Db, domainId: number, node: TrustedNodeFields): Promise<boolean> {
  if (node.domain_id === domainId) return true;
  if (node.type !== 'engine') return false;
  const peering = await db
    .selectFrom('peerings')
    .select('id')
    .where('domain_id', '=', domainId)
    .where('peer_domain_id', '=', node.domain_id)
    .where((eb) => eb.or([eb('engine_id', 'is', null), eb('engine_id', '=', node.id)]))
    .executeTakeFirst();
  return peering !== undefined;
}

/**
 * May nodes `a` and `b` of different domains be linked? Only when a peering covers the link in
 * one direction: `a`'s domain trusts engine `b`, or `b`'s domain trusts engine `a`. (Nodes of one
 * domain always may.) Which paths then use the link is each domain's own trust (`transitNodes`).
 */
export async function linkIsPeered(db: Db, a: TrustedNodeFields, b: TrustedNodeFields): Promise<boolean> {
  return (await domainTrusts(db, a.domain_id, b)) || (await domainTrusts(db, b.domain_id, a));
}

/** The ids of the nodes `domainId` trusts: its own, and the engines its peerings cover. */
export async function transitNodes(db: Db, domainId: number): Promise<Set<number>> {
  const rows = await db
    .selectFrom('nodes as n')
    .select('n.id')
    .where((eb) =>
      eb.or([
        eb('n.domain_id', '=', domainId),
        eb.and([
          eb('n.type', '=', 'engine'),
          eb.exists(
            eb
              .selectFrom('peerings as p')
              .select(sql`1`.as('one'))
              .where('p.domain_id', '=', domainId)
              .whereRef('p.peer_domain_id', '=', 'n.domain_id')
              .where((inner) =>
                inner.or([inner('p.engine_id', 'is', null), inner('p.engine_id', '=', inner.ref('n.id'))]),
              ),
          ),
        ]),
      ]),
    )
    .execute();
  return new Set(rows.map((row) => row.id));
}
