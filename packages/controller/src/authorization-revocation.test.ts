/**
 * Revocation as a use case (no HTTP), on both stores: every engine and the endpoint's host get one
 * revocation command with the authorization's end, the nodes' decoder reads it, revoking again
 * queues nothing, and another domain's authorization is not found.
 */
import { ApiError, decodeNodeCommand } from '@capsule/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addFixturePolicy,
  createUseCaseFixture,
  hasPostgres,
  registerFixtureNode,
  storeKinds,
} from '../test/harness';
import { revokeAuthorization } from './authorization-revocation';
import { registerEndpoint } from './southbound/endpoint-registration';

for (const kind of storeKinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`authorization revocation on ${kind}`, () => {
    let f: Awaited<ReturnType<typeof createUseCaseFixture>>;
    let nodes: Awaited<ReturnType<typeof registerFixtureNode>>[];
    let authorization: { id: number; serial: string; notAfter: string };
    beforeAll(async () => {
      f = await createUseCaseFixture(kind);
      nodes = [
        await registerFixtureNode(f, { type: 'engine', hostname: 'e1' }),
        await registerFixtureNode(f, { type: 'engine', hostname: 'e2' }),
        await registerFixtureNode(f, { type: 'host', hostname: 'h1' }),
        await registerFixtureNode(f, { type: 'host', hostname: 'h2' }),
      ];
      const { token } = await addFixturePolicy(f);
      const answer = await registerEndpoint(
        f.db,
        {
          principal: nodes[2]!.principal,
          request: { serviceToken: token, contract: 'shop', role: 'client' },
        },
        f.context,
      );
      authorization = answer.authorization;
    }, 60_000);
    afterAll(async () => f?.stop());

    const admin = () => ({
      userId: 1,
      login: 'admin',
      domainId: f.principal.domainId,
      domain: 'default',
      roles: ['systemAdmin' as const],
      audience: 'user' as const,
      credentialGeneration: 0,
    });
    const revocations = () =>
      f.db.selectFrom('commands').selectAll().where('kind', '=', 'revocation').orderBy('id').execute();

    it('marks it revoked and queues one revocation for each engine and the endpoint’s host', async () => {
      const revoked = await revokeAuthorization(
        f.db,
        { principal: admin(), id: authorization.id },
        f.context,
      );
      expect(revoked).toMatchObject({
        id: authorization.id,
        revokedAt: new Date(f.clock.nowMs()).toISOString(),
      });
      const rows = await revocations();
      expect(rows.map((row) => row.node_id).sort()).toEqual(
        [nodes[0]!.node.id, nodes[1]!.node.id, nodes[2]!.node.id].sort(),
      );
      for (const row of rows) {
        const decoded = decodeNodeCommand({
          id: row.id,
          kind: row.kind,
          payload: JSON.parse(row.payload),
          createdAt: row.created_at,
        });
        expect(decoded.ok && decoded.value.payload).toEqual({
          serials: [authorization.serial],
          notAfter: [authorization.notAfter],
        });
      }
      const audit = await f.db.selectFrom('audit').selectAll().where('action', '=', 'revoke').execute();
      expect(audit).toHaveLength(1);
    });

    it('revokes once: a second revocation changes nothing and queues nothing', async () => {
      const before = (await revocations()).length;
      const again = await revokeAuthorization(f.db, { principal: admin(), id: authorization.id }, f.context);
      expect(again.revokedAt).not.toBeNull();
      expect(await revocations()).toHaveLength(before);
    });

    it('does not find another domain’s authorization, nor an unknown one', async () => {
      const outsider = {
        ...admin(),
        roles: ['contractAdmin' as const],
        domainId: f.principal.domainId + 1000,
      };
      for (const [principal, id] of [
        [outsider, authorization.id],
        [admin(), authorization.id + 1000],
      ] as const) {
        const error = await revokeAuthorization(f.db, { principal, id }, f.context).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ApiError);
        expect((error as ApiError).code).toBe('NOT_FOUND');
      }
    });
  });
}
