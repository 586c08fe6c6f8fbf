/**
 * Topology from the controller (SQLite, real listeners): an administrator declares engine links
 * and host attachments through the northbound API (`/api/v1/links`), or a zone asks for a full
 * mesh; each node gets its link set in a `link-set` command (registration answer, keep-alive,
 * push) and a new one whenever it changes. Hostile input on the API: unknown nodes, self-links,
 * host–host links, duplicates, costs out of range, oversized chains, callers without an admin role.
 */
import { ApiError, createApiClient, decodeNodeCommand, type LinkSetEntry } from '@capsule/api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerNode, startController } from './harness';

type Registered = Awaited<ReturnType<typeof registerNode>>;

async function expectError(promise: Promise<unknown>, code: string) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(ApiError);
  expect((error as ApiError).code).toBe(code);
}

/** The newest link set a node's keep-alive brings (undefined: none queued). */
async function linkSetOf(node: Registered): Promise<LinkSetEntry[] | undefined> {
  const answer = await node.sb.keepalive({});
  let last: LinkSetEntry[] | undefined;
  for (const command of answer.commands) {
    const decoded = decodeNodeCommand(command);
    expect(decoded.ok).toBe(true);
    if (decoded.ok && decoded.value.kind === 'link-set') last = decoded.value.payload.links;
  }
  return last;
}

