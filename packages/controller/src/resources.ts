/**
 * The northbound collections: for each, how a row reads as an API object and how create, update
 * and delete change the store. The routes (northbound.ts) do authentication, the permission
 * table, the domain rule, the transaction and the audit entry around these.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  ApiError,
  type ContractCreate,
  type ContractPatch,
  type DomainCreate,
  type DomainPatch,
  type LinkCreate,
  type LinkPatch,
  type NodeCreate,
  type NodePatch,
  type RoleName,
  type ServiceCreate,
  type ServicePatch,
  type ServiceTokenCreate,
  type ServiceTokenPatch,
  type TemplateCreate,
  type TemplatePatch,
  type UserCreate,
  type UserPatch,
  type ZoneCreate,
  type ZonePatch,
} from '@capsule/api';
import type { Kysely } from 'kysely';
import { hashPassword, hashSecret, type Principal } from './auth';
import type { ChangeEvent } from './context';
import type { ControllerIdentity, ProgramVerifier } from './ports';
import { type Resource, requireDomainWrite, requireGrantable } from './rbac';
import {
  toAudit,
  toAuthorization,
  toContract,
  toDomain,
  toEndpoint,
  toLink,
  toNode,
  toService,
  toServiceToken,
  toTemplate,
  toUser,
  toZone,
} from './rows';
import type { Database } from './store/schema';

// biome-ignore lint/suspicious/noExplicitAny: collections are addressed by name; rows are typed by the converters
export type AnyDb = Kysely<any>;
// biome-ignore lint/suspicious/noExplicitAny: see above
type Row = Record<string, any>;

/** Everything a write needs besides its body. */
export interface WriteContext {
  db: AnyDb;
  principal: Principal;
  nowMs: number;
  identity: ControllerIdentity | undefined;
  verifier: ProgramVerifier | undefined;
  /** Change events to publish once the transaction commits (path recomputation, pushes). */
  changes: ChangeEvent[];
  /** Extra fields for the create response (a service token's secret, shown once). */
  extras: Record<string, unknown>;
}

/** One northbound collection. */
export interface CollectionSpec {
  resource: Resource;
  table: keyof Database;
  /** True when rows have a domain_id (false: global, or the domain is the row itself). */
  domainColumn: 'domain_id' | 'id' | null;
  toApi(row: Row): unknown;
  create?(ctx: WriteContext, body: never): Promise<number>;
  update?(ctx: WriteContext, row: Row, body: never): Promise<void>;
  remove?(ctx: WriteContext, row: Row): Promise<void>;
}

const iso = (ms: number) => new Date(ms).toISOString();
const json = (value: unknown) => JSON.stringify(value);
const parse = <T>(text: string): T => JSON.parse(text) as T;

/** The id of the domain called `name` (or the caller's when absent); REFERENCE_NOT_FOUND otherwise. */
async function resolveDomain(ctx: WriteContext, name: string | undefined): Promise<number> {
  if (name === undefined) return ctx.principal.domainId;
  const row = await ctx.db.selectFrom('domains').select('id').where('name', '=', name).executeTakeFirst();
  if (!row) throw new ApiError('REFERENCE_NOT_FOUND', `no domain named ${name}`);
  return row.id as number;
}

/** Checks that `id` exists in `table` within `domainId` (when given); REFERENCE_NOT_FOUND otherwise. */
async function requireRow(ctx: WriteContext, table: string, id: number, domainId?: number): Promise<Row> {
  let query = ctx.db.selectFrom(table).selectAll().where('id', '=', id);
  if (domainId !== undefined) query = query.where('domain_id', '=', domainId);
  const row = await query.executeTakeFirst();
  if (!row) throw new ApiError('REFERENCE_NOT_FOUND', `no ${table.replace(/s$/, '')} ${id} in that domain`);
  return row;
}

async function insert(ctx: WriteContext, table: string, values: Row): Promise<number> {
  const row = await ctx.db.insertInto(table).values(values).returning('id').executeTakeFirstOrThrow();
  return Number(row.id);
}

