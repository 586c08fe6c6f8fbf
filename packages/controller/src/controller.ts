/**
 * createController: opens the store, makes sure the bootstrap objects and the controller key
 * exist, and serves the northbound API (/api/v1, OpenAPI, /metrics) and the southbound protocol
 * (/sb/v1) on their two listeners. `stop()` closes push channels, listeners, bus and store.
 */
import { randomBytes } from 'node:crypto';
import { ApiError, passwordProblem } from '@capsule/api';
import { type Clock, systemClock } from '@capsule/wire';
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import type { JWK } from 'jose';
import pino, { type Logger } from 'pino';
import { createTokenService, hashPassword } from './auth';
import { deliverCommands } from './commands';
import { consolePath, registerConsole } from './console';
import { type ControllerContext, createContext } from './context';
import { ControllerError } from './errors';
import { createHttpServer } from './http';
import { createControllerIdentity } from './identity-port';
import { createMetrics } from './metrics';
import { registerNorthbound } from './northbound';
import { buildOpenapiDocument, swaggerOptions } from './openapi';
import type { ProgramVerifier } from './ports';
import { createVmProgramVerifier } from './program-verifier';
import { type ChangeBus, createLocalBus, createPostgresBus, PushHub } from './push';
import { defaultRetention, type RetentionSweep, sweepRetention } from './retention';
import {
  createMemorySigningKeyStore,
  createSigningKeyRing,
  loadOrCreateSigningKey,
  type SigningKeyStore,
} from './signing-key';
import { registerSouthbound } from './southbound/routes';
import { openStore, type Store } from './store/open-store';

/** A host and port to listen on (port 0: any free port). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Everything a controller can be told; defaults in `defaultControllerOptions`. */
export interface ControllerOptions {
  /** `postgres://…`, a SQLite file path, or `:memory:`. */
  store: string;
  listen: ListenAddress;
  southboundListen: ListenAddress;
  /** Largest request body in bytes (larger → 413). */
  bodyLimitBytes: number;
  tokenLifetimeMs: number;
  keepaliveIntervalMs: number;
  nonceLifetimeMs: number;
  certificateLifetimeMs: number;
  authorizationLifetimeMs: number;
  /** Failed logins per client address per minute before 429. */
  loginFailuresPerMinute: number;
  /** The bootstrap admin's password; generated (and returned once) when absent. */
  adminPassword?: string;
  /** TLS for the southbound listener (PEM); plain HTTP when absent (loopback/lab only). */
  southboundTls?: { key: string; cert: string };
  /** TLS for the northbound listener (PEM). */
  northboundTls?: { key: string; cert: string };
  sqliteSynchronous: 'FULL' | 'NORMAL';
  /** Interval of the push channels' keep-alive comments. */
  pushHeartbeatMs: number;
  /**
   * `capsule rotate signing-key`: how long a new key is announced to nodes (registration and
   * keep-alive answers) before it signs. Default: two keep-alive intervals.
   */
  signingKeyActivationDelayMs?: number;
  /**
   * How long nodes still trust a replaced key after its successor activates. Default: the longest
   * lifetime of what it signed (certificates, authorizations, tokens), so nothing it signed outlives it.
   */
  signingKeyOverlapMs?: number;
  /** Retention of expired authorizations, delivered commands and audit entries (retention.ts). */
  authorizationRetentionMs: number;
  commandRetentionMs: number;
  /** 0 keeps every audit entry. */
  auditRetentionMs: number;
  /** How often each replica sweeps (the first sweep runs at start). */
  retentionSweepIntervalMs: number;
}

/** The defaults of every option but `store`. */
export const defaultControllerOptions: Omit<ControllerOptions, 'store'> = {
  listen: { host: '127.0.0.1', port: 8700 },
  southboundListen: { host: '127.0.0.1', port: 8701 },
  bodyLimitBytes: 1024 * 1024,
  tokenLifetimeMs: 60 * 60 * 1000,
  keepaliveIntervalMs: 30_000,
  nonceLifetimeMs: 60_000,
  certificateLifetimeMs: 30 * 24 * 60 * 60 * 1000,
  authorizationLifetimeMs: 24 * 60 * 60 * 1000,
  loginFailuresPerMinute: 10,
  sqliteSynchronous: 'FULL',
  pushHeartbeatMs: 15_000,
  ...defaultRetention,
  retentionSweepIntervalMs: 60 * 60 * 1000,
};

/** A key id as tokens' `kid` header and key files name it: 4 lower-case hex digits. */
export const keyIdHex = (keyId: number) => keyId.toString(16).padStart(4, '0');

/** The controller's ports. */
export interface ControllerDeps {
  logger?: Logger;
  clock?: Pick<Clock, 'nowMs'>;
  /** The program verifier for template uploads (default: @capsule/vm's static verifier). */
  verifier?: ProgramVerifier;
  /**
   * Where the Ed25519 signing key lives (never in the store: docs/security.md). Default: a fresh
   * in-memory one, so a persistent store restarted without the same key store is refused.
   */
  signingKeys?: SigningKeyStore;
}

