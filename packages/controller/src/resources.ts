/**
 * The northbound collections: for each, its typed base query and converter (rows.ts), where its
 * rows' domain is, and how create, update and delete change the store (the domain rules of each
 * write). The routes (northbound.ts) do authentication, the permission table, the domain rule,
 * the transaction and the audit entry around these.
 */
import { randomBytes } from 'node:crypto';
import {
  ApiError,
  type ContractCreate,
  type ContractPatch,
  type DomainCreate,
  type DomainPatch,
  type LinkCreate,
  type LinkPatch,
  type NodeCommandBody,
  type NodeCreate,
  type NodePatch,
  type PeeringCreate,
  type PeeringPatch,
  passwordProblem,
  type RoleName,
  revocationCommand,
  type ServiceCreate,
  type ServicePatch,
  type ServiceTokenCreate,
  type ServiceTokenPatch,
  type Template,
  type TemplateCreate,
  type TemplatePatch,
  type UserCreate,
  type UserPatch,
  type Variables,
  variableProblems,
  type ZoneCreate,
  type ZonePatch,
} from '@capsule/api';
import { logicHashOf } from '@capsule/wire';
import { type CompiledQuery, type Expression, type SqlBool, sql } from 'kysely';
import { hashPassword, hashSecret, type Principal } from './auth';
import type { ChangeEvent } from './context';
import { linkIsPeered } from './domain-trust';
import type { RevocationScope, ScopeRevocation } from './policy-revocation';
import type { ProgramVerifier } from './ports';
import { type Resource, requireDomainWrite, requireGrantable } from './rbac';
import {
  type AuditRow,
  type AuthorizationRow,
  type ContractRow,
  type Db,
  type DomainRow,
  type EndpointRow,
  type LinkRow,
  type NodeRow,
  type PeeringRow,
  type RowOf,
  type ServiceRow,
  type ServiceTokenRow,
  selectAuditRows,
  selectAuthorizationRows,
  selectContractRows,
  selectDomainRows,
  selectEndpointRows,
  selectLinkRows,
  selectNodeRows,
  selectPeeringRows,
  selectServiceRows,
  selectServiceTokenRows,
  selectTemplateRows,
  selectUserRows,
  selectZoneRows,
  type TemplateRow,
  toAudit,
  toAuthorization,
  toContract,
  toDomain,
  toEndpoint,
  toLink,
  toNode,
  toPeering,
  toService,
  toServiceToken,
  toTemplate,
  toUser,
  toZone,
  type UserRow,
  type ZoneRow,
} from './rows';

/** Everything a write needs besides its body. */
export interface WriteContext {
  /** The write's transaction. */
  db: Db;
  principal: Principal;
  nowMs: number;
  verifier: ProgramVerifier | undefined;
  /** Change events to publish once the transaction commits (path recomputation, pushes). */
  changes: ChangeEvent[];
  /** Extra fields for the create response (a service token's secret, shown once). */
  extras: Record<string, unknown>;
  /**
   * Revokes what a narrowing change takes away (policy-revocation.ts), in this transaction; the
   * revocation commands and new paths are published after the commit.
   */
  revoke(scope: RevocationScope): Promise<ScopeRevocation>;
  /** How long a node certificate issued now lives (a decommissioned host id is revoked that long). */
  certificateLifetimeMs: number;
  /** Queues a command for nodes in this transaction; returns the command ids. */
  queueCommands(nodeIds: readonly number[], command: NodeCommandBody): Promise<number[]>;
}

/** The parts of a collection's typed select that the routes use, whatever its tables. */
export interface RowQuery<Row> {
  where(expression: Expression<SqlBool>): RowQuery<Row>;
  orderBy(expression: Expression<unknown>, direction: 'asc' | 'desc'): RowQuery<Row>;
  limit(count: number): RowQuery<Row>;
  offset(count: number): RowQuery<Row>;
  execute(): Promise<Row[]>;
  executeTakeFirstOrThrow(): Promise<Row>;
  compile(): CompiledQuery<Row>;
}

