/**
 * startEngineNode: an engine daemon, assembled in one place (as createAgent assembles an agent) for
 * the CLI's `capsule engine start`, the in-process lab and the tests:
 *  1. log in with the node credentials: the profile says the zone's netprefix;
 *  2. the identity — RSA key and CGA under that netprefix — from the identity port (the CLI keeps
 *     them in its data dir; labs and tests make them in memory);
 *  3. register (`registerEngine`: nonce, CGA parameters, RSA and X25519 keys, RSA signature): the
 *     answer carries the node certificate, the controller's key and the keep-alive interval;
 *  4. the overlay link layer on the given transport, from the node certificate and the controller's key;
 *  5. the engine (the pipeline) on that link layer;
 *  6. the controller hooks: keep-alives and the push channel (revocations → `engine.revoke`,
 *     link-tags → `engine.setContractTags` (the role routes), link-set → the links it must have
 *     (dialed, closed, their costs: the registration answer carries the first), refresh-configuration / path-change
 *     → `engine.refreshLinks`, report-statistics → a
 *     keep-alive now), and each link change reported (`POST /sb/v1/links`, up or down);
 *  7. started: the engine, the link layer, the HTTP port when asked, the link set followed.
 * `stop()` undoes 7 to 4. The transport is the caller's (it opens and closes it). Nothing here
 * reads argv, the environment or files.
 */
import type { KeyObject } from 'node:crypto';
import {
  createControllerReplicas,
  createSouthboundClient,
  type SbRegisterResponse,
  type SouthboundClient,
  trustedControllerKeysOf,
} from '@capsule/api';
import {
  decodeNodeCertificate,
  generateX25519KeyPair,
  importControllerPublicKey,
  nodeCertificateRenewalDueMs,
} from '@capsule/identity';
import {
  createLinkLayer,
  createLinkSetFollower,
  formatUnderlayAddress,
  type LinkLayer,
  type Transport,
} from '@capsule/overlay';
import {
  type Clock,
  type EngineFastPath,
  type LinkDataPath,
  type Logger,
  silentLogger,
  systemClock,
} from '@capsule/wire';
import { createEngine, type Engine, type EngineOptions } from './engine';
import { EngineError } from './errors';
import { createEngineHttpServer, type EngineHttpServer } from './http-api';
import {
  type ControllerSessionStatus,
  createControllerHooks,
  type EngineLinkSet,
  linkSetOfCommand,
  registerEngine,
} from './southbound';

/** The node's long-lived identity: its RSA key and the CGA made from it. */
export interface EngineIdentity {
  /** The CGA (16 bytes): the node's host id. */
  hostId: Uint8Array;
  /** Its RFC 3972 CGA Parameters. */
  cgaParameters: Uint8Array;
  rsaPrivateKey: KeyObject;
  /** SubjectPublicKeyInfo DER of the RSA key (the key inside the CGA parameters). */
  rsaPublicKeyDer: Uint8Array;
}

/** Everything an engine node is told (plain data). */
export interface EngineNodeOptions {
  /** The controller's southbound URL (`http(s)://host:port`). */
  controllerUrl: string;
  /**
   * Every controller replica's southbound URL, in order (engine.yaml `controller.urls`); given, it
   * replaces `controllerUrl`: calls go to the current replica and move on to the next when it fails.
   */
  controllerUrls?: readonly string[];
  /** A controller call that takes longer fails (and moves on to the next replica); default @capsule/api's. */
  controllerRequestTimeoutMs?: number;
  /** The node user (engineOwner role) the engine logs in as. */
  credentials: { domain: string; username: string; password: string };
  /** This engine's host name at the controller (and in its node certificate). */
  hostname: string;
  /** `host:port` peers reach this engine at, as registered; default: the transport's local address. */
  locator?: string;
  /** The link layer's keep-alive interval (a silent link is dead after 3); default: the link layer's. */
  linkKeepAliveIntervalMs?: number;
  /** How long a link's session keys are used before it rekeys; default: the link layer's. */
  linkRekeyAfterMs?: number;
  /** Serve /metrics and /api/v1/* here (port 0: any free port); undefined: no HTTP port. */
  http?: { host: string; port: number };
  /** The pipeline's options (host id and controller key come from the identity and the registration). */
  engine?: Omit<EngineOptions, 'hostId' | 'controllerPublicKey'>;
}

