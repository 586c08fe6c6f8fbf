/**
 * createAgent: the host agent, started exactly as the seed's "Module Logic" says —
 *  1. configuration (options) and logging (deps.logger);
 *  2. the self-signed certificate checked against the host name (new RSA keys and certificate if
 *     the name changed or keys are missing);
 *  3. the REST server (from here the agent serves applications);
 *  4. authentication with user, password and domain; the profile and its netprefix;
 *  5. the CGA checked or made (RFC 3972);
 *  6. App (TUN/TAP) and Net (underlay transport) interfaces checked; the data plane started;
 *  7. the host registered (node certificate, controller key, configuration);
 *  8. SeND: the link layer sends signed solicitations/advertisements and answers neighbors;
 *     links to the engines of the controller's link set come up and are registered with it;
 *  9. keep-alives and the push channel keep the agent in sync; the resolver serves names.
 * `stop()` undoes all of it. Only the CLI reads files and the environment: keys persist through
 * the IdentityStore port.
 */
import {
  createFlowEventHub,
  createLinkReports,
  defaultFlowEventHubOptions,
  defaultHostRevocationMs,
  type FlowEventHub,
  type LinkSetPayload,
  type NodeCommand,
  type NodeCommandOf,
  revokedHostsOf,
  trustedControllerKeysOf,
} from '@capsule/api';
import {
  createNodePayloadCipher,
  decodeNodeCertificate,
  importControllerPublicKey,
  nodeCertificateRenewalDueMs,
  type PayloadCipher,
} from '@capsule/identity';
import {
  configureInterface,
  createNativePayloadCipher,
  isNativeAddonAvailable,
  openTun,
  removeInterfaceAddresses,
  type TunDevice,
} from '@capsule/native';
import {
  createLinkLayer,
  createLinkSetFollower,
  formatUnderlayAddress,
  type LinkInfo,
  type LinkLayer,
  type LinkSetFollower,
  parseUnderlayAddress,
  type Transport,
} from '@capsule/overlay';
import {
  type AgentFastPath,
  type Clock,
  fastPathClockProblem,
  formatIpv6,
  type LinkDataPath,
  type Logger,
  parseIpv4,
  parseIpv6,
  readU32,
  silentLogger,
  systemClock,
} from '@capsule/wire';
import { compileAcl } from './acl';
import { ControlPlane, decodeGroupKeys, decodePeers } from './control-plane';
import { createEarlyPathChanges } from './early-path-changes';

/** One endpoint's entry of a path-change command. */
type PathChangeUpdate = NodeCommandOf<'path-change'>['payload']['endpoints'][number];

import { DataPlane } from './data-plane';
import { EgressResult, processEgress } from './egress';
import { AgentError } from './errors';
import { type AgentFastPathInstaller, createAgentFastPath } from './fast-path';
import { publishDataPlaneDrop, publishTrace } from './flow-events';
import { authorizeAgain, FlowTable, ipv4Text, nextGroupKeys, noGroupKeys, ownRoleAddress } from './flows';
import {
  ensureCga,
  ensureHostKeys,
  type HostCga,
  type HostKeys,
  type IdentityStore,
  type PersistedIdentity,
} from './host-identity';
import { IngressResult, processIngress } from './ingress';
import { renderAgentMetrics } from './metrics';
import {
  defaultResolverOptions,
  type Resolver,
  type ResolverName,
  type ResolverOptions,
  resolverNamesOf,
  startResolver,
} from './resolver';
import {
  type AgentApi,
  defaultRestApiOptions,
  type RestApiOptions,
  type RestApiServer,
  startRestApi,
} from './rest-api';

/** Everything an agent can be told; defaults in `defaultAgentOptions`. */
export interface AgentOptions {
  /** This host's FQDN: the certificate subject and the node's host name at the controller. */
  hostName: string;
  /** The controller's southbound URL (`http(s)://host:8701`). */
  controllerUrl: string;
  /**
   * Every controller replica's southbound URL, in order (agent.yaml `controller.urls`); given, it
   * replaces `controllerUrl`: calls go to the current replica and move on to the next when it fails.
   */
  controllerUrls?: readonly string[];
  /** The node user (hostOwner role) the agent logs in as. */
  credentials: { domain: string; username: string; password: string };
  /** Our underlay locator `host:port` as the controller records it (default: the transport's). */
  locator?: string;
  /** The local REST API: a Unix socket and/or TCP with a bearer token (rest-api.ts). */
  rest: RestApiOptions;
  /** The resolver (listen address, upstreams for other names); undefined disables it. */
  resolver: ResolverOptions | undefined;
  /** The application interface; undefined runs without one (no root: control plane only). */
  tun:
    | {
        name: string;
        mode: 'tun' | 'tap';
        mtu: number;
        /** Packets the kernel queues on the TUN for the agent before it drops (txqueuelen). */
        txQueueLength: number;
        /**
         * TUN offloads (TUN mode; @capsule/native `offloads`): the kernel hands over TCP
         * super-packets of up to 64 KiB, split into segments before egress, and ingress writes
         * consecutive segments of one connection as one coalesced super-packet.
         */
        offloads: boolean;
        /** Our IPv4 overlay address. */
        ipv4Address: string;
        /** Peers' IPv4 aliases come from this /16 (first address .0.1 is skipped). */
        ipv4AliasPrefix: string;
      }
    | undefined;
  /** CGA Sec parameter (RFC 3972): 0 or 1 practical (1 takes ~65k hashes). */
  cgaSec: number;
  /** Type I (AUTH) per flow again after this long. */
  authIntervalMs: number;
  /** Type I again after this long instead, for `authRepeatForMs` after a flow's first type I. */
  authRepeatMs: number;
  /** How long after a (new or rebuilt) flow's first type I type I repeats every `authRepeatMs`; 0: never. */
  authRepeatForMs: number;
  /** Type II packets after each type I, then type III. */
  codePackets: number;
  maxOverlayPacketBytes: number;
  /** Keep-alive interval when the controller does not say (its configuration wins when shorter). */
  keepaliveIntervalMs: number;
  /** Retry interval while the controller is unreachable. */
  retryIntervalMs: number;
  /** Link-layer keep-alive (a silent link goes down after 3). */
  linkKeepAliveIntervalMs: number;
  /** How long a link's session keys are used before it rekeys (default: the link layer's). */
  linkRekeyAfterMs?: number;
  acl: { in: string[]; out: string[] };
  /**
   * How long an endpoint still opens role-addressed packets sealed under its group key's previous
   * epoch after the controller gave it a new one (senders switch `groupKeySwitchDelayMs` after
   * they get theirs). At least `groupKeySwitchDelayMs`.
   */
  groupKeyGraceMs: number;
  /**
   * How long a sender keeps sealing role-addressed packets under its current epoch after the
   * controller gave it a newer one, so the members — told in the same push, or at their next
   * keep-alive without a push channel — have the new epoch first. Applied at the next tick
   * (`retryIntervalMs`) after it has passed.
   */
  groupKeySwitchDelayMs: number;
  /**
   * Which implementation of the e2e PayloadCipher port seals and opens: 'native' (the addon's
   * reused AES-256-GCM contexts; node:crypto, with a warning, where the addon is not built) or
   * 'node' (node:crypto). Same bytes on the wire either way.
   */
  payloadCipher: 'native' | 'node';
  /**
   * A unicast flow's sender moves its e2e key to the next epoch after sealing under the current
   * one this long, or this many packets (whichever first); the receiver still opens the previous
   * epoch for `e2eRekeyGraceMs` after the next one first opened (e2e-epochs.ts has the reasons
   * for the defaults: 2 minutes, 2^22 packets, 10 s).
   */
  e2eRekeyAfterMs: number;
  e2eRekeyAfterPackets: number;
  e2eRekeyGraceMs: number;
  /** Flow events built per second at most while someone observes (default: the hub's). */
  eventsPerSecondMax?: number;
}

