/**
 * The agent's local REST API (seed: "HTTP RESTful Service block", server-side Agent RESTful
 * interface), fastify on a Unix socket (/run/capsule/agent.sock) by default, TCP with a token when configured, under /api/v1:
 *
 *   GET    /api/v1/status                    host name, CGA, IPv4, controller state, links
 *   POST   /api/v1/endpoints                 {serviceToken, contract, role} or {serviceToken, name}
 *   GET    /api/v1/endpoints                 local endpoints with their peers
 *   DELETE /api/v1/endpoints/:id             stop using an endpoint on this host
 *   GET    /api/v1/endpoints/:id/statistics  bytes/packets in/out, drops
 *   GET    /api/v1/statistics                every endpoint, data-plane drops, packet types
 *   GET    /api/v1/resolver                  names the resolver answers, its counters
 *   GET    /api/v1/acl · PUT /api/v1/acl     {in: [rule], out: [rule]}
 *   GET    /api/v1/events                    flow events (drops with reason) as NDJSON until the client goes;
 *                                            ?host=&contract=&verdict=&kind= (@capsule/api's filter)
 *   POST   /api/v1/trace                     {peer, packets?, endpoint?}: the next packets to peer go
 *                                            traced (of our endpoint's flow, when given; else the first)
 *   GET    /metrics                          Prometheus text
 *
 * Every body is validated against a closed schema (unknown fields → 400), bodies over
 * `bodyLimitBytes` get 413, malformed JSON 400; errors are `{code, message}`.
 *
 * Access (`startRestApi`): the API replaces the host's ACLs and its endpoints, so only the agent's
 * own user, root and one group reach it. It listens on a Unix socket by default
 * (`/run/capsule/agent.sock`): the socket is bound under umask 177 (never reachable by others,
 * not even between bind and chmod), then given to `socketGroup` with mode 0660 (its directory,
 * when the agent made it, 0750) when that group exists and the agent may hand it over, else it
 * stays 0600 (directory 0700). TCP only when configured, and then every request needs
 * `Authorization: Bearer <token>`: a random 256-bit token written (0600, new at every start) to
 * `tokenFile`, which the CLI reads. A missing or wrong token is 401 `AGENT_API_UNAUTHENTICATED`,
 * checked before the body is read, compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { type FlowEventHub, parseFlowEventFilter } from '@capsule/api';
import { isCapsuleError, type Logger, PROMETHEUS_TEXT_CONTENT_TYPE, silentLogger } from '@capsule/wire';
import Fastify, { type FastifyInstance } from 'fastify';
import { type Static, Type } from 'typebox';
import { AgentError } from './errors';

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
  /** The Prometheus exposition of the agent's counters. */
  metrics(): string;
  /** Flow events (`GET /api/v1/events` subscribes here). */
  readonly events: FlowEventHub;
  /**
   * Arms the next `packets` packets of the flow to `peer` (its CGA, or its IPv4 alias on this
   * host) to go with the TRACE flag (trace events, `capsule trace`): the flow of our endpoint
   * `endpointId` when given (several contracts can have a flow to one host), else the first
   * registered's. Undefined when there is no such flow; else the flow's peer (CGA), the packets
   * armed and whose flow it is.
   */
  traceFlow(
    peer: string,
    packets: number,
    endpointId?: number,
  ): { peer: string; packets: number; endpoint: number } | undefined;
  /**
   * Asks the unicast flows (of local endpoint `endpointId`, or all) to move their e2e send key to
   * the next epoch with their next packet (`capsule agent rekey`). Undefined when there is no such
   * endpoint; else how many flows were asked.
   */
  rekeyFlows(endpointId?: number): { flows: number } | undefined;
}

const RekeyBody = Type.Object(
  { endpoint: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 })) },
  closed,
);

/** Most packets one `POST /api/v1/trace` arms. */
export const TRACE_PACKETS_MAX = 100;
const TraceBody = Type.Object(
  {
    peer: Type.String({ minLength: 2, maxLength: 45, pattern: '^[0-9A-Fa-f:.]+$' }),
    packets: Type.Optional(Type.Integer({ minimum: 1, maximum: TRACE_PACKETS_MAX })),
    endpoint: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 })),
  },
  closed,
);

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

/** Longest query string `/api/v1/events` reads. */
const EVENTS_QUERY_MAX = 1024;

/**
 * Builds the fastify app (not listening yet). With `bearerToken`, every request must carry
 * `Authorization: Bearer <bearerToken>` (401 `AGENT_API_UNAUTHENTICATED` otherwise).
 */
