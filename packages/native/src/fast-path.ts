import {
  type AgentFastPath,
  AgentFastPathHandUp,
  type EngineFastPath,
  type FastPathCounters,
  FastPathHandUp,
  type LinkDataPath,
  type SignaturesAhead,
} from '@capsule/wire';
import { loadAddon } from './native-addon';

/**
 * The addon's hand-up counts from `at` (indexed as `reasons` number them: FastPathHandUp or
 * AgentFastPathHandUp) by name; throws if the addon counts another number of reasons.
 */
function byReason<Reason extends string>(
  reasons: Readonly<Record<Reason, number>>,
  counts: readonly number[],
  at: number,
  of: number,
): Record<Reason, number> {
  const names = Object.keys(reasons) as Reason[];
  if (counts.length !== of * names.length)
    throw new Error(
      `native fast path: ${counts.length} hand-up counts, @capsule/wire names ${of} × ${names.length}`,
    );
  const named = {} as Record<Reason, number>;
  for (const reason of names) named[reason] = counts[at + reasons[reason]]!;
  return named;
}

/**
 * Slots of the engine counter deltas the fast path keeps (a Float64Array the engine owns and folds
 * into its own counters when it reads them); addon/fast-path.cc names the same slots.
 */
export const FastPathSlot = {
  PACKETS_IN: 0,
  BYTES_IN: 1,
  PACKETS_OUT: 2,
  BYTES_OUT: 3,
  TYPE_III: 4,
  CACHED_ACTIONS: 5,
  VERDICT_FORWARD: 6,
  VERDICT_REPLICATE: 7,
  VERDICT_DELIVER: 8,
  PROGRAM_RUNS: 9,
  FUEL_USED: 10,
  VERDICT_DROP: 11,
  /** Pairs used in the program drop table (PROGRAM_DROP_BASE). */
  PROGRAM_DROP_CODES: 12,
  TYPE_I: 13,
  TYPE_II: 14,
  AUTHORIZATION_CACHE_HITS: 15,
  /** Then per program link id p: packets in, bytes in, packets out, bytes out at LINK_BASE + 4p. */
  LINK_BASE: 16,
} as const;
/** Program link ids the fast path counts (a link with a higher id keeps its packets in JavaScript). */
export const FAST_PATH_MAX_LINKS = 4096;
/** Drops per program link id p at LINK_DROP_BASE + p. */
const LINK_DROP_BASE = FastPathSlot.LINK_BASE + 4 * FAST_PATH_MAX_LINKS;
/** Drops per drop reason r (< DROP_REASONS) at DROP_BASE + r. */
const DROP_BASE = LINK_DROP_BASE + FAST_PATH_MAX_LINKS;
const DROP_REASONS = 64;
/** (program's drop reason, count) pairs: PROGRAM_DROP_PAIRS at most between two takes. */
const PROGRAM_DROP_BASE = DROP_BASE + DROP_REASONS;
const PROGRAM_DROP_PAIRS = 16;
/** Length of the engine's counter delta array. */
export const FAST_PATH_ENGINE_SLOTS = PROGRAM_DROP_BASE + 2 * PROGRAM_DROP_PAIRS;

/**
 * The native fast path (addon/fast-path.cc): established flows forwarded inside the UDP socket's
 * poll callback (engine) or the TUN device's (agent egress), never waking JavaScript. One object
 * serves up to four parties, each through its own port:
 *  - the socket: `filter`, handed to overlay's `Transport.attachDatagramFilter`;
 *  - the link layer: wire's `LinkDataPath` (sessions, shared send counters and replay windows,
 *    traffic folded back) — one session table and send queue for the engine's and the agent's side;
 *  - the engine: wire's `EngineFastPath` (its arrays, links and flows with cached actions);
 *  - the agent: wire's `AgentFastPath` (its flows' type III egress and ingress), and `filter`
 *    again, handed to the TUN device's reader; its ingress writes to the TUN given `attachTun`.
 * Everything runs on Node's loop thread. Throws TUN_ADDON_MISSING when the addon is not built.
 */
export interface NativeFastPath extends LinkDataPath, EngineFastPath, AgentFastPath {
  /** Both filters: the UDP socket's (`attachDatagramFilter`) and the TUN reader's (`TunDevice.start`). */
  readonly filter: object;
  /**
   * Offers packets as the TUN reader does (packet i = buffer[meta[2i], + meta[2i+1])): sends those
   * it takes, compacts meta to the others, returns their count. For tests without a device.
   */
  offerTunPackets(buffer: Uint8Array, meta: Int32Array, count: number): number;
}

