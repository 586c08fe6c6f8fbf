/**
 * Live policy on a real controller (SQLite; PostgreSQL too when one is reachable), through the
 * northbound and southbound HTTP APIs: every narrowing change — contract disabled, role dropped,
 * contract deleted, template disabled, service disabled, grant dropped, service deleted, service
 * token deleted or disabled (TTL 0), node user deactivated, domain deactivated, node
 * decommissioned, endpoint deleted or unregistered — revokes exactly the
 * authorizations it takes away: every engine gets their serials (pushed on an open channel at
 * once, else in its next keep-alive), each host the serials of its own endpoints, the endpoints
 * are gone from the API, and the flows of everything else stay authorized. Widening (enabling
 * again) lets registrations through at once. Registering the same role twice renews, not
 * duplicates. Repeated and hostile unregistrations change nothing.
 */
import { ApiError, createSouthboundClient, type PushEvent, type SbEndpointResponse } from '@capsule/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hasPostgres,
  registerNode,
  registrationBody,
  type StoreKind,
  startController,
  storeKinds,
  tinyProgram,
} from './harness';

async function expectError(promise: Promise<unknown>, code: string) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(ApiError);
  expect((error as ApiError).code).toBe(code);
}

type NodeClient = Awaited<ReturnType<typeof registerNode>>;

