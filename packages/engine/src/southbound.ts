/**
 * The engine's southbound side: registration with the controller (login → nonce → register with
 * the CGA, keys and an RSA signature over the nonce), then, while the engine runs, keep-alives
 * (200: nothing to do; 202: commands), the push channel (server-sent events: revocations reach
 * the engine at once; kept attached by @capsule/api's `createPushAttachment`, reopened on a live
 * controller replica when it ends) and registration of each link that comes up. A keep-alive the
 * controller refuses because it no longer knows the session or the node registers the engine
 * again. It knows the engine only through the functions it is given (`ControllerHooksDeps`): the
 * engine does not import it.
 */

import type { KeyObject } from 'node:crypto';
import { sign } from 'node:crypto';
import {
  type ControllerKeyInfo,
  createCommandOrder,
  createLinkReports,
  createPushAttachment,
  decodeNodeCommandPayload,
  defaultHostRevocationMs,
  type NodeCommand,
  registrationSigningInput,
  revocationsOf,
  revokedHostsOf,
  type SbLinkRequest,
  type SbRegisterResponse,
  type SouthboundClient,
} from '@capsule/api';
import { formatIpv6Address, parseIpv6Address } from '@capsule/identity';
import { type LinkInfo, parseUnderlayAddress, type WantedLink } from '@capsule/overlay';
import { type Clock, type Logger, systemClock } from '@capsule/wire';
import type { EngineCounters } from './counters';
import type { ContractLinkTags } from './links';

/** What a node proves about itself when it registers. */
export interface EngineRegistration {
  /** Node user credentials from the config file. */
  credentials: { domain: string; username: string; password: string };
  hostname: string;
  /** `host:port` peers reach this engine at. */
  locator: string;
  /** The CGA (16 bytes) and its RFC 3972 parameters. */
  hostId: Uint8Array;
  cgaParameters: Uint8Array;
  rsaPrivateKey: KeyObject;
  /** SubjectPublicKeyInfo DER of the RSA key (the key inside the CGA parameters). */
  rsaPublicKeyDer: Uint8Array;
  /** Raw 32-byte X25519 public key. */
  x25519PublicKey: Uint8Array;
}

/** Registers an engine: login, nonce, register. Returns the controller's answer (certificate, key, config). */
export async function registerEngine(
  client: SouthboundClient,
  registration: EngineRegistration,
): Promise<SbRegisterResponse> {
  await client.login(registration.credentials);
  const { nonce } = await client.nonce();
  const hostIdText = formatIpv6Address(registration.hostId);
  const signed = registrationSigningInput({
    nonce: Buffer.from(nonce, 'base64'),
    hostId: hostIdText,
    hostname: registration.hostname,
    locator: registration.locator,
    x25519PublicKey: registration.x25519PublicKey,
  });
  return client.register({
    nonce,
    type: 'engine',
    hostname: registration.hostname,
    locator: registration.locator,
    hostId: hostIdText,
    cgaParameters: Buffer.from(registration.cgaParameters).toString('base64'),
    rsaPublicKey: Buffer.from(registration.rsaPublicKeyDer).toString('base64'),
    x25519PublicKey: Buffer.from(registration.x25519PublicKey).toString('base64'),
    signature: sign('sha256', signed, registration.rsaPrivateKey).toString('base64'),
  });
}

/**
 * The revocations of a revocation command: each serial with its authorization's end of validity
 * in ms when known, by @capsule/api's command decoder (malformed serials skipped); nothing for a
 * command of another kind or one that does not decode.
 */
export function revocationsOfCommand(command: {
  kind: unknown;
  payload: unknown;
}): { serial: bigint; notAfterMs: number | undefined }[] {
  const decoded = decodeNodeCommandPayload(command.kind, command.payload);
  return decoded.ok && decoded.value.kind === 'revocation' ? revocationsOf(decoded.value.payload) : [];
}

/**
 * The decommissioned host ids of a revocation command, as bytes, each with the end of its
 * refusal (its `hostsNotAfter`, else `defaultHostRevocationMs` from `nowMs`); unreadable ones skipped.
 */