/** The node's ports. */
export interface EngineNodeDeps {
  /** The underlay (UDP in production, MemoryNetwork in labs and tests); the caller closes it. */
  transport: Transport;
  /** The node's identity for the zone's netprefix (`fd00:…::/64`), asked once after login. */
  identity: (netprefix: string) => EngineIdentity | Promise<EngineIdentity>;
  /** Default: the system clock (timers unref'd). */
  clock?: Pick<Clock, 'nowMs' | 'setInterval'>;
  logger?: Logger;
  /** 32 random bits (the RANDOM service); default Math.random. */
  random?: () => number;
  /** The southbound client's fetch; default the global one. */
  fetch?: typeof fetch;
  /**
   * The fast path for established flows (@capsule/native's `createNativeFastPath`), used when the
   * transport can attach it (the native UDP socket: `Transport.attachDatagramFilter`); the CLI
   * passes one unless the config says `fastPath: false`. Ignored on other transports.
   */
  fastPath?: EngineNodeFastPath;
}

/** A fast path as the node wires it: a datagram filter for the socket, the link layer's data path, the engine's port. */
export type EngineNodeFastPath = EngineFastPath & LinkDataPath & { readonly filter: object };

/** A running engine node. */
export interface EngineNode {
  readonly engine: Engine;
  readonly linkLayer: LinkLayer;
  /** The registered southbound client (`controller.currentUrl`: the replica in use). */
  readonly controller: SouthboundClient;
  /** The controller session: the replica in use, failovers, keep-alives, the push channel. */
  controllerStatus(): ControllerSessionStatus;
  /** The controller's answer to the registration (node, certificate, controller key, configuration). */
  readonly registration: SbRegisterResponse;
  readonly hostId: Uint8Array;
  /** The locator registered with the controller. */
  readonly locator: string;
  /** The HTTP port's base URL, when there is one. */
  readonly httpUrl: string | undefined;
  /** Stops the HTTP port, the controller hooks, the engine and the link layer (not the transport). */
  stop(): Promise<void>;
}

