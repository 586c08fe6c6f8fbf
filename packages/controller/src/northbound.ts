/**
 * The northbound REST API under /api/v1: the token endpoint, one CRUD route set per collection,
 * and the revoke action (the OpenAPI document and /metrics: controller.ts). Every write runs in one transaction with
 * its audit entry; change events are published after the commit.
 */
import {
  ApiError,
  AuditEntry,
  Authorization,
  Contract,
  ContractCreate,
  ContractPatch,
  Domain,
  DomainCreate,
  DomainPatch,
  Endpoint,
  ErrorBody,
  IdParams,
  Link,
  LinkCreate,
  LinkPatch,
  ListOf,
  ListQuery,
  Node,
  NodeCreate,
  NodePatch,
  Peering,
  PeeringCreate,
  PeeringPatch,
  parseIdText,
  Service,
  ServiceCreate,
  ServicePatch,
  ServiceToken,
  ServiceTokenCreate,
  ServiceTokenPatch,
  SigningKeyList,
  SigningKeyRotation,
  Template,
  TemplateCreate,
  TemplatePatch,
  TokenRequest,
  TokenResponse,
  User,
  UserCreate,
  UserPatch,
  Zone,
  ZoneCreate,
  ZonePatch,
} from '@capsule/api';
import type {} from '@fastify/swagger';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type SqlBool, sql } from 'kysely';
import { type TSchema, Type } from 'typebox';
import type { Principal } from './auth';
import { revokeAuthorization } from './authorization-revocation';
import type { ControllerContext } from './context';
import { revocationChanges, revokeScope } from './policy-revocation';
import { type Resource, requirePermission, requireVisible, resourceNoun, visibleDomain } from './rbac';
import { describeReferences, findReferences, tableOfResource } from './references';
import { type CollectionSpec, collections, idIs, type WriteContext } from './resources';
import type { Db } from './rows';
import { listSigningKeys, rotateSigningKey } from './signing-key-rotation';
import { mapStoreError } from './store/open-store';
import { prepareQuery } from './store/prepared-query';
import { registerTopologyView } from './topology-view';

const schemasByResource: Record<Resource, { item: TSchema; create?: TSchema; patch?: TSchema }> = {
  domains: { item: Domain, create: DomainCreate, patch: DomainPatch },
  users: { item: User, create: UserCreate, patch: UserPatch },
  zones: { item: Zone, create: ZoneCreate, patch: ZonePatch },
  nodes: { item: Node, create: NodeCreate, patch: NodePatch },
  links: { item: Link, create: LinkCreate, patch: LinkPatch },
  peerings: { item: Peering, create: PeeringCreate, patch: PeeringPatch },
  templates: { item: Template, create: TemplateCreate, patch: TemplatePatch },
  contracts: { item: Contract, create: ContractCreate, patch: ContractPatch },
  services: { item: Service, create: ServiceCreate, patch: ServicePatch },
  'service-tokens': { item: ServiceToken, create: ServiceTokenCreate, patch: ServiceTokenPatch },
  endpoints: { item: Endpoint },
  authorizations: { item: Authorization },
  audit: { item: AuditEntry },
};

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

/** Registers the northbound routes on `app`. */
export function registerNorthbound(app: FastifyInstance, context: ControllerContext): void {
  const { tokens, clock } = context;

  // Path ids are read strictly before the schema turns them into numbers: `/users/0x1`, `01`,
  // `1e0` or `+1` must not name user 1 (ajv's coercion reads them all as 1).
  app.addHook('preValidation', async (request) => {
    const id = (request.params as { id?: unknown } | undefined)?.id;
    if (typeof id === 'string' && parseIdText(id) === undefined)
      throw new ApiError('VALIDATION_FAILED', 'params/id: an id is a decimal number from 1 to 2147483647');
  });

  app.post(
    '/api/v1/auth/token',
    {
      schema: {
        tags: ['auth'],
        body: TokenRequest,
        response: { 200: TokenResponse, ...errors, 429: ErrorBody },
      },
    },
    async (request) => {
      const body = request.body as TokenRequest;
      const principal = await context.checkCredentials(body, request.ip, 'user');
      return tokens.issue(principal, clock.nowMs());
    },
  );

  const authenticate = (request: FastifyRequest) =>
    context.authenticate(request.headers.authorization, 'user');

  for (const each of collections) each((spec) => registerCollection(app, context, authenticate, spec));

  app.post(
    '/api/v1/authorizations/:id/revoke',
    { schema: { tags: ['authorizations'], params: IdParams, response: { 200: Authorization, ...errors } } },
    async (request) => {
      const principal = await authenticate(request);
      requirePermission(principal, 'authorizations', 'revoke');
      const id = (request.params as { id: number }).id;
      return revokeAuthorization(context.store.db, { principal, id }, context);
    },
  );

  app.get(
    '/api/v1/signing-keys',
    { schema: { tags: ['signing-keys'], response: { 200: SigningKeyList, ...errors } } },
    async (request) => {
      await authenticate(request);
      return listSigningKeys(context);
    },
  );
  app.post(
    '/api/v1/signing-keys/rotate',
    { schema: { tags: ['signing-keys'], response: { 200: SigningKeyRotation, ...errors } } },
    async (request) => rotateSigningKey(await authenticate(request), context),
  );

  registerTopologyView(app, context, authenticate);
}

