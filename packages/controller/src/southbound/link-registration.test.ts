/**
 * Link registration as a use case (no HTTP), on both stores: the policy's refusals, the link kept
 * once from its lower node id, a dead link reported down and up again, an administrator's down.
 */
import { ApiError, type SbLinkRequest } from '@capsule/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUseCaseFixture, hasPostgres, registerFixtureNode, storeKinds } from '../../test/harness';
import type { Principal } from '../auth';
import { defaultLinkCost, registerLink } from './link-registration';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error.code;
}

for (const kind of storeKinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`link registration on ${kind}`, () => {
    let f: Awaited<ReturnType<typeof createUseCaseFixture>>;
    let e1: Awaited<ReturnType<typeof registerFixtureNode>>;
    let e2: Awaited<ReturnType<typeof registerFixtureNode>>;
    let h1: Awaited<ReturnType<typeof registerFixtureNode>>;
    let h2: Awaited<ReturnType<typeof registerFixtureNode>>;
    beforeAll(async () => {
      f = await createUseCaseFixture(kind);
      e1 = await registerFixtureNode(f, { type: 'engine', hostname: 'e1' });
      e2 = await registerFixtureNode(f, { type: 'engine', hostname: 'e2' });
      h1 = await registerFixtureNode(f, { type: 'host', hostname: 'h1' });
      h2 = await registerFixtureNode(f, { type: 'host', hostname: 'h2' });
    }, 60_000);
    afterAll(async () => f?.stop());

    const link = (principal: Principal, request: Partial<SbLinkRequest> & { peerHostId: string }) =>
      registerLink(
        f.db,
        { principal, request: { localEndpoint: '192.0.2.1:1', remoteEndpoint: '192.0.2.2:2', ...request } },
        f.context,
      );

    it('stores the link once, from the lower node id, with the default cost; a later report updates its ends, not its cost', async () => {
      // e2 (the higher id) reports: its local end is the link's z end.
      const created = await link(e2.principal, { peerHostId: e1.hostId });
      expect(created).toMatchObject({
        nodeA: e1.node.id,
        nodeZ: e2.node.id,
        endpointA: '192.0.2.2:2',
        endpointZ: '192.0.2.1:1',
        cost: defaultLinkCost,
        status: 'up',
        adminState: 'up',
      });
      const updated = await link(e1.principal, { peerHostId: e2.hostId, cost: 7 });
      expect(updated).toMatchObject({ id: created.id, endpointA: '192.0.2.1:1', cost: defaultLinkCost });
      const audit = await f.db.selectFrom('audit').selectAll().where('object_type', '=', 'links').execute();
      expect(audit).toHaveLength(2);
    });

    it('refuses unregistered peers, self-links, host-to-host links and malformed peer ids', async () => {
      expect(await codeOf(link(h1.principal, { peerHostId: 'fd00:1:2:3::dead' }))).toBe('LINK_REFUSED');
      expect(await codeOf(link(e1.principal, { peerHostId: e1.hostId }))).toBe('LINK_REFUSED');
      expect(await codeOf(link(h1.principal, { peerHostId: h2.hostId }))).toBe('LINK_REFUSED');
      expect(await codeOf(link(h1.principal, { peerHostId: 'fd00::1::2' }))).toBe('VALIDATION_FAILED');
      // A node token is needed: a user token of the same user names no node.
      const { nodeId: _none, ...userOnly } = h1.principal;
      expect(await codeOf(link(userOnly, { peerHostId: e1.hostId }))).toBe('NODE_NOT_REGISTERED');
    });

    it('takes a down report and the up after it, but no up over an administrator’s down', async () => {
      const up = await link(h1.principal, { peerHostId: e1.hostId });
      expect((await link(h1.principal, { peerHostId: e1.hostId, status: 'down' })).status).toBe('down');
      expect((await link(h1.principal, { peerHostId: e1.hostId })).status).toBe('up');
      await f.db.updateTable('links').set({ admin_state: 'down' }).where('id', '=', up.id).execute();
      expect(await codeOf(link(h1.principal, { peerHostId: e1.hostId }))).toBe('LINK_REFUSED');
      expect((await link(h1.principal, { peerHostId: e1.hostId, status: 'down' })).status).toBe('down');
      expect(await codeOf(link(h1.principal, { peerHostId: e1.hostId }))).toBe('LINK_REFUSED');
    });
  });
}
