/**
 * Typed fetch clients for the controller: northbound (`/api/v1`, used by the CLI and the console)
 * and southbound (`/sb/v1`, used by agents and engines). A non-2xx answer becomes an `ApiError`
 * with the server's code (without one: UNAVAILABLE for 502–504, else INTERNAL); a network failure
 * becomes `ApiError('UNAVAILABLE')`.
 */
import { type ControllerReplicas, createControllerReplicas } from './controller-replicas';
import { ApiError, type ApiErrorCode, isApiErrorCode } from './errors';
import type {
  AuditEntry,
  Authorization,
  Contract,
  ContractCreate,
  ContractPatch,
  Domain,
  DomainCreate,
  DomainPatch,
  Endpoint,
  EndpointTrace,
  Link,
  LinkCreate,
  LinkPatch,
  List,
  ListQuery,
  Node,
  NodeCreate,
  NodePatch,
  Peering,
  PeeringCreate,
  PeeringPatch,
  PushEvent,
  SbEndpointRequest,
  SbEndpointResponse,
  SbKeepaliveRequest,
  SbKeepaliveResponse,
  SbLinkRequest,
  SbLoginResponse,
  SbNonceResponse,
  SbRegisterRequest,
  SbRegisterResponse,
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
  Topology,
  User,
  UserCreate,
  UserPatch,
  Zone,
  ZoneCreate,
  ZonePatch,
} from './schemas';
import { COMMAND_ACKS_MAX, ID_MAX } from './schemas';

/** Options of both clients. */
export interface ClientOptions {
  /** `http(s)://host:port` of the controller's northbound (or southbound) listener. */
  baseUrl?: string;
  /**
   * Replicas of the controller (southbound): calls go to the current one and move on to the next
   * when it fails (controller-replicas.ts). Given, it replaces `baseUrl`.
   */
  replicas?: ControllerReplicas;
  /** A call (connection, request, whole answer) that takes longer fails as UNAVAILABLE; default 10 s. */
  requestTimeoutMs?: number;
  /**
   * The push channel counts as dead when nothing (event or heartbeat) arrived for this long, and
   * is dropped and opened again on the next replica. Default: 4 × the heartbeat interval the
   * controller's `ready` event names (`PUSH_IDLE_HEARTBEATS`), or `DEFAULT_PUSH_IDLE_TIMEOUT_MS`
   * when it names none.
   */
  pushIdleTimeoutMs?: number;
  /** A bearer token from a previous login. */
  token?: string;
  /** The fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
}

/** How long a call may take by default (ms) before it counts as failed (and fails over). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Heartbeat intervals of silence after which a push channel counts as dead. */
export const PUSH_IDLE_HEARTBEATS = 4;
/** The push channel's idle limit when the controller names no heartbeat interval (ms). */
export const DEFAULT_PUSH_IDLE_TIMEOUT_MS = 60_000;

/** One HTTP exchange: method, path (under the base URL) and JSON body. */
export type Requester = <T>(
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: T }>;

/**
 * The code of an error answer: the server's, when it is one of the API's; else UNAVAILABLE for
 * 502, 503 and 504 (a proxy without its upstream, or a controller closing down — fastify answers
 * 503 without a code while it closes: worth retrying), else INTERNAL.
 */
function errorCodeOf(body: unknown, status: number): ApiErrorCode {
  const code = (body as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string' && isApiErrorCode(code)) return code;
  return status === 502 || status === 503 || status === 504 ? 'UNAVAILABLE' : 'INTERNAL';
}

/** The replicas of a client's options: the given ones, else the one `baseUrl`. */
function replicasOf(options: ClientOptions): ControllerReplicas {
  return options.replicas ?? createControllerReplicas(options.baseUrl === undefined ? [] : [options.baseUrl]);
}

/**
 * A failure that says the replica is dead or sick rather than that the call is wrong: no
 * connection, no answer in time, a 5xx, or a 2xx that is not JSON. Another replica may serve it.
 */
class ReplicaFailure extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
  }
}

