/**
 * Group keys of role-addressed traffic (docs/controller.md, "Group keys"). Per contract role the
 * controller keeps a random 32-byte **group secret** per epoch (1, 2, …) in `group_keys`, with the
 * member endpoints of that epoch: the role's endpoints whose authorization is not revoked.
 *
 * - A member that **leaves** (its endpoint unregistered, deleted or revoked: main's revokeScope
 *   deletes it) moves the role to a new epoch with a new secret at the next request for the role's
 *   key (the recomputation its topology change causes), so it cannot open what is sealed after
 *   the senders switched (docs/agent.md: they switch `groupKeySwitchDelayMs` after being told).
 * - A member that **joins** is given the current epoch (its id added to the epoch's members): the
 *   senders' keys stay valid, so a scale-out loses nothing — a new epoch on every join made every
 *   sender's key wrong for the members told later, and the new member unable to open what the
 *   senders not yet told still sealed. The cost: a joining member can open what was sealed in the
 *   current epoch before it joined (it is authorized for the role now; it could not before).
 *
 * What an endpoint gets (`groupKeysOf`, in its registration answer and in every path-change):
 * - `open` (members only): its own role's current secret; it derives each sender's key from it
 *   and the packet's source and epoch (@capsule/identity `deriveGroupSenderKey`);
 * - `seal`: its sender key for its peer role's current epoch, derived here from that role's
 *   secret and the endpoint's host id. It opens only what this endpoint sealed.
 *
 * Nothing is derived from the service token: holding it gives no key; only the registration
 * (token, grant, and a registered node) and membership do. An endpoint whose authorization is
 * revoked gets no key at all.
 */
import type { GroupKey } from '@capsule/api';
import { deriveGroupSenderKey, generateGroupSecret, parseIpv6Address } from '@capsule/identity';
import type { Db } from './rows';

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** The member endpoint ids of a contract role: its endpoints whose authorization is not revoked. */
async function membersOf(db: Db, contractId: number, role: string): Promise<number[]> {
  const rows = await db
    .selectFrom('endpoints as e')
    .innerJoin('authorizations as a', 'a.serial', 'e.authorization_serial')
    .select('e.id')
    .where('e.contract_id', '=', contractId)
    .where('e.role', '=', role)
    .where('a.revoked_at', 'is', null)
    .orderBy('e.id')
    .execute();
  return rows.map((row) => row.id);
}

/**
 * The current epoch and secret of a contract role: the latest epoch while every member it was
 * made for still is one (members that joined since are added to it), else a new epoch (the next
 * number) with a new random secret for today's members.
 */
export async function currentGroupSecret(
  db: Db,
  group: { contractId: number; role: string },
  nowMs: number,
): Promise<{ epoch: number; secret: Uint8Array; members: number[] }> {
  const members = await membersOf(db, group.contractId, group.role);
  const membersText = JSON.stringify(members);
  const latest = await db
    .selectFrom('group_keys')
    .selectAll()
    .where('contract_id', '=', group.contractId)
    .where('role', '=', group.role)
    .orderBy('epoch', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (latest) {
    const before = JSON.parse(latest.members) as number[];
    if (before.every((id) => members.includes(id))) {
      // Nobody left: the same epoch; the ones that joined are its members from now on.
      if (latest.members !== membersText)
        await db
          .updateTable('group_keys')
          .set({ members: membersText })
          .where('contract_id', '=', group.contractId)
          .where('role', '=', group.role)
          .where('epoch', '=', latest.epoch)
          .execute();
      return { epoch: latest.epoch, secret: new Uint8Array(Buffer.from(latest.secret, 'base64')), members };
    }
  }
  const epoch = (latest?.epoch ?? 0) + 1;
  const secret = generateGroupSecret();
  await db
    .insertInto('group_keys')
    .values({
      contract_id: group.contractId,
      role: group.role,
      epoch,
      secret: base64(secret),
      members: membersText,
      created_at: new Date(nowMs).toISOString(),
    })
    .execute();
  return { epoch, secret, members };
}

/** Current group secrets by `contractId/role`, for the calls of one transaction (membership is fixed there). */
export type GroupSecretCache = Map<string, ReturnType<typeof currentGroupSecret>>;

/**
 * The group keys of one endpoint (see the module comment): `open` for its own role when it is a
 * member, `seal` for its peer role (`peerRole`, the contract's) when its authorization stands.
 * `cache`: shared by the calls of one transaction (a recomputation of every endpoint's view).
 */
export async function groupKeysOf(
  db: Db,
  endpoint: { id: number; contractId: number; role: string; peerRole: string | undefined; hostId: string },
  nowMs: number,
  cache: GroupSecretCache = new Map(),
): Promise<GroupKey[]> {
  const secretOf = (role: string) => {
    const name = `${endpoint.contractId}/${role}`;
    let found = cache.get(name);
    if (found === undefined) {
      found = currentGroupSecret(db, { contractId: endpoint.contractId, role }, nowMs);
      cache.set(name, found);
    }
    return found;
  };
  const keys: GroupKey[] = [];
  const own = await secretOf(endpoint.role);
  if (!own.members.includes(endpoint.id)) return keys; // revoked: nothing
  keys.push({ role: endpoint.role, epoch: own.epoch, use: 'open', key: base64(own.secret) });
  const hostId = parseIpv6Address(endpoint.hostId);
  if (endpoint.peerRole !== undefined && hostId) {
    const peer = await secretOf(endpoint.peerRole);
    keys.push({
      role: endpoint.peerRole,
      epoch: peer.epoch,
      use: 'seal',
      key: base64(deriveGroupSenderKey(peer.secret, hostId, peer.epoch)),
    });
  }
  return keys;
}