/** Defaults of every option but host name, controller and credentials. */
export const defaultAgentOptions: Omit<AgentOptions, 'hostName' | 'controllerUrl' | 'credentials'> = {
  rest: defaultRestApiOptions,
  resolver: defaultResolverOptions,
  tun: {
    name: 'capsule0',
    mode: 'tun',
    mtu: 1280,
    txQueueLength: 1000,
    offloads: true,
    ipv4Address: '100.100.0.1',
    ipv4AliasPrefix: '100.101.0.0/16',
  },
  cgaSec: 1,
  authIntervalMs: 5000,
  authRepeatMs: 250,
  authRepeatForMs: 2000,
  codePackets: 4,
  maxOverlayPacketBytes: 1400,
  keepaliveIntervalMs: 10_000,
  retryIntervalMs: 1000,
  linkKeepAliveIntervalMs: 2000,
  acl: { in: [], out: [] },
  groupKeyGraceMs: 60_000,
  groupKeySwitchDelayMs: 12_000,
  payloadCipher: 'native',
  e2eRekeyAfterMs: 120_000,
  e2eRekeyAfterPackets: 2 ** 22,
  e2eRekeyGraceMs: 10_000,
};

/** The agent's ports. */
export interface AgentDeps {
  identityStore: IdentityStore;
  /** The underlay (UDP in production, MemoryNetwork in tests); the caller closes it. */
  transport: Transport;
  clock?: Clock;
  logger?: Logger;
  fetch?: typeof fetch;
  /**
   * An in-process application interface used instead of TUN/TAP (tests, the in-process lab): the
   * agent writes every packet it delivers to `write`, and hands `start` the function the
   * application sends its packets (IP packets, or frames in TAP mode) through. Ignored with `tun`.
   */
  app?: AgentAppPort;
  /**
   * The native fast path (@capsule/native `createNativeFastPath`): packets of established flows
   * (unicast and role-addressed) sealed, framed and sent from the TUN device's read path, and
   * received into it, without waking JavaScript (fast-path.ts). Used with a TUN or TAP device on a
   * transport that can attach it (the native UDP socket: `Transport.attachDatagramFilter`); the CLI
   * passes one when agent.yaml says `fastPath: true`. Ignored otherwise.
   */
  fastPath?: AgentNodeFastPath;
}

/** What the agent needs of a fast path: the agent's and the link layer's ports, and the filter object. */
export type AgentNodeFastPath = AgentFastPath & LinkDataPath;

/** The application side of the data plane, as a port (what a TUN device is to the daemon). */
export interface AgentAppPort {
  /** Called once the data plane exists; `send` runs egress on one packet and says what it did. */
  start(send: (bytes: Uint8Array, offset: number, length: number) => EgressResult): void;
  /** One packet (or frame) for the application; the bytes are only valid during the call. */
  write(bytes: Uint8Array, offset: number, length: number): void;
}

/** A running agent. */
export interface Agent extends AgentApi {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The REST API's TCP address (after start; undefined without TCP). */
  restAddress(): { host: string; port: number } | undefined;
  /** The REST API's socket, its mode and group (after start; undefined without a socket). */
  restSocket(): RestApiServer['socket'];
  resolverAddress(): { address: string; port: number } | undefined;
  readonly hostId: string | undefined;
  readonly dataPlane: DataPlane | undefined;
  readonly linkLayer: LinkLayer | undefined;
}

function ipv4Number(text: string): number {
  const parsed = parseIpv4(text);
  if (!parsed.ok) throw new AgentError('AGENT_BAD_OPTION', `not an IPv4 address: ${text}`);
  return readU32(parsed.value, 0);
}

/**
 * The share of an authorization's validity after which the agent registers its endpoint again
 * to renew it (the controller renews on the same endpoint; 18 h of a 24 h authorization).
 */
export const renewAtFraction = 0.75;