async function patch(ctx: WriteContext, table: string, id: number, values: Row): Promise<void> {
  const defined = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
  if (Object.keys(defined).length > 0)
    await ctx.db.updateTable(table).set(defined).where('id', '=', id).execute();
}

async function deleteRow(ctx: WriteContext, table: string, id: number): Promise<void> {
  await ctx.db.deleteFrom(table).where('id', '=', id).execute();
}

// ---- the collections ------------------------------------------------------------------------

const domains: CollectionSpec = {
  resource: 'domains',
  table: 'domains',
  domainColumn: 'id',
  toApi: toDomain,
  create: async (ctx, body: DomainCreate) =>
    insert(ctx, 'domains', {
      name: body.name,
      kind: body.kind,
      description: body.description ?? '',
      created_at: iso(ctx.nowMs),
    }),
  update: async (ctx, row, body: DomainPatch) =>
    patch(ctx, 'domains', row.id, { kind: body.kind, description: body.description }),
  remove: async (ctx, row) => {
    if (row.name === 'default') throw new ApiError('FORBIDDEN', 'the default domain cannot be deleted');
    await deleteRow(ctx, 'domains', row.id);
  },
};

async function checkZone(ctx: WriteContext, zoneId: number | null | undefined) {
  if (zoneId !== undefined && zoneId !== null) await requireRow(ctx, 'zones', zoneId);
}

const users: CollectionSpec = {
  resource: 'users',
  table: 'users',
  domainColumn: 'domain_id',
  toApi: toUser,
  create: async (ctx, body: UserCreate) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    requireGrantable(ctx.principal, body.roles);
    await checkZone(ctx, body.zoneId);
    return insert(ctx, 'users', {
      domain_id: domainId,
      login: body.login,
      password_hash: await hashPassword(body.password),
      roles: json(body.roles),
      active: body.active === false ? 0 : 1,
      zone_id: body.zoneId ?? null,
      created_at: iso(ctx.nowMs),
    });
  },
  update: async (ctx, row, body: UserPatch) => {
    if (body.roles) requireGrantable(ctx.principal, body.roles);
    if (parse<RoleName[]>(row.roles).includes('systemAdmin'))
      requireGrantable(ctx.principal, ['systemAdmin']);
    await checkZone(ctx, body.zoneId);
    await patch(ctx, 'users', row.id, {
      password_hash: body.password === undefined ? undefined : await hashPassword(body.password),
      roles: body.roles === undefined ? undefined : json(body.roles),
      active: body.active === undefined ? undefined : body.active ? 1 : 0,
      zone_id: body.zoneId,
    });
  },
  remove: async (ctx, row) => {
    if (row.id === ctx.principal.userId) throw new ApiError('FORBIDDEN', 'you cannot delete yourself');
    if (parse<RoleName[]>(row.roles).includes('systemAdmin'))
      requireGrantable(ctx.principal, ['systemAdmin']);
    await deleteRow(ctx, 'users', row.id);
  },
};

const zones: CollectionSpec = {
  resource: 'zones',
  table: 'zones',
  domainColumn: null,
  toApi: toZone,
  create: async (ctx, body: ZoneCreate) =>
    insert(ctx, 'zones', {
      name: body.name,
      netprefix: body.netprefix.toLowerCase(),
      primary_controller: body.primaryController ?? '',
      secondary_controller: body.secondaryController ?? '',
      description: body.description ?? '',
      created_at: iso(ctx.nowMs),
    }),
  update: async (ctx, row, body: ZonePatch) =>
    patch(ctx, 'zones', row.id, {
      primary_controller: body.primaryController,
      secondary_controller: body.secondaryController,
      description: body.description,
    }),
  remove: async (ctx, row) => deleteRow(ctx, 'zones', row.id),
};