export function revokedHostsOfCommand(
  command: { kind: unknown; payload: unknown },
  nowMs: number,
): { hostId: Uint8Array; untilMs: number }[] {
  const decoded = decodeNodeCommandPayload(command.kind, command.payload);
  if (!decoded.ok || decoded.value.kind !== 'revocation') return [];
  return revokedHostsOf(decoded.value.payload).flatMap(({ hostId, notAfterMs }) => {
    const bytes = parseIpv6Address(hostId);
    return bytes ? [{ hostId: bytes, untilMs: notAfterMs ?? nowMs + defaultHostRevocationMs }] : [];
  });
}

/** A link set as the engine follows it: the links, and the controller's cost by peer host id text. */
export interface EngineLinkSet {
  links: WantedLink[];
  costs: Map<string, number>;
}

/**
 * The links of a link-set command (or of the registration answer's `linkSet`), by @capsule/api's
 * decoder; undefined — the set refused whole, the previous one kept — when it does not decode or
 * an entry's host id or locator does not parse (a set read in part would close good links).
 */
export function linkSetOfCommand(command: { kind: unknown; payload: unknown }): EngineLinkSet | undefined {
  const decoded = decodeNodeCommandPayload(command.kind, command.payload);
  if (!decoded.ok || decoded.value.kind !== 'link-set') return undefined;
  const set: EngineLinkSet = { links: [], costs: new Map() };
  for (const entry of decoded.value.payload.links) {
    const peerHostId = parseIpv6Address(entry.peer);
    const underlay = parseUnderlayAddress(entry.locator);
    if (!peerHostId || !underlay) return undefined;
    set.links.push({ peerHostId, underlay, dial: entry.dial });
    set.costs.set(formatIpv6Address(peerHostId), entry.cost);
  }
  return set;
}

/** What the controller hooks are told (plain data). */
export interface ControllerHooksOptions {
  /** This engine's underlay locator (`host:port`); without it links are not registered. */
  locator: string | undefined;
  /** Keep-alive interval (the registration answer says); default 30 s. */
  keepaliveIntervalMs?: number;
  /** Delay before reopening a push channel that ended or could not open; default 1000 ms. */
  pushRetryMs?: number;
}

/** What the controller hooks act on: the southbound client, and the engine's side as functions. */
export interface ControllerHooksDeps {
  /** A registered southbound client. */
  client: SouthboundClient;
  /** Timers; without `setTimeout` (the push channel's retry delay) the system clock's. */
  clock: Pick<Clock, 'nowMs' | 'setInterval'> & Partial<Pick<Clock, 'setTimeout'>>;
  logger: Logger;
  /** The engine's counters (keep-alive statistics). */
  counters: () => EngineCounters;
  /** Revokes serials (revocation commands, pushed or in a keep-alive answer). */
  revoke: (serials: readonly bigint[], notAfterMs: readonly (number | undefined)[]) => void;
  /** Decommissioned nodes (a revocation's host ids): close their links, refuse them until `untilMs`. */
  revokeHost?: (hostId: Uint8Array, untilMs: number) => void;
  /** Rereads the links (refresh-configuration and path-change commands). */
  refreshLinks: () => void;
  /** Replaces the role routes (link-tags commands). */
  setContractTags: (contracts: readonly ContractLinkTags[]) => void;
  /** Follows the controller's link set (link-set commands): dial, close, costs. */
  setLinkSet?: (set: EngineLinkSet) => void;
  /** The configured cost of the link to a peer (engine.yaml `links`), sent with its registration. */
  linkCost?: (info: LinkInfo) => number | undefined;
  /** Renews the node certificate when it is due (checked after every keep-alive). */
  renewCertificate?: () => Promise<void>;
  /** The controller keys a keep-alive answer says to trust (a signing key rotation reaches the engine so). */
  setControllerKeys?: (keys: readonly ControllerKeyInfo[]) => void;
  /**
   * Logs in and registers again (a keep-alive refused as UNAUTHENTICATED, FORBIDDEN or
   * NODE_NOT_REGISTERED: the controller lost the session or the node).
   */
  reregister?: () => Promise<void>;
}