/** Creates a fast path (it takes nothing until a socket attaches `filter` and an engine binds). */
export function createNativeFastPath(): NativeFastPath {
  const native = new (loadAddon().FastPath)();
  /** Counter deltas (FastPathSlot), added by C++, taken (and zeroed) by `takeCounters`. */
  const deltas = new Float64Array(FAST_PATH_ENGINE_SLOTS);
  /** The engine's type I signatures verified ahead on a thread (addon/signature-verifier.h). */
  const signatures: SignaturesAhead = {
    setControllerKeys(keys) {
      const raw = new Uint8Array(32 * keys.length);
      keys.forEach((key, i) => {
        if (key.publicKeyRaw.length !== 32) throw new TypeError('setControllerKeys: a key is not 32 bytes');
        raw.set(key.publicKeyRaw, 32 * i);
      });
      native.setControllerKeys(
        keys.map((key) => key.keyId),
        raw,
      );
    },
    result: (publicKeyRaw, message, signature) => native.signatureResult(publicKeyRaw, message, signature),
    stats: () => native.signatureStats(),
  };
  return {
    filter: native,
    receiving: (localIndex, linkId, receiveKey, counters, replayBits) =>
      native.addSession(localIndex, linkId, receiveKey, counters, replayBits),
    retired: (localIndex) => native.removeSession(localIndex),
    sending: (linkId, peerIndex, sendKey, counters, underlay, rekeyAfterPackets) =>
      native.setSending(
        linkId,
        peerIndex,
        sendKey,
        counters,
        underlay.host,
        underlay.port,
        rekeyAfterPackets,
      ),
    notSending: (linkId) => native.clearSending(linkId),
    drainTraffic: () => native.drainLinkTraffic(),
    bindEngine: (arrays, engineId, idleTimeoutMs) =>
      native.bindEngine({ ...arrays, engine: deltas }, engineId, idleTimeoutMs),
    setLink: (programId, linkId, kind, up, peerHostId) =>
      native.setLink(programId, linkId, kind, up, peerHostId),
    clearLinks: () => native.clearLinks(),
    setFlow: (...args) => native.setFlow(...args),
    setFlowProgram: (...args) => native.setFlowProgram(...args),
    removeFlow: (flowId) => native.removeFlow(flowId),
    clearFlows: () => native.clearFlows(),
    takeCounters(): FastPathCounters {
      const S = FastPathSlot;
      const links: [number, number, number, number, number][] = [];
      const linkDrops: [number, number][] = [];
      for (let p = 1; p < FAST_PATH_MAX_LINKS; p++) {
        const at = S.LINK_BASE + 4 * p;
        if (deltas[LINK_DROP_BASE + p] !== 0) linkDrops.push([p, deltas[LINK_DROP_BASE + p]!]);
        if (deltas[at] === 0 && deltas[at + 2] === 0) continue;
        links.push([p, deltas[at]!, deltas[at + 1]!, deltas[at + 2]!, deltas[at + 3]!]);
      }
      const drops: [number, number][] = [];
      for (let reason = 1; reason < DROP_REASONS; reason++)
        if (deltas[DROP_BASE + reason] !== 0) drops.push([reason, deltas[DROP_BASE + reason]!]);
      const programDrops: [number, number][] = [];
      const pairs = Math.min(PROGRAM_DROP_PAIRS, deltas[S.PROGRAM_DROP_CODES]!);
      for (let i = 0; i < pairs; i++)
        programDrops.push([deltas[PROGRAM_DROP_BASE + 2 * i]!, deltas[PROGRAM_DROP_BASE + 2 * i + 1]!]);
      const taken = {
        packetsIn: deltas[S.PACKETS_IN]!,
        bytesIn: deltas[S.BYTES_IN]!,
        packetsOut: deltas[S.PACKETS_OUT]!,
        bytesOut: deltas[S.BYTES_OUT]!,
        typeI: deltas[S.TYPE_I]!,
        typeII: deltas[S.TYPE_II]!,
        typeIII: deltas[S.TYPE_III]!,
        authorizationCacheHits: deltas[S.AUTHORIZATION_CACHE_HITS]!,
        cachedActions: deltas[S.CACHED_ACTIONS]!,
        verdicts: [0, deltas[S.VERDICT_FORWARD]!, deltas[S.VERDICT_REPLICATE]!, deltas[S.VERDICT_DELIVER]!],
        links,
        programRuns: deltas[S.PROGRAM_RUNS]!,
        fuelUsed: deltas[S.FUEL_USED]!,
        dropVerdicts: deltas[S.VERDICT_DROP]!,
        drops,
        linkDrops,
        programDrops,
      };
      deltas.fill(0);
      return taken;
    },
    stats() {
      const [taken, offered, sent, sendErrors, flows, sessions, held, packetsOffered] = native.stats();
      return {
        taken,
        offered,
        sent,
        sendErrors,
        flows,
        sessions,
        held,
        packetsOffered,
        handedUp: byReason(FastPathHandUp, native.handUpStats(), 0, 1),
        signatures: signatures.stats(),
      };
    },
    signatures,
    bindAgent: (sentByType, e2eRekeys, options) =>
      native.bindAgent(
        sentByType,
        e2eRekeys,
        Float64Array.of(
          options.authIntervalMs,
          options.codePackets,
          options.e2eRekeyAfterMs,
          options.e2eRekeyAfterPackets,
          options.ownIpv4,
          options.maxOverlayPacketBytes,
          options.e2eRekeyGraceMs,
          options.authRepeatMs,
          options.authRepeatForMs,
        ),
      ),
    setEgressFlow: (
      destination,
      flowState,
      e2eState,
      statistics,
      sendBase,
      headers,
      transportAt,
      aad,
      linkId,
      acl,
      connections,
      selector,
    ) =>
      native.setEgressFlow(
        destination,
        flowState,
        e2eState,
        statistics,
        sendBase,
        [headers[1], headers[2], headers[3]],
        Int32Array.of(transportAt[1], transportAt[2], transportAt[3]),
        aad,
        linkId,
        acl,
        connections,
        selector === undefined ? undefined : 'source' in selector ? selector.source : 'cga-sources',
      ),
    clearEgressFlows: () => native.clearEgressFlows(),
    agentStats() {
      const [
        offered,
        taken,
        egressFlows,
        ingressOffered,
        ingressTaken,
        ingressFlows,
        tunWriteErrors,
        held,
        ingressHeld,
        ingressPacketsOffered,
      ] = native.agentStats();
      const whys = native.agentHandUpStats();
      const reasons = Object.keys(AgentFastPathHandUp).length;
      return {
        offered,
        taken,
        held,
        egressFlows,
        ingressOffered,
        ingressTaken,
        ingressHeld,
        ingressPacketsOffered,
        ingressFlows,
        tunWriteErrors,
        handedUp: {
          out: byReason(AgentFastPathHandUp, whys, 0, 2),
          in: byReason(AgentFastPathHandUp, whys, reasons, 2),
        },
      };
    },
    setIngressFlow: (flow) =>
      native.setIngressFlow(
        flow.source,
        flow.header,
        flow.hopIndexAt,
        flow.dataAt,
        flow.dataLength,
        flow.transportAt,
        flow.receiveBase,
        flow.e2eState,
        flow.replayState,
        flow.replayBits,
        flow.statistics,
        flow.ipv4Alias,
        flow.roleSource ?? new Uint8Array(0),
        flow.acl,
        flow.byLabel === true,
      ),
    setGroupIngressFlow: (flow) =>
      native.setGroupIngressFlow(
        flow.address,
        flow.source,
        flow.header,
        flow.hopIndexAt,
        flow.dataAt,
        flow.dataLength,
        flow.transportAt,
        flow.epoch,
        flow.key,
        flow.untilMs,
        flow.replayState,
        flow.replayBits,
        flow.statistics,
        flow.acl,
      ),
    clearIngressFlows: () => native.clearIngressFlows(),
    attachTun: (tun) =>
      tun === undefined
        ? native.attachTun(-1)
        : native.attachTun(tun.fd, tun.vnetHeader, tun.offloadCounters),
    offerTunPackets: (buffer, meta, count) => native.offerTunPackets(buffer, meta, count),
    setTap: (tap) =>
      tap === undefined ? native.setTap(undefined) : native.setTap(tap.peerMac, tap.agentMac),
  };
}
