/**
 * Endpoint registration as a use case (no HTTP), on both stores: the service token and the grant
 * are checked (forged, expired and malformed tokens, disabled services and contracts, roles not
 * granted), and a granted role gets a signed authorization, the merged variables and its peers.
 */
import { createHash } from 'node:crypto';
import { ApiError } from '@capsule/api';
import {
  decodeFlowAuthorization,
  importControllerPublicKey,
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