describe('engine links and attachments from the controller (SQLite)', () => {
  let c: Awaited<ReturnType<typeof startController>>;
  const password = 'node-password-1';
  const engineUser = { domain: 'net', username: 'engines', password };
  const hostUser = { domain: 'shop', username: 'hosts', password };
  const n = {} as Record<'e1' | 'e2' | 'e3' | 'h1' | 'h2', Registered>;
  const id = (name: keyof typeof n) => n[name].registration.node.id;
  let zoneId: number;

  beforeAll(async () => {
    c = await startController('sqlite');
    await c.admin.domains.create({ name: 'shop', kind: 'application' });
    await c.admin.domains.create({ name: 'net', kind: 'infrastructure' });
    await c.admin.peerings.create({ domain: 'shop', peerDomain: 'net' });
    zoneId = (await c.admin.zones.create({ name: 'zone-a', netprefix: 'fd00:1:2:3::/64' })).id;
    await c.admin.users.create({ login: 'engines', domain: 'net', password, roles: ['engineOwner'], zoneId });
    await c.admin.users.create({ login: 'hosts', domain: 'shop', password, roles: ['hostOwner'], zoneId });
    for (const [name, index] of [
      ['e1', 1],
      ['e2', 2],
      ['e3', 3],
    ] as const)
      n[name] = await registerNode(c.urls.southboundUrl, engineUser, {
        type: 'engine',
        hostname: name,
        locator: `192.0.2.${index}:7447`,
      });
    for (const [name, index] of [
      ['h1', 11],
      ['h2', 12],
    ] as const)
      n[name] = await registerNode(c.urls.southboundUrl, hostUser, {
        type: 'host',
        hostname: name,
        locator: `192.0.2.${index}:7447`,
      });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('an engine with no declared link has an empty set; a host attaches to every engine of its zone', async () => {
    for (const engine of ['e1', 'e2', 'e3'] as const) expect(await linkSetOf(n[engine])).toEqual([]);
    const h1 = await linkSetOf(n.h1);
    expect(h1?.map((entry) => entry.name)).toEqual(['e1', 'e2', 'e3']);
    expect(h1?.every((entry) => entry.dial)).toBe(true);
    expect(h1?.[0]).toMatchObject({ peer: n.e1.hostId, locator: '192.0.2.1:7447', cost: 10 });
  });

  it('a declared link: both engines get it with its cost, the lower node id dials; both are told again when it changes', async () => {
    const link = await c.admin.links.create({ nodeA: id('e2'), nodeZ: id('e1'), cost: 7 });
    expect(link).toMatchObject({
      origin: 'admin',
      status: 'down',
      cost: 7,
      nodeA: id('e1'),
      nodeZ: id('e2'),
    });
    expect(await linkSetOf(n.e1)).toEqual([
      { peer: n.e2.hostId, name: 'e2', locator: '192.0.2.2:7447', cost: 7, dial: true },
    ]);
    expect(await linkSetOf(n.e2)).toEqual([
      { peer: n.e1.hostId, name: 'e1', locator: '192.0.2.1:7447', cost: 7, dial: false },
    ]);
    expect(await linkSetOf(n.e3)).toBeUndefined(); // unchanged: not told again
    await c.admin.links.update(link.id, { cost: 12 });
    expect((await linkSetOf(n.e1))?.[0]?.cost).toBe(12);
    // Reported up by an end: paths may use it; its cost stays the administrator's.
    const reported = await n.e1.sb.registerLink({
      peerHostId: n.e2.hostId,
      localEndpoint: '192.0.2.1:7447',
      remoteEndpoint: '192.0.2.2:7447',
      cost: 99,
    });
    expect(reported).toMatchObject({ id: link.id, status: 'up', cost: 12, origin: 'admin' });
    // Set down by an administrator: out of both sets (they close it).
    await c.admin.links.update(link.id, { adminState: 'down' });
    expect(await linkSetOf(n.e1)).toEqual([]);
    expect(await linkSetOf(n.e2)).toEqual([]);
    await c.admin.links.update(link.id, { adminState: 'up' });
    expect(await linkSetOf(n.e2)).toHaveLength(1);
  });

  it('a chain in one call (e1–e3–e2), and a deleted link leaves both sets; its down report then stores nothing', async () => {
    const first = await c.admin.links.create({ nodeA: id('e1'), via: [id('e3')], nodeZ: id('e2'), cost: 1 });
    expect([first.nodeA, first.nodeZ]).toEqual([id('e1'), id('e3')]);
    const links = (await c.admin.links.list({ limit: 100 })).items;
    const e3e2 = links.find((l) => l.nodeA === id('e2') && l.nodeZ === id('e3'));
    expect(e3e2).toMatchObject({ cost: 1, origin: 'admin' });
    expect((await linkSetOf(n.e3))?.map((entry) => [entry.name, entry.dial])).toEqual([
      ['e1', false],
      ['e2', false],
    ]);
    expect((await linkSetOf(n.e1))?.map((entry) => entry.name)).toEqual(['e2', 'e3']);
    const e1e2 = links.find((l) => l.nodeA === id('e1') && l.nodeZ === id('e2'))!;
    await c.admin.links.remove(e1e2.id);
    expect((await linkSetOf(n.e1))?.map((entry) => entry.name)).toEqual(['e3']);
    expect((await linkSetOf(n.e2))?.map((entry) => entry.name)).toEqual(['e3']);
    await expectError(
      n.e2.sb.registerLink({
        peerHostId: n.e1.hostId,
        localEndpoint: '192.0.2.2:7447',
        remoteEndpoint: '192.0.2.1:7447',
        status: 'down',
      }),
      'NOT_FOUND',
    );
    expect((await c.admin.links.list({ limit: 100 })).items.some((l) => l.id === e1e2.id)).toBe(false);
  });

  it('a declared attachment replaces the zone-wide default; a link the host made on its own is adopted', async () => {
    await linkSetOf(n.h2);
    // h2 attached to e1 on its own (the default): origin node.
    const own = await n.h2.sb.registerLink({
      peerHostId: n.e1.hostId,
      localEndpoint: '192.0.2.12:7447',
      remoteEndpoint: '192.0.2.1:7447',
    });
    expect(own.origin).toBe('node');
    const declared = await c.admin.links.create({ nodeA: id('h2'), nodeZ: id('e1'), cost: 1 });
    expect(declared).toMatchObject({ id: own.id, origin: 'admin', cost: 1, status: 'up' });
    expect(await linkSetOf(n.h2)).toEqual([
      { peer: n.e1.hostId, name: 'e1', locator: '192.0.2.1:7447', cost: 1, dial: true },
    ]);
    // Engines never dial hosts: no engine's set names h2.
    for (const engine of ['e1', 'e2', 'e3'] as const)
      expect((await linkSetOf(n[engine])) ?? []).not.toContainEqual(expect.objectContaining({ name: 'h2' }));
  });

  it('a zone with a full mesh: every engine gets every other, unless an administrator set the link down', async () => {
    await c.admin.zones.update(zoneId, { engineMesh: true });
    expect((await c.admin.zones.get(zoneId)).engineMesh).toBe(true);
    expect(await linkSetOf(n.e3)).toBeUndefined(); // declared to e1 and e2 already: unchanged, not told
    const e1 = await linkSetOf(n.e1);
    expect(e1?.map((entry) => [entry.name, entry.dial])).toEqual([
      ['e2', true],
      ['e3', true],
    ]);
    // A new engine joins the mesh: one start, no API call.
    const e4 = await registerNode(c.urls.southboundUrl, engineUser, {
      type: 'engine',
      hostname: 'e4',
      locator: '192.0.2.4:7447',
    });
    expect(e4.registration.configuration.linkSet?.links.map((entry) => entry.name)).toEqual([
      'e1',
      'e2',
      'e3',
    ]);
    expect((await linkSetOf(n.e2))?.map((entry) => entry.name)).toEqual(['e1', 'e3', 'e4']);
    const e2e3 = (await c.admin.links.list({ limit: 100 })).items.find(
      (l) => l.nodeA === id('e2') && l.nodeZ === id('e3'),
    )!;
    await c.admin.links.update(e2e3.id, { adminState: 'down' });
    expect((await linkSetOf(n.e2))?.map((entry) => entry.name)).toEqual(['e1', 'e4']);
    await c.admin.zones.update(zoneId, { engineMesh: false });
    expect((await linkSetOf(e4)) ?? []).toEqual([]);
  });

  it('hostile input: unknown nodes, self-links, host–host, duplicates, costs out of range, long chains', async () => {
    await expectError(c.admin.links.create({ nodeA: id('e1'), nodeZ: 999_999 }), 'REFERENCE_NOT_FOUND');
    await expectError(c.admin.links.create({ nodeA: id('e1'), nodeZ: id('e1') }), 'VALIDATION_FAILED');
    await expectError(
      c.admin.links.create({ nodeA: id('e1'), via: [id('e1')], nodeZ: id('e2') }),
      'VALIDATION_FAILED',
    );
    await expectError(c.admin.links.create({ nodeA: id('h1'), nodeZ: id('h2') }), 'VALIDATION_FAILED');
    await expectError(c.admin.links.create({ nodeA: id('e3'), nodeZ: id('e1') }), 'CONFLICT');
    const before = (await c.admin.links.list({ limit: 1000 })).total;
    // A chain that fails half-way stores nothing (one transaction).
    await expectError(
      c.admin.links.create({ nodeA: id('h1'), via: [id('e2')], nodeZ: id('e3') }),
      'CONFLICT',
    );
    expect((await c.admin.links.list({ limit: 1000 })).total).toBe(before);
    await expectError(
      c.admin.links.create({ nodeA: id('h1'), via: Array(9).fill(id('e2')), nodeZ: id('e3') }),
      'VALIDATION_FAILED',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ max: 0 }),
          fc.integer({ min: 65536 }),
          fc.double({ noInteger: true }),
          fc.string(),
          fc.constant(null),
        ),
        async (cost) => {
          const response = await c.admin
            .request('POST', '/api/v1/links', {
              nodeA: id('h1'),
              nodeZ: id('e3'),
              cost,
            })
            .then(
              () => undefined,
              (error: unknown) => error,
            );
          expect((response as ApiError).code).toBe('VALIDATION_FAILED');
        },
      ),
      { seed: 15, numRuns: 40 },
    );
    expect((await c.admin.links.list({ limit: 1000 })).total).toBe(before);
  });

  it('only administrators declare, change or delete links (RBAC); node users read', async () => {
    await c.admin.users.create({ login: 'policy', domain: 'shop', password, roles: ['contractAdmin'] });
    const link = (await c.admin.links.list({ limit: 1 })).items[0]!;
    for (const [domain, username] of [
      ['shop', 'policy'],
      ['shop', 'hosts'],
      ['net', 'engines'],
    ] as const) {
      const client = createApiClient({ baseUrl: c.urls.northboundUrl });
      await client.login({ domain, username, password });
      await expectError(client.links.create({ nodeA: id('h1'), nodeZ: id('e3') }), 'FORBIDDEN');
      await expectError(client.links.update(link.id, { cost: 3 }), 'FORBIDDEN');
      await expectError(client.links.remove(link.id), 'FORBIDDEN');
      await expectError(client.zones.update(zoneId, { engineMesh: true }), 'FORBIDDEN');
    }
    expect((await c.admin.links.get(link.id)).cost).toBe(link.cost);
  });
});