export function createRestApi(
  options: { bodyLimitBytes: number; bearerToken?: string },
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
  if (options.bearerToken !== undefined) {
    const expected = digest(`Bearer ${options.bearerToken}`);
    app.addHook('onRequest', async (request, reply) => {
      const given = request.headers.authorization;
      if (typeof given === 'string' && timingSafeEqual(digest(given), expected)) return;
      return reply.status(401).header('www-authenticate', 'Bearer realm="capsule-agent"').send({
        code: 'AGENT_API_UNAUTHENTICATED',
        message: 'the agent API over TCP needs Authorization: Bearer <the token in its token file>',
      });
    });
  }

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
  app.post('/api/v1/trace', { schema: { body: TraceBody } }, async (request, reply) => {
    const body = request.body as { peer: string; packets?: number; endpoint?: number };
    const armed = agent.traceFlow(body.peer, body.packets ?? 1, body.endpoint);
    if (armed === undefined)
      return reply
        .status(404)
        .send(
          notFound(
            body.endpoint === undefined
              ? `a flow to ${body.peer}`
              : `a flow of endpoint ${body.endpoint} to ${body.peer}`,
          ),
        );
    return armed;
  });
  app.post('/api/v1/rekey', { schema: { body: RekeyBody } }, async (request, reply) => {
    const { endpoint } = (request.body ?? {}) as { endpoint?: number };
    const asked = agent.rekeyFlows(endpoint);
    if (asked === undefined) return reply.status(404).send(notFound(`endpoint ${endpoint}`));
    return asked;
  });
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', PROMETHEUS_TEXT_CONTENT_TYPE).send(agent.metrics()),
  );
  app.get('/api/v1/events', async (request, reply) => {
    const search = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
    if (search.length > EVENTS_QUERY_MAX)
      return reply.status(400).send({ code: 'VALIDATION_FAILED', message: 'query string too long' });
    const query: Record<string, string> = {};
    for (const [key, value] of new URLSearchParams(search)) {
      if (key in query)
        return reply
          .status(400)
          .send({ code: 'VALIDATION_FAILED', message: `${key.slice(0, 40)} given twice` });
      query[key] = value;
    }
    const parsed = parseFlowEventFilter(query);
    if ('error' in parsed)
      return reply.status(400).send({ code: 'VALIDATION_FAILED', message: parsed.error });
    const response = reply.raw;
    const unsubscribe = agent.events.subscribe(parsed.filter, {
      write: (line) => void response.write(line),
      backlogBytes: () => response.writableLength,
    });
    if (!unsubscribe) return reply.status(503).send({ code: 'UNAVAILABLE', message: 'too many observers' });
    reply.hijack();
    response.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    response.flushHeaders();
    request.raw.socket.setNoDelay(true);
    response.once('close', unsubscribe);
    request.raw.once('close', unsubscribe);
  });
  app.put('/api/v1/acl', { schema: { body: AclBody } }, async (request) => {
    agent.setAcl(request.body as { in: string[]; out: string[] });
    return agent.getAcl();
  });
  return app;
}

/** SHA-256 of a header value: equal-length inputs for timingSafeEqual, whatever was sent. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Where and how the local REST API listens (agent.yaml `rest`; defaults in `defaultRestApiOptions`). */
export interface RestApiOptions {
  /** The Unix socket; undefined: none. */
  socketPath: string | undefined;
  /** The group given the socket (0660; its directory 0750 when the agent made it), when it exists. */
  socketGroup: string;
  /** A TCP listener (every request needs the bearer token); undefined: none. */
  tcp: { host: string; port: number } | undefined;
  /** Where the TCP listener's bearer token is written (0600, new at every start). */
  tokenFile: string;
  /** The largest request body (413 beyond). */
  bodyLimitBytes: number;
}

/** The defaults: the socket only, group `capsule`. */
export const defaultRestApiOptions: RestApiOptions = {
  socketPath: '/run/capsule/agent.sock',
  socketGroup: 'capsule',
  tcp: undefined,
  tokenFile: '/run/capsule/agent.token',
  bodyLimitBytes: 64 * 1024,
};

/** The longest Unix socket path (sun_path is 108 bytes with its terminating NUL). */
export const maxSocketPathBytes = 107;

/** A listening REST API. */
export interface RestApiServer {
  /** The socket's path, its mode and group as set (undefined: no socket). */
  readonly socket: { path: string; mode: number; groupId: number | undefined } | undefined;
  /** The TCP listener's bound address (undefined: no TCP). */
  readonly tcp: { host: string; port: number } | undefined;
  /** Closes both listeners; removes the socket and the token file. */
  close(): Promise<void>;
}