const nodes: CollectionSpec = {
  resource: 'nodes',
  table: 'nodes',
  domainColumn: 'domain_id',
  toApi: toNode,
  create: async (ctx, body: NodeCreate) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    await requireRow(ctx, 'zones', body.zoneId);
    return insert(ctx, 'nodes', {
      domain_id: domainId,
      zone_id: body.zoneId,
      type: body.type,
      hostname: body.hostname,
      locator: body.locator ?? null,
      status: 'provisioned',
      created_at: iso(ctx.nowMs),
    });
  },
  update: async (ctx, row, body: NodePatch) => {
    await patch(ctx, 'nodes', row.id, {
      hostname: body.hostname,
      locator: body.locator,
      status: body.status,
    });
    if (body.status !== undefined && body.status !== row.status) ctx.changes.push({ kind: 'topology' });
  },
  remove: async (ctx, row) => {
    await ctx.db.deleteFrom('commands').where('node_id', '=', row.id).execute();
    await deleteRow(ctx, 'nodes', row.id);
    ctx.changes.push({ kind: 'topology' });
  },
};

const links: CollectionSpec = {
  resource: 'links',
  table: 'links',
  domainColumn: 'domain_id',
  toApi: toLink,
  create: async (ctx, body: LinkCreate) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    if (body.nodeA === body.nodeZ)
      throw new ApiError('VALIDATION_FAILED', 'a link joins two different nodes');
    const scope = ctx.principal.roles.includes('systemAdmin') ? undefined : domainId;
    await requireRow(ctx, 'nodes', body.nodeA, scope);
    await requireRow(ctx, 'nodes', body.nodeZ, scope);
    const [a, z] = body.nodeA < body.nodeZ ? [body.nodeA, body.nodeZ] : [body.nodeZ, body.nodeA];
    const [endA, endZ] =
      body.nodeA < body.nodeZ ? [body.endpointA, body.endpointZ] : [body.endpointZ, body.endpointA];
    const id = await insert(ctx, 'links', {
      domain_id: domainId,
      node_a: a,
      node_z: z,
      endpoint_a: endA ?? null,
      endpoint_z: endZ ?? null,
      cost: body.cost ?? 10,
      labels: json(body.labels ?? []),
      admin_state: body.adminState ?? 'up',
      status: 'up',
      created_at: iso(ctx.nowMs),
    });
    ctx.changes.push({ kind: 'topology' });
    return id;
  },
  update: async (ctx, row, body: LinkPatch) => {
    await patch(ctx, 'links', row.id, {
      cost: body.cost,
      labels: body.labels === undefined ? undefined : json(body.labels),
      admin_state: body.adminState,
      status: body.status,
    });
    ctx.changes.push({ kind: 'topology' });
  },
  remove: async (ctx, row) => {
    await deleteRow(ctx, 'links', row.id);
    ctx.changes.push({ kind: 'topology' });
  },
};

/** SHA-256 of the code bytes: the logic hash that flow authorizations carry. */
export function logicHashOf(code: Uint8Array): Uint8Array {
  return createHash('sha256').update(code).digest();
}

