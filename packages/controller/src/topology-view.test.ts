/**
 * GET /api/v1/topology and GET /api/v1/endpoints/{id}/trace over HTTP on a real controller with
 * registered nodes, links and endpoints: every node and link is listed with its state, flow
 * counts follow the computed paths and the authorizations in force, a trace names the hops and
 * links of each path, and the answers respect roles and domains; malformed ids are refused.
 */
import { ApiError, COMMAND_ACKS_MAX, createApiClient } from '@capsule/api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerNode, startController, tinyProgram } from '../test/harness';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return error instanceof ApiError ? error.code : undefined;
}

describe('topology and trace views', () => {
  let c: Awaited<ReturnType<typeof startController>>;
  const ids: Record<string, number> = {};
  const hostIds: Record<string, string> = {};
  let clientEndpoint: number;
  let serverEndpoint: number;
  let serviceToken: string;
  let e1Client: Awaited<ReturnType<typeof registerNode>>['sb'];

  beforeAll(async () => {
    c = await startController('sqlite');
    const zone = await c.admin.zones.create({ name: 'zone-topo', netprefix: 'fd00:8:8:8::/64' });
    const password = 'node-password-1';
    await c.admin.users.create({
      login: 'nodes',
      password,
      roles: ['hostOwner', 'engineOwner'],
      zoneId: zone.id,
    });
    const credentials = { domain: 'default', username: 'nodes', password };
    const nodes: Record<string, Awaited<ReturnType<typeof registerNode>>> = {};
    for (const [hostname, type] of [
      ['t-h1', 'host'],
      ['t-e1', 'engine'],
      ['t-e2', 'engine'],
      ['t-h2', 'host'],
    ] as const) {
      nodes[hostname] = await registerNode(c.urls.southboundUrl, credentials, { type, hostname });
      ids[hostname] = nodes[hostname].registration.node.id;
      hostIds[hostname] = nodes[hostname].hostId;
    }
    e1Client = nodes['t-e1']!.sb;
    const link = (from: string, to: string, n: number, cost?: number) =>
      nodes[from]!.sb.registerLink({
        peerHostId: hostIds[to]!,
        localEndpoint: `10.9.${n}.1:7447`,
        remoteEndpoint: `10.9.${n}.2:7447`,
        ...(cost === undefined ? {} : { cost }),
      });
    await link('t-h1', 't-e1', 0);
    await link('t-e1', 't-e2', 1);
    await link('t-e2', 't-h2', 2);
    await link('t-h2', 't-e1', 3, 100);
    const template = await c.admin.templates.create({
      name: 'topo-template',
      image: tinyProgram(),
      roles: [
        { name: 'client', entry: 'client' },
        { name: 'server', entry: 'server' },
      ],
    });
    const contract = await c.admin.contracts.create({
      name: 'topo-web',
      templateId: template.id,
      roles: [
        { name: 'client', peer: 'server' },
        { name: 'server', peer: 'client' },
      ],
    });
    const service = await c.admin.services.create({
      name: 'topo-service',
      grants: [
        { contractId: contract.id, role: 'server' },
        { contractId: contract.id, role: 'client' },
      ],
    });
    serviceToken = (await c.admin.serviceTokens.create({ serviceId: service.id })).token!;
    serverEndpoint = (
      await nodes['t-h2']!.sb.registerEndpoint({ serviceToken, contract: 'topo-web', role: 'server' })
    ).endpoint.id;
    clientEndpoint = (
      await nodes['t-h1']!.sb.registerEndpoint({ serviceToken, contract: 'topo-web', role: 'client' })
    ).endpoint.id;
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('lists every node and link with its state, and counts flows on nodes and links', async () => {
    const topology = await c.admin.topology();
    expect(topology.nodes.map((n) => n.hostname).sort()).toEqual(['t-e1', 't-e2', 't-h1', 't-h2']);
    const node = (name: string) => topology.nodes.find((n) => n.hostname === name)!;
    expect(node('t-e1')).toMatchObject({ type: 'engine', status: 'registered', hostId: hostIds['t-e1'] });
    // One authorization in force on each host, none on the engines.
    expect(topology.nodes.map((n) => [n.hostname, n.flows])).toEqual(
      expect.arrayContaining([
        ['t-h1', 1],
        ['t-h2', 1],
        ['t-e1', 0],
        ['t-e2', 0],
      ]),
    );
    // Two computed paths (client → server, server → client), each through all four nodes.
    expect(topology.nodes.map((n) => n.paths)).toEqual([2, 2, 2, 2]);
    expect(topology.links).toHaveLength(4);
    const between = (a: string, z: string) =>
      topology.links.find(
        (l) => (l.nodeA === ids[a] && l.nodeZ === ids[z]) || (l.nodeA === ids[z] && l.nodeZ === ids[a]),
      )!;
    // Both directions (client → server, server → client) cross h1–e1–e2–h2; the cost-100 link none.
    expect(between('t-h1', 't-e1')).toMatchObject({ cost: 10, usable: true, flows: 2, adminState: 'up' });
    expect(between('t-e1', 't-e2').flows).toBe(2);
    expect(between('t-e2', 't-h2').flows).toBe(2);
    expect(between('t-h2', 't-e1')).toMatchObject({ cost: 100, flows: 0 });

    // Take e1–e2 down: the paths move to the expensive link, the counts follow.
    await c.admin.links.update(between('t-e1', 't-e2').id, { adminState: 'down' });
    const after = await c.admin.topology();
    const linkOf = (id: number) => after.links.find((l) => l.id === id)!;
    expect(linkOf(between('t-e1', 't-e2').id)).toMatchObject({ usable: false, flows: 0, adminState: 'down' });
    expect(linkOf(between('t-h2', 't-e1').id).flows).toBe(2);
    await c.admin.links.update(between('t-e1', 't-e2').id, { adminState: 'up' });
  });

  it('shows what a node last reported in its keep-alive: an engine’s live flows', async () => {
    const before = await c.admin.topology();
    expect(before.nodes.find((n) => n.id === ids['t-e1'])!.liveFlows).toBeNull();
    await e1Client.keepalive({ statistics: { liveFlows: 7, packetsIn: 120, drops: 1 } });
    const after = await c.admin.topology();
    const e1 = after.nodes.find((n) => n.id === ids['t-e1'])!;
    expect(e1.liveFlows).toBe(7);
    expect(e1.lastKeepaliveAt).not.toBeNull();
    expect(after.nodes.find((n) => n.id === ids['t-e2'])!.liveFlows).toBeNull();
    // A keep-alive without statistics keeps the last ones; one without liveFlows reads as none.
    await e1Client.keepalive({});
    expect((await c.admin.topology()).nodes.find((n) => n.id === ids['t-e1'])!.liveFlows).toBe(7);
    await e1Client.keepalive({ statistics: { packetsIn: 5 } });
    expect((await c.admin.topology()).nodes.find((n) => n.id === ids['t-e1'])!.liveFlows).toBeNull();
    // Statistics are bounded by the request schema: too many, or not numbers, are refused.
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`s${i}`, i]));
    expect(await codeOf(e1Client.keepalive({ statistics: many }))).toBe('VALIDATION_FAILED');
    expect(
      await codeOf(
        e1Client.keepalive({ statistics: { liveFlows: 'x' } as unknown as Record<string, number> }),
      ),
    ).toBe('VALIDATION_FAILED');
    // So are acknowledgements: command ids only (whole, 1..2^31-1), at most COMMAND_ACKS_MAX.
    for (const acked of [
      [0],
      [-3],
      [1.5],
      [2 ** 31],
      ['7'],
      Array.from({ length: COMMAND_ACKS_MAX + 1 }, (_, i) => i + 1),
    ])
      expect(await codeOf(e1Client.keepalive({ acked: acked as number[] }))).toBe('VALIDATION_FAILED');
    await expect(
      e1Client.keepalive({ acked: Array.from({ length: COMMAND_ACKS_MAX }, (_, i) => i + 1) }),
    ).resolves.toMatchObject({ commands: expect.any(Array) });
  });

  it('traces an endpoint: each peer, its cost and the hops with the links between them', async () => {
    const trace = await c.admin.endpoints.trace(serverEndpoint);
    expect(trace).toMatchObject({ endpointId: serverEndpoint, role: 'server', nodeId: ids['t-h2'] });
    expect(trace.paths).toHaveLength(1);
    const [path] = trace.paths;
    expect(path).toMatchObject({ peerRole: 'client', peerHostId: hostIds['t-h1'], cost: 30 });
    expect(path!.hops.map((hop) => hop.hostname)).toEqual(['t-h2', 't-e2', 't-e1', 't-h1']);
    expect(path!.hops[0]!.linkId).toBeNull();
    const links = (await c.admin.links.list()).items;
    for (let i = 1; i < path!.hops.length; i += 1) {
      const link = links.find((l) => l.id === path!.hops[i]!.linkId)!;
      expect([link.nodeA, link.nodeZ].sort()).toEqual(
        [path!.hops[i - 1]!.nodeId, path!.hops[i]!.nodeId].sort(),
      );
    }
    expect((await c.admin.endpoints.trace(clientEndpoint)).paths[0]!.hops.map((hop) => hop.type)).toEqual([
      'host',
      'engine',
      'engine',
      'host',
    ]);
  });

  it('answers within the caller’s roles and domain', async () => {
    await c.admin.domains.create({ name: 'topo-other', kind: 'application' });
    await c.admin.users.create({
      login: 'other-admin',
      domain: 'topo-other',
      password: 'other-password-1',
      roles: ['domainAdmin'],
    });
    const other = createApiClient({ baseUrl: c.urls.northboundUrl });
    await other.login({ domain: 'topo-other', username: 'other-admin', password: 'other-password-1' });
    const seen = await other.topology();
    expect(seen.nodes).toEqual([]);
    expect(seen.links).toEqual([]);
    expect(await codeOf(other.endpoints.trace(serverEndpoint))).toBe('NOT_FOUND');

    // A host owner sees nodes and links, not flow counts, and may not trace.
    await c.admin.users.create({ login: 'owner', password: 'owner-password-1', roles: ['hostOwner'] });
    const owner = createApiClient({ baseUrl: c.urls.northboundUrl });
    await owner.login({ domain: 'default', username: 'owner', password: 'owner-password-1' });
    const owned = await owner.topology();
    expect(owned.nodes).toHaveLength(4);
    expect(owned.nodes.every((n) => n.flows === null && n.paths === null)).toBe(true);
    expect(owned.links.every((l) => l.flows === null)).toBe(true);
    expect(await codeOf(owner.endpoints.trace(serverEndpoint))).toBe('FORBIDDEN');

    const anonymous = createApiClient({ baseUrl: c.urls.northboundUrl });
    expect(await codeOf(anonymous.topology())).toBe('UNAUTHENTICATED');
    expect(await codeOf(anonymous.endpoints.trace(serverEndpoint))).toBe('UNAUTHENTICATED');
  });

  it('stops counting a revoked authorization and the paths of its endpoint', async () => {
    const authorization = (await c.admin.authorizations.list()).items.find((a) => a.nodeId === ids['t-h1'])!;
    await c.admin.authorizations.revoke(authorization.id);
    const revoked = await c.admin.topology();
    expect(revoked.nodes.find((n) => n.id === ids['t-h1'])!.flows).toBe(0);
    // The client endpoint is gone: only the server's path (to no peer now) is left: no link carries one.
    expect(revoked.links.map((l) => l.flows)).toEqual([0, 0, 0, 0]);
    expect(revoked.nodes.map((n) => n.paths)).toEqual([0, 0, 0, 0]);
    expect((await c.admin.endpoints.trace(serverEndpoint)).paths).toEqual([]);
  });

  it('refuses malformed and unknown endpoint ids with a clear error', async () => {
    expect(await codeOf(c.admin.endpoints.trace(999_999))).toBe('NOT_FOUND');
    const texts = fc.sample(
      fc.oneof(
        fc.constantFrom('0', '-1', '0x1', '01', '1e0', '+1', '2147483648', 'abc', '%00', '1.5'),
        fc.string({ maxLength: 12 }).filter((s) => !/^[1-9][0-9]{0,8}$/.test(s)),
      ),
      { numRuns: 60, seed: 20261205 },
    );
    for (const text of texts) {
      const response = await fetch(
        `${c.urls.northboundUrl}/api/v1/endpoints/${encodeURIComponent(text)}/trace`,
        { headers: { authorization: `Bearer ${c.admin.token}` } },
      );
      expect([400, 404], text).toContain(response.status);
      const body = (await response.json()) as { code: string };
      expect(['VALIDATION_FAILED', 'NOT_FOUND'], text).toContain(body.code);
    }
  });
});