/** Registers an engine with its controller and starts it (see the file comment for the steps). */
export async function startEngineNode(options: EngineNodeOptions, deps: EngineNodeDeps): Promise<EngineNode> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? silentLogger;
  const { transport } = deps;
  const controller = createSouthboundClient({
    replicas: createControllerReplicas(options.controllerUrls ?? [options.controllerUrl], {
      onFailover: ({ from, to, reason, failovers }) =>
        logger.warn({ from, to, reason, failovers }, 'controller failed; moving to the next replica'),
    }),
    ...(options.controllerRequestTimeoutMs !== undefined && {
      requestTimeoutMs: options.controllerRequestTimeoutMs,
    }),
    ...(deps.fetch && { fetch: deps.fetch }),
  });
  // 1–3: log in, identity, register.
  const login = await controller.login(options.credentials);
  const identity = await deps.identity(login.profile.scope.netprefix);
  const locator = options.locator ?? formatUnderlayAddress(transport.local);
  const engineRegistration = {
    credentials: options.credentials,
    hostname: options.hostname,
    locator,
    hostId: identity.hostId,
    cgaParameters: identity.cgaParameters,
    rsaPrivateKey: identity.rsaPrivateKey,
    rsaPublicKeyDer: identity.rsaPublicKeyDer,
    x25519PublicKey: generateX25519KeyPair().publicKeyRaw,
  };
  const registration = await registerEngine(controller, engineRegistration);
  const controllerPublicKey = importControllerPublicKey(
    Buffer.from(registration.controllerPublicKey, 'base64'),
  );
  // Every key the controller says to trust (more than one during a signing key rotation).
  const trusted = trustedControllerKeysOf(registration);
  if (!trusted.ok)
    throw new EngineError('ENGINE_BAD_CERTIFICATE', `the controller's keys are unusable: ${trusted.problem}`);
  // 4–6: link layer, engine, controller hooks (and the fast path, when the socket can take it).
  const fastPath = deps.fastPath && transport.attachDatagramFilter ? deps.fastPath : undefined;
  const linkLayer = createLinkLayer(
    {
      identity: {
        hostId: identity.hostId,
        cgaParameters: identity.cgaParameters,
        rsaPrivateKey: identity.rsaPrivateKey,
        nodeCertificate: Buffer.from(registration.certificate, 'base64'),
        controllerPublicKey: controllerPublicKey.publicKey,
        controllerKeys: trusted.keys,
      },
      ...(options.linkKeepAliveIntervalMs !== undefined && {
        keepAliveIntervalMs: options.linkKeepAliveIntervalMs,
      }),
      ...(options.linkRekeyAfterMs !== undefined && { rekeyAfterMs: options.linkRekeyAfterMs }),
    },
    { transport, clock, ...(fastPath && { dataPath: fastPath }) },
  );
  const engine = createEngine(
    { ...options.engine, hostId: identity.hostId, controllerPublicKey: trusted.keys },
    { linkLayer, clock, logger, ...(deps.random && { random: deps.random }), ...(fastPath && { fastPath }) },
  );
  if (fastPath) transport.attachDatagramFilter?.(fastPath.filter);
  const follower = createLinkSetFollower({ linkLayer });
  let linkSetStarted = false;
  let heldLinkSet: EngineLinkSet | undefined;
  const followLinkSet = (set: EngineLinkSet) => {
    if (!linkSetStarted) {
      heldLinkSet = set; // before the link layer runs: followed once started
      return;
    }
    engine.setLinkCosts(set.costs);
    const change = follower.apply(set.links);
    if (change.dialed > 0 || change.closed > 0)
      logger.info({ links: set.links.length, ...change }, 'link set from the controller');
  };
  const hooks = createControllerHooks(
    { locator, keepaliveIntervalMs: registration.configuration.keepaliveIntervalMs },
    {
      client: controller,
      clock,
      logger,
      counters: () => engine.counters(),
      revoke: (serials, notAfterMs) => engine.revoke(serials, notAfterMs),
      revokeHost: (hostId, untilMs) => linkLayer.revokeHost(hostId, untilMs),
      refreshLinks: () => engine.refreshLinks(),
      setContractTags: (contracts) => engine.setContractTags(contracts),
      setLinkSet: followLinkSet,
      linkCost: (info) => engine.linkCost(info),
      renewCertificate: () => renewNodeCertificate(),
      setControllerKeys: (keys) => {
        const checked = trustedControllerKeysOf({ controllerKeys: keys });
        if (checked.ok) engine.setControllerKeys(checked.keys);
        else
          logger.warn(
            { problem: checked.problem },
            'the keep-alive answer’s controller keys are unusable; kept the ones held',
          );
      },
      reregister: async () => {
        certificateRenewalDueAtMs = Number.NEGATIVE_INFINITY;
        await renewNodeCertificate();
      },
    },
  );
  /**
   * The node certificate renewed two thirds into its validity (the identity package's rule), with
   * no restart and no lost link: the engine registers again with the same identity (the controller
   * issues a new certificate for the same host id) and swaps it into the live link layer, which
   * rekeys every link with it. A failure is logged; the next keep-alive tries again.
   */
  let certificateRenewalDueAtMs = renewalDueOf(registration.certificate);
  async function renewNodeCertificate(): Promise<void> {
    if (clock.nowMs() < certificateRenewalDueAtMs) return;
    const forced = certificateRenewalDueAtMs === Number.NEGATIVE_INFINITY;
    try {
      const renewed = await registerEngine(controller, engineRegistration);
      if (!linkLayer.setNodeCertificate(Buffer.from(renewed.certificate, 'base64')))
        throw new EngineError(
          'ENGINE_BAD_CERTIFICATE',
          'the renewed node certificate is not for this host id',
        );
      certificateRenewalDueAtMs = renewalDueOf(renewed.certificate);
      // The answer names the controller keys to trust now (another replica's, after a failover).
      const keys = trustedControllerKeysOf(renewed);
      if (keys.ok) engine.setControllerKeys(keys.keys);
      logger.info(
        {
          renewals: linkLayer.handshakeStats.certificateSwaps,
          nextRenewal: new Date(certificateRenewalDueAtMs).toISOString(),
        },
        'node certificate renewed',
      );
    } catch (error) {
      logger.warn({ err: error }, 'node certificate renewal failed; retrying at the next keep-alive');
      if (forced) throw error;
    }
  }
  const http: EngineHttpServer | undefined = options.http
    ? createEngineHttpServer(options.http, { engine, controller: () => hooks.status() })
    : undefined;
  // 7: start.
  let stopHooks: (() => void) | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    stopHooks?.();
    if (fastPath) transport.attachDatagramFilter?.(undefined);
    engine.stop();
    linkLayer.stop();
    await http?.stop();
  };
  let httpUrl: string | undefined;
  try {
    engine.onLinkChange((info) => hooks.onLinkChange(info));
    engine.start();
    stopHooks = hooks.start();
    linkLayer.start();
    httpUrl = http ? await http.start() : undefined;
  } catch (error) {
    await stop();
    throw error;
  }
  linkSetStarted = true;
  const registered = registration.configuration.linkSet
    ? linkSetOfCommand({ kind: 'link-set', payload: registration.configuration.linkSet })
    : undefined;
  const first = heldLinkSet ?? registered;
  if (first) followLinkSet(first);
  return {
    engine,
    linkLayer,
    controller,
    controllerStatus: () => hooks.status(),
    registration,
    hostId: identity.hostId,
    locator,
    httpUrl,
    stop,
  };
}

/** When a node certificate (base64, as the registration answers) is due for renewal; never if it does not decode. */
function renewalDueOf(certificateBase64: string): number {
  const decoded = decodeNodeCertificate(Buffer.from(certificateBase64, 'base64'));
  return decoded.ok ? nodeCertificateRenewalDueMs(decoded.value) : Number.POSITIVE_INFINITY;
}
