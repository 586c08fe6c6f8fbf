/**
 * Two controller replicas on one PostgreSQL: a change made through one is seen through the other,
 * and pushed (LISTEN/NOTIFY → the other's push channel) to a node connected to the other.
 */
import { createApiClient, decodeNodeCommand, type LinkSetEntry, type PushEvent } from '@capsule/api';
import { createMemorySigningKeyStore } from '@capsule/controller';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recomputationLockSpace, recomputedKinds } from '../src/sent-commands';
import { createTestStore, hasPostgres, registerNode, startController, tinyProgram } from './harness';

type Registered = Awaited<ReturnType<typeof registerNode>>;

/** The costs of the link sets a node's keep-alive brings, oldest first (the node applies the last). */
async function linkCostsOf(node: Registered): Promise<number[][]> {
  const sets: LinkSetEntry[][] = [];
  for (const command of (await node.sb.keepalive({})).commands) {
    const decoded = decodeNodeCommand(command);
    if (decoded.ok && decoded.value.kind === 'link-set') sets.push(decoded.value.payload.links);
  }
  return sets.map((links) => links.map((link) => link.cost));
}

/** The cost of the first peer of each path-change a node's keep-alive brings, oldest first. */
async function pathCostsOf(node: Registered): Promise<number[]> {
  const costs: number[] = [];
  for (const command of (await node.sb.keepalive({})).commands) {
    const decoded = decodeNodeCommand(command);
    if (decoded.ok && decoded.value.kind === 'path-change')
      costs.push(decoded.value.payload.endpoints[0]!.peers[0]!.cost);
  }
  return costs;
}

/**
 * A client–server contract in `domain` (the tiny program's two entries), named `names`, and a
 * service token granting `granted` of its roles.
 */
async function clientServerPolicy(
  admin: Awaited<ReturnType<typeof startController>>['admin'],
  domain: string,
  names: { template: string; contract: string; service: string },
  granted: readonly ('client' | 'server')[],
): Promise<string> {
  const template = await admin.templates.create({
    name: names.template,
    domain,
    image: tinyProgram(),
    roles: [
      { name: 'client', entry: 'client' },
      { name: 'server', entry: 'server' },
    ],
  });
  const contract = await admin.contracts.create({
    name: names.contract,
    domain,
    templateId: template.id,
    roles: [
      { name: 'client', peer: 'server' },
      { name: 'server', peer: 'client' },
    ],
  });
  const service = await admin.services.create({
    name: names.service,
    domain,
    grants: granted.map((role) => ({ contractId: contract.id, role })),
  });
  return (await admin.serviceTokens.create({ serviceId: service.id })).token!;
}