const templates: CollectionSpec = {
  resource: 'templates',
  table: 'templates',
  domainColumn: 'domain_id',
  toApi: toTemplate,
  create: async (ctx, body: TemplateCreate) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    if (!ctx.identity || !ctx.verifier)
      throw new ApiError('UNAVAILABLE', 'this controller has no program verifier or signing key');
    const code = Buffer.from(body.image.code, 'base64');
    if (code.length === 0 || code.length % 2 !== 0)
      throw new ApiError('PROGRAM_REJECTED', 'the code must be a non-empty sequence of RV32 instructions');
    const names = new Set<string>();
    for (const role of body.roles) {
      if (names.has(role.name)) throw new ApiError('VALIDATION_FAILED', `role ${role.name} is listed twice`);
      names.add(role.name);
      if (!Object.hasOwn(body.image.entries, role.entry))
        throw new ApiError(
          'PROGRAM_REJECTED',
          `role ${role.name}: entry ${role.entry} is not in the entry table`,
        );
    }
    for (const [entry, offset] of Object.entries(body.image.entries))
      if (offset >= code.length)
        throw new ApiError('PROGRAM_REJECTED', `entry ${entry} lies outside the code`);
    const verdict = ctx.verifier.verify(code, body.image);
    if (!verdict.ok)
      throw new ApiError(
        'PROGRAM_REJECTED',
        `the verifier rejects the program: ${verdict.problems.join('; ')}`,
      );
    const logicHash = logicHashOf(code);
    return insert(ctx, 'templates', {
      domain_id: domainId,
      name: body.name,
      description: body.description ?? '',
      orientation: body.orientation ?? 'directed',
      multicast: body.multicast ? 1 : 0,
      image: json(body.image),
      roles: json(body.roles),
      logic_hash: Buffer.from(logicHash).toString('hex'),
      signature: Buffer.from(
        ctx.identity.signProgram(
          code,
          Object.keys(body.image.entries)
            .sort()
            .map((name) => body.image.entries[name]!),
        ),
      ).toString('base64'),
      created_at: iso(ctx.nowMs),
    });
  },
  update: async (ctx, row, body: TemplatePatch) =>
    patch(ctx, 'templates', row.id, {
      description: body.description,
      multicast: body.multicast === undefined ? undefined : body.multicast ? 1 : 0,
    }),
  remove: async (ctx, row) => deleteRow(ctx, 'templates', row.id),
};

async function checkContractRoles(ctx: WriteContext, templateId: number, roles: ContractCreate['roles']) {
  const template = await requireRow(ctx, 'templates', templateId);
  const templateRoles = new Set(parse<{ name: string }[]>(template.roles).map((role) => role.name));
  const names = new Set(roles.map((role) => role.name));
  if (names.size !== roles.length) throw new ApiError('VALIDATION_FAILED', 'a contract role is listed twice');
  for (const role of roles) {
    if (!templateRoles.has(role.name))
      throw new ApiError('REFERENCE_NOT_FOUND', `the template has no role ${role.name}`);
    if (!names.has(role.peer))
      throw new ApiError('REFERENCE_NOT_FOUND', `peer role ${role.peer} is not in the contract`);
  }
}

const contracts: CollectionSpec = {
  resource: 'contracts',
  table: 'contracts',
  domainColumn: 'domain_id',
  toApi: toContract,
  create: async (ctx, body: ContractCreate) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    await requireRow(ctx, 'templates', body.templateId, domainId);
    await checkContractRoles(ctx, body.templateId, body.roles);
    return insert(ctx, 'contracts', {
      domain_id: domainId,
      template_id: body.templateId,
      name: body.name,
      description: body.description ?? '',
      enabled: body.enabled === false ? 0 : 1,
      roles: json(body.roles),
      created_at: iso(ctx.nowMs),
    });
  },
  update: async (ctx, row, body: ContractPatch) => {
    if (body.roles) await checkContractRoles(ctx, row.template_id, body.roles);
    await patch(ctx, 'contracts', row.id, {
      description: body.description,
      enabled: body.enabled === undefined ? undefined : body.enabled ? 1 : 0,
      roles: body.roles === undefined ? undefined : json(body.roles),
    });
    ctx.changes.push({ kind: 'policy' });
  },
  remove: async (ctx, row) => deleteRow(ctx, 'contracts', row.id),
};

async function checkGrants(ctx: WriteContext, domainId: number, grants: ServiceCreate['grants']) {
  for (const grant of grants ?? []) {
    const contract = await requireRow(ctx, 'contracts', grant.contractId, domainId);
    if (!parse<{ name: string }[]>(contract.roles).some((role) => role.name === grant.role))
      throw new ApiError('REFERENCE_NOT_FOUND', `contract ${contract.name} has no role ${grant.role}`);
  }
}