/** One northbound collection: rows of type `Row`, created from `Create`, patched with `Patch`. */
export interface CollectionSpec<Row, Create = never, Patch = never> {
  resource: Resource;
  /** Its rows (alias `t`) with their domain's name where they have one. */
  select(db: Db): RowQuery<Row>;
  /** The number of its rows (alias `t`), as `total`. */
  count(db: Db): RowQuery<{ total: number | string | bigint }>;
  /** The column a domain-restricted list filters on (null: global, no domain rule). */
  domainColumn: 't.domain_id' | 't.id' | null;
  /** The domain a row belongs to (null: none). */
  domainOf(row: Row): number | null;
  /** Lists show the newest first (the audit log) instead of the oldest. */
  newestFirst?: boolean;
  toApi(row: Row): unknown;
  create?(ctx: WriteContext, body: Create): Promise<number>;
  update?(ctx: WriteContext, row: Row, body: Patch): Promise<void>;
  remove?(ctx: WriteContext, row: Row): Promise<void>;
}

/** A collection of any row type: hand it a function generic in the row, get its result. */
export type AnyCollection = <R>(
  use: <Row, Create, Patch>(spec: CollectionSpec<Row, Create, Patch>) => R,
) => R;

const collection =
  <Row, Create = never, Patch = never>(spec: CollectionSpec<Row, Create, Patch>): AnyCollection =>
  (use) =>
    use(spec);

/** `t.id = value`, for the routes' lookups by id (`value` may be a prepared query's placeholder). */
export const idIs = (value: unknown) => sql<SqlBool>`${sql.ref('t.id')} = ${value}`;

const iso = (ms: number) => new Date(ms).toISOString();
const json = (value: unknown) => JSON.stringify(value);
const parse = <T>(text: string): T => JSON.parse(text) as T;

/** True when a patch names at least one field (a PATCH sets only the fields it names). */
const namesAny = (values: object) => Object.values(values).some((value) => value !== undefined);

/** The id of the domain called `name` (or the caller's when absent); REFERENCE_NOT_FOUND otherwise. */
async function resolveDomain(ctx: WriteContext, name: string | undefined): Promise<number> {
  if (name === undefined) return ctx.principal.domainId;
  const row = await ctx.db.selectFrom('domains').select('id').where('name', '=', name).executeTakeFirst();
  if (!row) throw new ApiError('REFERENCE_NOT_FOUND', `no domain named ${name}`);
  return row.id;
}

/** The row `id` of `table` within `domainId` (when given); REFERENCE_NOT_FOUND otherwise. */
async function requireRow<T extends 'zones' | 'nodes' | 'templates' | 'contracts' | 'services'>(
  ctx: WriteContext,
  table: T,
  id: number,
  domainId?: number,
): Promise<RowOf<T>> {
  const inDomain = domainId === undefined ? sql`` : sql` and domain_id = ${domainId}`;
  const { rows } = await sql<RowOf<T>>`select * from ${sql.table(table)} where id = ${id}${inDomain}`.execute(
    ctx.db,
  );
  const row = rows[0];
  if (!row) throw new ApiError('REFERENCE_NOT_FOUND', `no ${table.replace(/s$/, '')} ${id} in that domain`);
  return row;
}

// ---- the collections ------------------------------------------------------------------------