/** The CRUD routes of one collection: list, get, and create/update/delete where it has them. */
function registerCollection<Row, Create, Patch>(
  app: FastifyInstance,
  context: ControllerContext,
  authenticate: (request: FastifyRequest) => Promise<Principal>,
  spec: CollectionSpec<Row, Create, Patch>,
): void {
  const { db } = context.store;
  const base = `/api/v1/${spec.resource}`;
  const schemas = schemasByResource[spec.resource];
  const tags = [spec.resource];

  // `from` is the transaction when called inside one (SQLite has one connection: using the
  // pool's would wait for the transaction forever).
  const selectById = prepareQuery((from, p) => spec.select(from).where(idIs(p(0))));
  const load = async (principal: Principal, id: number, from: Db = db) => {
    const row = (await selectById(from, id)).rows[0];
    if (!row) throw new ApiError('NOT_FOUND', `no ${resourceNoun(spec.resource)} ${id}`);
    requireVisible(principal, spec.resource, spec.domainOf(row));
    return row;
  };

  app.get(
    base,
    { schema: { tags, querystring: ListQuery, response: { 200: ListOf(schemas.item), ...errors } } },
    async (request) => {
      const principal = await authenticate(request);
      requirePermission(principal, spec.resource, 'read');
      const { limit = 100, offset = 0 } = request.query as ListQuery;
      const scope = visibleDomain(principal, spec.resource);
      let items = spec.select(db);
      let count = spec.count(db);
      if (scope !== undefined && spec.domainColumn) {
        const inScope = sql<SqlBool>`${sql.ref(spec.domainColumn)} = ${scope}`;
        items = items.where(inScope);
        count = count.where(inScope);
      }
      const [rows, total] = await Promise.all([
        items
          .orderBy(sql.ref('t.id'), spec.newestFirst ? 'desc' : 'asc')
          .limit(limit)
          .offset(offset)
          .execute(),
        count.executeTakeFirstOrThrow(),
      ]);
      return { items: rows.map((row) => spec.toApi(row)), total: Number(total.total) };
    },
  );

  app.get(
    `${base}/:id`,
    { schema: { tags, params: IdParams, response: { 200: schemas.item, ...errors } } },
    async (request) => {
      const principal = await authenticate(request);
      requirePermission(principal, spec.resource, 'read');
      return spec.toApi(await load(principal, (request.params as { id: number }).id));
    },
  );

  /** One write: authenticated, permitted, in one transaction with its audit entry; changes published after. */
  const write = async (
    request: FastifyRequest,
    action: 'create' | 'update' | 'delete',
    run: (ctx: WriteContext, principal: Principal) => Promise<{ id: number; domainId: number | null }>,
  ) => {
    const principal = await authenticate(request);
    requirePermission(principal, spec.resource, action);
    const nowMs = context.clock.nowMs();
    const changes: WriteContext['changes'] = [];
    const extras: WriteContext['extras'] = {};
    let result: { id: number; domainId: number | null };
    try {
      result = await db.transaction().execute(async (trx) => {
        const ctx: WriteContext = {
          db: trx,
          principal,
          nowMs,
          verifier: context.verifier,
          changes,
          extras,
          certificateLifetimeMs: context.certificateLifetimeMs,
          queueCommands: (nodeIds, command) => context.queueCommands(trx, nodeIds, command),
          async revoke(scope) {
            const revocation = await revokeScope(trx, scope, {
              nowMs,
              queueCommands: context.queueCommands,
            });
            changes.push(...revocationChanges(revocation));
            return revocation;
          },
        };
        const done = await run(ctx, principal);
        await context.audit(trx, principal, action, spec.resource, done.id, done.domainId, request.body);
        return done;
      });
    } catch (error) {
      const mapped = mapStoreError(error, action === 'delete' ? 'delete' : 'write');
      const id = (request.params as { id?: number } | undefined)?.id;
      if (mapped instanceof ApiError && mapped.code === 'IN_USE' && id !== undefined) {
        // Name what still refers to it, so the caller knows what to delete first.
        const references = describeReferences(await findReferences(db, tableOfResource(spec.resource), id));
        if (references)
          throw new ApiError(
            'IN_USE',
            `${resourceNoun(spec.resource)} ${id} is still referenced by ${references}`,
            { cause: error },
          );
      }
      throw mapped;
    }
    await context.publishChanges(changes);
    return { ...result, extras };
  };

  const { create, update, remove } = spec;
  if (create && schemas.create) {
    app.post(
      base,
      { schema: { tags, body: schemas.create, response: { 201: schemas.item, ...errors } } },
      async (request, reply) => {
        const { id, extras } = await write(request, 'create', async (ctx) => {
          const id = await create(ctx, request.body as Create);
          const row = (await selectById(ctx.db, id)).rows[0];
          if (!row) throw new ApiError('INTERNAL', `the new ${resourceNoun(spec.resource)} ${id} is gone`);
          return { id, domainId: spec.domainOf(row) };
        });
        const row = (await selectById(db, id)).rows[0]!;
        return reply.status(201).send({ ...(spec.toApi(row) as object), ...extras });
      },
    );
  }
  if (update && schemas.patch) {
    app.patch(
      `${base}/:id`,
      {
        schema: { tags, params: IdParams, body: schemas.patch, response: { 200: schemas.item, ...errors } },
      },
      async (request) => {
        const id = (request.params as { id: number }).id;
        await write(request, 'update', async (ctx, principal) => {
          const row = await load(principal, id, ctx.db);
          await update(ctx, row, request.body as Patch);
          return { id, domainId: spec.domainOf(row) };
        });
        return spec.toApi((await selectById(db, id)).rows[0]!);
      },
    );
  }
  if (remove) {
    app.delete(
      `${base}/:id`,
      { schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors } } },
      async (request, reply) => {
        const id = (request.params as { id: number }).id;
        await write(request, 'delete', async (ctx, principal) => {
          const row = await load(principal, id, ctx.db);
          await remove(ctx, row);
          return { id, domainId: spec.domainOf(row) };
        });
        return reply.status(204).send();
      },
    );
  }
}