const services: CollectionSpec = {
  resource: 'services',
  table: 'services',
  domainColumn: 'domain_id',
  toApi: toService,
  create: async (ctx, body: ServiceCreate) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    await checkGrants(ctx, domainId, body.grants);
    return insert(ctx, 'services', {
      domain_id: domainId,
      name: body.name,
      description: body.description ?? '',
      enabled: body.enabled === false ? 0 : 1,
      grants: json(body.grants ?? []),
      created_at: iso(ctx.nowMs),
    });
  },
  update: async (ctx, row, body: ServicePatch) => {
    await checkGrants(ctx, row.domain_id, body.grants);
    await patch(ctx, 'services', row.id, {
      description: body.description,
      enabled: body.enabled === undefined ? undefined : body.enabled ? 1 : 0,
      grants: body.grants === undefined ? undefined : json(body.grants),
    });
    ctx.changes.push({ kind: 'policy' });
  },
  remove: async (ctx, row) => {
    await ctx.db.deleteFrom('service_tokens').where('service_id', '=', row.id).execute();
    await deleteRow(ctx, 'services', row.id);
  },
};

const serviceTokens: CollectionSpec = {
  resource: 'service-tokens',
  table: 'service_tokens',
  domainColumn: 'domain_id',
  toApi: toServiceToken,
  create: async (ctx, body: ServiceTokenCreate) => {
    const service = await requireRow(ctx, 'services', body.serviceId);
    requireDomainWrite(ctx.principal, service.domain_id);
    const secret = randomBytes(16).toString('hex');
    const id = await insert(ctx, 'service_tokens', {
      service_id: service.id,
      domain_id: service.domain_id,
      secret_hash: hashSecret(secret),
      ident: secret.slice(-4),
      expires_at: iso(ctx.nowMs + (body.ttlSeconds ?? 365 * 86400) * 1000),
      created_at: iso(ctx.nowMs),
    });
    ctx.extras.token = `${id}:${secret}`;
    return id;
  },
  update: async (ctx, row, body: ServiceTokenPatch) =>
    patch(ctx, 'service_tokens', row.id, { expires_at: iso(ctx.nowMs + body.ttlSeconds * 1000) }),
  remove: async (ctx, row) => deleteRow(ctx, 'service_tokens', row.id),
};

const endpoints: CollectionSpec = {
  resource: 'endpoints',
  table: 'endpoints',
  domainColumn: 'domain_id',
  toApi: toEndpoint,
};
const authorizations: CollectionSpec = {
  resource: 'authorizations',
  table: 'authorizations',
  domainColumn: 'domain_id',
  toApi: toAuthorization,
};
const audit: CollectionSpec = {
  resource: 'audit',
  table: 'audit',
  domainColumn: 'domain_id',
  toApi: toAudit,
};

/** Every northbound collection, in URL order. */
export const collections: readonly CollectionSpec[] = [
  domains,
  users,
  zones,
  nodes,
  links,
  templates,
  contracts,
  services,
  serviceTokens,
  endpoints,
  authorizations,
  audit,
];

/** The base query of a collection: its rows with their domain's name, as `domain_name`. */
export function selectRows(db: AnyDb, spec: CollectionSpec) {
  if (spec.domainColumn === 'domain_id' && spec.table !== 'audit')
    return db
      .selectFrom(`${spec.table} as t`)
      .innerJoin('domains as d', 'd.id', 't.domain_id')
      .selectAll('t')
      .select('d.name as domain_name');
  return db.selectFrom(`${spec.table} as t`).selectAll('t');
}

/** The endpoint rows carry the host id of their node. */
export function selectEndpointRows(db: AnyDb) {
  return db
    .selectFrom('endpoints as t')
    .innerJoin('domains as d', 'd.id', 't.domain_id')
    .innerJoin('nodes as n', 'n.id', 't.node_id')
    .selectAll('t')
    .select(['d.name as domain_name', 'n.host_id as host_id']);
}
