/**
 * The authorization matrix: every role × every northbound endpoint × own/other domain → the
 * expected HTTP status. The expectation is written here from the product rules (docs/controller.md,
 * "Roles"), independently of the controller's permission table, and every cell is exercised with a
 * real request against a real controller; each mutation gets a fresh target object.
 */
import { randomBytes } from 'node:crypto';
import { type ApiClient, ApiError, createApiClient, type RoleName } from '@capsule/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerNode, startController, tinyProgram } from './harness';

type Resource =
  | 'domains'
  | 'users'
  | 'zones'
  | 'nodes'
  | 'links'
  | 'peerings'
  | 'templates'
  | 'contracts'
  | 'services'
  | 'service-tokens'
  | 'endpoints'
  | 'authorizations'
  | 'audit';
type Action = 'list' | 'get' | 'create' | 'update' | 'delete' | 'revoke';
type Scope = 'own' | 'other';

const roles: readonly RoleName[] = [
  'systemAdmin',
  'domainAdmin',
  'contractAdmin',
  'hostOwner',
  'engineOwner',
];
const everyone = roles;
const admins: readonly RoleName[] = ['systemAdmin', 'domainAdmin'];
const policy: readonly RoleName[] = ['systemAdmin', 'domainAdmin', 'contractAdmin'];
const system: readonly RoleName[] = ['systemAdmin'];

/** Who may do what (docs/controller.md, "Roles"). */
const rules: Record<
  Resource,
  { read: readonly RoleName[]; write?: readonly RoleName[]; revoke?: readonly RoleName[] }
> = {
  domains: { read: everyone, write: system },
  users: { read: admins, write: admins },
  zones: { read: everyone, write: system },
  nodes: { read: everyone, write: admins },
  links: { read: everyone, write: admins },
  peerings: { read: admins, write: system },
  templates: { read: policy, write: admins },
  contracts: { read: policy, write: policy },
  services: { read: policy, write: policy },
  'service-tokens': { read: policy, write: policy },
  endpoints: { read: policy },
  authorizations: { read: policy, revoke: policy },
  audit: { read: admins },
};

const okStatus: Record<Action, number> = {
  list: 200,
  get: 200,
  create: 201,
  update: 200,
  delete: 204,
  revoke: 200,
};

/** The expected status of one cell. */
function expected(role: RoleName, resource: Resource, action: Action, scope: Scope): number {
  const rule = rules[resource];
  const allowed =
    action === 'list' || action === 'get'
      ? rule.read
      : action === 'revoke'
        ? (rule.revoke ?? [])
        : (rule.write ?? []);
  if (!allowed.includes(role)) return 403;
  // A systemAdmin acts everywhere; zones belong to no domain.
  if (role === 'systemAdmin' || resource === 'zones' || scope === 'own') return okStatus[action];
  if (action === 'list') return 200; // the list leaves other domains' objects out (checked below)
  if (action === 'create') return 403; // creating in another domain
  return 404; // other domains' objects are invisible
}

const unique = () => randomBytes(4).toString('hex');

