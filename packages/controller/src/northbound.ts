/**
 * The northbound REST API under /api/v1: the token endpoint, one CRUD route set per collection,
 * the revoke action, the OpenAPI document and /metrics. Every write runs in one transaction with
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
  Service,
  ServiceCreate,
  ServicePatch,
  ServiceToken,
  ServiceTokenCreate,
  ServiceTokenPatch,
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
import { type TSchema, Type } from 'typebox';
import type { Principal } from './auth';
import type { ControllerContext } from './context';
import { requirePermission, requireVisible, resourceNoun, visibleDomain } from './rbac';
import { type AnyDb, collections, selectEndpointRows, selectRows, type WriteContext } from './resources';
import { mapStoreError } from './store/open-store';
import { prepareQuery } from './store/prepared-query';

const schemasByResource: Record<string, { item: TSchema; create?: TSchema; patch?: TSchema }> = {
  domains: { item: Domain, create: DomainCreate, patch: DomainPatch },
  users: { item: User, create: UserCreate, patch: UserPatch },
  zones: { item: Zone, create: ZoneCreate, patch: ZonePatch },
  nodes: { item: Node, create: NodeCreate, patch: NodePatch },
  links: { item: Link, create: LinkCreate, patch: LinkPatch },
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
  const { store, tokens, clock } = context;
  const db = store.db as unknown as AnyDb;

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

  for (const spec of collections) {
    const base = `/api/v1/${spec.resource}`;
    const schemas = schemasByResource[spec.resource]!;
    const tags = [spec.resource];
    const select = (from: AnyDb = db) =>
      spec.resource === 'endpoints' ? selectEndpointRows(from) : selectRows(from, spec);

    // `from` is the transaction when called inside one (SQLite has one connection: using the
    // pool's would wait for the transaction forever).
    const selectById = prepareQuery((from, p) => select(from).where('t.id', '=', p(0)));
    const load = async (principal: Principal, id: number, from: AnyDb = db) => {
      const row = (await selectById(from, id)).rows[0];
      if (!row) throw new ApiError('NOT_FOUND', `no ${resourceNoun(spec.resource)} ${id}`);
      requireVisible(principal, spec.resource, spec.domainColumn ? row[spec.domainColumn] : null);
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
        const column = spec.domainColumn ? `t.${spec.domainColumn}` : undefined;
        let items = select();
        let count = db.selectFrom(`${spec.table} as t`).select((eb) => eb.fn.countAll().as('total'));
        if (scope !== undefined && column) {
          items = items.where(column, '=', scope);
          count = count.where(column, '=', scope);
        }
        const order = spec.resource === 'audit' ? 'desc' : 'asc';
        const [rows, total] = await Promise.all([
          items.orderBy('t.id', order).limit(limit).offset(offset).execute(),
          count.executeTakeFirstOrThrow(),
        ]);
        return { items: rows.map(spec.toApi), total: Number(total.total) };
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

    const write = async (
      request: FastifyRequest,
      action: 'create' | 'update' | 'delete',
      run: (ctx: WriteContext, principal: Principal) => Promise<{ id: number; domainId: number | null }>,
    ) => {
      const principal = await authenticate(request);
      requirePermission(principal, spec.resource, action);
      const ctx: WriteContext = {
        db,
        principal,
        nowMs: clock.nowMs(),
        identity: context.identity,
        verifier: context.verifier,
        changes: [],
        extras: {},
      };
      let result: { id: number; domainId: number | null };
      try {
        result = await db.transaction().execute(async (trx) => {
          const done = await run({ ...ctx, db: trx }, principal);
          await context.audit(
            trx as never,
            principal,
            action,
            spec.resource,
            done.id,
            done.domainId,
            request.body,
          );
          return done;
        });
      } catch (error) {
        throw mapStoreError(error, action === 'delete' ? 'delete' : 'write');
      }
      await context.publishChanges(ctx.changes);
      return { ...result, extras: ctx.extras };
    };

    const domainOf = (row: Record<string, unknown>) =>
      spec.domainColumn ? (row[spec.domainColumn] as number) : null;

    if (spec.create && schemas.create) {
      const create = spec.create;
      app.post(
        base,
        { schema: { tags, body: schemas.create, response: { 201: schemas.item, ...errors } } },
        async (request, reply) => {
          const { id, extras } = await write(request, 'create', async (ctx) => {
            const id = await create(ctx, request.body as never);
            const row = await selectRows(ctx.db, spec).where('t.id', '=', id).executeTakeFirstOrThrow();
            return { id, domainId: domainOf(row) };
          });
          const row = (await selectById(db, id)).rows[0]!;
          return reply.status(201).send({ ...(spec.toApi(row) as object), ...extras });
        },
      );
    }
    if (spec.update && schemas.patch) {
      const update = spec.update;
      app.patch(
        `${base}/:id`,
        {
          schema: { tags, params: IdParams, body: schemas.patch, response: { 200: schemas.item, ...errors } },
        },
        async (request) => {
          const id = (request.params as { id: number }).id;
          await write(request, 'update', async (ctx, principal) => {
            const row = await load(principal, id, ctx.db);
            await update(ctx, row, request.body as never);
            return { id, domainId: domainOf(row) };
          });
          return spec.toApi((await selectById(db, id)).rows[0]!);
        },
      );
    }
    if (spec.remove) {
      const remove = spec.remove;
      app.delete(
        `${base}/:id`,
        { schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors } } },
        async (request, reply) => {
          const id = (request.params as { id: number }).id;
          await write(request, 'delete', async (ctx, principal) => {
            const row = await load(principal, id, ctx.db);
            await remove(ctx, row);
            return { id, domainId: domainOf(row) };
          });
          return reply.status(204).send();
        },
      );
    }
  }

  app.post(
    '/api/v1/authorizations/:id/revoke',
    { schema: { tags: ['authorizations'], params: IdParams, response: { 200: Authorization, ...errors } } },
    async (request) => {
      const principal = await authenticate(request);
      requirePermission(principal, 'authorizations', 'revoke');
      const id = (request.params as { id: number }).id;
      return context.revokeAuthorization(principal, id);
    },
  );

  app.get('/api/v1/openapi.json', async () => app.swagger());
}