/** The controller side of a running engine. */
export interface ControllerHooks {
  /** Starts keep-alives and the push channel; returns their stop. */
  start(): () => void;
  /**
   * Registers each link that comes up (once per peer) and reports one that goes down, so that
   * the controller's paths avoid it until it is up (and registered) again.
   */
  onLinkChange(info: LinkInfo): void;
  /** Carries out one controller command (revocation, link-tags, link-set, refresh-configuration, path-change, report-statistics). */
  obey(command: Pick<NodeCommand, 'kind' | 'payload'>): void;
  /** The controller session as `/api/v1/status` and `/metrics` show it. */
  status(): ControllerSessionStatus;
}

/** The engine's controller session: which replica it uses, and how it goes. */
export interface ControllerSessionStatus {
  /** The replica in use (`https://host:port`). */
  url: string;
  /** Every configured replica, in order. */
  urls: string[];
  /** Moves to another replica after the one in use failed. */
  failovers: number;
  /** True once the last keep-alive was answered. */
  connected: boolean;
  /** True while the push channel is open. */
  pushOpen: boolean;
  keepalivesSent: number;
  keepaliveFailures: number;
}

/**
 * Keep-alive, push channel and link registration for a running engine (`startEngineNode` wires
 * them): keep-alives every `keepaliveIntervalMs` carry statistics and bring back commands, the
 * push channel brings them at once, and each link change is reported.
 */