/** The id of group `name` in /etc/group; undefined when there is no such group (or no file). */
export function groupIdOf(name: string, groupFile = '/etc/group'): number | undefined {
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 3 && /^\d+$/.test(fields[2]!)) return Number(fields[2]);
  }
  return undefined;
}

/** Resolves when something accepts a connection on `path`, false when nothing does. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Starts the local REST API on the socket and/or TCP `options` name (see the module comment).
 * Throws AgentError: AGENT_BAD_OPTION (socket path too long, or a file that is not a socket at
 * its place), AGENT_API_IN_USE (another agent answers on the socket).
 */
export async function startRestApi(
  options: RestApiOptions,
  deps: { agent: AgentApi; logger?: Logger },
): Promise<RestApiServer> {
  const { agent } = deps;
  const logger = deps.logger ?? silentLogger;
  const apps: FastifyInstance[] = [];
  let socket: RestApiServer['socket'];
  let tcp: RestApiServer['tcp'];
  let tokenWritten = false;
  const close = async () => {
    for (const app of apps.splice(0)) await app.close();
    if (socket && existsSync(socket.path) && lstatSync(socket.path).isSocket()) unlinkSync(socket.path);
    if (tokenWritten) rmSync(options.tokenFile, { force: true });
    tokenWritten = false;
  };
  try {
    if (options.socketPath !== undefined) {
      socket = await listenOnSocket(agent, options, logger, apps);
    }
    if (options.tcp) {
      const token = randomBytes(32).toString('base64url');
      writeTokenFile(options.tokenFile, token);
      tokenWritten = true;
      const app = createRestApi({ bodyLimitBytes: options.bodyLimitBytes, bearerToken: token }, { agent });
      apps.push(app);
      await app.listen({ host: options.tcp.host, port: options.tcp.port });
      const address = app.server.address();
      if (address && typeof address === 'object') tcp = { host: address.address, port: address.port };
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { socket, tcp, close };
}

async function listenOnSocket(
  agent: AgentApi,
  options: RestApiOptions,
  logger: Logger,
  apps: FastifyInstance[],
): Promise<NonNullable<RestApiServer['socket']>> {
  const path = options.socketPath!;
  if (Buffer.byteLength(path) > maxSocketPathBytes)
    throw new AgentError(
      'AGENT_BAD_OPTION',
      `the agent API socket path is longer than ${maxSocketPathBytes} bytes: ${path}`,
    );
  const directory = dirname(path);
  const madeDirectory = !existsSync(directory);
  if (madeDirectory) mkdirSync(directory, { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket())
      throw new AgentError('AGENT_BAD_OPTION', `${path} exists and is not a socket: not replacing it`);
    if (await socketAnswers(path))
      throw new AgentError('AGENT_API_IN_USE', `another agent answers on ${path}`);
    unlinkSync(path); // left by an agent that did not stop
  }
  const app = createRestApi({ bodyLimitBytes: options.bodyLimitBytes }, { agent });
  apps.push(app);
  await app.ready();
  await new Promise<void>((resolve, reject) => {
    app.server.once('error', reject);
    // Bound under umask 177: the socket is 0600 from the moment it exists (a socket's mode is
    // 0777 less the umask; net binds a path synchronously inside listen()).
    const umask = process.umask(0o177);
    try {
      app.server.listen({ path }, () => {
        app.server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
  let mode = 0o600;
  chmodSync(path, mode);
  let groupId = groupIdOf(options.socketGroup);
  if (groupId !== undefined) {
    try {
      chownSync(path, -1, groupId);
      chmodSync(path, 0o660);
      mode = 0o660;
      if (madeDirectory) {
        chownSync(directory, -1, groupId);
        chmodSync(directory, 0o750);
      }
    } catch (error) {
      logger.warn(
        { path, group: options.socketGroup, error: (error as Error).message },
        'agent API socket kept 0600: cannot give it to its group',
      );
      chmodSync(path, 0o600);
      groupId = undefined;
    }
  }
  return { path, mode, groupId };
}

/** Writes the bearer token (0600, atomically: a reader sees the old token or the new one). */
function writeTokenFile(file: string, token: string): void {
  const directory = dirname(file);
  if (!existsSync(directory)) mkdirSync(directory, { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  rmSync(temporary, { force: true });
  writeFileSync(temporary, `${token}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(temporary, file);
}