const domains = collection<DomainRow, DomainCreate, DomainPatch>({
  resource: 'domains',
  select: selectDomainRows,
  count: (db) => db.selectFrom('domains as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.id',
  domainOf: (row) => row.id,
  toApi: toDomain,
  create: async (ctx, body) => {
    const row = await ctx.db
      .insertInto('domains')
      .values({
        name: body.name,
        kind: body.kind,
        description: body.description ?? '',
        active: body.active === false ? 0 : 1,
        created_at: iso(ctx.nowMs),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  },
  update: async (ctx, row, body) => {
    // The administrators live in the default domain: deactivating it would lock everyone out.
    if (body.active === false && row.name === 'default')
      throw new ApiError('FORBIDDEN', 'the default domain cannot be deactivated');
    // Its engines would be cut off the controller (their tokens refused) and learn no revocation
    // any more while they keep forwarding: they are deleted (decommissioned) first.
    if (body.active === false && row.active === 1) {
      const engines = await ctx.db
        .selectFrom('nodes')
        .select('hostname')
        .where('domain_id', '=', row.id)
        .where('type', '=', 'engine')
        .orderBy('id')
        .limit(6)
        .execute();
      if (engines.length > 0)
        throw new ApiError(
          'FORBIDDEN',
          `domain ${row.name} holds engines (${engines
            .slice(0, 5)
            .map((engine) => engine.hostname)
            .join(', ')}${engines.length > 5 ? ', …' : ''}): delete them before deactivating it`,
        );
    }
    const values = {
      kind: body.kind,
      description: body.description,
      active: body.active === undefined ? undefined : body.active ? 1 : 0,
    };
    if (namesAny(values)) await ctx.db.updateTable('domains').set(values).where('id', '=', row.id).execute();
    // Deactivated: its endpoints and those of its nodes go (its users and nodes are refused, context.ts).
    if (body.active === false && row.active === 1) await ctx.revoke({ kind: 'domain', domainId: row.id });
  },
  remove: async (ctx, row) => {
    if (row.name === 'default') throw new ApiError('FORBIDDEN', 'the default domain cannot be deleted');
    await ctx.db.deleteFrom('domains').where('id', '=', row.id).execute();
  },
});

async function checkZone(ctx: WriteContext, zoneId: number | null | undefined) {
  if (zoneId !== undefined && zoneId !== null) await requireRow(ctx, 'zones', zoneId);
}

/** Throws WEAK_PASSWORD with the policy's reason (password-policy.ts in @capsule/api). */
function requireStrongPassword(password: string, login: string): void {
  const problem = passwordProblem(password, login);
  if (problem !== undefined) throw new ApiError('WEAK_PASSWORD', problem);
}

const users = collection<UserRow, UserCreate, UserPatch>({
  resource: 'users',
  select: selectUserRows,
  count: (db) => db.selectFrom('users as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  toApi: toUser,
  create: async (ctx, body) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    requireGrantable(ctx.principal, body.roles);
    await checkZone(ctx, body.zoneId);
    requireStrongPassword(body.password, body.login);
    const row = await ctx.db
      .insertInto('users')
      .values({
        domain_id: domainId,
        login: body.login,
        password_hash: await hashPassword(body.password),
        roles: json(body.roles),
        active: body.active === false ? 0 : 1,
        zone_id: body.zoneId ?? null,
        created_at: iso(ctx.nowMs),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  },
  update: async (ctx, row, body) => {
    if (body.roles) requireGrantable(ctx.principal, body.roles);
    if (parse<RoleName[]>(row.roles).includes('systemAdmin'))
      requireGrantable(ctx.principal, ['systemAdmin']);
    await checkZone(ctx, body.zoneId);
    if (body.password !== undefined) requireStrongPassword(body.password, row.login);
    const values = {
      password_hash: body.password === undefined ? undefined : await hashPassword(body.password),
      // A new password ends every session of the user (their tokens carry the old generation).
      credential_generation: body.password === undefined ? undefined : sql<number>`credential_generation + 1`,
      roles: body.roles === undefined ? undefined : json(body.roles),
      active: body.active === undefined ? undefined : body.active ? 1 : 0,
      zone_id: body.zoneId,
    };
    if (namesAny(values)) await ctx.db.updateTable('users').set(values).where('id', '=', row.id).execute();
    // A deactivated node user's nodes lose their endpoints (its node tokens stop working too).
    if (body.active === false && row.active === 1) await ctx.revoke({ kind: 'owner', userId: row.id });
  },
  remove: async (ctx, row) => {
    if (row.id === ctx.principal.userId) throw new ApiError('FORBIDDEN', 'you cannot delete yourself');
    if (parse<RoleName[]>(row.roles).includes('systemAdmin'))
      requireGrantable(ctx.principal, ['systemAdmin']);
    await ctx.db.deleteFrom('users').where('id', '=', row.id).execute();
  },
});

const zones = collection<ZoneRow, ZoneCreate, ZonePatch>({
  resource: 'zones',
  select: selectZoneRows,
  count: (db) => db.selectFrom('zones as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: null,
  domainOf: () => null,
  toApi: toZone,
  create: async (ctx, body) => {
    const row = await ctx.db
      .insertInto('zones')
      .values({
        name: body.name,
        netprefix: body.netprefix.toLowerCase(),
        primary_controller: body.primaryController ?? '',
        secondary_controller: body.secondaryController ?? '',
        description: body.description ?? '',
        engine_mesh: body.engineMesh ? 1 : 0,
        created_at: iso(ctx.nowMs),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  },
  update: async (ctx, row, body) => {
    const values = {
      primary_controller: body.primaryController,
      secondary_controller: body.secondaryController,
      description: body.description,
      engine_mesh: body.engineMesh === undefined ? undefined : body.engineMesh ? 1 : 0,
    };
    if (namesAny(values)) await ctx.db.updateTable('zones').set(values).where('id', '=', row.id).execute();
    // The full mesh on or off: the zone's engines get new link sets.
    if (body.engineMesh !== undefined && (body.engineMesh ? 1 : 0) !== row.engine_mesh)
      ctx.changes.push({ kind: 'topology' });
  },
  remove: async (ctx, row) => {
    await ctx.db.deleteFrom('zones').where('id', '=', row.id).execute();
  },
});

const nodes = collection<NodeRow, NodeCreate, NodePatch>({
  resource: 'nodes',
  select: selectNodeRows,
  count: (db) => db.selectFrom('nodes as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  toApi: toNode,
  create: async (ctx, body) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    await requireRow(ctx, 'zones', body.zoneId);
    const row = await ctx.db
      .insertInto('nodes')
      .values({
        domain_id: domainId,
        zone_id: body.zoneId,
        type: body.type,
        hostname: body.hostname,
        locator: body.locator ?? null,
        status: 'provisioned',
        created_at: iso(ctx.nowMs),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  },
  update: async (ctx, row, body) => {
    const values = {
      hostname: body.hostname,
      locator: body.locator,
      status: body.status,
      labels: body.labels === undefined ? undefined : json(body.labels),
    };
    if (namesAny(values)) await ctx.db.updateTable('nodes').set(values).where('id', '=', row.id).execute();
    // Labels and status change paths or role routes (a waypoint label moves the routes toward it).
    if ((body.status !== undefined && body.status !== row.status) || body.labels !== undefined)
      ctx.changes.push({ kind: 'topology' });
  },
  // Deleting a node decommissions it: its endpoints go and their authorizations are revoked
  // everywhere, its links and the record of its authorizations are deleted, and every other node
  // is told its host id is revoked (it closes its link to it and refuses its handshakes) until
  // every certificate it was issued has expired.
  remove: async (ctx, row) => {
    await ctx.revoke({ kind: 'node', nodeId: row.id });
    await ctx.db.deleteFrom('authorizations').where('node_id', '=', row.id).execute();
    await ctx.db
      .deleteFrom('links')
      .where((eb) => eb.or([eb('node_a', '=', row.id), eb('node_z', '=', row.id)]))
      .execute();
    await ctx.db.deleteFrom('commands').where('node_id', '=', row.id).execute();
    await ctx.db.deleteFrom('nodes').where('id', '=', row.id).execute();
    if (row.host_id !== null) {
      const until = iso(ctx.nowMs + ctx.certificateLifetimeMs);
      await ctx.db.deleteFrom('decommissioned_hosts').where('host_id', '=', row.host_id).execute();
      await ctx.db
        .insertInto('decommissioned_hosts')
        .values({ host_id: row.host_id, until, created_at: iso(ctx.nowMs) })
        .execute();
      const others = await ctx.db
        .selectFrom('nodes')
        .select('id')
        .where('status', '!=', 'provisioned')
        .execute();
      const commandIds = await ctx.queueCommands(
        others.map((other) => other.id),
        revocationCommand([], [{ hostId: row.host_id, notAfter: until }]),
      );
      ctx.changes.push({ kind: 'revocation', payload: { commandIds } });
    }
    ctx.changes.push({ kind: 'topology' });
  },
});

const links = collection<LinkRow, LinkCreate, LinkPatch>({
  resource: 'links',
  select: selectLinkRows,
  count: (db) => db.selectFrom('links as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  toApi: toLink,
  // A declared link (origin `admin`): its ends are told to have it (link-sets.ts). One call may
  // declare a chain (`via`). Hosts attach to engines only; a pair is declared once (a link its
  // ends registered on their own is adopted: it becomes declared, with this cost and labels).
  create: async (ctx, body) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    const chain = [body.nodeA, ...(body.via ?? []), body.nodeZ];
    const scope = ctx.principal.roles.includes('systemAdmin') ? undefined : domainId;
    const nodes = new Map<number, RowOf<'nodes'>>();
    for (const id of chain) if (!nodes.has(id)) nodes.set(id, await requireRow(ctx, 'nodes', id, scope));
    let firstId: number | undefined;
    for (let index = 0; index + 1 < chain.length; index++) {
      const [one, other] = [nodes.get(chain[index]!)!, nodes.get(chain[index + 1]!)!];
      if (one.id === other.id) throw new ApiError('VALIDATION_FAILED', 'a link joins two different nodes');
      if (one.type === 'host' && other.type === 'host')
        throw new ApiError(
          'VALIDATION_FAILED',
          `${one.hostname}–${other.hostname}: hosts link to engines only`,
        );
      if (!(await linkIsPeered(ctx.db, one, other)))
        throw new ApiError(
          'DOMAIN_NOT_PEERED',
          `${one.hostname}–${other.hostname}: the nodes' domains differ and no peering covers the link`,
        );
      const [a, z] = one.id < other.id ? [one.id, other.id] : [other.id, one.id];
      const [endA, endZ] =
        chain.length === 2 && body.nodeA > body.nodeZ
          ? [body.endpointZ, body.endpointA]
          : chain.length === 2
            ? [body.endpointA, body.endpointZ]
            : [undefined, undefined];
      const existing = await ctx.db
        .selectFrom('links')
        .select(['id', 'origin'])
        .where('node_a', '=', a)
        .where('node_z', '=', z)
        .executeTakeFirst();
      let id: number;
      if (existing?.origin === 'admin')
        throw new ApiError(
          'CONFLICT',
          `${one.hostname}–${other.hostname} is declared already (link ${existing.id}): change it with PATCH`,
        );
      if (existing) {
        await ctx.db
          .updateTable('links')
          .set({
            origin: 'admin',
            cost: body.cost ?? 10,
            labels: json(body.labels ?? []),
            admin_state: body.adminState ?? 'up',
          })
          .where('id', '=', existing.id)
          .execute();
        id = existing.id;
      } else {
        // Down until one of its ends reports it up (a handshake done): paths take it from then.
        const row = await ctx.db
          .insertInto('links')
          .values({
            domain_id: domainId,
            node_a: a,
            node_z: z,
            endpoint_a: endA ?? null,
            endpoint_z: endZ ?? null,
            cost: body.cost ?? 10,
            labels: json(body.labels ?? []),
            admin_state: body.adminState ?? 'up',
            status: 'down',
            origin: 'admin',
            created_at: iso(ctx.nowMs),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        id = row.id;
      }
      firstId ??= id;
    }
    ctx.changes.push({ kind: 'topology' });
    return firstId!;
  },
  update: async (ctx, row, body) => {
    const values = {
      cost: body.cost,
      labels: body.labels === undefined ? undefined : json(body.labels),
      admin_state: body.adminState,
      status: body.status,
    };
    if (namesAny(values)) await ctx.db.updateTable('links').set(values).where('id', '=', row.id).execute();
    ctx.changes.push({ kind: 'topology' });
  },
  remove: async (ctx, row) => {
    await ctx.db.deleteFrom('links').where('id', '=', row.id).execute();
    ctx.changes.push({ kind: 'topology' });
  },
});

/**
 * Peerings (systemAdmin only): domain `domain` trusts the engines of `peerDomain`, all or one.
 * Without one, nodes link only to engines of their own domain and a domain's paths cross only
 * its own engines (link-registration.ts, context.ts `peersOf`). A change recomputes paths.
 */
const peerings = collection<PeeringRow, PeeringCreate, PeeringPatch>({
  resource: 'peerings',
  select: selectPeeringRows,
  count: (db) => db.selectFrom('peerings as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  toApi: toPeering,
  create: async (ctx, body) => {
    const domainId = await resolveDomain(ctx, body.domain);
    const peerDomainId = await resolveDomain(ctx, body.peerDomain);
    if (domainId === peerDomainId)
      throw new ApiError('VALIDATION_FAILED', 'a domain always trusts its own engines: peer another domain');
    if (body.engineId !== undefined) {
      const engine = await requireRow(ctx, 'nodes', body.engineId, peerDomainId);
      if (engine.type !== 'engine')
        throw new ApiError('VALIDATION_FAILED', `node ${body.engineId} is a host: only engines are peered`);
    }
    const row = await ctx.db
      .insertInto('peerings')
      .values({
        domain_id: domainId,
        peer_domain_id: peerDomainId,
        engine_id: body.engineId ?? null,
        description: body.description ?? '',
        created_at: iso(ctx.nowMs),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    ctx.changes.push({ kind: 'topology' });
    return row.id;
  },
  update: async (ctx, row, body) => {
    if (body.description !== undefined)
      await ctx.db
        .updateTable('peerings')
        .set({ description: body.description })
        .where('id', '=', row.id)
        .execute();
  },
  remove: async (ctx, row) => {
    await ctx.db.deleteFrom('peerings').where('id', '=', row.id).execute();
    ctx.changes.push({ kind: 'topology' });
  },
});

const templates = collection<TemplateRow, TemplateCreate, TemplatePatch>({
  resource: 'templates',
  select: selectTemplateRows,
  count: (db) => db.selectFrom('templates as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  toApi: toTemplate,
  create: async (ctx, body) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    if (!ctx.verifier) throw new ApiError('UNAVAILABLE', 'this controller has no program verifier');
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
      requireWritableVariables(body.image, role.name, role.variables);
    }
    for (const [entry, offset] of Object.entries(body.image.entries))
      if (offset >= code.length)
        throw new ApiError('PROGRAM_REJECTED', `entry ${entry} lies outside the code`);
    const verdict = ctx.verifier.verify(code, Object.values(body.image.entries));
    if (!verdict.ok)
      throw new ApiError(
        'PROGRAM_REJECTED',
        `the verifier rejects the program: ${verdict.problems.join('; ')}`,
      );
    const logicHash = logicHashOf(code);
    const row = await ctx.db
      .insertInto('templates')
      .values({
        domain_id: domainId,
        name: body.name,
        description: body.description ?? '',
        orientation: body.orientation ?? 'directed',
        multicast: body.multicast ? 1 : 0,
        image: json(body.image),
        roles: json(body.roles),
        label_tags: json(body.labelTags ?? []),
        logic_hash: Buffer.from(logicHash).toString('hex'),
        enabled: body.enabled === false ? 0 : 1,
        created_at: iso(ctx.nowMs),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  },
  update: async (ctx, row, body) => {
    const values = {
      description: body.description,
      multicast: body.multicast === undefined ? undefined : body.multicast ? 1 : 0,
      label_tags: body.labelTags === undefined ? undefined : json(body.labelTags),
      enabled: body.enabled === undefined ? undefined : body.enabled ? 1 : 0,
    };
    if (namesAny(values))
      await ctx.db.updateTable('templates').set(values).where('id', '=', row.id).execute();
    // Disabled: the endpoints of every contract on it go.
    if (body.enabled === false && row.enabled === 1)
      await ctx.revoke({ kind: 'template', templateId: row.id });
    if (body.labelTags !== undefined || body.enabled !== undefined) ctx.changes.push({ kind: 'policy' });
  },
  // Refused (IN_USE) while a contract uses it: a template with flows is disabled, not deleted.
  remove: async (ctx, row) => {
    await ctx.db.deleteFrom('templates').where('id', '=', row.id).execute();
  },
});

/** Refuses variables the image's DATA layout cannot take (the agents write them into DATA chunks). */
function requireWritableVariables(image: Template['image'], role: string, variables: Variables | undefined) {
  const problems = variables ? variableProblems(image, variables) : [];
  if (problems.length > 0) throw new ApiError('VALIDATION_FAILED', `role ${role}: ${problems.join('; ')}`);
}

async function checkContractRoles(ctx: WriteContext, templateId: number, roles: ContractCreate['roles']) {
  const template = await requireRow(ctx, 'templates', templateId);
  const image = parse<Template['image']>(template.image);
  const templateRoles = new Set(parse<{ name: string }[]>(template.roles).map((role) => role.name));
  const names = new Set(roles.map((role) => role.name));
  if (names.size !== roles.length) throw new ApiError('VALIDATION_FAILED', 'a contract role is listed twice');
  for (const role of roles) {
    if (!templateRoles.has(role.name))
      throw new ApiError('REFERENCE_NOT_FOUND', `the template has no role ${role.name}`);
    if (!names.has(role.peer))
      throw new ApiError('REFERENCE_NOT_FOUND', `peer role ${role.peer} is not in the contract`);
    requireWritableVariables(image, role.name, role.variables);
  }
}

const contracts = collection<ContractRow, ContractCreate, ContractPatch>({
  resource: 'contracts',
  select: selectContractRows,
  count: (db) => db.selectFrom('contracts as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  toApi: toContract,
  create: async (ctx, body) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    await requireRow(ctx, 'templates', body.templateId, domainId);
    await checkContractRoles(ctx, body.templateId, body.roles);
    const row = await ctx.db
      .insertInto('contracts')
      .values({
        domain_id: domainId,
        template_id: body.templateId,
        name: body.name,
        description: body.description ?? '',
        enabled: body.enabled === false ? 0 : 1,
        roles: json(body.roles),
        created_at: iso(ctx.nowMs),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  },
  update: async (ctx, row, body) => {
    if (body.roles) await checkContractRoles(ctx, row.template_id, body.roles);
    const values = {
      description: body.description,
      enabled: body.enabled === undefined ? undefined : body.enabled ? 1 : 0,
      roles: body.roles === undefined ? undefined : json(body.roles),
    };
    if (namesAny(values))
      await ctx.db.updateTable('contracts').set(values).where('id', '=', row.id).execute();
    // Disabled: every endpoint of it goes; roles dropped: theirs; peers changed: new peer lists.
    if (body.enabled === false && row.enabled === 1)
      await ctx.revoke({ kind: 'contract', contractId: row.id });
    else if (body.roles) {
      await ctx.revoke({
        kind: 'contract',
        contractId: row.id,
        keptRoles: body.roles.map((role) => role.name),
      });
      ctx.changes.push({ kind: 'topology' });
    }
    ctx.changes.push({ kind: 'policy' });
  },
  // Its endpoints go (their authorizations revoked), then its authorizations' records.
  remove: async (ctx, row) => {
    await ctx.db.deleteFrom('group_keys').where('contract_id', '=', row.id).execute();
    await ctx.revoke({ kind: 'contract', contractId: row.id });
    await ctx.db.deleteFrom('authorizations').where('contract_id', '=', row.id).execute();
    await ctx.db.deleteFrom('contracts').where('id', '=', row.id).execute();
  },
});

async function checkGrants(ctx: WriteContext, domainId: number, grants: ServiceCreate['grants']) {
  for (const grant of grants ?? []) {
    const contract = await requireRow(ctx, 'contracts', grant.contractId, domainId);
    if (!parse<{ name: string }[]>(contract.roles).some((role) => role.name === grant.role))
      throw new ApiError('REFERENCE_NOT_FOUND', `contract ${contract.name} has no role ${grant.role}`);
  }
}

const services = collection<ServiceRow, ServiceCreate, ServicePatch>({
  resource: 'services',
  select: selectServiceRows,
  count: (db) => db.selectFrom('services as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  toApi: toService,
  create: async (ctx, body) => {
    const domainId = await resolveDomain(ctx, body.domain);
    requireDomainWrite(ctx.principal, domainId);
    await checkGrants(ctx, domainId, body.grants);
    const row = await ctx.db
      .insertInto('services')
      .values({
        domain_id: domainId,
        name: body.name,
        description: body.description ?? '',
        enabled: body.enabled === false ? 0 : 1,
        grants: json(body.grants ?? []),
        created_at: iso(ctx.nowMs),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  },
  update: async (ctx, row, body) => {
    await checkGrants(ctx, row.domain_id, body.grants);
    const values = {
      description: body.description,
      enabled: body.enabled === undefined ? undefined : body.enabled ? 1 : 0,
      grants: body.grants === undefined ? undefined : json(body.grants),
    };
    if (namesAny(values)) await ctx.db.updateTable('services').set(values).where('id', '=', row.id).execute();
    // Disabled: every endpoint of it goes; grants changed: those no longer granted.
    if (body.enabled === false && row.enabled === 1) await ctx.revoke({ kind: 'service', serviceId: row.id });
    else if (body.grants) await ctx.revoke({ kind: 'service', serviceId: row.id, keptGrants: body.grants });
    ctx.changes.push({ kind: 'policy' });
  },
  remove: async (ctx, row) => {
    await ctx.revoke({ kind: 'service', serviceId: row.id });
    await ctx.db.deleteFrom('service_tokens').where('service_id', '=', row.id).execute();
    await ctx.db.deleteFrom('services').where('id', '=', row.id).execute();
  },
});

const serviceTokens = collection<ServiceTokenRow, ServiceTokenCreate, ServiceTokenPatch>({
  resource: 'service-tokens',
  select: selectServiceTokenRows,
  count: (db) => db.selectFrom('service_tokens as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  toApi: toServiceToken,
  create: async (ctx, body) => {
    const service = await requireRow(ctx, 'services', body.serviceId);
    requireDomainWrite(ctx.principal, service.domain_id);
    const secret = randomBytes(16).toString('hex');
    const { id } = await ctx.db
      .insertInto('service_tokens')
      .values({
        service_id: service.id,
        domain_id: service.domain_id,
        secret_hash: hashSecret(secret),
        ident: secret.slice(-4),
        expires_at: iso(ctx.nowMs + (body.ttlSeconds ?? 365 * 86400) * 1000),
        created_at: iso(ctx.nowMs),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    ctx.extras.token = `${id}:${secret}`;
    return id;
  },
  update: async (ctx, row, body) => {
    await ctx.db
      .updateTable('service_tokens')
      .set({ expires_at: iso(ctx.nowMs + body.ttlSeconds * 1000) })
      .where('id', '=', row.id)
      .execute();
    // A TTL of 0 disables the token now: the endpoints registered with it go, as on a delete.
    // (A token that simply runs out only stops new registrations and renewals.)
    if (body.ttlSeconds === 0) await ctx.revoke({ kind: 'service-token', tokenId: row.id });
  },
  // The endpoints registered with it go (their authorizations revoked).
  remove: async (ctx, row) => {
    await ctx.revoke({ kind: 'service-token', tokenId: row.id });
    await ctx.db.deleteFrom('service_tokens').where('id', '=', row.id).execute();
  },
});

const endpoints = collection<EndpointRow>({
  resource: 'endpoints',
  select: selectEndpointRows,
  count: (db) => db.selectFrom('endpoints as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  toApi: toEndpoint,
  // Its authorizations are revoked; its host removes it, engines drop its flows.
  remove: async (ctx, row) => {
    await ctx.revoke({ kind: 'endpoint', id: row.id });
  },
});
const authorizations = collection<AuthorizationRow>({
  resource: 'authorizations',
  select: selectAuthorizationRows,
  count: (db) => db.selectFrom('authorizations as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  toApi: toAuthorization,
});
const audit = collection<AuditRow>({
  resource: 'audit',
  select: selectAuditRows,
  count: (db) => db.selectFrom('audit as t').select((eb) => eb.fn.countAll<number>().as('total')),
  domainColumn: 't.domain_id',
  domainOf: (row) => row.domain_id,
  newestFirst: true,
  toApi: toAudit,
});

/** Every northbound collection, in URL order. */
export const collections: readonly AnyCollection[] = [
  domains,
  users,
  zones,
  nodes,
  links,
  peerings,
  templates,
  contracts,
  services,
  serviceTokens,
  endpoints,
  authorizations,
  audit,
];