function createRequester(
  options: ClientOptions,
  replicas: ControllerReplicas,
  getToken: () => string | undefined,
): Requester {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  /** One exchange with one replica; a ReplicaFailure when that replica failed. */
  const exchange = async <T>(base: string, method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = {};
    const token = getToken();
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const signal = AbortSignal.timeout(timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await doFetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      text = await response.text();
    } catch (error) {
      const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : (error as Error).message;
      throw new ReplicaFailure(
        new ApiError('UNAVAILABLE', `cannot reach the controller at ${base}: ${reason}`, { cause: error }),
      );
    }
    let parsed: unknown;
    let isJson = true;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
      isJson = false;
    }
    if (!response.ok) {
      const message = (parsed as { message?: unknown } | null | undefined)?.message;
      const retryAfter = /^[0-9]{1,9}$/.exec(response.headers.get('retry-after') ?? '');
      const error = new ApiError(
        errorCodeOf(parsed, response.status),
        typeof message === 'string' ? message : `HTTP ${response.status}`,
        retryAfter ? { retryAfterSeconds: Number(retryAfter[0]) } : undefined,
      );
      if (response.status >= 500) throw new ReplicaFailure(error);
      throw error;
    }
    if (!isJson)
      throw new ReplicaFailure(
        new ApiError(
          'UNAVAILABLE',
          `the controller at ${base} answered HTTP ${response.status} with a body that is not JSON`,
        ),
      );
    return { status: response.status, body: parsed as T };
  };
  return async <T>(method: string, path: string, body?: unknown) => {
    let base = replicas.current;
    let failure: ReplicaFailure | undefined;
    // Each replica at most once per call, starting with the current one.
    for (let attempt = 0; attempt < replicas.urls.length; attempt += 1) {
      try {
        return await exchange<T>(base, method, path, body);
      } catch (error) {
        if (!(error instanceof ReplicaFailure)) throw error;
        failure = error;
        base = replicas.failover(base, error.message);
      }
    }
    throw failure!.error;
  };
}

