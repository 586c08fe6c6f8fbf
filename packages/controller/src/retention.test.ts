/**
 * Retention sweeps on both stores, on the use-case fixture's manual clock: what each sweep deletes
 * (expired nonces, delivered commands past their retention, authorizations expired past theirs,
 * old audit entries when asked) and what it must keep (an endpoint's current authorization,
 * revoked authorizations still in force, undelivered commands, everything younger than the
 * cut-off); a swept nonce is still refused; batches end.
 */
import { ApiError } from '@capsule/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addFixturePolicy,
  createUseCaseFixture,
  hasPostgres,
  makeNodeIdentity,
  quietLogger,
  registerFixtureNode,
  registrationBody,
  storeKinds,
} from '../test/harness';
import { revokeAuthorization } from './authorization-revocation';
import { takeCommands } from './commands';
import { defaultRetention, sweepRetention } from './retention';
import { registerEndpoint, unregisterEndpoint } from './southbound/endpoint-registration';
import { registerLink } from './southbound/link-registration';
import { issueNonce, registerNode } from './southbound/node-registration';

const minute = 60_000;
const day = 24 * 60 * minute;

for (const kind of storeKinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`retention sweeps on ${kind}`, () => {
    let f: Awaited<ReturnType<typeof createUseCaseFixture>>;
    let e1: Awaited<ReturnType<typeof registerFixtureNode>>;
    let h1: Awaited<ReturnType<typeof registerFixtureNode>>;
    let h2: Awaited<ReturnType<typeof registerFixtureNode>>;
    let token: string;
    let policy: Awaited<ReturnType<typeof addFixturePolicy>>;

    beforeAll(async () => {
      f = await createUseCaseFixture(kind);
      e1 = await registerFixtureNode(f, { type: 'engine', hostname: 'e1' });
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
      // Valid for the whole test: the clock moves by years.
      token = await policy.newToken(5 * 365 * day);
    }, 60_000);
    afterAll(async () => f?.stop());

    const register = (host: typeof h1, role: string) =>
      registerEndpoint(
        f.db,
        { principal: host.principal, request: { serviceToken: token, contract: 'shop', role } },
        f.context,
      );
    const authorizationIds = async () =>
      (await f.db.selectFrom('authorizations').select('id').orderBy('id').execute()).map((row) => row.id);
    const sweep = (options = defaultRetention, batchRows?: number) =>
      sweepRetention(f.db, f.clock.nowMs(), options, batchRows);

    it('deletes expired nonces only, and a swept nonce is still refused', async () => {
      // The three registrations used theirs; one more is issued and never used.
      const identity = makeNodeIdentity(f.zone.netprefix);
      const { nonce } = await issueNonce(f.db, f.principal, f.context);
      expect((await sweep()).nonces).toBe(0);
      f.clock.advance(f.context.nonceLifetimeMs + 1);
      expect((await sweep()).nonces).toBe(4);
      expect(await f.db.selectFrom('nonces').selectAll().execute()).toEqual([]);
      const refused = await registerNode(
        f.db,
        {
          principal: f.principal,
          request: registrationBody(identity, nonce, { type: 'host', hostname: 'h9' }),
        },
        f.context,
      ).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ApiError);
      expect((refused as ApiError).code).toBe('NONCE_INVALID');
    });

    it('keeps an endpoint’s current authorization and revoked ones in force; deletes the rest once expired past the retention', async () => {
      await register(h2, 'server');
      const first = await register(h1, 'client');
      f.clock.advance(minute);
      const renewed = await register(h1, 'client'); // the same endpoint: a new authorization
      expect(renewed.endpoint.id).toBe(first.endpoint.id);
      const gone = await register(h2, 'client');
      await unregisterEndpoint(f.db, { principal: h2.principal, id: gone.endpoint.id }, f.context);
      const before = await authorizationIds();
      expect(before).toHaveLength(4);

      // One minute short of the cut-off of the oldest: nothing goes.
      f.clock.advance(
        f.context.authorizationLifetimeMs + defaultRetention.authorizationRetentionMs - 2 * minute,
      );
      expect((await sweep()).authorizations).toBe(0);
      // Past the cut-off of the last (registered a minute later): the superseded one and the
      // unregistered endpoint's go; the server's and the client's current ones stay (their
      // endpoints exist), expired as they are.
      f.clock.advance(3 * minute);
      expect((await sweep()).authorizations).toBe(2);
      const kept = await f.db.selectFrom('authorizations').select(['serial']).orderBy('id').execute();
      expect(kept.map((row) => row.serial).sort()).toEqual(
        [renewed.authorization.serial, (await currentSerialOf(h2))!].sort(),
      );
    });

    it('keeps a revoked authorization until it expires past the retention, and undelivered commands', async () => {
      const revoked = await register(h1, 'client');
      await revokeAuthorization(f.db, { principal: adminOf(f), id: revoked.authorization.id }, f.context);
      // The revocation deleted the endpoint (docs/controller.md); it queued commands to the engine; e1 never takes them here.
      const undelivered = await f.db
        .selectFrom('commands')
        .select('id')
        .where('node_id', '=', e1.node.id)
        .where('delivered_at', 'is', null)
        .execute();
      expect(undelivered.length).toBeGreaterThan(0);
      f.clock.advance(f.context.authorizationLifetimeMs - minute); // still in force
      // (The sweep takes the client's authorization of the test before: renewed by this one.)
      await sweep();
      expect(await authorizationIds()).toContain(revoked.authorization.id);
      f.clock.advance(defaultRetention.authorizationRetentionMs + 2 * minute);
      await sweep();
      expect(await authorizationIds()).not.toContain(revoked.authorization.id);
      const still = await f.db
        .selectFrom('commands')
        .select('id')
        .where('node_id', '=', e1.node.id)
        .where('delivered_at', 'is', null)
        .execute();
      expect(still.map((row) => row.id)).toEqual(undelivered.map((row) => row.id));
    });

    it('deletes delivered commands past their retention, in batches', async () => {
      // h1 and h2 take what was queued for them.
      const delivered = [
        ...(await takeCommands(f.db, h1.node.id, f.clock.nowMs(), quietLogger)),
        ...(await takeCommands(f.db, h2.node.id, f.clock.nowMs(), quietLogger)),
      ];
      expect(delivered.length).toBeGreaterThan(3);
      f.clock.advance(defaultRetention.commandRetentionMs - minute);
      expect((await sweep(defaultRetention, 2)).commands).toBe(0);
      f.clock.advance(2 * minute);
      // Batches of 2: every delivered command goes, more than one statement needed.
      expect((await sweep(defaultRetention, 2)).commands).toBe(delivered.length);
      const left = await f.db
        .selectFrom('commands')
        .select('id')
        .where('delivered_at', 'is not', null)
        .execute();
      expect(left).toEqual([]);
    });

    it('keeps every audit entry by default; deletes those older than auditRetentionMs when set', async () => {
      const count = async () =>
        Number(
          (
            await f.db
              .selectFrom('audit')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      const entries = await count();
      expect(entries).toBeGreaterThan(0);
      f.clock.advance(400 * day);
      expect((await sweep()).audit).toBe(0);
      expect(await count()).toBe(entries);
      await register(h1, 'client'); // one entry now
      expect((await sweep({ ...defaultRetention, auditRetentionMs: 365 * day })).audit).toBe(entries);
      expect(await count()).toBe(1);
    });

    async function currentSerialOf(host: typeof h1): Promise<string | undefined> {
      const row = await f.db
        .selectFrom('endpoints')
        .select('authorization_serial')
        .where('node_id', '=', host.node.id)
        .executeTakeFirst();
      return row?.authorization_serial;
    }
  });
}

/** A systemAdmin principal of the fixture's domain (revocation needs the policy role). */
function adminOf(f: Awaited<ReturnType<typeof createUseCaseFixture>>) {
  return { ...f.principal, roles: ['systemAdmin' as const], audience: 'user' as const };
}