describe('authorization matrix', () => {
  let c: Awaited<ReturnType<typeof startController>>;
  let admin: ApiClient;
  let zoneId: number;
  const clients = new Map<RoleName, ApiClient>();
  /** Long-lived objects per domain for reads (and the registered host per domain). */
  const fixed: Record<'A' | 'B', Record<string, number>> = { A: {}, B: {} };
  const hosts: Partial<Record<'A' | 'B', Awaited<ReturnType<typeof registerNode>>>> = {};
  const tokens: Partial<Record<'A' | 'B', string>> = {};

  const domainName = (d: 'A' | 'B') => (d === 'A' ? 'dom-a' : 'dom-b');

  /** A fresh engine node in domain `d` (a host's link goes to an engine). */
  async function freshEngine(d: 'A' | 'B'): Promise<number> {
    const domain = domainName(d);
    return (await admin.nodes.create({ type: 'engine', hostname: `n-${unique()}`, zoneId, domain })).id;
  }

  /** Creates a fresh object of `resource` in domain `d` (as systemAdmin) and returns its id. */
  async function fresh(resource: Resource, d: 'A' | 'B'): Promise<number> {
    const domain = domainName(d);
    switch (resource) {
      case 'domains':
        return (await admin.domains.create({ name: `d-${unique()}`, kind: 'application' })).id;
      case 'users':
        return (
          await admin.users.create({
            login: `u-${unique()}`,
            domain,
            password: 'user-password-1',
            roles: ['hostOwner'],
          })
        ).id;
      case 'zones':
        return (await admin.zones.create({ name: `z-${unique()}`, netprefix: 'fd00:99::/64' })).id;
      case 'nodes':
        return (await admin.nodes.create({ type: 'host', hostname: `n-${unique()}`, zoneId, domain })).id;
      case 'links': {
        // A host's attachment to an engine (hosts link to engines only).
        const a = await fresh('nodes', d);
        const z = await freshEngine(d);
        return (await admin.links.create({ nodeA: a, nodeZ: z, domain })).id;
      }
      case 'peerings':
        return (await admin.peerings.create({ domain, peerDomain: domainName(d === 'A' ? 'B' : 'A') })).id;
      case 'templates':
        return (
          await admin.templates.create({
            name: `t-${unique()}`,
            domain,
            image: tinyProgram(),
            roles: [
              { name: 'client', entry: 'client' },
              { name: 'server', entry: 'server' },
            ],
          })
        ).id;
      case 'contracts':
        return (
          await admin.contracts.create({
            name: `c-${unique()}`,
            domain,
            templateId: await fresh('templates', d),
            roles: [
              { name: 'client', peer: 'server' },
              { name: 'server', peer: 'client' },
            ],
          })
        ).id;
      case 'services':
        return (await admin.services.create({ name: `s-${unique()}`, domain })).id;
      case 'service-tokens':
        return (await admin.serviceTokens.create({ serviceId: await fresh('services', d) })).id;
      case 'authorizations': {
        const answer = await hosts[d]!.sb.registerEndpoint({
          serviceToken: tokens[d]!,
          contract: `web-${d}`,
          role: 'client',
        });
        return answer.authorization.id;
      }
      default:
        throw new Error(`no fresh ${resource}`);
    }
  }

  /** The body that creates a `resource` in domain `d`. */
  async function createBody(resource: Resource, d: 'A' | 'B'): Promise<unknown> {
    const domain = domainName(d);
    switch (resource) {
      case 'domains':
        return { name: `d-${unique()}`, kind: 'application' };
      case 'users':
        return { login: `u-${unique()}`, domain, password: 'user-password-1', roles: ['hostOwner'] };
      case 'zones':
        return { name: `z-${unique()}`, netprefix: 'fd00:98::/64' };
      case 'nodes':
        return { type: 'engine', hostname: `n-${unique()}`, zoneId, domain };
      case 'links':
        return { nodeA: fixed[d].node!, nodeZ: await freshEngine(d), domain };
      case 'peerings':
        return { domain, peerDomain: domainName(d === 'A' ? 'B' : 'A') };
      case 'templates':
        return {
          name: `t-${unique()}`,
          domain,
          image: tinyProgram(),
          roles: [{ name: 'one', entry: 'client' }],
        };
      case 'contracts':
        return {
          name: `c-${unique()}`,
          domain,
          templateId: fixed[d].template!,
          roles: [{ name: 'client', peer: 'client' }],
        };
      case 'services':
        return { name: `s-${unique()}`, domain };
      case 'service-tokens':
        return { serviceId: fixed[d].service! };
      default:
        throw new Error(`no create body for ${resource}`);
    }
  }

  const patchBodies: Partial<Record<Resource, unknown>> = {
    domains: { description: 'changed' },
    users: { active: true },
    zones: { description: 'changed' },
    nodes: { hostname: 'renamed' },
    links: { cost: 5 },
    peerings: { description: 'changed' },
    templates: { description: 'changed' },
    contracts: { description: 'changed' },
    services: { description: 'changed' },
    'service-tokens': { ttlSeconds: 3600 },
  };

  beforeAll(async () => {
    c = await startController('sqlite');
    admin = c.admin;
    zoneId = (await admin.zones.create({ name: 'zone-m', netprefix: 'fd00:5:5:5::/64' })).id;
    for (const d of ['A', 'B'] as const) {
      const domain = domainName(d);
      await admin.domains.create({ name: domain, kind: 'application' });
      fixed[d].domain = (await admin.domains.list({ limit: 1000 })).items.find((x) => x.name === domain)!.id;
      await admin.users.create({
        login: 'node-user',
        domain,
        password: 'user-password-1',
        roles: ['hostOwner'],
        zoneId,
      });
      hosts[d] = await registerNode(
        c.urls.southboundUrl,
        { domain, username: 'node-user', password: 'user-password-1' },
        { type: 'host', hostname: `host-${d}` },
      );
      fixed[d].node = hosts[d]!.registration.node.id;
      fixed[d].template = await fresh('templates', d);
      const contract = await admin.contracts.create({
        name: `web-${d}`,
        domain,
        templateId: fixed[d].template!,
        roles: [
          { name: 'client', peer: 'server' },
          { name: 'server', peer: 'client' },
        ],
      });
      const service = await admin.services.create({
        name: `svc-${d}`,
        domain,
        grants: [
          { contractId: contract.id, role: 'client' },
          { contractId: contract.id, role: 'server' },
        ],
      });
      fixed[d].service = service.id;
      tokens[d] = (await admin.serviceTokens.create({ serviceId: service.id })).token!;
      // The server role: fresh authorizations renew the client endpoint, and revoking one deletes it.
      const endpoint = await hosts[d]!.sb.registerEndpoint({
        serviceToken: tokens[d]!,
        contract: `web-${d}`,
        role: 'server',
      });
      fixed[d].endpoint = endpoint.endpoint.id;
    }
    // One user per role, all in domain A.
    for (const role of roles) {
      const login = `as-${role.toLowerCase()}`;
      await admin.users.create({ login, domain: 'dom-a', password: 'user-password-1', roles: [role] });
      const client = createApiClient({ baseUrl: c.urls.northboundUrl });
      await client.login({ domain: 'dom-a', username: login, password: 'user-password-1' });
      clients.set(role, client);
    }
  });
  afterAll(async () => c?.stop());

  /** An id of an existing object of `resource` in domain `d`, for reads. */
  async function existing(resource: Resource, d: 'A' | 'B'): Promise<number> {
    switch (resource) {
      case 'domains':
        return fixed[d].domain!;
      case 'nodes':
        return fixed[d].node!;
      case 'templates':
        return fixed[d].template!;
      case 'services':
        return fixed[d].service!;
      case 'endpoints':
        return fixed[d].endpoint!;
      case 'audit': {
        const entries = await admin.audit.list({ limit: 1000 });
        return entries.items.find((entry) => entry.domainId === fixed[d].domain)!.id;
      }
      default:
        return fresh(resource, d);
    }
  }

  async function status(client: ApiClient, method: string, path: string, body?: unknown): Promise<number> {
    try {
      const answer = await client.request(method, path, body);
      return answer.status;
    } catch (error) {
      if (error instanceof ApiError) return error.status;
      throw error;
    }
  }

  const resources = Object.keys(rules) as Resource[];
  const byIdPath = (resource: Resource, id: number) => `/api/v1/${resource}/${id}`;

  for (const role of roles) {
    it(`${role}: every endpoint, own and other domain`, async () => {
      const client = clients.get(role)!;
      const actual: string[] = [];
      const wanted: string[] = [];
      const record = (resource: Resource, action: Action, scope: Scope, got: number) => {
        actual.push(`${resource} ${action} ${scope} → ${got}`);
        wanted.push(`${resource} ${action} ${scope} → ${expected(role, resource, action, scope)}`);
      };
      for (const resource of resources) {
        const listStatus = await status(client, 'GET', `/api/v1/${resource}?limit=1000`);
        record(resource, 'list', 'own', listStatus);
        if (listStatus === 200 && role !== 'systemAdmin' && resource !== 'zones') {
          const { body } = await client.request<{ items: { domainId?: number; id: number }[] }>(
            'GET',
            `/api/v1/${resource}?limit=1000`,
          );
          const foreign = body.items.filter((item) =>
            resource === 'domains' ? item.id !== fixed.A.domain : item.domainId !== fixed.A.domain,
          );
          expect(foreign, `${role} lists ${resource} of other domains`).toEqual([]);
        }
        for (const scope of ['own', 'other'] as const) {
          const d = scope === 'own' ? 'A' : 'B';
          record(
            resource,
            'get',
            scope,
            await status(client, 'GET', byIdPath(resource, await existing(resource, d))),
          );
          const rule = rules[resource];
          if (rule.write) {
            record(
              resource,
              'create',
              scope,
              await status(client, 'POST', `/api/v1/${resource}`, await createBody(resource, d)),
            );
            record(
              resource,
              'update',
              scope,
              await status(
                client,
                'PATCH',
                byIdPath(resource, await fresh(resource, d)),
                patchBodies[resource],
              ),
            );
            record(
              resource,
              'delete',
              scope,
              await status(client, 'DELETE', byIdPath(resource, await fresh(resource, d))),
            );
          }
          if (rule.revoke)
            record(
              resource,
              'revoke',
              scope,
              await status(client, 'POST', `${byIdPath(resource, await fresh(resource, d))}/revoke`, {}),
            );
        }
      }
      expect(actual).toEqual(wanted);
      expect(actual.length).toBe(13 + 13 * 2 + 10 * 2 * 3 + 2);
    });
  }

  it('the topology and trace views: every role, own and other domain', async () => {
    const actual: string[] = [];
    const wanted: string[] = [];
    for (const role of roles) {
      const client = clients.get(role)!;
      // Everyone reads the topology of their domain (a systemAdmin: all); the counts need the
      // read permission of what they count (authorizations: node flows; endpoints: paths).
      const { body } = await client.request<{
        nodes: { id: number; flows: number | null; paths: number | null }[];
      }>('GET', '/api/v1/topology');
      const seen = (id: number) => body.nodes.some((n) => n.id === id);
      const counts = body.nodes.every((n) => n.flows !== null && n.paths !== null);
      const noCounts = body.nodes.every((n) => n.flows === null && n.paths === null);
      actual.push(
        `${role} topology: own ${seen(fixed.A.node!)} other ${seen(fixed.B.node!)} counts ${counts}`,
      );
      wanted.push(
        `${role} topology: own true other ${role === 'systemAdmin'} counts ${policy.includes(role)}`,
      );
      expect(counts || noCounts, `${role}: all counts or none`).toBe(true);
      // The trace reads an endpoint: endpoint rules.
      for (const scope of ['own', 'other'] as const) {
        const endpoint = scope === 'own' ? fixed.A.endpoint! : fixed.B.endpoint!;
        actual.push(
          `${role} trace ${scope} → ${await status(client, 'GET', `/api/v1/endpoints/${endpoint}/trace`)}`,
        );
        wanted.push(`${role} trace ${scope} → ${expected(role, 'endpoints', 'get', scope)}`);
      }
    }
    expect(actual).toEqual(wanted);
  });

  it('a domainAdmin cannot hand out systemAdmin, nor touch a systemAdmin', async () => {
    const domainAdmin = clients.get('domainAdmin')!;
    expect(
      await status(domainAdmin, 'POST', '/api/v1/users', {
        login: `x-${unique()}`,
        password: 'user-password-1',
        roles: ['systemAdmin'],
      }),
    ).toBe(403);
    const sysUser = (await admin.users.list({ limit: 1000 })).items.find(
      (u) => u.login === 'as-systemadmin',
    )!;
    expect(await status(domainAdmin, 'PATCH', `/api/v1/users/${sysUser.id}`, { active: false })).toBe(403);
    expect(await status(domainAdmin, 'DELETE', `/api/v1/users/${sysUser.id}`)).toBe(403);
    // Nor promote a user of its own domain, itself included, to systemAdmin.
    const users = (await admin.users.list({ limit: 1000 })).items;
    for (const login of ['as-hostowner', 'as-domainadmin']) {
      const user = users.find((u) => u.login === login)!;
      expect(await status(domainAdmin, 'PATCH', `/api/v1/users/${user.id}`, { roles: ['systemAdmin'] })).toBe(
        403,
      );
      expect((await admin.users.get(user.id)).roles).not.toContain('systemAdmin');
    }
  });

  it('no user deletes itself (a domainAdmin or a systemAdmin)', async () => {
    const users = (await admin.users.list({ limit: 1000 })).items;
    for (const role of ['domainAdmin', 'systemAdmin'] as const) {
      const self = users.find((u) => u.login === `as-${role.toLowerCase()}`)!;
      expect(await status(clients.get(role)!, 'DELETE', `/api/v1/users/${self.id}`)).toBe(403);
      expect((await admin.users.get(self.id)).login).toBe(self.login);
    }
  });

  it('only a systemAdmin rotates the controller signing key', async () => {
    for (const role of roles.filter((r) => r !== 'systemAdmin'))
      expect(await status(clients.get(role)!, 'POST', '/api/v1/signing-keys/rotate', {}), role).toBe(403);
  });
});