for (const kind of storeKinds) {
  describe.skipIf(kind === 'postgres' && !hasPostgres)(`live policy on ${kind}`, () => {
    let c: Awaited<ReturnType<typeof startController>>;
    let templateId: number;
    let zoneId: number;
    const nodePassword = 'node-password-1';
    const nodes = {} as Record<'e1' | 'e2' | 'h1' | 'h2' | 'h3', NodeClient>;
    let counter = 0;

    beforeAll(async () => {
      c = await startController(kind as StoreKind);
      zoneId = (await c.admin.zones.create({ name: 'zone-live', netprefix: 'fd00:9:8:7::/64' })).id;
      for (const [login, roles] of [
        ['hosts', ['hostOwner']],
        ['other-hosts', ['hostOwner']],
        ['engines', ['engineOwner']],
      ] as const)
        await c.admin.users.create({ login, password: nodePassword, roles: [...roles], zoneId });
      const as = (username: string) => ({ domain: 'default', username, password: nodePassword });
      const sb = c.urls.southboundUrl;
      nodes.e1 = await registerNode(sb, as('engines'), { type: 'engine', hostname: 'e1' });
      nodes.e2 = await registerNode(sb, as('engines'), { type: 'engine', hostname: 'e2' });
      nodes.h1 = await registerNode(sb, as('hosts'), { type: 'host', hostname: 'h1' });
      nodes.h2 = await registerNode(sb, as('hosts'), { type: 'host', hostname: 'h2' });
      nodes.h3 = await registerNode(sb, as('other-hosts'), { type: 'host', hostname: 'h3' });
      templateId = (
        await c.admin.templates.create({
          name: 'client-server',
          image: tinyProgram(),
          roles: [
            { name: 'client', entry: 'client' },
            { name: 'server', entry: 'server' },
          ],
        })
      ).id;
    }, 60_000);
    afterAll(async () => c?.stop());

    /** A contract client ↔ server (on `template`, in `domain`), a service granted both roles, and a token of it. */
    async function policy(template = templateId, domain?: string) {
      counter += 1;
      const contract = await c.admin.contracts.create({
        name: `contract-${counter}`,
        templateId: template,
        ...(domain === undefined ? {} : { domain }),
        roles: [
          { name: 'client', peer: 'server' },
          { name: 'server', peer: 'client' },
        ],
      });
      const service = await c.admin.services.create({
        name: `service-${counter}`,
        ...(domain === undefined ? {} : { domain }),
        grants: [
          { contractId: contract.id, role: 'client' },
          { contractId: contract.id, role: 'server' },
        ],
      });
      const token = (await c.admin.serviceTokens.create({ serviceId: service.id })).token!;
      return { contract, service, token };
    }

    /** A server endpoint on `server` and a client endpoint on `client` in the policy's contract. */
    async function pair(p: Awaited<ReturnType<typeof policy>>, client = nodes.h1, server = nodes.h2) {
      const register = (node: NodeClient, role: string) =>
        node.sb.registerEndpoint({ serviceToken: p.token, contract: p.contract.name, role });
      return { server: await register(server, 'server'), client: await register(client, 'client') };
    }

    /** The serials in the revocation commands `node` receives in its next keep-alive. */
    async function revokedAt(node: NodeClient): Promise<string[]> {
      const answer = await node.sb.keepalive();
      return answer.commands
        .filter((command) => command.kind === 'revocation')
        .flatMap((command) => (command.payload as { serials: string[] }).serials);
    }

    /** Drains every node's queue, so a test sees only what it caused. */
    async function drain() {
      for (const node of Object.values(nodes)) await node.sb.keepalive();
    }

    /** Asserts exactly `gone` were revoked: engines got all, each host its own; `kept` still valid. */
    async function expectRevoked(
      gone: SbEndpointResponse[],
      kept: SbEndpointResponse[],
      hosts = [nodes.h1, nodes.h2, nodes.h3],
    ) {
      const serials = gone.map((answer) => answer.authorization.serial).sort();
      for (const engine of [nodes.e1, nodes.e2]) expect((await revokedAt(engine)).sort()).toEqual(serials);
      for (const host of hosts) {
        const own = gone
          .filter((answer) => answer.endpoint.nodeId === host.registration.node.id)
          .map((answer) => answer.authorization.serial)
          .sort();
        expect((await revokedAt(host)).sort()).toEqual(own);
      }
      const endpoints = new Set((await c.admin.endpoints.list({ limit: 1000 })).items.map((e) => e.id));
      for (const answer of gone) {
        expect(endpoints.has(answer.endpoint.id)).toBe(false);
        const authorization = await c.admin.authorizations
          .get(answer.authorization.id)
          .catch(() => undefined);
        // Kept as a revoked record without its endpoint (or deleted with its contract or node).
        if (authorization)
          expect(authorization).toMatchObject({ endpointId: null, revokedAt: expect.any(String) });
      }
      for (const answer of kept) {
        expect(endpoints.has(answer.endpoint.id)).toBe(true);
        expect((await c.admin.authorizations.get(answer.authorization.id)).revokedAt).toBeNull();
      }
    }

    it('contract disabled: its flows revoked at every engine and host, another contract untouched; enabled again: registrations work at once', async () => {
      const a = await policy();
      const b = await policy();
      const inA = await pair(a);
      const inB = await pair(b);
      await drain();
      await c.admin.contracts.update(a.contract.id, { enabled: false });
      await expectRevoked([inA.server, inA.client], [inB.server, inB.client]);
      await expectError(
        nodes.h1.sb.registerEndpoint({ serviceToken: a.token, contract: a.contract.name, role: 'client' }),
        'ROLE_NOT_GRANTED',
      );
      // Disabling again is no change: nothing more is queued.
      await c.admin.contracts.update(a.contract.id, { enabled: false });
      expect(await revokedAt(nodes.e1)).toEqual([]);
      await c.admin.contracts.update(a.contract.id, { enabled: true });
      const again = await pair(a);
      expect(again.client.authorization.revokedAt).toBeNull();
    });

    it('a contract role dropped: its endpoints revoked, the other role’s kept', async () => {
      const a = await policy();
      const inA = await pair(a);
      await drain();
      await c.admin.contracts.update(a.contract.id, { roles: [{ name: 'server', peer: 'server' }] });
      await expectRevoked([inA.client], [inA.server]);
    });

    it('contract deleted: allowed although it had endpoints, its flows revoked, another contract’s kept', async () => {
      const a = await policy();
      const b = await policy();
      const inA = await pair(a);
      const inB = await pair(b);
      await drain();
      await c.admin.contracts.remove(a.contract.id);
      await expectRevoked([inA.server, inA.client], [inB.server, inB.client]);
      await expectError(c.admin.contracts.get(a.contract.id), 'NOT_FOUND');
      await expectError(pair(a), 'ROLE_NOT_GRANTED');
    });

    it('service disabled, a grant dropped, service deleted: exactly their endpoints revoked', async () => {
      const a = await policy();
      const b = await policy();
      const inA = await pair(a);
      const inB = await pair(b);
      await drain();
      await c.admin.services.update(b.service.id, {
        grants: [{ contractId: b.contract.id, role: 'server' }],
      });
      await expectRevoked([inB.client], [inA.server, inA.client, inB.server]);
      await c.admin.services.update(a.service.id, { enabled: false });
      await expectRevoked([inA.server, inA.client], [inB.server]);
      await c.admin.services.remove(b.service.id);
      await expectRevoked([inB.server], []);
    });

    it('service token deleted: the endpoints registered with it revoked, those of another token kept', async () => {
      const a = await policy();
      const second = (await c.admin.serviceTokens.create({ serviceId: a.service.id })).token!;
      const server = await nodes.h2.sb.registerEndpoint({
        serviceToken: second,
        contract: a.contract.name,
        role: 'server',
      });
      const client = await nodes.h1.sb.registerEndpoint({
        serviceToken: a.token,
        contract: a.contract.name,
        role: 'client',
      });
      await drain();
      await c.admin.serviceTokens.remove(Number(second.split(':')[0]));
      await expectRevoked([server], [client]);
    });

    it('node user deactivated: the endpoints of its nodes revoked, other owners’ kept', async () => {
      const a = await policy();
      const onH3 = await pair(a, nodes.h3, nodes.h2);
      await drain();
      const owner = (await c.admin.users.list()).items.find((user) => user.login === 'other-hosts')!;
      await c.admin.users.update(owner.id, { active: false });
      try {
        // h3's own node token no longer works: its agent learns nothing, its packets are dropped.
        await expectRevoked([onH3.client], [onH3.server], [nodes.h1, nodes.h2]);
        await expectError(nodes.h3.sb.keepalive(), 'UNAUTHENTICATED');
      } finally {
        await c.admin.users.update(owner.id, { active: true });
      }
      // Active again: the revocation waits in h3's queue, and it may register again.
      expect(await revokedAt(nodes.h3)).toEqual([onH3.client.authorization.serial]);
    });

    it('endpoint deleted through the API, or unregistered by its node: revoked; another node’s, unknown ids and repeats refused', async () => {
      const a = await policy();
      const inA = await pair(a);
      await drain();
      await c.admin.endpoints.remove(inA.client.endpoint.id);
      await expectRevoked([inA.client], [inA.server]);
      await expectError(c.admin.endpoints.remove(inA.client.endpoint.id), 'NOT_FOUND');
      // Only the node holding an endpoint may unregister it.
      await expectError(nodes.h1.sb.unregisterEndpoint(inA.server.endpoint.id), 'NOT_FOUND');
      await nodes.h2.sb.unregisterEndpoint(inA.server.endpoint.id);
      await expectRevoked([inA.server], []);
      // Replayed: the second time it is not there any more, nothing is queued.
      await expectError(nodes.h2.sb.unregisterEndpoint(inA.server.endpoint.id), 'NOT_FOUND');
      expect(await revokedAt(nodes.e1)).toEqual([]);
      // Hostile ids: refused by the schema or not found, never a crash.
      for (const id of [0, -1, 2 ** 53, 1.5, Number.NaN])
        await expect(nodes.h2.sb.unregisterEndpoint(id)).rejects.toBeInstanceOf(ApiError);
      const raw = await fetch(`${c.urls.southboundUrl}/sb/v1/endpoints/abc`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${nodes.h2.registration.token}` },
      });
      expect(raw.status).toBe(400);
      // Without a node token: 401.
      const anonymous = createSouthboundClient({ baseUrl: c.urls.southboundUrl });
      await expectError(anonymous.unregisterEndpoint(1), 'UNAUTHENTICATED');
    });

    it('registering the same role twice renews the authorization on the same endpoint', async () => {
      const a = await policy();
      const first = await pair(a);
      const again = await nodes.h1.sb.registerEndpoint({
        serviceToken: a.token,
        contract: a.contract.name,
        role: 'client',
      });
      expect(again.endpoint.id).toBe(first.client.endpoint.id);
      expect(again.authorization.serial).not.toBe(first.client.authorization.serial);
      const mine = (await c.admin.endpoints.list({ limit: 1000 })).items.filter(
        (endpoint) =>
          endpoint.contractId === a.contract.id && endpoint.nodeId === nodes.h1.registration.node.id,
      );
      expect(mine.map((endpoint) => endpoint.id)).toEqual([first.client.endpoint.id]);
      expect(mine[0]!.authorizationSerial).toBe(again.authorization.serial);
      // The previous authorization stays valid until it expires (flows in progress keep going) …
      expect((await c.admin.authorizations.get(first.client.authorization.id)).revokedAt).toBeNull();
      await drain();
      // … and both go when the endpoint goes.
      await c.admin.endpoints.remove(again.endpoint.id);
      const serials = (await revokedAt(nodes.e2)).sort();
      expect(serials).toEqual([first.client.authorization.serial, again.authorization.serial].sort());
    });

    it('template disabled: the endpoints of every contract on it revoked, another template’s kept; deleting it refused while used; enabled again: registrations at once', async () => {
      const second = await c.admin.templates.create({
        name: `client-server-${++counter}`,
        image: tinyProgram(),
        roles: [
          { name: 'client', entry: 'client' },
          { name: 'server', entry: 'server' },
        ],
      });
      expect(second.enabled).toBe(true);
      const a = await policy(second.id);
      const a2 = await policy(second.id);
      const b = await policy();
      const inA = await pair(a);
      const inA2 = await pair(a2);
      const inB = await pair(b);
      await drain();
      // A template in use cannot be deleted (its contracts refer to it): nothing is revoked.
      await expectError(c.admin.templates.remove(second.id), 'IN_USE');
      expect(await revokedAt(nodes.e1)).toEqual([]);
      await c.admin.templates.update(second.id, { enabled: false });
      expect((await c.admin.templates.get(second.id)).enabled).toBe(false);
      await expectRevoked([inA.server, inA.client, inA2.server, inA2.client], [inB.server, inB.client]);
      await expectError(pair(a), 'ROLE_NOT_GRANTED');
      // Disabling again queues nothing; other fields of a disabled template change without effect.
      await c.admin.templates.update(second.id, { enabled: false, description: 'off' });
      expect(await revokedAt(nodes.e1)).toEqual([]);
      await c.admin.templates.update(second.id, { enabled: true });
      const again = await pair(a2);
      expect(again.client.authorization.revokedAt).toBeNull();
    });

    it('service token disabled (TTL 0): its endpoints revoked, those of another token kept; refused from then on', async () => {
      const a = await policy();
      const second = await c.admin.serviceTokens.create({ serviceId: a.service.id });
      const server = await nodes.h2.sb.registerEndpoint({
        serviceToken: second.token!,
        contract: a.contract.name,
        role: 'server',
      });
      const client = await nodes.h1.sb.registerEndpoint({
        serviceToken: a.token,
        contract: a.contract.name,
        role: 'client',
      });
      await drain();
      // A longer TTL widens: nothing is revoked.
      await c.admin.serviceTokens.update(second.id, { ttlSeconds: 3600 });
      expect(await revokedAt(nodes.e1)).toEqual([]);
      await c.admin.serviceTokens.update(second.id, { ttlSeconds: 0 });
      await expectRevoked([server], [client]);
      await expectError(
        nodes.h2.sb.registerEndpoint({
          serviceToken: second.token!,
          contract: a.contract.name,
          role: 'server',
        }),
        'SERVICE_TOKEN_INVALID',
      );
    });

    it('domain deactivated: its endpoints and those on its nodes revoked, its users and nodes refused, other domains kept; active again: registrations at once', async () => {
      const name = `dom-${++counter}`;
      const domain = await c.admin.domains.create({ name, kind: 'application' });
      expect(domain.active).toBe(true);
      await c.admin.users.create({
        login: `${name}-hosts`,
        domain: name,
        password: nodePassword,
        roles: ['hostOwner'],
        zoneId,
      });
      const h5 = await registerNode(
        c.urls.southboundUrl,
        { domain: name, username: `${name}-hosts`, password: nodePassword },
        { type: 'host', hostname: `${name}-h5` },
      );
      const template = await c.admin.templates.create({
        name: 'client-server',
        domain: name,
        image: tinyProgram(),
        roles: [
          { name: 'client', entry: 'client' },
          { name: 'server', entry: 'server' },
        ],
      });
      const inDomain = await policy(template.id, name);
      const outside = await policy();
      // Its contract on a default-domain host (h1) and on its own host (h5); a default contract on h5.
      const inPair = await pair(inDomain, h5, nodes.h1);
      const outPair = await pair(outside, nodes.h1, nodes.h2);
      const onH5 = await h5.sb.registerEndpoint({
        serviceToken: outside.token,
        contract: outside.contract.name,
        role: 'client',
      });
      await drain();
      await h5.sb.keepalive();
      // The default domain holds the administrators: it cannot be deactivated. Nor can a domain
      // holding engines (they would learn no revocation any more): they are deleted first.
      const defaultDomain = (await c.admin.domains.list()).items.find((d) => d.name === 'default')!;
      await expectError(c.admin.domains.update(defaultDomain.id, { active: false }), 'FORBIDDEN');
      const net = await c.admin.domains.create({ name: `${name}-net`, kind: 'infrastructure' });
      await c.admin.users.create({
        login: `${name}-engines`,
        domain: net.name,
        password: nodePassword,
        roles: ['engineOwner'],
        zoneId,
      });
      const engine = await registerNode(
        c.urls.southboundUrl,
        { domain: net.name, username: `${name}-engines`, password: nodePassword },
        { type: 'engine', hostname: `${name}-e9` },
      );
      await expectError(c.admin.domains.update(net.id, { active: false }), 'FORBIDDEN');
      expect((await c.admin.domains.get(net.id)).active).toBe(true);
      await c.admin.nodes.remove(engine.registration.node.id);
      await drain();
      await c.admin.domains.update(net.id, { active: false });
      await c.admin.domains.update(domain.id, { active: false });
      expect((await c.admin.domains.get(domain.id)).active).toBe(false);
      await expectRevoked([inPair.server, inPair.client, onH5], [outPair.server, outPair.client]);
      // Its node's token is refused; its users may not log in; nothing registers with its tokens.
      await expectError(h5.sb.keepalive(), 'UNAUTHENTICATED');
      const login = createSouthboundClient({ baseUrl: c.urls.southboundUrl });
      await expectError(
        login.login({ domain: name, username: `${name}-hosts`, password: nodePassword }),
        'BAD_CREDENTIALS',
      );
      await expectError(
        nodes.h1.sb.registerEndpoint({
          serviceToken: inDomain.token,
          contract: inDomain.contract.name,
          role: 'server',
        }),
        'ROLE_NOT_GRANTED',
      );
      // Hostile values for the new fields: refused by the schema, nothing changes or is queued.
      for (const [path, body] of [
        [`/api/v1/domains/${domain.id}`, { active: 'yes' }],
        [`/api/v1/domains/${domain.id}`, { active: 1 }],
        [`/api/v1/domains/${domain.id}`, { active: null }],
        [`/api/v1/templates/${templateId}`, { enabled: 'false' }],
        [`/api/v1/templates/${templateId}`, { enabled: 0 }],
        [`/api/v1/service-tokens/${inDomain.token.split(':')[0]}`, { ttlSeconds: -1 }],
        [`/api/v1/service-tokens/${inDomain.token.split(':')[0]}`, { ttlSeconds: 0.5 }],
      ] as const)
        await expectError(c.admin.request('PATCH', path, body), 'VALIDATION_FAILED');
      expect((await c.admin.domains.get(domain.id)).active).toBe(false);
      expect((await c.admin.templates.get(templateId)).enabled).toBe(true);
      expect(await revokedAt(nodes.e1)).toEqual([]);
      // Deactivating again queues nothing.
      await c.admin.domains.update(domain.id, { active: false });
      expect(await revokedAt(nodes.e1)).toEqual([]);
      await c.admin.domains.update(domain.id, { active: true });
      expect((await h5.sb.keepalive()).commands.some((command) => command.kind === 'revocation')).toBe(true);
      const again = await pair(inDomain, h5, nodes.h1);
      expect(again.client.authorization.revokedAt).toBeNull();
    });

    it('node deleted: decommissioned — endpoints and links go, its serials and its host id revoked everywhere', async () => {
      const sb = c.urls.southboundUrl;
      const h4 = await registerNode(
        sb,
        { domain: 'default', username: 'hosts', password: nodePassword },
        { type: 'host', hostname: 'h4' },
      );
      await h4.sb.registerLink({
        peerHostId: nodes.e1.hostId,
        localEndpoint: '10.9.0.4:7447',
        remoteEndpoint: '10.9.0.1:7447',
      });
      const a = await policy();
      const inA = await pair(a, h4, nodes.h2);
      await drain();
      await c.admin.nodes.remove(h4.registration.node.id);
      await expectError(c.admin.nodes.get(h4.registration.node.id), 'NOT_FOUND');
      const links = (await c.admin.links.list()).items;
      expect(links.some((link) => [link.nodeA, link.nodeZ].includes(h4.registration.node.id))).toBe(false);
      const commands = (await nodes.e1.sb.keepalive()).commands.filter(
        (command) => command.kind === 'revocation',
      );
      expect(commands.flatMap((command) => (command.payload as { serials: string[] }).serials)).toEqual([
        inA.client.authorization.serial,
      ]);
      expect(
        commands.flatMap((command) => (command.payload as { hostIds?: string[] }).hostIds ?? []),
      ).toEqual([h4.hostId.toLowerCase()]);
      // The peer host learns the host id too; its own endpoint stays.
      const h2Commands = (await nodes.h2.sb.keepalive()).commands;
      expect(
        h2Commands.flatMap((command) => (command.payload as { hostIds?: string[] }).hostIds ?? []),
      ).toEqual([h4.hostId.toLowerCase()]);
      expect((await c.admin.authorizations.get(inA.server.authorization.id)).revokedAt).toBeNull();
      // The deleted node's token no longer works.
      await expectError(h4.sb.keepalive(), 'NODE_NOT_REGISTERED');
      // Its host id may not register again while its certificates could still be valid …
      const fresh = createSouthboundClient({ baseUrl: c.urls.southboundUrl });
      await fresh.login({ domain: 'default', username: 'hosts', password: nodePassword });
      const { nonce } = await fresh.nonce();
      await expectError(
        fresh.register(registrationBody(h4.identity, nonce, { type: 'host', hostname: 'h4' })),
        'FORBIDDEN',
      );
      // … and a node registering later (a new or restarted engine) learns every revoked serial
      // still valid (earlier tests revoked some) and the decommissioned host id in its first keep-alive.
      const e3 = await registerNode(
        c.urls.southboundUrl,
        { domain: 'default', username: 'engines', password: nodePassword },
        { type: 'engine', hostname: 'e3' },
      );
      const catchUp = (await e3.sb.keepalive()).commands.filter((command) => command.kind === 'revocation');
      const payloads = catchUp.map((command) => command.payload as { serials: string[]; hostIds?: string[] });
      // (The deleted node's own serials went with its records: its host id, refused, covers them.)
      expect(payloads.flatMap((p) => p.hostIds ?? [])).toContain(h4.hostId.toLowerCase());
      const revokedCount = (await c.admin.authorizations.list({ limit: 1000 })).items.filter(
        (a) => a.revokedAt !== null && Date.parse(a.notAfter) > Date.now(),
      ).length;
      expect(payloads.flatMap((p) => p.serials)).toHaveLength(revokedCount);
    });

    it('a connected engine gets the revocation pushed within a second of the API call', async () => {
      const a = await policy();
      const inA = await pair(a);
      await drain();
      const events: PushEvent[] = [];
      const abort = new AbortController();
      await nodes.e1.sb.events((event) => events.push(event), abort.signal);
      try {
        // Timed from the call's start to the push, watched while the call is in flight: the push
        // goes out after the commit, before the rest of the answer's work (paths and role routes
        // recomputed for every endpoint left by the tests above, slow on a loaded machine).
        const started = performance.now();
        const call = c.admin.contracts.update(a.contract.id, { enabled: false });
        while (events.length === 0 && performance.now() - started < 1000)
          await new Promise((resolve) => setTimeout(resolve, 5));
        const elapsedMs = performance.now() - started;
        await call;
        expect(events[0]).toMatchObject({ kind: 'revocation' });
        const payload = (events[0]!.payload as { payload: { serials: string[] } }).payload;
        expect(payload.serials.sort()).toEqual(
          [inA.server.authorization.serial, inA.client.authorization.serial].sort(),
        );
        expect(elapsedMs).toBeLessThan(1000);
      } finally {
        abort.abort();
      }
    });
  });
}