describe.skipIf(!hasPostgres)('two replicas on one PostgreSQL', () => {
  let store: Awaited<ReturnType<typeof createTestStore>>;
  let one: Awaited<ReturnType<typeof startController>>;
  let two: Awaited<ReturnType<typeof startController>>;

  beforeAll(async () => {
    store = await createTestStore('postgres');
    // Both start at once: migrations and bootstrap must happen exactly once. They share the key
    // store as replicas share the key file (docs/security.md).
    const signingKeys = createMemorySigningKeyStore();
    [one, two] = await Promise.all([
      startController('postgres', { store: store.url }, { signingKeys }),
      startController('postgres', { store: store.url }, { signingKeys }),
    ]);
  });
  afterAll(async () => {
    await one?.stop(false);
    await two?.stop(false);
    await store?.drop();
  });

  it('share one bootstrap, one controller key and each other’s tokens', async () => {
    expect((await one.admin.users.list()).total).toBe(1);
    expect((await two.admin.users.list()).total).toBe(1);
    const viaTwo = createApiClient({ baseUrl: two.urls.northboundUrl, token: one.admin.token });
    expect((await viaTwo.domains.list()).items[0]!.name).toBe('default');
  });

  it('a change made through one replica is seen through the other', async () => {
    const created = await one.admin.domains.create({ name: 'replicated', kind: 'application' });
    expect(await two.admin.domains.get(created.id)).toMatchObject({ name: 'replicated' });
    await two.admin.domains.update(created.id, { description: 'from two' });
    expect((await one.admin.domains.get(created.id)).description).toBe('from two');
  });

  it('a revocation made through one replica is pushed to an engine connected to the other', async () => {
    const zone = await one.admin.zones.create({ name: 'rz', netprefix: 'fd00:7:7:7::/64' });
    await one.admin.domains.create({ name: 'rapp', kind: 'application' });
    await one.admin.users.create({
      login: 'eng',
      domain: 'rapp',
      password: 'user-password-1',
      roles: ['engineOwner'],
      zoneId: zone.id,
    });
    await one.admin.users.create({
      login: 'host',
      domain: 'rapp',
      password: 'user-password-1',
      roles: ['hostOwner'],
      zoneId: zone.id,
    });
    // The engine talks to replica two only; the host to replica one.
    const engine = await registerNode(
      two.urls.southboundUrl,
      { domain: 'rapp', username: 'eng', password: 'user-password-1' },
      { type: 'engine', hostname: 're' },
    );
    const host = await registerNode(
      one.urls.southboundUrl,
      { domain: 'rapp', username: 'host', password: 'user-password-1' },
      { type: 'host', hostname: 'rh' },
    );
    const token = await clientServerPolicy(
      one.admin,
      'rapp',
      { template: 'rt', contract: 'rc', service: 'rs' },
      ['client'],
    );
    const endpoint = await host.sb.registerEndpoint({ serviceToken: token, contract: 'rc', role: 'client' });
    await engine.sb.keepalive(); // drain

    const events: PushEvent[] = [];
    const abort = new AbortController();
    await engine.sb.events((event) => events.push(event), abort.signal);
    try {
      await one.admin.authorizations.revoke(endpoint.authorization.id);
      // Other commands may come too: a replica tells a node its link set the first time it computes
      // it (each replica keeps its own record of what it sent), so only the revocations count here.
      const revocations = () => events.filter((event) => event.kind === 'revocation');
      for (let i = 0; i < 150 && revocations().length === 0; i += 1)
        await new Promise((r) => setTimeout(r, 20));
      expect(revocations()).toHaveLength(1);
      expect(revocations()[0]).toMatchObject({
        kind: 'revocation',
        payload: { kind: 'revocation', payload: { serials: [endpoint.authorization.serial] } },
      });
      // Seen through replica two as well.
      expect((await two.admin.authorizations.get(endpoint.authorization.id)).revokedAt).not.toBeNull();
      // Delivered by push, so not repeated by keep-alive.
      expect((await engine.sb.keepalive()).status).toBe(200);
    } finally {
      abort.abort();
    }
  });

  describe('link sets recomputed by either replica', () => {
    const password = 'node-password-1';
    const n = {} as Record<'e1' | 'e2', Registered>;
    let linkId: number;

    beforeAll(async () => {
      const zone = await one.admin.zones.create({ name: 'lz', netprefix: 'fd00:7:7:8::/64' });
      await one.admin.domains.create({ name: 'lnet', kind: 'infrastructure' });
      await one.admin.users.create({
        login: 'leng',
        domain: 'lnet',
        password,
        roles: ['engineOwner'],
        zoneId: zone.id,
      });
      for (const [name, index] of [
        ['e1', 1],
        ['e2', 2],
      ] as const)
        n[name] = await registerNode(
          one.urls.southboundUrl,
          { domain: 'lnet', username: 'leng', password },
          { type: 'engine', hostname: `l${name}`, locator: `192.0.2.${index}:7447` },
        );
      linkId = (
        await one.admin.links.create({
          nodeA: n.e1.registration.node.id,
          nodeZ: n.e2.registration.node.id,
          cost: 7,
        })
      ).id;
      await linkCostsOf(n.e1); // drain
    });

    it('a node gets the newest view when the replicas take turns: a set one replica sent before is sent again after the other sent another', async () => {
      await two.admin.links.update(linkId, { cost: 12 });
      expect(await linkCostsOf(n.e1)).toEqual([[12]]);
      // Back to what replica one sent first: its memory says "sent", but replica two sent since.
      await one.admin.links.update(linkId, { cost: 7 });
      expect(await linkCostsOf(n.e1)).toEqual([[7]]);
      // Nothing changed since replica one's last: not sent again.
      await one.admin.links.update(linkId, { cost: 7 });
      expect(await linkCostsOf(n.e1)).toEqual([]);
    });

    it('recomputations run one at a time across replicas: one that waits for another reads what that one committed', async () => {
      // This test's client stands in for the other replica: it holds the link sets' lock.
      const other = new pg.Client({ connectionString: store.url });
      await other.connect();
      try {
        await other.query('begin');
        await other.query('select pg_advisory_xact_lock($1, $2)', [
          recomputationLockSpace,
          recomputedKinds['link-set'],
        ]);
        const update = one.admin.links.update(linkId, { cost: 30 });
        // Replica one's recomputation waits for the lock (without it, it has run already: no waiter).
        let waiting = 0;
        for (let i = 0; i < 250 && waiting === 0; i += 1) {
          // This lock of this database only (other test files' controllers may wait on theirs).
          const { rows } = await other.query<{ count: string }>(
            `select count(*) from pg_locks where locktype = 'advisory' and not granted
               and database = (select oid from pg_database where datname = current_database())
               and classid = $1 and objid = $2`,
            [recomputationLockSpace, recomputedKinds['link-set']],
          );
          waiting = Number(rows[0]!.count);
          if (waiting === 0) await new Promise((r) => setTimeout(r, 20));
        }
        expect(waiting).toBe(1);
        // The other replica's change commits as its lock goes: replica one reads it after.
        await other.query('update links set cost = 40 where id = $1', [linkId]);
        await other.query('commit');
        await update;
        expect(await linkCostsOf(n.e1)).toEqual([[40]]);
      } finally {
        await other.end();
      }
    });
  });

  describe('paths recomputed by either replica', () => {
    const password = 'node-password-1';
    const n = {} as Record<'h1' | 'h2' | 'e1' | 'e2', Registered>;
    /** The link e1–h2: cost 10 makes h1's path to h2 h1 e1 h2 (20); 50 makes it h1 e1 e2 h2 (30). */
    let direct: number;

    beforeAll(async () => {
      await one.admin.domains.create({ name: 'pshop', kind: 'application' });
      await one.admin.domains.create({ name: 'pnet', kind: 'infrastructure' });
      await one.admin.peerings.create({ domain: 'pshop', peerDomain: 'pnet' });
      const zone = await one.admin.zones.create({ name: 'pz', netprefix: 'fd00:7:7:9::/64' });
      await one.admin.users.create({
        login: 'phosts',
        domain: 'pshop',
        password,
        roles: ['hostOwner'],
        zoneId: zone.id,
      });
      await one.admin.users.create({
        login: 'pengines',
        domain: 'pnet',
        password,
        roles: ['engineOwner'],
        zoneId: zone.id,
      });
      const hosts = { domain: 'pshop', username: 'phosts', password };
      const engines = { domain: 'pnet', username: 'pengines', password };
      for (const name of ['e1', 'e2'] as const)
        n[name] = await registerNode(one.urls.southboundUrl, engines, {
          type: 'engine',
          hostname: `p${name}`,
        });
      for (const name of ['h1', 'h2'] as const)
        n[name] = await registerNode(one.urls.southboundUrl, hosts, { type: 'host', hostname: `p${name}` });
      const links = [
        [n.h1, n.e1],
        [n.e1, n.h2],
        [n.e1, n.e2],
        [n.e2, n.h2],
      ] as const;
      for (const [i, [a, z]] of links.entries())
        await a.sb.registerLink({
          peerHostId: z.hostId,
          localEndpoint: `10.9.${i}.1:7447`,
          remoteEndpoint: `10.9.${i}.2:7447`,
        });
      const serviceToken = await clientServerPolicy(
        one.admin,
        'pshop',
        { template: 'pcs', contract: 'pweb', service: 'pfront' },
        ['client', 'server'],
      );
      await n.h2.sb.registerEndpoint({ serviceToken, contract: 'pweb', role: 'server' });
      const client = await n.h1.sb.registerEndpoint({ serviceToken, contract: 'pweb', role: 'client' });
      expect(client.peers[0]).toMatchObject({ path: [n.h1.hostId, n.e1.hostId, n.h2.hostId], cost: 20 });
      const ids = new Set([n.e1.registration.node.id, n.h2.registration.node.id]);
      direct = (await one.admin.links.list()).items.find(
        (link) => ids.has(link.nodeA) && ids.has(link.nodeZ),
      )!.id;
      // Replica one sends h1 its view once (cost 20), whatever it knew before.
      await one.admin.links.update(direct, { cost: 50 });
      await one.admin.links.update(direct, { cost: 10 });
      expect((await pathCostsOf(n.h1)).at(-1)).toBe(20);
    });

    it('a node gets the newest view when the replicas take turns: a view one replica sent before is sent again after the other sent another', async () => {
      await two.admin.links.update(direct, { cost: 50 });
      expect(await pathCostsOf(n.h1)).toEqual([30]);
      // Back to the view replica one sent last: its memory says "sent", but replica two sent since.
      await one.admin.links.update(direct, { cost: 10 });
      expect(await pathCostsOf(n.h1)).toEqual([20]);
      // Nothing changed since replica one's last: not sent again.
      await one.admin.links.update(direct, { cost: 10 });
      expect(await pathCostsOf(n.h1)).toEqual([]);
    });
  });
});