export function createControllerHooks(
  options: ControllerHooksOptions,
  deps: ControllerHooksDeps,
): ControllerHooks {
  const { client, clock, logger } = deps;
  /** Per peer whose link is up at the controller (or on its way there), the report that said so. */
  const registeredLinks = new Map<string, SbLinkRequest>();
  /** One report at a time per peer: an up overtaken by its down would leave the link up there. */
  const linkReports = createLinkReports((request) => client.registerLink(request), {
    setTimeout: (callback, ms) => (clock.setTimeout ?? systemClock.setTimeout)(callback, ms),
    onFailure(request, error, retryInMs) {
      // Refused for good: not registered as up after all, so the next up tries again — unless a
      // newer up of the link was reported since. A failure is tried again (createLinkReports).
      if (retryInMs === undefined && registeredLinks.get(request.peerHostId) === request)
        registeredLinks.delete(request.peerHostId);
      logger.warn(
        { err: error, peer: request.peerHostId, state: request.status ?? 'up', retryInMs },
        retryInMs === undefined ? 'link report refused' : 'link report failed; retrying',
      );
    },
  });

  /** Which commands apply, in the order they come (a command may come twice, or after a newer one). */
  const order = createCommandOrder();

  /**
   * A command from a keep-alive answer or the push channel: read with the one decoder, carried out
   * once, and not when a newer one of a kind that replaces a whole state (link-set, link-tags) was.
   */
  function receive(value: unknown): void {
    const taken = order.take(value);
    if (!taken.ok) logger.warn({ error: taken.error }, 'controller command refused');
    else if (taken.value) obey(taken.value);
  }

  function obey(command: Pick<NodeCommand, 'kind' | 'payload'>): void {
    switch (command.kind) {
      case 'revocation': {
        const revocations = revocationsOfCommand(command);
        deps.revoke(
          revocations.map((revocation) => revocation.serial),
          revocations.map((revocation) => revocation.notAfterMs),
        );
        for (const { hostId, untilMs } of revokedHostsOfCommand(command, clock.nowMs()))
          deps.revokeHost?.(hostId, untilMs);
        break;
      }
      case 'refresh-configuration':
      case 'path-change':
        deps.refreshLinks();
        break;
      case 'link-tags': {
        // Read with the one decoder: a malformed command changes nothing.
        const decoded = decodeNodeCommandPayload(command.kind, command.payload);
        if (decoded.ok && decoded.value.kind === 'link-tags')
          deps.setContractTags(decoded.value.payload.contracts);
        else logger.warn({ error: decoded.ok ? undefined : decoded.error }, 'link-tags command refused');
        break;
      }
      case 'link-set': {
        const set = linkSetOfCommand(command);
        if (set) deps.setLinkSet?.(set);
        else logger.warn({}, 'link-set command refused: the previous link set is kept');
        break;
      }
      case 'report-statistics':
        void keepalive();
        break;
    }
  }

  let keepaliveBusy = false;
  let connected = true;
  let keepalivesSent = 0;
  let keepaliveFailures = 0;
  async function keepalive(): Promise<void> {
    if (keepaliveBusy) return;
    keepaliveBusy = true;
    try {
      const c = deps.counters();
      const answer = await client.keepalive({
        statistics: {
          packetsIn: c.packetsIn,
          packetsOut: c.packetsOut,
          drops: c.verdicts.DROP ?? 0,
          liveFlows: c.liveFlows,
          programRuns: c.programRuns,
        },
      });
      keepalivesSent += 1;
      connected = true;
      for (const command of answer.commands) receive(command);
      if (answer.controllerKeys) deps.setControllerKeys?.(answer.controllerKeys);
      await deps.renewCertificate?.();
    } catch (error) {
      keepaliveFailures += 1;
      connected = false;
      const code = (error as { code?: unknown }).code;
      logger.warn({ err: error, controller: client.currentUrl }, 'keep-alive failed');
      if (code === 'UNAUTHENTICATED' || code === 'NODE_NOT_REGISTERED' || code === 'FORBIDDEN')
        await deps.reregister?.().then(
          () => {
            // The registration's answer is the new baseline: the commands after it count from there.
            order.restart();
            push.open().catch(() => {});
          },
          (reason: unknown) => logger.warn({ err: reason }, 'registering again failed; retrying'),
        );
    } finally {
      keepaliveBusy = false;
    }
  }

  const push = createPushAttachment(
    { retryMs: options.pushRetryMs ?? 1000 },
    {
      events: (onEvent, signal, onClose) => client.events(onEvent, signal, onClose),
      onEvent: (event) => receive(event.payload),
      clock: { setTimeout: (callback, ms) => (clock.setTimeout ?? systemClock.setTimeout)(callback, ms) },
      onChange: ({ kind, error }) => {
        if (kind === 'opened' || kind === 'reopened')
          logger.info({ controller: client.currentUrl }, `push channel ${kind}`);
        else if (kind === 'ended')
          logger.warn({ controller: client.currentUrl }, 'push channel ended; reopening');
        else logger.warn({ err: error }, 'push channel failed; retrying (keep-alives still carry commands)');
      },
    },
  );

  return {
    start() {
      push.open().catch(() => {}); // retried by the attachment; logged through onChange
      void keepalive();
      const cancel = clock.setInterval(() => void keepalive(), options.keepaliveIntervalMs ?? 30_000);
      return () => {
        cancel();
        push.close();
        linkReports.close();
      };
    },
    status: () => ({
      url: client.currentUrl,
      urls: [...client.replicas.urls],
      failovers: client.replicas.failovers,
      connected,
      pushOpen: push.isOpen,
      keepalivesSent,
      keepaliveFailures,
    }),
    onLinkChange(info) {
      if (!options.locator || info.state === 'handshaking') return;
      const peer = formatIpv6Address(info.peerHostId);
      const up = info.state === 'up';
      if (up === registeredLinks.has(peer)) return; // the controller already has this state
      // The controller computes paths with the cost registered here (its default when none is sent).
      // Link tags have no field in the southbound link registration (SbLinkRequest): they stay local.
      const cost = deps.linkCost?.(info);
      const request: SbLinkRequest = {
        peerHostId: peer,
        localEndpoint: options.locator,
        remoteEndpoint: `${info.peerUnderlay.host}:${info.peerUnderlay.port}`,
        ...(cost !== undefined ? { cost } : {}),
        ...(up ? {} : { status: 'down' as const }),
      };
      if (up) registeredLinks.set(peer, request);
      else registeredLinks.delete(peer);
      linkReports.report(request);
    },
    obey,
  };
}
