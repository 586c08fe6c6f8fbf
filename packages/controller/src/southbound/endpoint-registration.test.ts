/**
 * Endpoint registration as a use case (no HTTP), on both stores: the service token and the grant
 * are checked (forged, expired and malformed tokens, disabled services and contracts, roles not
 * granted), and a granted role gets a signed authorization, the merged variables and its peers.
 */
import { createHash } from 'node:crypto';
import { ApiError } from '@capsule/api';
import {
  decodeFlowAuthorization,
  deriveGroupSenderKey,
  importControllerPublicKey,
  parseIpv6Address,
  verifyFlowAuthorization,
} from '@capsule/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addFixturePolicy,
  createUseCaseFixture,
  hasPostgres,
  registerFixtureNode,
  storeKinds,
} from '../../test/harness';
import { revokeAuthorization } from '../authorization-revocation';
import { registerEndpoint } from './endpoint-registration';
import { registerLink } from './link-registration';

const ed25519SpkiPrefix = Buffer.from('302a300506032b6570032100', 'hex');

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error.code;
}

for (const kind of storeKinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`endpoint registration on ${kind}`, () => {
    let f: Awaited<ReturnType<typeof createUseCaseFixture>>;
    let h1: Awaited<ReturnType<typeof registerFixtureNode>>;
    let h2: Awaited<ReturnType<typeof registerFixtureNode>>;
    let contractId: number;
    let serviceId: number;
    let token: string;
    let policy: Awaited<ReturnType<typeof addFixturePolicy>>;

    beforeAll(async () => {
      f = await createUseCaseFixture(kind);
      const e1 = await registerFixtureNode(f, { type: 'engine', hostname: 'e1' });
      h1 = await registerFixtureNode(f, { type: 'host', hostname: 'h1' });
      h2 = await registerFixtureNode(f, { type: 'host', hostname: 'h2' });
      for (const host of [h1, h2])
        await registerLink(
          f.db,
          {
            principal: host.principal,
            request: { peerHostId: e1.hostId, localEndpoint: '192.0.2.1:1', remoteEndpoint: '192.0.2.9:9' },
          },
          f.context,
        );
      policy = await addFixturePolicy(f);
      ({ contractId, serviceId, token } = policy);
    }, 60_000);
    afterAll(async () => f?.stop());

    const register = (host: typeof h1, serviceToken: string, role: string, contract = 'shop') =>
      registerEndpoint(
        f.db,
        { principal: host.principal, request: { serviceToken, contract, role } },
        f.context,
      );

    it('issues a signed authorization, the merged variables and the peers with their paths', async () => {
      const server = await register(h2, token, 'server');
      expect(server.peers).toEqual([]);
      const client = await register(h1, token, 'client');
      expect(client.entry).toBe('client');
      expect(client.variables).toEqual({ a: 1, b: 5 });
      expect(client.image).toEqual(policy.program);
      const logicHash = createHash('sha256').update(Buffer.from(policy.program.code, 'base64')).digest('hex');
      expect(client.logicHash).toBe(logicHash);
      expect(client.peers).toEqual([
        expect.objectContaining({ endpointId: server.endpoint.id, hostId: h2.hostId, role: 'server' }),
      ]);
      expect(client.peers[0]!.path).toHaveLength(3);
      expect(client.peers[0]!.path[0]).toBe(h1.hostId);
      const signed = Buffer.from(client.authorization.signed, 'base64');
      const key = importControllerPublicKey(
        Buffer.concat([ed25519SpkiPrefix, Buffer.from(f.context.identity!.publicKey)]),
      );
      expect(verifyFlowAuthorization(signed, key, Math.floor(f.clock.nowMs() / 1000)).ok).toBe(true);
      const decoded = decodeFlowAuthorization(signed);
      expect(decoded.ok && decoded.value.serial.toString()).toBe(client.authorization.serial);
      expect(client.endpoint).toMatchObject({
        nodeId: h1.node.id,
        contractId,
        role: 'client',
        hostId: h1.hostId,
      });
      // The server's node is told of its new peer.
      const queued = await f.db
        .selectFrom('commands')
        .selectAll()
        .where('node_id', '=', h2.node.id)
        .where('kind', '=', 'path-change')
        .execute();
      expect(queued.length).toBeGreaterThan(0);
    });

    it('issues group keys: the role secret to members only, each sender its own key; a joining member gets the current epoch, a leaving one moves the role to a new epoch', async () => {
      type Keys = { groupKeys?: { role: string; use: string; epoch: number; key: string }[] };
      const keyOf = (answer: Keys, use: string) => answer.groupKeys?.find((key) => key.use === use);
      const rows = async (role: string) =>
        f.db
          .selectFrom('group_keys')
          .selectAll()
          .where('contract_id', '=', contractId)
          .where('role', '=', role)
          .orderBy('epoch')
          .execute();
      const member = await register(h2, token, 'server');
      const open = keyOf(member, 'open')!;
      expect(open.role).toBe('server');
      expect(Buffer.from(open.key, 'base64')).toHaveLength(32);
      // Its seal key is for its peer role (client), derived from that role's secret and its host id.
      expect(keyOf(member, 'seal')).toMatchObject({ role: 'client', use: 'seal' });
      const sender = await register(h1, token, 'client');
      const seal = keyOf(sender, 'seal')!;
      // The client's own secret is the client role's, not the server's.
      expect(keyOf(sender, 'open')!.role).toBe('client');
      expect(keyOf(sender, 'open')!.key).not.toBe(open.key);
      // The sender key is the one a member derives from the server role's secret and the sender's
      // host id; the sender never gets the secret itself.
      const current = (await rows('server')).at(-1)!;
      expect(current.epoch).toBe(open.epoch);
      expect(seal).toMatchObject({ role: 'server', epoch: current.epoch });
      const secret = Buffer.from(current.secret, 'base64');
      expect(Buffer.from(seal.key, 'base64')).toEqual(
        Buffer.from(deriveGroupSenderKey(secret, parseIpv6Address(h1.hostId)!, current.epoch)),
      );
      expect(seal.key).not.toBe(open.key);
      // A second server joins: it gets the current epoch (nobody left), so the senders' keys stay
      // valid and nothing sealed meanwhile is lost; it is one of the epoch's members from now on.
      const epochsBefore = (await rows('server')).length;
      const second = await register(h1, token, 'server');
      expect(keyOf(second, 'open')).toEqual(open);
      expect(await rows('server')).toHaveLength(epochsBefore);
      expect(JSON.parse((await rows('server')).at(-1)!.members)).toContain(second.endpoint.id);
      // A renewal (the same endpoint registering again) changes nothing either.
      expect(keyOf(await register(h2, token, 'server'), 'open')).toEqual(open);
      // The first server's authorization is revoked: its endpoint goes, the role moves on to a new
      // epoch with a new secret, which the member left and the sender get in their path-change.
      const lastCommand = await f.db
        .selectFrom('commands')
        .select((eb) => eb.fn.max('id').as('id'))
        .executeTakeFirstOrThrow();
      await revokeAuthorization(
        f.db,
        {
          principal: { ...f.principal, roles: ['systemAdmin'], audience: 'user' },
          id: (await register(h2, token, 'server')).authorization.id,
        },
        f.context,
      );
      const told = (
        await f.db
          .selectFrom('commands')
          .select(['node_id', 'payload'])
          .where('kind', '=', 'path-change')
          .where('id', '>', Number(lastCommand.id))
          .execute()
      ).flatMap(
        (row) => (JSON.parse(row.payload) as { endpoints: ({ endpointId: number } & Keys)[] }).endpoints,
      );
      // The revoked endpoint is given nothing (it is gone: no path-change names it).
      expect(told.map((e) => e.endpointId)).not.toContain(member.endpoint.id);
      const last = (await rows('server')).at(-1)!;
      expect(last.epoch).toBe(open.epoch + 1);
      expect(JSON.parse(last.members)).toEqual([second.endpoint.id]);
      const next = keyOf(told.findLast((e) => e.endpointId === second.endpoint.id)!, 'open')!;
      expect(next).toMatchObject({ epoch: open.epoch + 1, key: last.secret });
      expect(next.key).not.toBe(open.key);
      const nextSeal = keyOf(told.findLast((e) => e.endpointId === sender.endpoint.id)!, 'seal')!;
      expect(nextSeal.epoch).toBe(open.epoch + 1);
      expect(Buffer.from(nextSeal.key, 'base64')).toEqual(
        Buffer.from(
          deriveGroupSenderKey(
            Buffer.from(last.secret, 'base64'),
            parseIpv6Address(h1.hostId)!,
            open.epoch + 1,
          ),
        ),
      );
    });

    it('refuses forged, malformed, unknown and expired service tokens', async () => {
      const [id] = token.split(':');
      for (const forged of [
        `${id}:wrong`,
        `${id}:`,
        `:${token}`,
        'abc',
        `999999:${token}`,
        `${id}x:s`,
        '1e3:s',
        '-1:s',
      ])
        expect(await codeOf(register(h1, forged, 'client')), forged).toBe('SERVICE_TOKEN_INVALID');
      const short = await policy.newToken(1000);
      f.clock.advance(1000);
      expect(await codeOf(register(h1, short, 'client'))).toBe('SERVICE_TOKEN_INVALID');
    });

    it('refuses roles not granted, unknown or disabled contracts, disabled services', async () => {
      expect(await codeOf(register(h1, token, 'admin'))).toBe('ROLE_NOT_GRANTED');
      expect(await codeOf(register(h1, token, 'client', 'nope'))).toBe('ROLE_NOT_GRANTED');
      await f.db.updateTable('contracts').set({ enabled: 0 }).where('id', '=', contractId).execute();
      expect(await codeOf(register(h1, token, 'client'))).toBe('ROLE_NOT_GRANTED');
      await f.db.updateTable('contracts').set({ enabled: 1 }).where('id', '=', contractId).execute();
      await f.db.updateTable('services').set({ enabled: 0 }).where('id', '=', serviceId).execute();
      expect(await codeOf(register(h1, token, 'client'))).toBe('ROLE_NOT_GRANTED');
      await f.db.updateTable('services').set({ enabled: 1 }).where('id', '=', serviceId).execute();
      await f.db
        .updateTable('services')
        .set({ grants: JSON.stringify([{ contractId, role: 'server' }]) })
        .where('id', '=', serviceId)
        .execute();
      expect(await codeOf(register(h1, token, 'client'))).toBe('ROLE_NOT_GRANTED');
    });
  });
}
