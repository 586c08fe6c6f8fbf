/**
 * What the southbound use cases share: the services they are given (a slice of the controller's
 * context, so a test can call a use case with a real store and no HTTP), and the two rules every
 * call after login checks — the node a node token names, and the zone of a node user.
 */
import { ApiError } from '@capsule/api';
import type { Principal } from '../auth';
import type { ControllerContext } from '../context';
import type { ControllerIdentity } from '../ports';
import { type Db, type NodeRow, selectNodeRows } from '../rows';
import { prepareQuery } from '../store/prepared-query';

/** The services a southbound use case may use besides the store. */
export type SouthboundServices = Pick<
  ControllerContext,
  | 'clock'
  | 'logger'
  | 'tokens'
  | 'metrics'
  | 'identity'
  | 'audit'
  | 'publishChanges'
  | 'queueCommands'
  | 'peersOf'
  | 'keepaliveIntervalMs'
  | 'nonceLifetimeMs'
  | 'certificateLifetimeMs'
  | 'authorizationLifetimeMs'
>;

/** The controller's signing identity; UNAVAILABLE when it was started without one. */
export function requireIdentity(services: Pick<SouthboundServices, 'identity'>): ControllerIdentity {
  if (!services.identity) throw new ApiError('UNAVAILABLE', 'this controller has no signing key');
  return services.identity;
}

/** The node a node token names: registered, and owned by the token's user. */
export async function requireNode(db: Db, principal: Principal): Promise<NodeRow> {
  if (principal.nodeId === undefined)
    throw new ApiError('NODE_NOT_REGISTERED', 'register first (use the node token)');
  const row = await selectNodeRows(db)
    .where('t.id', '=', principal.nodeId)
    .where('t.owner_user_id', '=', principal.userId)
    .executeTakeFirst();
  if (!row || row.status === 'provisioned')
    throw new ApiError('NODE_NOT_REGISTERED', 'this node is not registered');
  return row;
}

/** The zone of a node user (its login scope). */
const zoneOfUserQuery = prepareQuery((db, p) =>
  db
    .selectFrom('users as u')
    .innerJoin('zones as z', 'z.id', 'u.zone_id')
    .selectAll('z')
    .where('u.id', '=', p(0)),
);

/** The zone a node user registers in; NO_ZONE when it has none. */
export async function zoneOfUser(db: Db, userId: number) {
  const row = (await zoneOfUserQuery(db, userId)).rows[0];
  if (!row) throw new ApiError('NO_ZONE', 'the node user has no zone: set its zoneId');
  return row;
}