/** A running (or stopped) controller. */
export interface Controller {
  /** Starts both listeners; resolves to their base URLs and the web console's URL. */
  start(): Promise<{ northboundUrl: string; southboundUrl: string; consoleUrl: string }>;
  /** Graceful stop: push channels, listeners, change bus, store. Idempotent. */
  stop(): Promise<void>;
  /** The generated admin password, when the first start created the admin without one given. */
  readonly generatedAdminPassword: string | undefined;
  /** The shared services (for tests and the lab). */
  readonly context: ControllerContext;
  /** One retention sweep now (the timer runs the same); resolves to the rows deleted per table. */
  sweepRetention(): Promise<RetentionSweep>;
}

/** Creates a controller: opens and migrates the store, bootstraps, builds both HTTP servers. */
export async function createController(
  options: Partial<ControllerOptions> & { store: string },
  deps: ControllerDeps = {},
): Promise<Controller> {
  const settings: ControllerOptions = { ...defaultControllerOptions, ...options };
  // A weak bootstrap password (CAPSULE_ADMIN_PASSWORD=x) stops the start, before anything is stored.
  const adminPasswordProblem =
    settings.adminPassword === undefined ? undefined : passwordProblem(settings.adminPassword, 'admin');
  if (adminPasswordProblem !== undefined)
    throw new ApiError(
      'WEAK_PASSWORD',
      `the admin password (CAPSULE_ADMIN_PASSWORD): ${adminPasswordProblem}`,
    );
  const logger = deps.logger ?? pino({ level: 'info' });
  const clock = deps.clock ?? systemClock;
  const store = await openStore({
    url: settings.store,
    sqliteSynchronous: settings.sqliteSynchronous,
    onCheckpointFailure: (error) =>
      logger.error({ err: error }, 'WAL checkpoint worker failed; checkpoints run inside COMMIT again'),
  });
  let bus: ChangeBus | undefined;
  try {
    const keyStore = deps.signingKeys ?? createMemorySigningKeyStore();
    const key = await loadOrCreateSigningKey(store, keyStore);
    const signingKeys = await createSigningKeyRing(store, keyStore, key);
    const generatedAdminPassword = await bootstrap(store, settings.adminPassword, clock);
    const jwk = key.privateKey.export({ format: 'jwk' }) as JWK;
    const tokens = await createTokenService({
      privateJwk: jwk,
      publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x },
      issuer: 'capsule-controller',
      tokenLifetimeMs: settings.tokenLifetimeMs,
      keys: {
        signing: (nowMs) => {
          const current = signingKeys.signingKey(nowMs);
          return { kid: keyIdHex(current.keyId), privateKey: current.privateKey };
        },
        verifying: (kid, nowMs) => {
          const keyId =
            kid === undefined ? signingKeys.oldestKeyId : /^[0-9a-f]{4}$/.test(kid) ? parseInt(kid, 16) : -1;
          return signingKeys.publicKeyOf(keyId, nowMs)?.publicKey;
        },
      },
    });
    const metrics = createMetrics();
    bus =
      store.dialect === 'postgres' ? await createPostgresBus(store.postgresUrl!, logger) : createLocalBus();
    const context = createContext({
      store,
      tokens,
      clock,
      logger,
      metrics,
      identity: createControllerIdentity(signingKeys, clock),
      signingKeys,
      signingKeyRotation: {
        activationDelayMs: settings.signingKeyActivationDelayMs ?? 2 * settings.keepaliveIntervalMs,
        overlapMs:
          settings.signingKeyOverlapMs ??
          Math.max(
            settings.certificateLifetimeMs,
            settings.authorizationLifetimeMs,
            settings.tokenLifetimeMs,
          ),
      },
      verifier: deps.verifier ?? createVmProgramVerifier(),
      hub: new PushHub(metrics),
      bus,
      replicaId: randomBytes(6).toString('hex'),
      keepaliveIntervalMs: settings.keepaliveIntervalMs,
      pushHeartbeatMs: settings.pushHeartbeatMs,
      nonceLifetimeMs: settings.nonceLifetimeMs,
      certificateLifetimeMs: settings.certificateLifetimeMs,
      authorizationLifetimeMs: settings.authorizationLifetimeMs,
      loginFailuresPerMinute: settings.loginFailuresPerMinute,
    });
    const unsubscribe = bus.subscribe((event) => {
      // Another replica rotated the signing key: read the ring again (and load the new private key
      // if this replica's key store has it).
      if (event.kind === 'signing-keys')
        signingKeys
          .reload()
          .catch((error) => logger.error({ err: error }, 'reloading the signing key ring failed'));
      const ids = (event.payload as { commandIds?: number[] } | undefined)?.commandIds;
      if (ids) deliverCommands(context, ids).catch((error) => logger.error({ err: error }, 'push failed'));
    });

    const northbound = createHttpServer({
      bodyLimitBytes: settings.bodyLimitBytes,
      logger,
      metrics,
      name: 'northbound',
      https: settings.northboundTls,
      beforeReply: store.durable,
    });
    await northbound.register(
      swagger,
      swaggerOptions(
        'Northbound REST API (/api/v1) and the southbound protocol (/sb/v1) of its own listener',
      ),
    );
    registerNorthbound(northbound, context);
    registerConsole(northbound);
    const southbound = createHttpServer({
      bodyLimitBytes: Math.min(settings.bodyLimitBytes, 64 * 1024),
      logger,
      metrics,
      name: 'southbound',
      https: settings.southboundTls,
      beforeReply: store.durable,
    });
    await southbound.register(swagger, swaggerOptions('Southbound protocol'));
    registerSouthbound(southbound, context);
    for (const app of [northbound, southbound])
      app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
        reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
      );
    let openapiDocument: Record<string, unknown> | undefined;
    let southboundUrl: string | undefined;
    northbound.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => {
      openapiDocument ??= buildOpenapiDocument(northbound, southbound, southboundUrl);
      return openapiDocument;
    });

    let heartbeat: NodeJS.Timeout | undefined;
    let retentionTimer: NodeJS.Timeout | undefined;
    let stopped = false;
    const sweep = async (): Promise<RetentionSweep> => {
      const deleted = await sweepRetention(store.db, clock.nowMs(), settings);
      for (const [table, rows] of Object.entries(deleted))
        if (rows > 0) metrics.retentionDeletedRows.inc({ table }, rows);
      if (Object.values(deleted).some((rows) => rows > 0)) logger.info({ deleted }, 'retention sweep');
      return deleted;
    };
    const sweepLogged = () => {
      sweep().catch((error) => logger.error({ err: error }, 'retention sweep failed'));
    };
    const urlOf = (app: FastifyInstance, tls: boolean) => {
      const address = app.server.address();
      if (!address || typeof address === 'string') throw new ApiError('INTERNAL', 'listener has no address');
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `${tls ? 'https' : 'http'}://${host}:${address.port}`;
    };
    return {
      generatedAdminPassword,
      context,
      sweepRetention: sweep,
      async start() {
        // A listener that cannot bind (port taken, no permission) fails the start after closing
        // the one that did: the caller stops and exits non-zero instead of serving half.
        for (const [name, app, address] of [
          ['northbound', northbound, settings.listen],
          ['southbound', southbound, settings.southboundListen],
        ] as const) {
          try {
            await app.listen({ host: address.host, port: address.port });
          } catch (cause) {
            await Promise.all([northbound.close(), southbound.close()]).catch(() => {});
            const code = (cause as NodeJS.ErrnoException).code ?? 'ERROR';
            throw new ControllerError(
              'CONTROLLER_LISTEN_FAILED',
              `the ${name} listener cannot listen on ${address.host}:${address.port}: ${code} (${(cause as Error).message})`,
              { cause },
            );
          }
        }
        heartbeat = setInterval(() => context.hub.heartbeat(), settings.pushHeartbeatMs);
        heartbeat.unref();
        sweepLogged();
        retentionTimer = setInterval(sweepLogged, settings.retentionSweepIntervalMs);
        retentionTimer.unref();
        const northboundUrl = urlOf(northbound, Boolean(settings.northboundTls));
        southboundUrl = urlOf(southbound, Boolean(settings.southboundTls));
        const urls = {
          northboundUrl,
          southboundUrl,
          consoleUrl: `${northboundUrl}${consolePath}`,
        };
        logger.info({ ...urls, store: store.dialect }, 'controller listening');
        return urls;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        if (heartbeat) clearInterval(heartbeat);
        if (retentionTimer) clearInterval(retentionTimer);
        context.hub.closeAll();
        await Promise.all([northbound.close(), southbound.close()]);
        unsubscribe();
        await bus?.close();
        await store.close();
        logger.info('controller stopped');
      },
    };
  } catch (error) {
    await bus?.close().catch(() => {});
    await store.close();
    throw error;
  }
}

