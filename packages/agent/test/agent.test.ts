/**
 * The agent against a real controller over a real HTTP API, on the in-process underlay: start-up
 * (keys, CGA, registration), endpoints through the REST API, the resolver through node:dns,
 * hostile REST input, restart keeps keys and CGA, controller restart survived.
 */
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIpv6Address, verifyCga } from '@capsule/identity';
import { createNativeFastPath, isNativeAddonAvailable } from '@capsule/native';
import { createMemoryNetwork } from '@capsule/overlay';
import { createManualClock } from '@capsule/testkit';
import { systemClock } from '@capsule/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Agent,
  createAgent,
  createMemoryIdentityStore,
  defaultAgentOptions,
  defaultResolverOptions,
  defaultRestApiOptions,
} from '../src/index';
import { freePort, netprefix, startControllerFixture } from './fixture';

type Fixture = Awaited<ReturnType<typeof startControllerFixture>>;

describe('agent with a real controller', () => {
  let fixture: Fixture;
  const network = createMemoryNetwork();
  const stores = { a: createMemoryIdentityStore(), b: createMemoryIdentityStore() };
  const agents: Record<string, Agent> = {};
  const tokenDir = mkdtempSync(join(tmpdir(), 'capsule-agent-token-'));
  const base = () => ({
    ...defaultAgentOptions,
    controllerUrl: fixture.urls.southboundUrl,
    credentials: fixture.credentials,
    tun: undefined,
    cgaSec: 0,
    keepaliveIntervalMs: 300,
    retryIntervalMs: 100,
    groupKeySwitchDelayMs: 1500,
  });

  const transports: Record<string, ReturnType<typeof network.attach>> = {};
  async function startAgent(name: 'a' | 'b', port: number): Promise<Agent> {
    await transports[name]?.close();
    transports[name] = network.attach({ host: `10.0.0.${name === 'a' ? 1 : 2}`, port: 7447 });
    const agent = createAgent(
      {
        ...base(),
        hostName: `host-${name}.example`,
        rest: {
          ...defaultRestApiOptions,
          socketPath: undefined,
          tcp: { host: '127.0.0.1', port: 0 },
          tokenFile: join(tokenDir, `${name}.token`),
          bodyLimitBytes: 4096,
        },
        resolver: { ...defaultResolverOptions, host: '127.0.0.1', port },
      },
      { identityStore: stores[name], transport: transports[name] },
    );
    await agent.start();
    agents[name] = agent;
    return agent;
  }

  // Over TCP every request carries the bearer token the agent wrote (rest-access.test.ts: without it, 401).
  const rest = (agent: Agent, path: string, init?: RequestInit) => {
    const address = agent.restAddress()!;
    const name = agent === agents.a ? 'a' : 'b';
    const token = readFileSync(join(tokenDir, `${name}.token`), 'utf8').trim();
    return fetch(`http://127.0.0.1:${address.port}${path}`, {
      ...init,
      headers: { ...(init?.headers as Record<string, string>), authorization: `Bearer ${token}` },
    });
  };
  const post = (agent: Agent, path: string, body: string, contentType = 'application/json') =>
    rest(agent, path, { method: 'POST', body, headers: { 'content-type': contentType } });

  beforeAll(async () => {
    fixture = await startControllerFixture();
    await startAgent('a', await freePort());
    await startAgent('b', await freePort());
  }, 60_000);
  afterAll(async () => {
    for (const agent of Object.values(agents)) await agent.stop();
    await fixture?.stop();
    rmSync(tokenDir, { recursive: true, force: true });
  });

  it('starts as the seed says: keys, CGA under the zone netprefix, host registered', async () => {
    const a = agents.a!;
    const status = (await (await rest(a, '/api/v1/status')).json()) as Record<string, any>;
    expect(status.hostId).toBe(a.hostId);
    expect(status.hostId.startsWith('fd00:ca:5e:1:')).toBe(true);
    expect(status.controller).toMatchObject({ connected: true, registrations: 1 });
    const cga = stores.a.current!.cga!;
    expect(verifyCga(parseIpv6Address(cga.address)!, Buffer.from(cga.parameters, 'base64')).ok).toBe(true);
    expect(cga.netprefix).toBe(netprefix);
    const nodes = await fixture.admin.nodes.list();
    expect(nodes.items.map((node) => node.hostId).sort()).toEqual(
      [agents.a!.hostId, agents.b!.hostId].sort(),
    );
  });

  it('registers endpoints through the REST API and learns the peers (push/keep-alive path change)', async () => {
    const server = await post(
      agents.b!,
      '/api/v1/endpoints',
      JSON.stringify({ serviceToken: fixture.serviceToken, contract: 'shop', role: 'server' }),
    );
    expect(server.status).toBe(201);
    const client = await post(
      agents.a!,
      '/api/v1/endpoints',
      JSON.stringify({ serviceToken: fixture.serviceToken, name: 'client.shop.acme.capsule' }),
    );
    expect(client.status).toBe(201);
    const registered = (await client.json()) as Record<string, any>;
    expect(registered).toMatchObject({ name: 'client.shop.acme.capsule', role: 'client' });
    expect(registered.peers.map((p: { hostId: string }) => p.hostId)).toEqual([agents.b!.hostId]);
    // B registered first: it learns of A through the controller's path-change command.
    await expect
      .poll(
        async () =>
          ((await (await rest(agents.b!, '/api/v1/endpoints')).json()) as any).items[0].peers.length,
        {
          timeout: 5000,
        },
      )
      .toBe(1);
    const stats = await rest(agents.a!, `/api/v1/endpoints/${registered.id}/statistics`);
    expect(await stats.json()).toEqual({
      packetsOut: 0,
      bytesOut: 0,
      packetsIn: 0,
      bytesIn: 0,
      dropsOut: 0,
      dropsIn: 0,
    });
  });

  it('group keys: a joining member gets the current epoch; when one leaves, the member left opens both epochs and the sender switches after its delay', async () => {
    const keysOf = (agent: Agent, id: number) => agent.dataPlane!.flows.endpoints.get(id)?.groupKeys;
    const idOf = async (agent: Agent, role: string) =>
      (
        (await (await rest(agent, '/api/v1/endpoints')).json()) as { items: { id: number; role: string }[] }
      ).items.find((endpoint) => endpoint.role === role)!.id;
    const serverB = await idOf(agents.b!, 'server');
    const clientA = await idOf(agents.a!, 'client');
    const epochBefore = keysOf(agents.b!, serverB)!.open[0]!.epoch;
    expect(keysOf(agents.a!, clientA)!.seal.get('server')!.epoch).toBe(epochBefore);
    // A second server (on a) joins: the same epoch and secret as b's; nobody's keys change.
    const joined = await post(
      agents.a!,
      '/api/v1/endpoints',
      JSON.stringify({ serviceToken: fixture.serviceToken, contract: 'shop', role: 'server' }),
    );
    expect(joined.status).toBe(201);
    const serverA = ((await joined.json()) as { id: number }).id;
    expect(keysOf(agents.a!, serverA)!.open[0]).toEqual(keysOf(agents.b!, serverB)!.open[0]);
    // It leaves (unregistered through a's API): the role moves to the next epoch.
    expect((await rest(agents.a!, `/api/v1/endpoints/${serverA}`, { method: 'DELETE' })).status).toBe(204);
    await expect
      .poll(() => keysOf(agents.b!, serverB)!.open.map((key) => key.epoch), { timeout: 5000 })
      .toEqual([epochBefore + 1, epochBefore]);
    await expect
      .poll(() => keysOf(agents.a!, clientA)!.nextSeal.get('server')?.epoch, { timeout: 5000 })
      .toBe(epochBefore + 1);
    // The sender still seals under the old epoch (b opens it during its grace) until the switch
    // delay has passed since it was told (checked while the delay runs: a loaded machine may have
    // taken the whole delay to get here), then switches at the next tick.
    const waiting = keysOf(agents.a!, clientA)!.nextSeal.get('server')!;
    expect(waiting.fromMs).toBeGreaterThan(Date.now() - 1500);
    if (Date.now() < waiting.fromMs - 100)
      expect(keysOf(agents.a!, clientA)!.seal.get('server')!.epoch).toBe(epochBefore);
    await expect
      .poll(() => keysOf(agents.a!, clientA)!.seal.get('server')!.epoch, { timeout: 5000 })
      .toBe(epochBefore + 1);
    expect(keysOf(agents.a!, clientA)!.nextSeal.size).toBe(0);
  });

  it('resolves <role>.<contract>.<domain>.capsule with a real DNS client; role addresses under role.; NXDOMAIN and REFUSED otherwise', async () => {
    const a = agents.a!;
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${a.resolverAddress()!.port}`]);
    expect(await resolver.resolve6('server.shop.acme.capsule')).toEqual([agents.b!.hostId]);
    expect(await resolver.resolve6('client.shop.acme.capsule')).toEqual([a.hostId]);
    const [alias] = await resolver.resolve4('server.shop.acme.capsule');
    expect(alias).toMatch(/^100\.101\.0\.\d+$/);
    await expect(resolver.resolve6('nobody.shop.acme.capsule')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve6('example.com')).rejects.toMatchObject({ code: 'EREFUSED' });
    // role.<role>…: the role address (a's /64, then 02 00, the contract id, the role's hash).
    const [group] = await resolver.resolve6('role.server.shop.acme.capsule');
    const groupBytes = parseIpv6Address(group!)!;
    expect(groupBytes.subarray(0, 8)).toEqual(parseIpv6Address(a.hostId!)!.subarray(0, 8));
    expect([groupBytes[8], groupBytes[9]]).toEqual([0x02, 0x00]);
    await expect(resolver.resolve4('role.server.shop.acme.capsule')).rejects.toMatchObject({
      code: 'ENODATA',
    });
    const state = (await (await rest(a, '/api/v1/resolver')).json()) as Record<string, any>;
    expect(state.statistics).toMatchObject({ nxdomain: 1, refused: 1 });
    expect(state.names.map((n: { name: string }) => n.name).sort()).toEqual([
      'client.shop.acme.capsule',
      'role.client.shop.acme.capsule',
      'role.server.shop.acme.capsule',
      'server.shop.acme.capsule',
    ]);
    expect(
      state.names.find((n: { name: string }) => n.name === 'role.server.shop.acme.capsule').aaaa,
    ).toEqual([group]);
  });

  it('refuses hostile REST input with clear errors and keeps serving', async () => {
    const a = agents.a!;
    const bad = [
      await post(a, '/api/v1/endpoints', '{"serviceToken": "1:x", "contract": '),
      await post(
        a,
        '/api/v1/endpoints',
        JSON.stringify({ serviceToken: '1:xx', contract: 'shop', role: 'client', extra: 1 }),
      ),
      await post(
        a,
        '/api/v1/endpoints',
        JSON.stringify({ serviceToken: 5, contract: 'shop', role: 'client' }),
      ),
      await post(a, '/api/v1/endpoints', JSON.stringify({ serviceToken: '1:xx', name: 'a.b.capsule' })),
      await rest(a, '/api/v1/acl', {
        method: 'PUT',
        body: JSON.stringify({ in: ['permit everything'], out: [] }),
        headers: { 'content-type': 'application/json' },
      }),
      await rest(a, '/api/v1/endpoints/abc/statistics'),
      await post(a, '/api/v1/rekey', JSON.stringify({ endpoint: 'all' })),
      await post(a, '/api/v1/rekey', JSON.stringify({ endpoint: 0 })),
      await post(a, '/api/v1/rekey', JSON.stringify({ endpoint: 1, now: true })),
    ];
    expect(bad.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 400, 400, 400, 400]);
    // capsule agent rekey: every unicast flow, or one endpoint's; an unknown endpoint is a 404.
    const flows = (a.statistics() as { endpoints: unknown[] }).endpoints.length;
    expect(flows).toBeGreaterThan(0);
    expect(await (await post(a, '/api/v1/rekey', '{}')).json()).toMatchObject({ flows: expect.any(Number) });
    expect((await post(a, '/api/v1/rekey', JSON.stringify({ endpoint: 999_999 }))).status).toBe(404);
    for (const response of bad) expect(await response.json()).toHaveProperty('code');
    const huge = await post(
      a,
      '/api/v1/endpoints',
      JSON.stringify({ serviceToken: 'x'.repeat(10_000), contract: 'a', role: 'b' }),
    );
    expect(huge.status).toBe(413);
    const wrongToken = await post(
      a,
      '/api/v1/endpoints',
      JSON.stringify({ serviceToken: '1:00000000', contract: 'shop', role: 'client' }),
    );
    expect(wrongToken.status).toBe(403);
    expect(await wrongToken.json()).toMatchObject({ code: 'SERVICE_TOKEN_INVALID' });
    expect((await rest(a, '/api/v1/endpoints/999999')).status).toBe(404);
    expect((await rest(a, '/api/v1/status')).status).toBe(200);
    const acl = await rest(a, '/api/v1/acl', {
      method: 'PUT',
      body: JSON.stringify({ in: ['deny tcp port 22'], out: [] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(await acl.json()).toEqual({ in: ['deny tcp port 22'], out: [] });
    // A list with one bad rule is refused whole, with the reason; the lists in force stay.
    const badAcl = await rest(a, '/api/v1/acl', {
      method: 'PUT',
      body: JSON.stringify({ in: ['allow tcp port 80'], out: ['deny icmp port 1'] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(badAcl.status).toBe(400);
    expect(await badAcl.json()).toMatchObject({
      code: 'AGENT_BAD_ACL',
      message: expect.stringMatching(/port needs tcp or udp/),
    });
    expect(await (await rest(a, '/api/v1/acl')).json()).toEqual({ in: ['deny tcp port 22'], out: [] });
  });

  it('applies a path-change that arrives before the registration answer of the endpoint it names (held, then put on top of the answer)', async () => {
    const { db } = fixture.controller!.context.store;
    const nodeId = (await fixture.admin.nodes.list()).items.find(
      (node) => node.hostId === agents.a!.hostId,
    )!.id;
    // The id the next endpoint gets (SQLite autoincrement), and a view of it pushed first: no peers.
    const sequence = await db
      .selectFrom('sqlite_sequence' as never)
      .select('seq' as never)
      .where('name' as never, '=', 'endpoints' as never)
      .executeTakeFirst();
    const nextId = Number((sequence as { seq?: number } | undefined)?.seq ?? 0) + 1;
    const command = {
      id: 1_000_000,
      kind: 'path-change',
      payload: { endpoints: [{ endpointId: nextId, peers: [] }] },
      createdAt: new Date().toISOString(),
    };
    expect(
      fixture.controller!.context.hub.deliver({ kind: 'path-change', nodeIds: [nodeId], payload: command }),
    ).toBe(1);
    const statusOf = async () =>
      (await (await rest(agents.a!, '/api/v1/status')).json()) as Record<string, any>;
    await expect
      .poll(async () => (await statusOf()).controller.earlyPathChangesApplied, { timeout: 5000 })
      .toBe(0);
    const registered = await post(
      agents.a!,
      '/api/v1/endpoints',
      JSON.stringify({ serviceToken: fixture.serviceToken, contract: 'shop', role: 'server' }),
    );
    expect(registered.status).toBe(201);
    const endpoint = (await registered.json()) as { id: number };
    expect(endpoint.id).toBe(nextId);
    // The answer named a's client as a peer; the held update (newer) says none, and wins.
    expect(agents.a!.dataPlane!.flows.endpoints.get(nextId)!.peers).toEqual([]);
    expect((await statusOf()).controller.earlyPathChangesApplied).toBe(1);
    expect((await rest(agents.a!, `/api/v1/endpoints/${nextId}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('keeps the newer of two path-changes of an endpoint that arrive in the wrong order', async () => {
    const { db } = fixture.controller!.context.store;
    const a = agents.a!;
    const nodeId = (await fixture.admin.nodes.list()).items.find((node) => node.hostId === a.hostId)!.id;
    const registered = await post(
      a,
      '/api/v1/endpoints',
      JSON.stringify({ serviceToken: fixture.serviceToken, contract: 'shop', role: 'server' }),
    );
    expect(registered.status).toBe(201);
    const { id } = (await registered.json()) as { id: number };
    const spec = a.dataPlane!.flows.endpoints.get(id)!.spec;
    // Its view as the controller computes it (a's client endpoint as its peer).
    const peers = await fixture.controller!.context.peersOf(db, {
      nodeId,
      contractId: spec.contractId,
      role: 'server',
    });
    expect(peers.length).toBeGreaterThan(0);
    const pathChange = (commandId: number, view: unknown[]) => ({
      id: commandId,
      kind: 'path-change',
      payload: { endpoints: [{ endpointId: id, peers: view }] },
      createdAt: new Date().toISOString(),
    });
    const push = (command: unknown) =>
      fixture.controller!.context.hub.deliver({ kind: 'path-change', nodeIds: [nodeId], payload: command });
    const statusOf = async () => (await (await rest(a, '/api/v1/status')).json()) as Record<string, any>;
    const stale = (await statusOf()).controller.commandsRefused.stale;
    // The newer view (no peers) first, then the older one (its peers), on one channel.
    expect(push(pathChange(3_000_002, []))).toBe(1);
    expect(push(pathChange(3_000_001, peers))).toBe(1);
    await expect
      .poll(async () => (await statusOf()).controller.commandsRefused.stale, { timeout: 5000 })
      .toBe(stale + 1);
    expect(a.dataPlane!.flows.endpoints.get(id)!.peers).toEqual([]);
    // A newer one still applies.
    expect(push(pathChange(3_000_003, peers))).toBe(1);
    await expect
      .poll(() => a.dataPlane!.flows.endpoints.get(id)!.peers.length, { timeout: 5000 })
      .toBe(peers.length);
    expect((await rest(a, `/api/v1/endpoints/${id}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('survives a controller restart: keep-alives resume without manual action', async () => {
    const a = agents.a!;
    await fixture.stopController();
    await expect.poll(() => (a.status() as any).controller.connected, { timeout: 5000 }).toBe(false);
    await fixture.startController();
    await expect.poll(() => (a.status() as any).controller.connected, { timeout: 5000 }).toBe(true);
    const before = (a.status() as any).controller.keepalivesSent;
    await expect
      .poll(() => (a.status() as any).controller.keepalivesSent, { timeout: 5000 })
      .toBeGreaterThan(before);
  }, 20_000);

  it('keeps its keys and CGA across an agent restart', async () => {
    const hostId = agents.a!.hostId;
    const keyPem = stores.a.current!.rsaPrivateKeyPem;
    await agents.a!.stop();
    const again = await startAgent('a', await freePort());
    expect(again.hostId).toBe(hostId);
    expect(stores.a.current!.rsaPrivateKeyPem).toBe(keyPem);
    expect((again.status() as any).controller.connected).toBe(true);
  }, 30_000);
});

describe('agent options', () => {
  const options = {
    ...defaultAgentOptions,
    hostName: 'h',
    controllerUrl: 'http://127.0.0.1:1',
    credentials: { domain: 'd', username: 'u', password: 'p' },
  };
  const deps = {
    identityStore: createMemoryIdentityStore(),
    transport: createMemoryNetwork().attach({ host: '10.0.0.9', port: 1 }),
  };

  it('refuses a group key grace shorter than the senders’ switch delay (members would drop the epoch senders still seal under)', () => {
    for (const times of [
      { groupKeyGraceMs: 1000, groupKeySwitchDelayMs: 1001 },
      { groupKeyGraceMs: 1000, groupKeySwitchDelayMs: -1 },
      { groupKeyGraceMs: Number.NaN, groupKeySwitchDelayMs: 0 },
    ])
      expect(() => createAgent({ ...options, ...times }, deps)).toThrow(
        expect.objectContaining({ code: 'AGENT_BAD_OPTION' }),
      );
    expect(
      createAgent({ ...options, groupKeyGraceMs: 1000, groupKeySwitchDelayMs: 1000 }, deps),
    ).toBeDefined();
  });

  it.runIf(isNativeAddonAvailable())(
    'refuses a native fast path beside any clock but the system clock (the native side keeps CLOCK_REALTIME)',
    () => {
      const fastPath = createNativeFastPath();
      for (const clock of [createManualClock(Date.now()), { ...systemClock }]) {
        expect(() => createAgent(options, { ...deps, clock, fastPath })).toThrow(
          expect.objectContaining({
            code: 'AGENT_BAD_OPTION',
            message: expect.stringContaining('CLOCK_REALTIME'),
          }),
        );
        expect(createAgent(options, { ...deps, clock })).toBeDefined();
      }
      expect(createAgent(options, { ...deps, fastPath })).toBeDefined();
      expect(createAgent(options, { ...deps, clock: systemClock, fastPath })).toBeDefined();
    },
  );
});
