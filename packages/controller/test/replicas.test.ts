/**
 * Two controller replicas on one PostgreSQL: a change made through one is seen through the other,
 * and pushed (LISTEN/NOTIFY → the other's push channel) to a node connected to the other.
 */
import { createApiClient, type PushEvent } from '@capsule/api';
import { createMemorySigningKeyStore } from '@capsule/controller';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, hasPostgres, registerNode, startController } from './harness';

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
    const { tinyProgram } = await import('./harness');
    const template = await one.admin.templates.create({
      name: 'rt',
      domain: 'rapp',
      image: tinyProgram(),
      roles: [
        { name: 'client', entry: 'client' },
        { name: 'server', entry: 'server' },
      ],
    });
    const contract = await one.admin.contracts.create({
      name: 'rc',
      domain: 'rapp',
      templateId: template.id,
      roles: [
        { name: 'client', peer: 'server' },
        { name: 'server', peer: 'client' },
      ],
    });
    const service = await one.admin.services.create({
      name: 'rs',
      domain: 'rapp',
      grants: [{ contractId: contract.id, role: 'client' }],
    });
    const token = (await one.admin.serviceTokens.create({ serviceId: service.id })).token!;
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
});