/** First start: domain `default` and user `admin` (systemAdmin). Returns a generated password. */
async function bootstrap(
  store: Store,
  password: string | undefined,
  clock: Pick<Clock, 'nowMs'>,
): Promise<string | undefined> {
  const { db } = store;
  const existing = await db
    .selectFrom('domains')
    .select('id')
    .where('name', '=', 'default')
    .executeTakeFirst();
  if (existing) return undefined;
  const chosen = password ?? randomBytes(12).toString('base64url');
  const now = new Date(clock.nowMs()).toISOString();
  const hash = await hashPassword(chosen);
  try {
    await db.transaction().execute(async (trx) => {
      const domain = await trx
        .insertInto('domains')
        .values({
          name: 'default',
          kind: 'administrative',
          description: 'created at first start',
          created_at: now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('users')
        .values({
          domain_id: domain.id,
          login: 'admin',
          password_hash: hash,
          roles: JSON.stringify(['systemAdmin']),
          active: 1,
          zone_id: null,
          created_at: now,
        })
        .execute();
      await trx
        .insertInto('audit')
        .values({
          at: now,
          actor: 'controller',
          domain_id: domain.id,
          action: 'bootstrap',
          object_type: 'domains',
          object_id: domain.id,
          detail: '{"created":["domain default","user admin"]}',
        })
        .execute();
    });
  } catch {
    return undefined; // another replica bootstrapped first
  }
  return password === undefined ? chosen : undefined;
}