/** Creates an agent. Nothing happens until `start()`. */
export function createAgent(options: AgentOptions, deps: AgentDeps): Agent {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? silentLogger;
  const clockProblem = deps.fastPath && fastPathClockProblem(clock);
  if (clockProblem) throw new AgentError('AGENT_BAD_OPTION', `fastPath: ${clockProblem}`);
  if (!(options.groupKeyGraceMs >= options.groupKeySwitchDelayMs && options.groupKeySwitchDelayMs >= 0))
    throw new AgentError(
      'AGENT_BAD_OPTION',
      `groupKeyGraceMs (${options.groupKeyGraceMs}) must be at least groupKeySwitchDelayMs (${options.groupKeySwitchDelayMs}) ≥ 0: members must still open the epoch senders seal under`,
    );
  const groupKeyTimes = { graceMs: options.groupKeyGraceMs, switchDelayMs: options.groupKeySwitchDelayMs };
  let keys: HostKeys | undefined;
  let cga: HostCga | undefined;
  let flows: FlowTable | undefined;
  let plane: DataPlane | undefined;
  let links: LinkLayer | undefined;
  let linkSet: LinkSetFollower | undefined;
  let tun: TunDevice | undefined;
  let fastPathInstaller: AgentFastPathInstaller | undefined;
  let rest: RestApiServer | undefined;
  let resolver: Resolver | undefined;
  let stopTick: (() => void) | undefined;
  let stopped = false;
  let aclText = { in: [...options.acl.in], out: [...options.acl.out] };
  const events: FlowEventHub = createFlowEventHub(
    {
      node: `agent ${options.hostName}`,
      eventsPerSecondMax: options.eventsPerSecondMax ?? defaultFlowEventHubOptions.eventsPerSecondMax,
    },
    { clock },
  );
  /** Egress with a drop event when someone observes (one boolean test per packet otherwise). */
  const egress = (dataPlane: DataPlane) => (bytes: Uint8Array, offset: number, length: number) => {
    const result = processEgress(dataPlane, bytes, offset, length);
    if (result === EgressResult.DROPPED && events.active)
      publishDataPlaneDrop(events, dataPlane, clock, 'out', bytes, offset, length);
    if (dataPlane.tracedFlow !== undefined)
      publishTrace(events, dataPlane, clock, 'out', bytes, offset, false);
    return result;
  };
  const acl = compileAcl(aclText);
  /** Role addresses (`addr/128`) this agent put on its TUN for its endpoints' own roles. */
  const roleAddressesOnTun = new Set<string>();
  let roleAddressSync: Promise<void> = Promise.resolve();
  const locator = options.locator ?? formatUnderlayAddress(deps.transport.local);
  const control = new ControlPlane(
    {
      controllerUrl: options.controllerUrl,
      ...(options.controllerUrls && { controllerUrls: options.controllerUrls }),
      credentials: options.credentials,
      hostName: options.hostName,
      locator,
    },
    {
      onCommand: (command) => handleCommand(command),
      onControllerKeys: (keys) => {
        const checked = trustedControllerKeysOf({ controllerKeys: keys });
        if (!checked.ok)
          logger.warn(
            { problem: checked.problem },
            "the keep-alive answer's controller keys are unusable; kept the ones held",
          );
        else links?.setControllerKeys(checked.keys);
      },
      log: (level, message, fields) => logger[level](fields ?? {}, message),
    },
    { fetch: deps.fetch, clock },
  );
  const ownIpv4 = options.tun ? ipv4Number(options.tun.ipv4Address) : ipv4Number('100.100.0.1');
  const aliasBase = options.tun
    ? ipv4Number(options.tun.ipv4AliasPrefix.split('/')[0]!)
    : ipv4Number('100.101.0.0');

  /** An application's registration: what to send again to renew it, and its authorization's validity. */
  interface Registration {
    request: { serviceToken: string; contract: string; role: string };
    notBeforeMs: number;
    notAfterMs: number;
  }
  /** The registrations of the local endpoints, by endpoint id (persisted in the identity store). */
  const registrations = new Map<number, Registration>();
  /** Endpoint ids unregistered here that the controller has not heard of yet (retried each tick). */
  const pendingUnregistrations = new Set<number>();
  /** Registrations saved before a restart that could not be made again yet (retried each tick). */
  let pendingRestores: Registration['request'][] = [];
  /** The identity record the registrations are saved in (the one ensureHostKeys loaded). */
  let persisted: PersistedIdentity | undefined;
  let persisting: Promise<void> = Promise.resolve();
  /** Saves the registrations (serialized; a failure is logged, the next change saves again). */
  function persistRegistrations(): Promise<void> {
    persisting = persisting.then(async () => {
      if (!persisted) return;
      persisted.endpoints = [
        ...[...registrations.values()].map((registration) => registration.request),
        ...pendingRestores,
      ];
      try {
        await deps.identityStore.save(persisted);
      } catch (error) {
        logger.warn({ error: (error as Error).message }, 'registrations not saved');
      }
    });
    return persisting;
  }
  function forgetEndpoint(id: number): void {
    control.commandOrder.forgetEndpoint(id);
    if (registrations.delete(id)) void persistRegistrations();
  }

  /** Installs a (re)registration's answer: the endpoint in the flow table, its renewal record. */
  function installEndpoint(
    fresh: Awaited<ReturnType<ControlPlane['registerEndpoint']>>,
    request: Registration['request'],
  ) {
    if (!flows) throw new AgentError('UNAVAILABLE', 'the agent is starting');
    // A renewal keeps the endpoint: its group keys move on from the ones it has (grace included).
    const previous = flows.endpoints.get(fresh.spec.id)?.groupKeys ?? noGroupKeys;
    const result = flows.setEndpoint(
      fresh.spec,
      fresh.peers,
      nextGroupKeys(previous, fresh.groupKeys, clock.nowMs(), groupKeyTimes),
    );
    registrations.set(fresh.spec.id, { request, ...fresh.validity });
    void persistRegistrations();
    // A path-change for it that came before this answer is newer than the answer: it goes on top.
    const early = earlyPathChanges.take(fresh.spec.id, clock.nowMs());
    if (early) {
      applyPathChange(early);
      earlyPathChangesApplied += 1;
      logger.info(
        { endpoint: fresh.spec.id },
        'path-change received before the registration answer: applied',
      );
    }
    return result;
  }
  const earlyPathChanges = createEarlyPathChanges<PathChangeUpdate>();
  let earlyPathChangesApplied = 0;

  /**
   * Registers every endpoint again whose authorization has run `renewAtFraction` of its validity
   * (the controller renews it on the same endpoint), so a flow never outlives its authorization.
   */
  async function renewAuthorizations(): Promise<void> {
    const now = clock.nowMs();
    for (const [id, registration] of [...registrations]) {
      const { notBeforeMs, notAfterMs } = registration;
      if (now < notBeforeMs + (notAfterMs - notBeforeMs) * renewAtFraction) continue;
      try {
        const fresh = await control.registerEndpoint(registration.request);
        if (fresh.spec.id !== id) {
          flows?.removeEndpoint(id);
          registrations.delete(id);
        }
        installEndpoint(fresh, registration.request);
        authorizationRenewals += 1;
        logger.info(
          { endpoint: fresh.spec.id, serial: fresh.spec.authorizationSerial },
          'authorization renewed',
        );
      } catch (error) {
        const code = (error as { code?: string }).code;
        logger.warn({ endpoint: id, code, error: (error as Error).message }, 'authorization renewal failed');
        // The policy no longer allows it: the endpoint goes (its authorization would run out anyway).
        if (code === 'ROLE_NOT_GRANTED' || code === 'SERVICE_TOKEN_INVALID') {
          flows?.removeEndpoint(id);
          forgetEndpoint(id);
          void syncRoleAddresses();
        }
      }
    }
  }
  let authorizationRenewals = 0;

  /**
   * Registers again the endpoints saved before a restart; one the policy no longer allows is
   * dropped, one the controller could not take now is retried with the next keep-alive.
   */
  async function restoreEndpoints(requests: readonly unknown[]): Promise<void> {
    const retry: Registration['request'][] = [];
    for (const entry of requests) {
      const request = entry as Registration['request'] | null | undefined;
      // The saved file is input like any other: an entry that is not three strings is dropped.
      if (
        typeof request?.serviceToken !== 'string' ||
        typeof request.contract !== 'string' ||
        typeof request.role !== 'string'
      ) {
        logger.warn({}, 'saved endpoint unreadable: dropped');
        continue;
      }
      try {
        const fresh = await control.registerEndpoint(request);
        installEndpoint(fresh, request);
        endpointsRestored += 1;
        logger.info(
          { endpoint: fresh.spec.id, contract: request.contract, role: request.role },
          'endpoint restored',
        );
      } catch (error) {
        const code = (error as { code?: string }).code;
        logger.warn({ contract: request.contract, role: request.role, code }, 'endpoint not restored');
        // Only a controller that cannot answer now is asked again; any refusal drops the entry.
        if (code === 'UNAVAILABLE' || code === 'NODE_NOT_REGISTERED') retry.push(request);
      }
    }
    pendingRestores = retry;
    await persistRegistrations();
    await syncRoleAddresses();
  }
  let endpointsRestored = 0;

  /** Tells the controller of unregistrations it missed (it was unreachable at the time). */
  async function flushUnregistrations(): Promise<void> {
    for (const id of [...pendingUnregistrations])
      try {
        await control.unregisterEndpoint(id);
        pendingUnregistrations.delete(id);
      } catch (error) {
        if ((error as { code?: string }).code === 'NOT_FOUND') pendingUnregistrations.delete(id);
        else return;
      }
  }

  /**
   * Follows the controller's link set: attaches to the engines it names (a host always dials),
   * closes the links of the previous set it dropped. A set with an entry that does not parse is
   * refused whole (the previous one kept): read in part, it would close good links.
   */
  function followLinkSet(payload: LinkSetPayload): void {
    if (!links) return;
    const wanted = [];
    for (const entry of payload.links) {
      const peerHostId = parseIpv6(entry.peer);
      const underlay = parseUnderlayAddress(entry.locator);
      if (!peerHostId.ok || !underlay) {
        logger.warn({ peer: entry.peer, locator: entry.locator }, 'link set refused: unreadable entry');
        return;
      }
      wanted.push({ peerHostId: peerHostId.value, underlay, dial: entry.dial });
    }
    linkSet ??= createLinkSetFollower({ linkLayer: links });
    const change = linkSet.apply(wanted);
    if (change.dialed > 0 || change.closed > 0)
      logger.info({ engines: wanted.length, ...change }, 'link set from the controller');
  }

  /**
   * One endpoint's new view from a path-change. For an endpoint not installed yet (its
   * registration's answer is still on its way) the update is held and applied with that answer.
   */
  function applyPathChange(update: PathChangeUpdate): void {
    if (!flows) return;
    if (!flows.endpoints.has(update.endpointId)) {
      earlyPathChanges.hold(update.endpointId, update, clock.nowMs());
      return;
    }
    const groupKeys =
      update.groupKeys === undefined
        ? undefined
        : nextGroupKeys(
            flows.endpoints.get(update.endpointId)?.groupKeys ?? noGroupKeys,
            decodeGroupKeys(update.groupKeys),
            clock.nowMs(),
            groupKeyTimes,
          );
    const { skipped } = flows.setPeers(update.endpointId, decodePeers(update.peers), groupKeys);
    for (const skip of skipped) logger.warn(skip, 'peer skipped');
  }

  function handleCommand(command: NodeCommand): void {
    logger.info({ command: command.kind, id: command.id }, 'controller command');
    if (command.kind === 'link-set') {
      followLinkSet(command.payload);
      return;
    }
    if (!flows) return;
    if (command.kind === 'path-change') {
      // An endpoint's view from an older command than the one it has would undo the newer.
      const order = control.commandOrder;
      for (const update of command.payload.endpoints)
        if (order.acceptEndpoint(command.id, update.endpointId)) applyPathChange(update);
    } else if (command.kind === 'revocation') {
      const serials = new Set(command.payload.serials);
      for (const endpoint of [...flows.endpoints.values()])
        if (serials.has(endpoint.spec.authorizationSerial)) {
          flows.removeEndpoint(endpoint.spec.id);
          forgetEndpoint(endpoint.spec.id);
          logger.warn({ endpoint: endpoint.spec.id }, 'authorization revoked: endpoint removed');
        }
      // Decommissioned nodes: their links close and their handshakes are refused.
      for (const { hostId, notAfterMs } of revokedHostsOf(command.payload)) {
        const bytes = parseIpv6(hostId);
        if (!bytes.ok) continue;
        links?.revokeHost(bytes.value, notAfterMs ?? clock.nowMs() + defaultHostRevocationMs);
        logger.warn({ hostId }, 'node decommissioned: link closed');
      }
      void syncRoleAddresses();
    }
  }

  /**
   * Puts the role address of every local endpoint's own role on the TUN (so the kernel accepts
   * packets to it: anycast and multicast members, TCP to a role) and removes the ones no endpoint
   * holds any more. Serialized; a failure is logged and retried on the next change.
   */
  function syncRoleAddresses(): Promise<void> {
    roleAddressSync = roleAddressSync.then(async () => {
      const device = tun;
      if (!device || !cga || !flows) return;
      const wanted = new Set<string>();
      for (const endpoint of flows.endpoints.values())
        wanted.add(`${formatIpv6(ownRoleAddress(cga.address, endpoint.spec))}/128`);
      const add = [...wanted].filter((address) => !roleAddressesOnTun.has(address));
      const remove = [...roleAddressesOnTun].filter((address) => !wanted.has(address));
      // One address at a time, each recorded when done, so a failure retries only what failed.
      for (const address of remove)
        try {
          await removeInterfaceAddresses(device.name, [address]);
          roleAddressesOnTun.delete(address);
          logger.info({ address }, 'role address removed from the TUN');
        } catch (error) {
          logger.warn({ address, error: (error as Error).message }, 'role address not removed from the TUN');
        }
      for (const address of add)
        try {
          // Deprecated: the kernel must not pick a role address as the source of the host's own
          // traffic (it shares the CGA's /64 and can win the longest-prefix rule), only answer from it.
          await configureInterface({ name: device.name, deprecatedAddresses: [address] });
          roleAddressesOnTun.add(address);
          logger.info({ address }, 'role address on the TUN');
        } catch (error) {
          logger.warn({ address, error: (error as Error).message }, 'role address not set on the TUN');
        }
    });
    return roleAddressSync;
  }

  /** The PayloadCipher implementation the `payloadCipher` option names (node:crypto without the addon). */
  function payloadCipherFactory(): (key: Uint8Array) => PayloadCipher {
    if (options.payloadCipher === 'node') return createNodePayloadCipher;
    if (isNativeAddonAvailable()) return createNativePayloadCipher;
    logger.warn({}, 'the native addon is not built: e2e payloads are sealed with node:crypto');
    return createNodePayloadCipher;
  }

  function statisticsSnapshot(): Record<string, number> {
    const totals = { packetsOut: 0, packetsIn: 0, bytesOut: 0, bytesIn: 0, dropsOut: 0, dropsIn: 0 };
    for (const endpoint of flows?.endpoints.values() ?? [])
      for (const key of Object.keys(totals) as (keyof typeof totals)[])
        totals[key] += endpoint.statistics[key];
    return {
      ...totals,
      endpoints: flows?.endpoints.size ?? 0,
      links: links?.links().filter((l) => l.state === 'up').length ?? 0,
    };
  }

  function resolverNames(): Map<string, ResolverName> {
    if (!flows || !cga) return new Map();
    const table = flows;
    return resolverNamesOf(table.endpoints.values(), { hostId: cga.address, ipv4: ownIpv4 }, (hostId) =>
      table.aliasOf(formatIpv6(hostId)),
    );
  }

  /** When the node certificate is due for renewal (ms; the identity package's rule), from the last registration. */
  let certificateRenewalDueAtMs = Number.POSITIVE_INFINITY;
  let certificateRenewals = 0;

  /** The last registration's node certificate into the live link layer (every link rekeys with it). */
  function swapInNodeCertificate(): void {
    const certificate = control.registration?.certificate;
    if (!certificate) return;
    const bytes = new Uint8Array(Buffer.from(certificate, 'base64'));
    const decoded = decodeNodeCertificate(bytes);
    if (!decoded.ok) return;
    certificateRenewalDueAtMs = nodeCertificateRenewalDueMs(decoded.value);
    if (links?.setNodeCertificate(bytes))
      logger.info(
        { notAfter: new Date(decoded.value.notAfter * 1000).toISOString() },
        'node certificate in the link layer',
      );
  }

  /**
   * Renews the node certificate two thirds into its validity, with no restart and no lost link:
   * the host registers again with the same keys and CGA (the controller issues a new certificate
   * for the same host id) and the certificate is swapped into the live link layer. A failure is
   * logged and tried again at the next tick.
   */
  async function renewNodeCertificate(): Promise<void> {
    if (!keys || !cga || clock.nowMs() < certificateRenewalDueAtMs) return;
    try {
      await control.login();
      await control.register(keys, cga);
      certificateRenewals += 1;
      swapInNodeCertificate();
      logger.info({ renewals: certificateRenewals }, 'node certificate renewed');
    } catch (error) {
      logger.warn({ error: (error as Error).message }, 'node certificate renewal failed; retrying');
    }
  }

  async function connectController(): Promise<void> {
    if (!keys || !cga) throw new AgentError('AGENT_NOT_STARTED', 'keys and CGA first');
    await control.login();
    await control.register(keys, cga);
    logger.info({ hostId: cga.addressText, node: control.registration?.node.id }, 'host registered');
    swapInNodeCertificate();
    try {
      await control.openPush();
    } catch (error) {
      logger.warn({ error: (error as Error).message }, 'push channel not open; keep-alives carry commands');
    }
  }

  /** Re-registers every endpoint we had (after the controller forgot our token or our node). */
  async function reregisterEndpoints(): Promise<void> {
    if (!flows) return;
    for (const endpoint of [...flows.endpoints.values()]) {
      try {
        const request = {
          serviceToken: endpoint.spec.serviceToken,
          contract: endpoint.spec.contract,
          role: endpoint.spec.role,
        };
        const fresh = await control.registerEndpoint(request);
        flows.removeEndpoint(endpoint.spec.id);
        registrations.delete(endpoint.spec.id);
        installEndpoint(fresh, request);
      } catch (error) {
        logger.warn(
          { endpoint: endpoint.spec.id, error: (error as Error).message },
          'endpoint re-registration failed',
        );
      }
    }
    await syncRoleAddresses();
  }

  /**
   * Senders told of a newer group key epoch seal under it once its switch delay has passed: every
   * tick interval, even while a controller call is in progress (members' grace runs meanwhile).
   */
  function switchGroupKeys(): void {
    const switched = flows?.activateGroupKeys(clock.nowMs()) ?? 0;
    if (switched > 0) logger.info({ endpoints: switched }, 'group key epoch switched');
  }

  let lastKeepaliveMs = 0;
  let ticking = false;
  async function tick(): Promise<void> {
    if (ticking || stopped) return;
    ticking = true;
    try {
      const interval = Math.min(
        options.keepaliveIntervalMs,
        control.registration?.configuration.keepaliveIntervalMs ?? options.keepaliveIntervalMs,
      );
      // Renewals are checked every tick (they are due long before an authorization runs out).
      if (control.isConnected) await renewAuthorizations();
      if (control.isConnected) await renewNodeCertificate();
      if (control.isConnected && clock.nowMs() - lastKeepaliveMs < interval) return;
      lastKeepaliveMs = clock.nowMs();
      const wasConnected = control.isConnected;
      try {
        await control.keepalive(statisticsSnapshot());
        if (!wasConnected) {
          logger.info({}, 'controller reachable again');
          control.openPush().catch(() => {});
        }
        await flushUnregistrations();
        if (pendingRestores.length > 0) await restoreEndpoints(pendingRestores);
      } catch (error) {
        const code = (error as { code?: string }).code;
        logger.warn({ code, error: (error as Error).message }, 'keep-alive failed');
        if (code === 'UNAUTHENTICATED' || code === 'NODE_NOT_REGISTERED' || code === 'FORBIDDEN') {
          await connectController();
          await reregisterEndpoints();
        }
      }
    } catch (error) {
      logger.warn({ error: (error as Error).message }, 'controller reconnect failed; retrying');
    } finally {
      ticking = false;
    }
  }

  /** One report at a time per peer: an up overtaken by its down would leave the link up there. */
  const linkReports = createLinkReports((request) => control.registerLink(request), {
    setTimeout: (callback, ms) => clock.setTimeout(callback, ms),
    onFailure(request, error, retryInMs) {
      const fields = {
        error: (error as Error).message,
        peer: request.peerHostId,
        status: request.status ?? 'up',
        ...(retryInMs !== undefined && { retryInMs }),
      };
      // A down report of a link the controller no longer has (an administrator deleted it) is
      // refused as NOT_FOUND, as expected.
      if (request.status === 'down' && (error as { code?: unknown }).code === 'NOT_FOUND')
        logger.debug(fields, 'link down report refused');
      else
        logger.warn(fields, retryInMs === undefined ? 'link report refused' : 'link report failed; retrying');
    },
  });

  function onLinkChange(link: LinkInfo): void {
    const report = {
      peerHostId: formatIpv6(link.peerHostId),
      localEndpoint: locator,
      remoteEndpoint: formatUnderlayAddress(link.peerUnderlay),
    };
    if (link.state === 'up') {
      // Flows through this neighbor send on the link from now on (their first hop records it).
      flows?.setLink(link.peerHostId, link.id);
      // A (re)started engine has no flow state: the next packet of every flow carries AUTH (each
      // application connection's of a role-addressed flow too), repeated for authRepeatForMs.
      for (const flow of flows?.flows() ?? []) authorizeAgain(flow);
      logger.info({ peer: report.peerHostId, name: link.peerName }, 'link up');
      linkReports.report(report);
    } else {
      flows?.setLink(link.peerHostId, -1);
      logger.warn({ peer: report.peerHostId, state: link.state }, 'link not up');
      // The controller's paths avoid it until it is up again (a closed attachment: for good).
      if (link.state === 'down') linkReports.report({ ...report, status: 'down' });
    }
  }

  const agent: Agent = {
    get hostId() {
      return cga?.addressText;
    },
    get dataPlane() {
      return plane;
    },
    get linkLayer() {
      return links;
    },

    async start() {
      stopped = false;
      // 2. keys and certificate
      const host = await ensureHostKeys(deps.identityStore, options.hostName, (event) =>
        logger.info(event, `${event.kind} ${event.outcome}`),
      );
      keys = host.keys;
      persisted = host.persisted;
      // 3. REST server
      rest = await startRestApi(options.rest, { agent, logger });
      // 4. login, profile, netprefix (retry while the controller is unreachable)
      let profile: Awaited<ReturnType<ControlPlane['login']>> | undefined;
      while (!profile) {
        try {
          profile = await control.login();
        } catch (error) {
          if ((error as { code?: string }).code !== 'UNAVAILABLE') throw error;
          if (stopped) throw new AgentError('AGENT_STOPPED', 'stopped while waiting for the controller');
          logger.warn({ error: (error as Error).message }, 'controller unreachable; retrying');
          await new Promise<void>((resolve) => clock.setTimeout(resolve, options.retryIntervalMs));
        }
      }
      // 5. CGA
      cga = await ensureCga(
        deps.identityStore,
        host.persisted,
        keys,
        profile.scope.netprefix,
        { sec: options.cgaSec },
        (event) => logger.info(event, `${event.kind} ${event.outcome}`),
      );
      // 6. App and Net interfaces, data plane
      flows = new FlowTable(
        {
          ownHostId: cga.address,
          ownX25519PrivateKey: keys.x25519PrivateKey,
          ipv4AliasBase: (aliasBase + 2) >>> 0,
          ipv4AliasCount: 65_000,
          hopLimit: 64,
        },
        { createPayloadCipher: payloadCipherFactory(), clock },
      );
      plane = new DataPlane(
        {
          ownHostId: cga.address,
          ownIpv4,
          authIntervalMs: options.authIntervalMs,
          authRepeatMs: options.authRepeatMs,
          authRepeatForMs: options.authRepeatForMs,
          codePackets: options.codePackets,
          maxOverlayPacketBytes: options.maxOverlayPacketBytes,
          mode: options.tun?.mode ?? 'tun',
          e2eRekeyAfterMs: options.e2eRekeyAfterMs,
          e2eRekeyAfterPackets: options.e2eRekeyAfterPackets,
          e2eRekeyGraceMs: options.e2eRekeyGraceMs,
        },
        flows,
        {
          clock,
          sendOnLink: (linkId, bytes, offset, length) => links?.send(linkId, bytes, offset, length) ?? false,
          writeToApp: (bytes, offset, length) =>
            tun ? tun.write(bytes, offset, length) : deps.app?.write(bytes, offset, length),
        },
      );
      plane.acl = acl;
      // The fast path: a TUN or TAP device and a transport it can send on (it takes the socket's fd).
      const fastPath =
        deps.fastPath && options.tun !== undefined && deps.transport.attachDatagramFilter
          ? deps.fastPath
          : undefined;
      if (fastPath) {
        deps.transport.attachDatagramFilter?.(fastPath.filter);
        const installer = createAgentFastPath(fastPath, plane);
        fastPathInstaller = installer;
        plane.fastPath = installer;
        flows.onChange = () => installer.clear();
      }
      logger.info({ fastPath: fastPath !== undefined }, 'agent fast path');
      if (options.tun) {
        tun = openTun({ name: options.tun.name, mode: options.tun.mode, offloads: options.tun.offloads });
        await configureInterface({
          name: tun.name,
          mtu: options.tun.mtu,
          txQueueLength: options.tun.txQueueLength,
          addresses: [`${cga.addressText}/64`, `${options.tun.ipv4Address}/32`],
          routes: [options.tun.ipv4AliasPrefix],
        });
        const offloads = tun.offloads();
        logger.info(
          { name: tun.name, vnetHeader: offloads.vnetHeader, offloads: offloads.enabled },
          'TUN open',
        );
        const dataPlane = plane;
        tun.start(
          egress(dataPlane),
          (error) => logger.error({ error: error.message }, 'TUN read failed'),
          fastPath?.filter,
        );
        // The packets the fast path opens go to this TUN (its ingress; detached before it closes).
        fastPath?.attachTun(tun);
      } else if (deps.app) {
        const dataPlane = plane;
        deps.app.start(egress(dataPlane));
      }
      // 7. register the host
      await control.register(keys, cga);
      swapInNodeCertificate(); // no link layer yet: sets when the certificate is due for renewal
      logger.info({ hostId: cga.addressText, node: control.registration?.node.id }, 'host registered');
      control
        .openPush()
        .catch((error) => logger.warn({ error: (error as Error).message }, 'no push channel'));
      // 8. SeND neighbors through the link layer, links to the engines
      const registration = control.registration!;
      // Every key the controller says to trust (more than one during a signing key rotation).
      const trustedKeys = trustedControllerKeysOf(registration);
      if (!trustedKeys.ok)
        logger.warn(
          { problem: trustedKeys.problem },
          "the registration's controller keys are unusable; trusting its signing key alone",
        );
      links = createLinkLayer(
        {
          identity: {
            hostId: cga.address,
            cgaParameters: cga.parametersBytes,
            rsaPrivateKey: keys.rsaPrivateKey,
            nodeCertificate: new Uint8Array(Buffer.from(registration.certificate, 'base64')),
            controllerPublicKey: importControllerPublicKey(
              new Uint8Array(Buffer.from(registration.controllerPublicKey, 'base64')),
            ).publicKey,
            ...(trustedKeys.ok && { controllerKeys: trustedKeys.keys }),
          },
          keepAliveIntervalMs: options.linkKeepAliveIntervalMs,
          ...(options.linkRekeyAfterMs !== undefined && { rekeyAfterMs: options.linkRekeyAfterMs }),
        },
        { transport: deps.transport, clock, ...(fastPath && { dataPath: fastPath }) },
      );
      const dataPlane = plane;
      links.onPacket((_linkId, bytes, offset, length) => {
        const result = processIngress(dataPlane, bytes, offset, length);
        if (result === IngressResult.DROPPED && events.active)
          publishDataPlaneDrop(events, dataPlane, clock, 'in', bytes, offset, length);
        if (dataPlane.tracedFlow !== undefined)
          publishTrace(events, dataPlane, clock, 'in', bytes, offset, result === IngressResult.DROPPED);
        return result;
      });
      links.onLinkChange(onLinkChange);
      links.start();
      const firstSet = registration.configuration.linkSet;
      if (firstSet) followLinkSet(firstSet);
      // 9. keep-alive and sync; the endpoints registered before a restart; the resolver
      lastKeepaliveMs = clock.nowMs();
      stopTick = clock.setInterval(() => {
        switchGroupKeys();
        void tick();
      }, options.retryIntervalMs);
      await restoreEndpoints(persisted.endpoints ?? []);
      if (options.resolver) {
        resolver = await startResolver(options.resolver, (name) => resolverNames().get(name));
      }
      logger.info(
        {
          hostId: cga.addressText,
          restSocket: rest?.socket?.path,
          restTcp: rest?.tcp,
          resolver: resolver?.address(),
        },
        'agent started',
      );
    },

    async stop() {
      stopped = true;
      stopTick?.();
      linkReports.close();
      control.closePush();
      links?.stop();
      if (fastPathInstaller) {
        fastPathInstaller.clear();
        if (flows) flows.onChange = undefined;
        if (plane) plane.fastPath = undefined;
        fastPathInstaller = undefined;
        deps.transport.attachDatagramFilter?.(undefined);
        deps.fastPath?.attachTun(undefined);
      }
      // Closing the TUN removes the device with every address on it (the role addresses too).
      await roleAddressSync;
      roleAddressesOnTun.clear();
      tun?.close();
      tun = undefined;
      await resolver?.close();
      resolver = undefined;
      await rest?.close();
      rest = undefined;
    },

    restAddress: () => rest?.tcp,
    restSocket: () => rest?.socket,
    resolverAddress: () => resolver?.address(),

    status: () => ({
      hostName: options.hostName,
      hostId: cga?.addressText ?? null,
      ipv4Address: options.tun?.ipv4Address ?? null,
      locator,
      controller: {
        url: control.replicas.current,
        urls: [...control.replicas.urls],
        failovers: control.replicas.failovers,
        pushOpen: control.isPushOpen,
        connected: control.isConnected,
        nodeId: control.registration?.node.id ?? null,
        keepalivesSent: control.keepalivesSent,
        keepaliveFailures: control.keepaliveFailures,
        registrations: control.registrations,
        authorizationRenewals,
        earlyPathChangesApplied,
        /** Commands not applied: seen before, or older than the state they would replace. */
        commandsRefused: { ...control.commandOrder.refused },
        certificateRenewals,
        endpointsRestored,
        pendingUnregistrations: pendingUnregistrations.size,
      },
      links: (links?.links() ?? []).map((link) => ({
        id: link.id,
        peerHostId: formatIpv6(link.peerHostId),
        peerName: link.peerName,
        underlay: formatUnderlayAddress(link.peerUnderlay),
        state: link.state,
        packetsIn: link.packetsIn,
        packetsOut: link.packetsOut,
      })),
      linkDrops: links?.drops ?? null,
      // The native fast path: application packets it was offered and took, destinations installed.
      fastPath: fastPathInstaller && deps.fastPath ? deps.fastPath.agentStats() : null,
    }),

    async registerEndpoint(request) {
      if (!flows) throw new AgentError('UNAVAILABLE', 'the agent is starting');
      const fresh = await control.registerEndpoint(request);
      const { spec, peers } = fresh;
      const { skipped } = installEndpoint(fresh, {
        serviceToken: request.serviceToken,
        contract: request.contract,
        role: request.role,
      });
      await syncRoleAddresses();
      logger.info(
        { endpoint: spec.id, contract: spec.contract, role: spec.role, peers: peers.length },
        'endpoint registered',
      );
      return { ...describeEndpoint(spec.id), skippedPeers: skipped };
    },

    listEndpoints: () => [...(flows?.endpoints.keys() ?? [])].map((id) => describeEndpoint(id)),

    // Removed here at once, then at the controller (its authorizations revoked at the engines);
    // while the controller is unreachable the unregistration waits and is retried each tick.
    // The controller is told without waiting for the role address to leave the TUN (an `ip`
    // command, a second or more on a loaded machine): from the removal here until the controller
    // moves the role's routes (a nearest replica's, a balanced member's) the role's traffic to
    // this host is lost, so that window is one request to the controller and its push.
    async unregisterEndpoint(id) {
      const removed = flows?.removeEndpoint(id) ?? false;
      if (!removed) return false;
      forgetEndpoint(id);
      pendingUnregistrations.add(id);
      await Promise.all([flushUnregistrations(), syncRoleAddresses()]);
      return true;
    },

    endpointStatistics: (id) => flows?.endpoints.get(id)?.statistics,

    traceFlow(peer, packets, endpointId) {
      if (flows === undefined) return undefined;
      const v6 = parseIpv6(peer);
      const v4 = v6.ok ? undefined : parseIpv4(peer);
      const first = v6.ok
        ? flows.flowByHostId(v6.value, 0)
        : v4?.ok
          ? flows.flowByIpv4(readU32(v4.value, 0))
          : undefined;
      // With several contracts to the peer's host, the endpoint names the flow (first: the default).
      const flow =
        first === undefined || endpointId === undefined
          ? first
          : flows.flowOfEndpoint(first.peer.hostId, 0, endpointId);
      if (flow === undefined) return undefined;
      flow.tracePackets = packets;
      return { peer: flow.peerText, packets, endpoint: flow.endpoint.spec.id };
    },

    rekeyFlows(endpointId) {
      if (flows === undefined) return { flows: 0 };
      if (endpointId !== undefined && !flows.endpoints.has(endpointId)) return undefined;
      return { flows: flows.requestE2eRekey(endpointId) };
    },

    statistics: () => ({
      endpoints: [...(flows?.endpoints.values() ?? [])].map((endpoint) => ({
        id: endpoint.spec.id,
        name: endpoint.dnsName,
        ...endpoint.statistics,
      })),
      drops: plane?.drops ?? null,
      packetsByType: plane
        ? { I: plane.sentByType[1], II: plane.sentByType[2], III: plane.sentByType[3] }
        : null,
      authorizationOnlyPackets: plane?.authOnlyPackets ?? 0,
      e2eRekeys: plane ? { ...plane.e2eRekeys } : null,
      linkDrops: links?.drops ?? null,
      underlay: deps.transport.stats,
      tunOffloads: tun?.offloads() ?? null,
    }),

    resolverState: () => ({
      listening: resolver ? resolver.address() : null,
      statistics: resolver?.statistics ?? null,
      names: [...resolverNames().values()].map((entry) => ({
        name: entry.name,
        aaaa: entry.ipv6.map((address) => formatIpv6(address)),
        a: entry.ipv4.map((address) => ipv4Text(address)),
      })),
    }),

    events,
    metrics: () =>
      renderAgentMetrics({
        plane,
        flows,
        links,
        underlay: deps.transport.stats,
        resolver: resolver?.statistics,
        controller: {
          connected: control.isConnected,
          keepalivesSent: control.keepalivesSent,
          keepaliveFailures: control.keepaliveFailures,
          registrations: control.registrations,
          certificateRenewals,
          failovers: control.replicas.failovers,
        },
        events: events.counters(),
        fastPath: fastPathInstaller && deps.fastPath ? deps.fastPath.agentStats() : null,
      }),
    getAcl: () => ({ in: [...aclText.in], out: [...aclText.out] }),
    setAcl(rules) {
      const compiled = compileAcl(rules);
      aclText = { in: [...rules.in], out: [...rules.out] };
      if (plane) plane.acl = compiled;
      else Object.assign(acl, compiled);
      // The fast path holds each flow's rules as they were at its install: installed again under the new ones.
      fastPathInstaller?.clear();
    },
  };

  function describeEndpoint(id: number) {
    const endpoint = flows?.endpoints.get(id);
    if (!endpoint) return undefined;
    return {
      id,
      name: endpoint.dnsName,
      contract: endpoint.spec.contract,
      role: endpoint.spec.role,
      domain: endpoint.spec.domain,
      authorizationSerial: endpoint.spec.authorizationSerial,
      logicHash: endpoint.spec.logicHash,
      peers: endpoint.peers.map((peer) => ({
        endpointId: peer.endpointId,
        role: peer.role,
        hostId: formatIpv6(peer.hostId),
        ipv4Alias: ipv4Text(flows!.aliasOf(formatIpv6(peer.hostId))),
        path: peer.path.map((hop) => formatIpv6(hop)),
      })),
      statistics: endpoint.statistics,
    };
  }

  return agent;
}