function query(q?: ListQuery): string {
  if (!q) return '';
  const parts: string[] = [];
  if (q.limit !== undefined) parts.push(`limit=${q.limit}`);
  if (q.offset !== undefined) parts.push(`offset=${q.offset}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** CRUD over one northbound collection. */
export interface Collection<T, C, P> {
  create(body: C): Promise<T>;
  list(q?: ListQuery): Promise<List<T>>;
  get(id: number): Promise<T>;
  update(id: number, body: P): Promise<T>;
  remove(id: number): Promise<void>;
}

function collection<T, C, P>(request: Requester, name: string): Collection<T, C, P> {
  const path = `/api/v1/${name}`;
  return {
    create: async (body) => (await request<T>('POST', path, body)).body,
    list: async (q) => (await request<List<T>>('GET', `${path}${query(q)}`)).body,
    get: async (id) => (await request<T>('GET', `${path}/${id}`)).body,
    update: async (id, body) => (await request<T>('PATCH', `${path}/${id}`, body)).body,
    remove: async (id) => void (await request('DELETE', `${path}/${id}`)),
  };
}

/** The northbound collections by their URL name, as the CLI and `apply` address them. */
export const collectionNames = [
  'domains',
  'users',
  'zones',
  'nodes',
  'links',
  'peerings',
  'templates',
  'contracts',
  'services',
  'service-tokens',
] as const;

/** The northbound client. */
export function createApiClient(options: ClientOptions) {
  let token = options.token;
  const replicas = replicasOf(options);
  const request = createRequester(options, replicas, () => token);
  return {
    /** Low-level access: any method and path. */
    request,
    /** The replica calls go to now (the base URL when there is one). */
    get currentUrl() {
      return replicas.current;
    },
    /** The current bearer token. */
    get token() {
      return token;
    },
    /** `POST /api/v1/auth/token`; keeps the token for later calls. */
    async login(credentials: TokenRequest): Promise<TokenResponse> {
      const { body } = await request<TokenResponse>('POST', '/api/v1/auth/token', credentials);
      token = body.token;
      return body;
    },
    domains: collection<Domain, DomainCreate, DomainPatch>(request, 'domains'),
    users: collection<User, UserCreate, UserPatch>(request, 'users'),
    zones: collection<Zone, ZoneCreate, ZonePatch>(request, 'zones'),
    nodes: collection<Node, NodeCreate, NodePatch>(request, 'nodes'),
    links: collection<Link, LinkCreate, LinkPatch>(request, 'links'),
    peerings: collection<Peering, PeeringCreate, PeeringPatch>(request, 'peerings'),
    templates: collection<Template, TemplateCreate, TemplatePatch>(request, 'templates'),
    contracts: collection<Contract, ContractCreate, ContractPatch>(request, 'contracts'),
    services: collection<Service, ServiceCreate, ServicePatch>(request, 'services'),
    serviceTokens: collection<ServiceToken, ServiceTokenCreate, ServiceTokenPatch>(request, 'service-tokens'),
    endpoints: {
      list: async (q?: ListQuery) =>
        (await request<List<Endpoint>>('GET', `/api/v1/endpoints${query(q)}`)).body,
      get: async (id: number) => (await request<Endpoint>('GET', `/api/v1/endpoints/${id}`)).body,
      /** Deletes an endpoint: its authorization is revoked, its host and the engines told. */
      remove: async (id: number) => void (await request('DELETE', `/api/v1/endpoints/${id}`)),
      /** The endpoint's computed paths to its peers, hop by hop. */
      trace: async (id: number) =>
        (await request<EndpointTrace>('GET', `/api/v1/endpoints/${id}/trace`)).body,
    },
    /** The nodes and links the caller may see, with flow counts. */
    topology: async () => (await request<Topology>('GET', '/api/v1/topology')).body,
    authorizations: {
      list: async (q?: ListQuery) =>
        (await request<List<Authorization>>('GET', `/api/v1/authorizations${query(q)}`)).body,
      get: async (id: number) => (await request<Authorization>('GET', `/api/v1/authorizations/${id}`)).body,
      revoke: async (id: number) =>
        (await request<Authorization>('POST', `/api/v1/authorizations/${id}/revoke`, {})).body,
    },
    /** The controller's signing keys (public parts) and their rotation (systemAdmin). */
    signingKeys: {
      list: async () => (await request<SigningKeyList>('GET', '/api/v1/signing-keys')).body,
      rotate: async () => (await request<SigningKeyRotation>('POST', '/api/v1/signing-keys/rotate', {})).body,
    },
    audit: {
      list: async (q?: ListQuery) =>
        (await request<List<AuditEntry>>('GET', `/api/v1/audit${query(q)}`)).body,
    },
  };
}
/** The northbound client's type. */
export type ApiClient = ReturnType<typeof createApiClient>;

/**
 * A push event from one `data:` frame: JSON with a string `kind`; undefined for anything else (the
 * frame is skipped and the channel read on — one bad frame must not end it unnoticed).
 */
function pushEventOf(data: string): PushEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || typeof (value as { kind?: unknown }).kind !== 'string')
    return undefined;
  return value as PushEvent;
}

/** Command ids a southbound client holds for acknowledgement, at most. */
const commandAcksHeld = 10 * COMMAND_ACKS_MAX;

/** The southbound client (agents and engines). */
export function createSouthboundClient(options: ClientOptions) {
  let token = options.token;
  const replicas = replicasOf(options);
  const request = createRequester(options, replicas, () => token);
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  /**
   * The ids of the commands this client took in (keep-alive answers, the push channel) that no
   * keep-alive has acknowledged yet, oldest first: each keep-alive names up to COMMAND_ACKS_MAX of
   * them, and the ones an answer came back for are done. Until then the controller gives them
   * again (the node's command order refuses a repeat). Bounded: past the limit the oldest are
   * dropped, which costs their being sent once more.
   */
  const unacked = new Set<number>();
  const tookIn = (command: unknown) => {
    const id = (command as { id?: unknown } | null)?.id;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > ID_MAX) return;
    unacked.delete(id);
    unacked.add(id);
    if (unacked.size > commandAcksHeld) unacked.delete(unacked.values().next().value as number);
  };

  /**
   * Opens the push channel on one replica: resolves to its body once the answer's headers came
   * within the timeout (the body then streams for as long as the channel lives).
   */
  async function openOn(base: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const opening = new AbortController();
    const onAbort = () => opening.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => opening.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    let response: Response;
    try {
      response = await doFetch(`${base}/sb/v1/events`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        signal: opening.signal,
      });
    } catch (error) {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) throw error;
      throw new ReplicaFailure(
        new ApiError('UNAVAILABLE', `cannot reach the controller at ${base}: ${(error as Error).message}`, {
          cause: error,
        }),
      );
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok || !response.body) {
      signal.removeEventListener('abort', onAbort);
      const text = await response.text().catch(() => '');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {}
      const error = new ApiError(
        errorCodeOf(parsed, response.status),
        `push channel refused by ${base}: HTTP ${response.status}`,
      );
      if (response.status >= 500) throw new ReplicaFailure(error);
      throw error;
    }
    // From here the caller's signal ends the channel through `opening` (still listening).
    return response.body;
  }

  return {
    get token() {
      return token;
    },
    /** The replica calls go to now (`https://host:port`). */
    get currentUrl() {
      return replicas.current;
    },
    /** The replicas this client uses (the same object for every client given it). */
    replicas,
    /** Logs in with node credentials; keeps the token. */
    async login(credentials: TokenRequest): Promise<SbLoginResponse> {
      const { body } = await request<SbLoginResponse>('POST', '/sb/v1/login', credentials);
      token = body.token;
      return body;
    },
    /** A fresh single-use registration nonce. */
    nonce: async () => (await request<SbNonceResponse>('POST', '/sb/v1/nonce', {})).body,
    /** Registers this node (CGA, keys, signature over the nonce); keeps the node token. */
    async register(body: SbRegisterRequest): Promise<SbRegisterResponse> {
      const { body: answer } = await request<SbRegisterResponse>('POST', '/sb/v1/register', body);
      token = answer.token;
      return answer;
    },
    /** Registers a link to a neighbor. */
    registerLink: async (body: SbLinkRequest) => (await request<Link>('POST', '/sb/v1/links', body)).body,
    /** Keep-alive: `status` 200 (nothing to do) or 202 (commands); the controller keys to trust now. */
    keepalive: async (body: SbKeepaliveRequest = {}) => {
      const acked = body.acked ?? [...unacked].slice(0, COMMAND_ACKS_MAX);
      let exchanged: { status: number; body: SbKeepaliveResponse };
      try {
        exchanged = await request<SbKeepaliveResponse>('POST', '/sb/v1/keepalive', { ...body, acked });
      } catch (error) {
        // A controller older than acknowledgements refuses the field: asked again without it,
        // it gives each command once, as it always did (docs/deploy.md: upgrade it first).
        if (body.acked !== undefined || !(error instanceof ApiError) || error.code !== 'VALIDATION_FAILED')
          throw error;
        exchanged = await request<SbKeepaliveResponse>('POST', '/sb/v1/keepalive', body);
        acked.length = 0;
      }
      const { status, body: answer } = exchanged;
      const commands = (answer as { commands?: unknown } | undefined)?.commands;
      if (!Array.isArray(commands))
        throw new ApiError('UNAVAILABLE', `the keep-alive answer of ${replicas.current} has no command list`);
      for (const id of acked) unacked.delete(id);
      for (const command of commands) tookIn(command);
      const controllerKeys = (answer as { controllerKeys?: unknown } | undefined)?.controllerKeys;
      return {
        status,
        commands: commands as SbKeepaliveResponse['commands'],
        // Checked by the node (trustedControllerKeysOf) before it trusts any of them.
        ...(Array.isArray(controllerKeys) && {
          controllerKeys: controllerKeys as NonNullable<SbKeepaliveResponse['controllerKeys']>,
        }),
      };
    },
    /** Registers a service endpoint in a contract role (the same role again: the same endpoint). */
    registerEndpoint: async (body: SbEndpointRequest) =>
      (await request<SbEndpointResponse>('POST', '/sb/v1/endpoints', body)).body,
    /** Unregisters one of this node's endpoints (its authorization is revoked). */
    unregisterEndpoint: async (id: number) => void (await request('DELETE', `/sb/v1/endpoints/${id}`)),
    /**
     * Opens the push channel (server-sent events) on the current replica, moving on to the next
     * like any call when it fails. Calls `onEvent` for each event until `signal` aborts; resolves
     * once the channel is open (the server's `ready` event arrived). `onClose` is called once when
     * the channel ends without `signal` aborting (the controller closed it or died): the caller
     * opens it again (`createPushAttachment` does).
     */
    async events(
      onEvent: (event: PushEvent) => void,
      signal: AbortSignal,
      onClose?: () => void,
    ): Promise<void> {
      let base = replicas.current;
      let body: ReadableStream<Uint8Array> | undefined;
      let failure: ReplicaFailure | undefined;
      for (let attempt = 0; attempt < replicas.urls.length && !body; attempt += 1) {
        try {
          body = await openOn(base, signal);
        } catch (error) {
          if (!(error instanceof ReplicaFailure)) throw error;
          failure = error;
          base = replicas.failover(base, error.message);
        }
      }
      if (!body) throw failure!.error;
      const reader = body.pipeThrough(new TextDecoderStream()).getReader();
      // A controller that dies without closing the connection (power loss, a partition, a NAT that
      // forgot the flow) leaves the read waiting forever: silence longer than a few heartbeats ends
      // the channel, and the replica counts as failed.
      let idleTimer: ReturnType<typeof setTimeout> | undefined;
      let idleLimitMs = options.pushIdleTimeoutMs ?? DEFAULT_PUSH_IDLE_TIMEOUT_MS;
      let silent = false;
      const heard = () => {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => {
          silent = true;
          reader.cancel().catch(() => {});
        }, idleLimitMs);
      };
      heard();
      let buffer = '';
      let isReady = false;
      let resolveReady: (opened: boolean) => void = () => {};
      const ready = new Promise<boolean>((resolve) => {
        resolveReady = resolve;
      });
      void (async () => {
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            heard();
            buffer += value;
            // A channel that sends no frame end is not a channel: bounded, then dropped.
            if (buffer.length > PUSH_FRAME_MAX_CHARS) break;
            let cut = buffer.indexOf('\n\n');
            while (cut >= 0) {
              const frame = buffer.slice(0, cut);
              buffer = buffer.slice(cut + 2);
              const data = frame
                .split('\n')
                .filter((line) => line.startsWith('data:'))
                .map((line) => line.slice(5).trimStart())
                .join('\n');
              const event = data ? pushEventOf(data) : undefined;
              if (event?.kind === 'ready') {
                const heartbeatMs = (event.payload as { heartbeatMs?: unknown } | null)?.heartbeatMs;
                if (options.pushIdleTimeoutMs === undefined && Number.isSafeInteger(heartbeatMs))
                  idleLimitMs = Math.max(1000, PUSH_IDLE_HEARTBEATS * (heartbeatMs as number));
                heard();
                isReady = true;
                resolveReady(true);
              } else if (event) {
                // A command (its event's kind is the command's): the channel carries other events too.
                const payload = event.payload as { kind?: unknown; createdAt?: unknown } | null;
                if (payload?.kind === event.kind && typeof payload.createdAt === 'string') tookIn(payload);
                onEvent(event);
              }
              cut = buffer.indexOf('\n\n');
            }
          }
        } catch {
          // aborted or connection closed
        } finally {
          clearTimeout(idleTimer);
          reader.cancel().catch(() => {});
          resolveReady(false);
          if (silent && !signal.aborted) replicas.failover(base, `push channel silent for ${idleLimitMs} ms`);
          if (isReady && !signal.aborted) onClose?.();
        }
      })();
      if (!(await ready) && !signal.aborted) {
        // Answered 200 but no channel came of it: a sick replica, the next one is tried next time.
        replicas.failover(base, 'push channel closed before it was ready');
        throw new ApiError('UNAVAILABLE', `the push channel of ${base} closed before it was ready`);
      }
    },
  };
}
/** Longest push frame read (characters): the controller's events are a few KiB. */
export const PUSH_FRAME_MAX_CHARS = 1024 * 1024;
/** The southbound client's type. */
export type SouthboundClient = ReturnType<typeof createSouthboundClient>;
