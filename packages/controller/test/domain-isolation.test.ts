/**
 * Domain isolation in the topology (issue 13, item 4), with the real controller on SQLite and real
 * node registrations: an engine owned by domain B that registers links to domain A's engines is
 * refused (DOMAIN_NOT_PEERED) and never appears in A's paths, even where a peering in B's
 * direction lets the link exist and it would be the cheapest way; only a peering in A's direction
 * (A trusts B's engines) puts it there. Peerings are systemAdmin's: RBAC, validation, hostile
 * bodies.
 */
import { ApiError, createApiClient, type Peer } from '@capsule/api';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerNode, startController, tinyProgram } from './harness';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error.code;
}

type Node = Awaited<ReturnType<typeof registerNode>>;

describe('domain isolation (SQLite)', () => {
  let c: Awaited<ReturnType<typeof startController>>;
  const password = 'node-password-1';
  const n = {} as Record<'hA1' | 'hA2' | 'eA1' | 'eA2' | 'eB' | 'eN1' | 'eN2', Node>;
  let serviceToken: string;
  let client: Awaited<ReturnType<Node['sb']['registerEndpoint']>>;
  const link = (from: Node, to: Node, cost?: number) =>
    from.sb.registerLink({
      peerHostId: to.hostId,
      localEndpoint: '192.0.2.1:7447',
      remoteEndpoint: '192.0.2.2:7447',
      ...(cost === undefined ? {} : { cost }),
    });

  beforeAll(async () => {
    c = await startController('sqlite');
    for (const name of ['dom-a', 'dom-b']) await c.admin.domains.create({ name, kind: 'application' });
    await c.admin.domains.create({ name: 'dom-net', kind: 'infrastructure' });
    const zoneId = (await c.admin.zones.create({ name: 'iso', netprefix: 'fd00:4:4:4::/64' })).id;
    const user = async (login: string, domain: string, role: 'hostOwner' | 'engineOwner') => {
      await c.admin.users.create({ login, domain, password, roles: [role], zoneId });
      return { domain, username: login, password };
    };
    const aHosts = await user('a-hosts', 'dom-a', 'hostOwner');
    const aEngines = await user('a-engines', 'dom-a', 'engineOwner');
    const bEngines = await user('b-engines', 'dom-b', 'engineOwner');
    const netEngines = await user('net-engines', 'dom-net', 'engineOwner');
    const url = c.urls.southboundUrl;
    n.hA1 = await registerNode(url, aHosts, { type: 'host', hostname: 'ha1' });
    n.hA2 = await registerNode(url, aHosts, { type: 'host', hostname: 'ha2' });
    n.eA1 = await registerNode(url, aEngines, { type: 'engine', hostname: 'ea1' });
    n.eA2 = await registerNode(url, aEngines, { type: 'engine', hostname: 'ea2' });
    n.eB = await registerNode(url, bEngines, { type: 'engine', hostname: 'rogue' });
    n.eN1 = await registerNode(url, netEngines, { type: 'engine', hostname: 'en1' });
    n.eN2 = await registerNode(url, netEngines, { type: 'engine', hostname: 'en2' });
    // A's own topology: h1 - e1 -(50)- e2 - h2: 70 in all.
    await link(n.hA1, n.eA1);
    await link(n.eA1, n.eA2, 50);
    await link(n.eA2, n.hA2);
    const template = await c.admin.templates.create({
      name: 'cs',
      domain: 'dom-a',
      image: tinyProgram(),
      roles: [
        { name: 'client', entry: 'client' },
        { name: 'server', entry: 'server' },
      ],
    });
    const contract = await c.admin.contracts.create({
      name: 'web',
      domain: 'dom-a',
      templateId: template.id,
      roles: [
        { name: 'client', peer: 'server' },
        { name: 'server', peer: 'client' },
      ],
    });
    const service = await c.admin.services.create({
      name: 'svc',
      domain: 'dom-a',
      grants: [
        { contractId: contract.id, role: 'client' },
        { contractId: contract.id, role: 'server' },
      ],
    });
    serviceToken = (await c.admin.serviceTokens.create({ serviceId: service.id })).token!;
    await n.hA2.sb.registerEndpoint({ serviceToken, contract: 'web', role: 'server' });
    client = await n.hA1.sb.registerEndpoint({ serviceToken, contract: 'web', role: 'client' });
  }, 120_000);
  afterAll(async () => c?.stop());

  /** Every path of the path-change commands queued for A's hosts since the last call. */
  const pushedPaths = async (): Promise<Peer[]> => {
    const peers: Peer[] = [];
    for (const host of [n.hA1, n.hA2])
      for (const command of (await host.sb.keepalive()).commands)
        if (command.kind === 'path-change')
          for (const endpoint of (command.payload as { endpoints: { peers: Peer[] }[] }).endpoints)
            peers.push(...endpoint.peers);
    return peers;
  };
  const latestPath = async () => {
    const answer = await n.hA1.sb.keepalive();
    const change = answer.commands.findLast((command) => command.kind === 'path-change');
    return (change?.payload as { endpoints: { peers: Peer[] }[] } | undefined)?.endpoints[0]?.peers[0];
  };

  it("a rogue engine of domain B cannot link to A's engines (DOMAIN_NOT_PEERED), nor A's engines to it", async () => {
    expect(client.peers[0]).toMatchObject({
      path: [n.hA1.hostId, n.eA1.hostId, n.eA2.hostId, n.hA2.hostId],
      cost: 70,
    });
    await pushedPaths(); // drain
    for (const [from, to] of [
      [n.eB, n.eA1],
      [n.eB, n.eA2],
      [n.eA1, n.eB],
      [n.eB, n.hA1],
      [n.hA1, n.eB],
    ] as const) {
      const error = (await link(from, to, 1).catch((e: unknown) => e)) as ApiError;
      expect(error.code, `${from.registration.node.hostname} -> ${to.registration.node.hostname}`).toBe(
        'DOMAIN_NOT_PEERED',
      );
      expect(error.status).toBe(403);
      expect(error.message).toMatch(/another domain/);
    }
    const links = await c.admin.links.list({ limit: 100 });
    const rogueId = n.eB.registration.node.id;
    expect(links.items.filter((l) => l.nodeA === rogueId || l.nodeZ === rogueId)).toEqual([]);
    expect(await pushedPaths()).toEqual([]); // nothing changed, nothing pushed
  });

  it("a peering in B's direction lets the link exist, yet A's paths never cross the rogue engine", async () => {
    // B trusts A's engines (a systemAdmin's choice for B): the link is accepted ...
    const bTrustsA = await c.admin.peerings.create({ domain: 'dom-b', peerDomain: 'dom-a' });
    await link(n.eB, n.eA1, 1);
    await link(n.eB, n.eA2, 1);
    // ... and through it A's hosts would be 22 apart instead of 70, but A does not trust B.
    const pushed = await pushedPaths();
    const seen = JSON.stringify(pushed.map((peer) => [peer.path.length, peer.cost]));
    expect(pushed.length, 'path changes were pushed').toBeGreaterThan(0);
    for (const peer of pushed) expect(peer.path, `pushed paths ${seen}`).not.toContain(n.eB.hostId);
    expect(pushed.at(-1), `pushed paths ${seen}`).toMatchObject({ cost: 70 });
    // A new endpoint of A gets a path without it too.
    const another = await n.hA1.sb.registerEndpoint({ serviceToken, contract: 'web', role: 'client' });
    expect(another.peers.map((peer) => peer.path)).toEqual([
      [n.hA1.hostId, n.eA1.hostId, n.eA2.hostId, n.hA2.hostId],
    ]);
    // Once A trusts B's engines, the cheap path through it is taken (the filter is not vacuous) ...
    await pushedPaths();
    const aTrustsB = await c.admin.peerings.create({
      domain: 'dom-a',
      peerDomain: 'dom-b',
      description: 'test',
    });
    expect(await latestPath(), 'after A trusts B').toMatchObject({
      path: [n.hA1.hostId, n.eA1.hostId, n.eB.hostId, n.eA2.hostId, n.hA2.hostId],
      cost: 22,
    });
    // ... and when that peering goes, the paths leave the rogue engine at once.
    await c.admin.peerings.remove(aTrustsB.id);
    expect(await latestPath(), 'after the peering is removed').toMatchObject({
      path: [n.hA1.hostId, n.eA1.hostId, n.eA2.hostId, n.hA2.hostId],
      cost: 70,
    });
    await c.admin.peerings.remove(bTrustsA.id);
  });

  it('a peering of one engine trusts that engine only', async () => {
    const one = await c.admin.peerings.create({
      domain: 'dom-a',
      peerDomain: 'dom-net',
      engineId: n.eN1.registration.node.id,
    });
    expect(one).toMatchObject({
      domain: 'dom-a',
      peerDomain: 'dom-net',
      engineId: n.eN1.registration.node.id,
    });
    await link(n.eA1, n.eN1);
    expect(await codeOf(link(n.eA1, n.eN2))).toBe('DOMAIN_NOT_PEERED');
    await c.admin.peerings.remove(one.id);
  });

  it('peerings are systemAdmin business: others are refused, validation and hostile bodies answer 4xx', async () => {
    await c.admin.users.create({ login: 'a-admin', domain: 'dom-a', password, roles: ['domainAdmin'] });
    const aAdmin = createApiClient({ baseUrl: c.urls.northboundUrl });
    await aAdmin.login({ domain: 'dom-a', username: 'a-admin', password });
    expect(await codeOf(aAdmin.peerings.create({ domain: 'dom-a', peerDomain: 'dom-b' }))).toBe('FORBIDDEN');
    const mine = await c.admin.peerings.create({ domain: 'dom-a', peerDomain: 'dom-net' });
    const theirs = await c.admin.peerings.create({ domain: 'dom-b', peerDomain: 'dom-net' });
    expect(await codeOf(aAdmin.peerings.remove(mine.id))).toBe('FORBIDDEN');
    // A domain admin reads its own domain's peerings only.
    expect((await aAdmin.peerings.list()).items.map((p) => p.id)).toEqual([mine.id]);
    expect(await codeOf(aAdmin.peerings.get(theirs.id))).toBe('NOT_FOUND');
    const aEngine = createApiClient({ baseUrl: c.urls.northboundUrl });
    await aEngine.login({ domain: 'dom-a', username: 'a-engines', password });
    expect(await codeOf(aEngine.peerings.create({ domain: 'dom-a', peerDomain: 'dom-b' }))).toBe('FORBIDDEN');
    expect(await codeOf(aEngine.peerings.list())).toBe('FORBIDDEN');
    // Validation.
    expect(await codeOf(c.admin.peerings.create({ domain: 'dom-a', peerDomain: 'dom-a' }))).toBe(
      'VALIDATION_FAILED',
    );
    expect(await codeOf(c.admin.peerings.create({ domain: 'dom-a', peerDomain: 'nowhere' }))).toBe(
      'REFERENCE_NOT_FOUND',
    );
    const hostId = n.hA1.registration.node.id;
    expect(
      await codeOf(c.admin.peerings.create({ domain: 'dom-b', peerDomain: 'dom-a', engineId: hostId })),
    ).toBe('VALIDATION_FAILED');
    const netEngine = n.eN1.registration.node.id;
    expect(
      await codeOf(c.admin.peerings.create({ domain: 'dom-b', peerDomain: 'dom-a', engineId: netEngine })),
    ).toBe('REFERENCE_NOT_FOUND');
    // A peered engine cannot be deleted while the peering names it; a peered domain neither.
    const named = await c.admin.peerings.create({
      domain: 'dom-b',
      peerDomain: 'dom-net',
      engineId: netEngine,
    });
    expect(await codeOf(c.admin.nodes.remove(netEngine))).toBe('IN_USE');
    await c.admin.peerings.remove(named.id);
    // Arbitrary bodies (fixed seed): 400 or a clean refusal, never a crash; nothing odd stored.
    const before = (await c.admin.peerings.list({ limit: 100 })).total;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.anything(),
          fc.record({
            domain: fc.oneof(fc.string({ maxLength: 70 }), fc.integer()),
            peerDomain: fc.oneof(fc.string({ maxLength: 70 }), fc.constant('dom-a')),
            engineId: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
            extra: fc.option(fc.string()),
          }),
        ),
        async (body) => {
          const answer = await c.admin.request('POST', '/api/v1/peerings', body).catch((e: unknown) => e);
          if (answer instanceof ApiError) expect(answer.status).toBeGreaterThanOrEqual(400);
          if (answer instanceof ApiError) expect(answer.status).toBeLessThan(500);
          else expect.fail(`accepted ${JSON.stringify(body)}`);
        },
      ),
      { seed: testSeed, numRuns: 120 },
    );
    expect((await c.admin.peerings.list({ limit: 100 })).total).toBe(before);
    await c.admin.peerings.remove(mine.id);
    await c.admin.peerings.remove(theirs.id);
  });
});
