/**
 * The agent's local REST API (seed: "HTTP RESTful Service block", server-side Agent RESTful
 * interface), fastify on 127.0.0.1:5500 by default, under /api/v1:
 *
 *   GET    /api/v1/status                    host name, CGA, IPv4, controller state, links
 *   POST   /api/v1/endpoints                 {serviceToken, contract, role} or {serviceToken, name}
 *   GET    /api/v1/endpoints                 local endpoints with their peers
 *   DELETE /api/v1/endpoints/:id             stop using an endpoint on this host
 *   GET    /api/v1/endpoints/:id/statistics  bytes/packets in/out, drops
 *   GET    /api/v1/statistics                every endpoint, data-plane drops, packet types
 *   GET    /api/v1/resolver                  names the resolver answers, its counters
 *   GET    /api/v1/acl · PUT /api/v1/acl     {in: [rule], out: [rule]}
 *
 * Every body is validated against a closed schema (unknown fields → 400), bodies over
 * `bodyLimitBytes` get 413, malformed JSON 400; errors are `{code, message}`.
 */
import { isCapsuleError } from '@capsule/wire';
import Fastify, { type FastifyInstance } from 'fastify';
import { type Static, Type } from 'typebox';

const closed = { additionalProperties: false } as const;
const Name = Type.String({ minLength: 1, maxLength: 60, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });

/** `POST /api/v1/endpoints` body: a contract role, or a resolver name. */
export const EndpointRegistration = Type.Union([
  Type.Object(
    { serviceToken: Type.String({ minLength: 3, maxLength: 200 }), contract: Name, role: Name },
    closed,
  ),
  Type.Object(
    {
      serviceToken: Type.String({ minLength: 3, maxLength: 200 }),
      /** `<role>.<contract>.<domain>.capsule`. */
      name: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9._-]+\\.capsule\\.?$' }),
    },
    closed,
  ),
]);
export type EndpointRegistration = Static<typeof EndpointRegistration>;

const AclBody = Type.Object(
  {
    in: Type.Array(Type.String({ maxLength: 200 }), { maxItems: 256 }),
    out: Type.Array(Type.String({ maxLength: 200 }), { maxItems: 256 }),
  },
  closed,
);
const IdParams = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }) }, closed);

/** What the REST API asks of the agent. */
export interface AgentApi {
  status(): unknown;
  registerEndpoint(request: { serviceToken: string; contract: string; role: string }): Promise<unknown>;
  listEndpoints(): unknown[];
  /** Removes a local endpoint (and its role address from the TUN, when no other endpoint holds it). */
  unregisterEndpoint(id: number): Promise<boolean>;
  endpointStatistics(id: number): unknown | undefined;
  statistics(): unknown;
  resolverState(): unknown;
  getAcl(): { in: string[]; out: string[] };
  setAcl(rules: { in: string[]; out: string[] }): void;
}

const statusOfCode: Record<string, number> = {
  VALIDATION_FAILED: 400,
  AGENT_BAD_ACL: 400,
  AGENT_BAD_NAME: 400,
  NOT_FOUND: 404,
  SERVICE_TOKEN_INVALID: 403,
  ROLE_NOT_GRANTED: 403,
  FORBIDDEN: 403,
  NODE_NOT_REGISTERED: 503,
  UNAVAILABLE: 503,
};

/** Builds the fastify app (not listening yet). */
export function createRestApi(
  options: { bodyLimitBytes: number },
  deps: { agent: AgentApi },
): FastifyInstance {
  const { agent } = deps;
  const app = Fastify({
    bodyLimit: options.bodyLimitBytes,
    logger: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  app.setErrorHandler((error, _request, reply) => {
    const failure = error as Error & { statusCode?: number; code?: string; validation?: unknown };
    if (failure.validation)
      return reply.status(400).send({ code: 'VALIDATION_FAILED', message: failure.message });
    if (failure.statusCode === 413)
      return reply.status(413).send({ code: 'PAYLOAD_TOO_LARGE', message: failure.message });
    if (failure.statusCode && failure.statusCode >= 400 && failure.statusCode < 500)
      return reply.status(failure.statusCode).send({ code: 'BAD_REQUEST', message: failure.message });
    if (isCapsuleError(failure)) {
      const status = statusOfCode[failure.code] ?? (failure.code.startsWith('AGENT_') ? 400 : 502);
      return reply.status(status).send({ code: failure.code, message: failure.message });
    }
    return reply.status(500).send({ code: 'INTERNAL', message: 'internal error' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` }),
  );
  const notFound = (what: string) => ({ code: 'NOT_FOUND', message: `${what} not found` });

  app.get('/api/v1/status', async () => agent.status());
  app.post('/api/v1/endpoints', { schema: { body: EndpointRegistration } }, async (request, reply) => {
    const body = request.body as EndpointRegistration;
    let contract: string;
    let role: string;
    if ('name' in body) {
      const labels = body.name.toLowerCase().replace(/\.$/, '').split('.');
      if (labels.length !== 4)
        return reply
          .status(400)
          .send({ code: 'AGENT_BAD_NAME', message: 'the name is <role>.<contract>.<domain>.capsule' });
      role = labels[0]!;
      contract = labels[1]!;
    } else {
      contract = body.contract;
      role = body.role;
    }
    const endpoint = await agent.registerEndpoint({ serviceToken: body.serviceToken, contract, role });
    return reply.status(201).send(endpoint);
  });
  app.get('/api/v1/endpoints', async () => ({ items: agent.listEndpoints() }));
  app.delete('/api/v1/endpoints/:id', { schema: { params: IdParams } }, async (request, reply) => {
    const id = Number((request.params as { id: string }).id);
    if (!(await agent.unregisterEndpoint(id))) return reply.status(404).send(notFound(`endpoint ${id}`));
    return reply.status(204).send();
  });
  app.get('/api/v1/endpoints/:id/statistics', { schema: { params: IdParams } }, async (request, reply) => {
    const id = Number((request.params as { id: string }).id);
    const statistics = agent.endpointStatistics(id);
    if (statistics === undefined) return reply.status(404).send(notFound(`endpoint ${id}`));
    return statistics;
  });
  app.get('/api/v1/statistics', async () => agent.statistics());
  app.get('/api/v1/resolver', async () => agent.resolverState());
  app.get('/api/v1/acl', async () => agent.getAcl());
  app.put('/api/v1/acl', { schema: { body: AclBody } }, async (request) => {
    agent.setAcl(request.body as { in: string[]; out: string[] });
    return agent.getAcl();
  });
  return app;
}
