/**
 * createEngine: the network microservice engine's pipeline. Verify once, execute per packet, forward.
 *
 * Per packet (every step a counted drop on failure, nothing thrown, nothing allocated in the
 * steady state of type II/III traffic):
 *
 * ```
 * link layer ─▶ inner IPv6 header (version, lengths, next header 253); link binding
 *            ─▶ capsule header (CapsuleHeaderView: every chunk validated); hop limit
 *            ─▶ flow table (src, dst, flow label; idle expiry)                       flows.ts
 *            ─▶ type I:  AUTH → verified-authorization cache or Ed25519 verify;       authorizations.ts
 *                        validity; revocation; source binding                         revocations.ts
 *                        SHA-256(machine code) == logic hash; program cache           programs.ts
 *                        (static verifier + fast tier, once per logic hash and entry table)
 *               type II: CODE chunk == the code verified for the flow
 *               type III: the flow's cached action, or its cached program
 *            ─▶ PACKET record, PATH/DATA mapped, FLOW and CONTRACT memory bound, run  sandbox-host.ts
 *            ─▶ action: FORWARD | REPLICATE | DELIVER | DROP; DATA/PATH written back,  egress.ts
 *               hop index advanced, TRACE record appended when asked, hop limit        trace.ts
 *               decremented, sent per link (program link ids → link layer ids)         links.ts
 * ```
 *
 * This file is the pipeline and its lifecycle; each concept it uses has its own module (above),
 * built here from options and ports. The controller side (keep-alives, push, link registration)
 * is not the pipeline's: `startEngineNode` (engine-node.ts) wires it.
 */
import { createFlowEventHub, defaultFlowEventHubOptions, type FlowEventHub } from '@capsule/api';
import type { ControllerKeys, TrustedControllerKey } from '@capsule/identity';
import { formatIpv6Address } from '@capsule/identity';
import type { LinkInfo, LinkLayer } from '@capsule/overlay';
import {
  ActionField,
  ActionFlag,
  CONTRACT_BYTES,
  createSandboxMachine,
  EGRESS_MAX_LINKS,
  FUEL_DEFAULT,
  LinkKind,
  PacketField,
  type RunOptions,
  type Tier,
  TrapReason,
  Verdict,
} from '@capsule/vm';
import {
  CAPSULE_NEXT_HEADER,
  CapsuleFlag,
  type Clock,
  type EngineFastPath,
  FastPathEngineState,
  FastPathProgramState,
  type FastPathStats,
  fastPathClockProblem,
  IPV6_HEADER_LENGTH,
  type Logger,
  PathOffset,
  readFlowLabel,
  readU16,
  silentLogger,
} from '@capsule/wire';
import { createAuthorizations, isAuthorizedSource } from './authorizations';
import { bytesEqual } from './bytes';
import { countProgramDrop, createCounterState, type EngineCounters, snapshotCounters } from './counters';
import { type CurrentPacket, createCurrentPacket } from './current-packet';
import { DropReason } from './drop-reason';
import { createEgress } from './egress';
import { engineIdOfHostId } from './engine-id';
import { EngineError } from './errors';
import { createEngineEvents } from './flow-events';
import { FlowRefusal } from './flow-table';
import { createEngineFlows, type FlowSnapshot } from './flows';
import { type ContractLinkTags, createEngineLinks, type EngineLinkSnapshot, type LinkConfig } from './links';
import { createProgramCache, type ProgramEntry } from './programs';
import { createSandboxHost } from './sandbox-host';

/** Options (plain data; defaults in `defaultEngineOptions`). */
export interface EngineOptions {
  /** This engine's CGA host id (16 bytes). */
  hostId: Uint8Array;
  /** 16-bit engine id PATH hops name; default: engineIdOfHostId(hostId). */
  engineId?: number;
  /** The controller's Ed25519 key(s) that sign flow authorizations (the trusted set during a rotation). */
  controllerPublicKey: ControllerKeys;
  /** Tag bits (0..31) of this engine (ENGINE record). */
  tags?: readonly number[];
  /** Cost and tag bits of links by peer (host id text or host name); others get cost 1, no tags. */
  links?: readonly LinkConfig[];
  /** Live flows at most. */
  flowCapacity?: number;
  /**
   * Live flows one source host may hold; at this count its new flow takes the place of its own
   * idlest, or is refused (FLOW_SOURCE_QUOTA). Default: `flowsPerSourceHostShare` of flowCapacity.
   */
  flowsPerSourceHostMax?: number;
  /** Live flows one authorization (serial) may hold; likewise. Default: `flowsPerAuthorizationShare`. */
  flowsPerAuthorizationMax?: number;
  /** A flow with a packet within this long is never evicted to make room for another. */
  flowEvictionIdleMs?: number;
  /** A flow with no packet for this long is removed. */
  flowIdleTimeoutMs?: number;
  /** Fuel per execution (instructions). */
  budgetInstructions?: number;
  /** Executor: the fast tier (default) or the interpreter. */
  tier?: Tier;
  /** Program LOG lines per second at most (the rest are refused to the program). */
  logLinesPerSecond?: number;
  /** Distinct verified authorizations and programs kept (LRU-less: cleared when full). */
  cacheCapacity?: number;
  /** Flow events built per second at most while someone observes (the rest are counted). */
  eventsPerSecondMax?: number;
}

/** The defaults of every optional option. */
export const defaultEngineOptions = {
  flowCapacity: 65_536,
  /** Default flowsPerSourceHostMax, as a share of flowCapacity (16,384 of 65,536). */
  flowsPerSourceHostShare: 0.25,
  /** Default flowsPerAuthorizationMax, as a share of flowCapacity (8,192 of 65,536). */
  flowsPerAuthorizationShare: 0.125,
  flowEvictionIdleMs: 1_000,
  flowIdleTimeoutMs: 120_000,
  budgetInstructions: FUEL_DEFAULT,
  tier: 'fast' as Tier,
  logLinesPerSecond: 20,
  cacheCapacity: 4096,
  eventsPerSecondMax: defaultFlowEventHubOptions.eventsPerSecondMax,
};

/** The engine's ports. */
export interface EngineDeps {
  linkLayer: LinkLayer;
  clock: Pick<Clock, 'nowMs' | 'nowUs' | 'setInterval'>;
  logger?: Logger;
  /** 32 random bits (RANDOM service); default Math.random. */
  random?: () => number;
  /**
   * The fast path for established flows (docs/engine.md, "Fast path"), when the node runs one:
   * the engine registers its links and cached-action flows with it and folds what it carried into
   * the counters. Without it every packet takes the pipeline below.
   */
  fastPath?: EngineFastPath;
}

/** A running engine. */
export interface Engine {
  readonly engineId: number;
  /** Subscribes to the link layer (packets, link changes) and starts the expiry timer. */
  start(): void;
  /** Stops taking packets and the timer (the link layer and transport are the caller's). */
  stop(): void;
  /** The pipeline's entry (the link layer calls it; exposed for benchmarks and tests). */
  handlePacket(linkId: number, bytes: Uint8Array, offset: number, length: number): boolean;
  /** Live flows. */
  flows(): FlowSnapshot[];
  links(): EngineLinkSnapshot[];
  counters(): EngineCounters;
  /** How much the fast path carried (null without one); its work is in `counters()` too. */
  fastPathStats(): FastPathStats | null;
  /** Flow events (new flow, verdict change, drop, program log): `GET /api/v1/events` subscribes here. */
  readonly events: FlowEventHub;
  /** The CONTRACT memory (what `@Shared` fields live in) of a contract this engine has run, by contract id. */
  contractMemory(contractId: number): Uint8Array | undefined;
  /** The contracts whose CONTRACT memory this engine holds, with their live flows. */
  contracts(): { contractId: number; liveFlows: number }[];
  /**
   * Revokes serials now (the controller's push and keep-alive commands call this). With the
   * authorization's end of validity (ms), the serial is forgotten once that has passed (an
   * expired authorization is refused anyway); without it, it is kept for the engine's life.
   */
  revoke(serials: readonly bigint[], notAfterMs?: readonly (number | undefined)[]): void;
  /** Rereads the link layer's links (ENGINE record, caches); called on every link change. */
  refreshLinks(): void;
  /**
   * The controller keys to trust from now on (the keep-alive answer after `capsule rotate
   * signing-key`): authorizations and peers' certificates signed by any of them verify until that
   * key's end of validity. The link layer takes them too.
   */
  setControllerKeys(keys: readonly TrustedControllerKey[]): void;
  /** Replaces the role routes (the controller's `link-tags` command); cached actions are dropped. */
  setContractTags(contracts: readonly ContractLinkTags[]): void;
  /** The controller's link costs by peer host id text (its `link-set`); links are reread. */
  setLinkCosts(costs: ReadonlyMap<string, number>): void;
  /** The cost of the link to a peer: the controller's, else the configured one; undefined: neither. */
  linkCost(info: LinkInfo): number | undefined;
  /** Removes idle flows and the revoked serials of expired authorizations now (the timer calls it). */
  expireFlows(): number;
  /**
   * Calls `listener` on every link change, after the engine has reread its links (the engine
   * node's link registration listens here). Returns its removal.
   */
  onLinkChange(listener: (info: LinkInfo) => void): () => void;
}

/** The drop reason of each FlowTable refusal. */
const refusalDrops = {
  [FlowRefusal.FULL]: DropReason.FLOW_TABLE_FULL,
  [FlowRefusal.SOURCE_QUOTA]: DropReason.FLOW_SOURCE_QUOTA,
  [FlowRefusal.AUTHORIZATION_QUOTA]: DropReason.FLOW_AUTHORIZATION_QUOTA,
} as const;

/** Creates an engine. Nothing runs until `start()`. */
export function createEngine(options: EngineOptions, deps: EngineDeps): Engine {
  const settings = { ...defaultEngineOptions, ...options };
  const { linkLayer, clock } = deps;
  const logger = deps.logger ?? silentLogger;
  const random = deps.random ?? (() => (Math.random() * 0x1_0000_0000) >>> 0);
  const engineId = options.engineId ?? engineIdOfHostId(options.hostId);

  // ---- the parts ------------------------------------------------------------------------------
  const counters = createCounterState();
  const fastPath = deps.fastPath;
  const clockProblem = fastPath && fastPathClockProblem(clock);
  if (clockProblem) throw new EngineError('ENGINE_BAD_OPTION', `fastPath: ${clockProblem}`);
  const packet: CurrentPacket = createCurrentPacket();
  /**
   * What the fast path's program runs read of the engine (FastPathEngineState): whether flow
   * events are observed, and which contract's link tags the ENGINE record shows.
   */
  const fastPathState = new Int32Array(FastPathEngineState.LENGTH);
  fastPathState[FastPathEngineState.SHOWN_CONTRACT] = -1;
  /** Per flow: its program registered with the fast path (FastPathProgramState). */
  const flowProgramState = new Uint8Array(fastPath ? settings.flowCapacity : 0);
  const hub = createFlowEventHub(
    { node: `engine ${formatIpv6Address(options.hostId)}`, eventsPerSecondMax: settings.eventsPerSecondMax },
    {
      clock,
      onActiveChange: (active) => {
        fastPathState[FastPathEngineState.EVENTS_ACTIVE] = active ? 1 : 0;
      },
    },
  );
  const flows = createEngineFlows(
    {
      capacity: settings.flowCapacity,
      perSourceMax:
        settings.flowsPerSourceHostMax ??
        Math.max(1, Math.floor(settings.flowCapacity * settings.flowsPerSourceHostShare)),
      perAuthorizationMax:
        settings.flowsPerAuthorizationMax ??
        Math.max(1, Math.floor(settings.flowCapacity * settings.flowsPerAuthorizationShare)),
      evictionIdleMs: settings.flowEvictionIdleMs,
      idleTimeoutMs: settings.flowIdleTimeoutMs,
      contractBytes: CONTRACT_BYTES,
    },
    {
      counters,
      withdraw:
        fastPath &&
        ((id) => {
          fastPath.removeFlow(id);
          flowProgramState[id] = FastPathProgramState.NONE;
        }),
    },
  );
  const events = createEngineEvents({ hub, clock, flows, packet });
  const host = createSandboxHost(
    { logLinesPerSecond: settings.logLinesPerSecond },
    { clock, logger, random, packet, emit: (action) => egress.emit(action), events },
  );
  const sandbox = createSandboxMachine(
    { budgetInstructions: settings.budgetInstructions, tier: settings.tier },
    { host },
  );
  const regions = sandbox.regions;
  const links = createEngineLinks(
    { engineId, tags: options.tags, links: options.links },
    { linkLayer, engineRecord: regions.engine },
  );
  const authorizations = createAuthorizations(
    { controllerPublicKey: options.controllerPublicKey, cacheCapacity: settings.cacheCapacity },
    // Type I packets the fast path takes count as cache hits: none once the cache is gone.
    {
      counters,
      logger,
      cacheCleared: () => fastPath?.clearFlows(),
      ...(fastPath?.signatures && { signaturesAhead: fastPath.signatures }),
    },
  );
  const programs = createProgramCache(
    { cacheCapacity: settings.cacheCapacity, tier: settings.tier },
    { counters, logger },
  );
  const egress = createEgress(
    { engineId },
    { linkLayer, links, flows, counters, clock, packet, regions, events },
  );
  const { drop, applyAction, writeBack, advanceHopIndex } = egress;
  const { table, auth: flowAuth, program: flowProgram, lastSeenMs: flowLastSeenMs } = flows;
  const { packets: flowPackets, bytes: flowBytes, cacheVerdict, cacheCount, cacheLinks } = flows;
  const { cacheDropReason, flowMemory, contractMemory } = flows;
  const view = packet.view;
  /** Reused for every run (no object per packet). */
  const runOptions: RunOptions = {};
  const packetRecord = new DataView(
    regions.packet.buffer,
    regions.packet.byteOffset,
    regions.packet.byteLength,
  );
  const actionView = new DataView(
    regions.action.buffer,
    regions.action.byteOffset,
    regions.action.byteLength,
  );

  fastPath?.bindEngine(
    {
      flowLastSeenMs: flows.lastSeenMs,
      flowPackets: flows.packets,
      flowBytes: flows.bytes,
      flowLastVerdict: flows.lastVerdict,
      flowLastReason: flows.lastReason,
      cacheVerdict: flows.cacheVerdict,
      cacheCount: flows.cacheCount,
      cacheLinks: flows.cacheLinks,
      flowDrops: flows.drops,
      flowProgramReason: flows.programReason,
      flowMemory: flows.flowMemoryBytes,
      engineRecord: regions.engine,
      engineState: fastPathState,
      flowProgramState,
      cacheDropReason: flows.cacheDropReason,
    },
    engineId,
    settings.flowIdleTimeoutMs,
  );

  function refreshLinks(): void {
    links.refresh();
    fastPathState[FastPathEngineState.SHOWN_CONTRACT] = -1;
    // A topology change may change what programs decide: no cached action survives it.
    flows.clearCachedActions();
    if (fastPath) {
      fastPath.clearLinks();
      for (let id = 1; ; id++) {
        const link = links.byProgramId(id);
        if (link === undefined) break;
        fastPath.setLink(id, link.id, link.kind, link.up, link.peerHostId);
      }
    }
  }

  /** Adds what the fast path carried to the counters, the links and (in place already) the flows. */
  function foldFastPath(): void {
    if (fastPath === undefined) return;
    const carried = fastPath.takeCounters();
    counters.packetsIn += carried.packetsIn;
    counters.bytesIn += carried.bytesIn;
    counters.packetsOut += carried.packetsOut;
    counters.bytesOut += carried.bytesOut;
    counters.byType[1] = counters.byType[1]! + carried.typeI;
    counters.byType[2] = counters.byType[2]! + carried.typeII;
    counters.byType[3] = counters.byType[3]! + carried.typeIII;
    counters.authorizationCacheHits += carried.authorizationCacheHits;
    counters.cachedActions += carried.cachedActions;
    for (let verdict = 1; verdict < carried.verdicts.length; verdict++)
      counters.verdicts[verdict] = counters.verdicts[verdict]! + carried.verdicts[verdict]!;
    counters.programRuns += carried.programRuns;
    counters.fuelUsed += carried.fuelUsed;
    counters.verdicts[Verdict.DROP] = counters.verdicts[Verdict.DROP]! + carried.dropVerdicts;
    for (const [reason, count] of carried.drops) counters.drops[reason] = counters.drops[reason]! + count;
    for (const [code, count] of carried.programDrops) countProgramDrop(counters, code, count);
    for (const [programId, count] of carried.linkDrops) {
      const link = links.byProgramId(programId);
      if (link !== undefined) link.drops += count;
    }
    for (const [programId, packetsIn, bytesIn, packetsOut, bytesOut] of carried.links) {
      const link = links.byProgramId(programId);
      if (link === undefined) continue;
      link.packetsIn += packetsIn;
      link.bytesIn += bytesIn;
      link.packetsOut += packetsOut;
      link.bytesOut += bytesOut;
    }
  }

  function expireFlows(): number {
    const now = clock.nowMs();
    const removed = flows.expireIdle(now);
    authorizations.pruneRevoked(now);
    return removed;
  }

  // ---- the pipeline -----------------------------------------------------------------------------
  /** Handles one packet; true when it was sent on (FORWARD, REPLICATE, DELIVER), false when dropped. */
  function handlePacket(linkId: number, bytes: Uint8Array, offset: number, length: number): boolean {
    counters.packetsIn++;
    counters.bytesIn += length;
    packet.bytes = bytes;
    packet.offset = offset;
    packet.length = length;
    packet.flow = -1;
    packet.hopLimitDone = false;
    packet.isThisHop = false;
    packet.traceWanted = false;
    const link = links.get(linkId);
    packet.link = link;
    if (link) {
      link.packetsIn++;
      link.bytesIn += length;
    }
    // Inner IPv6 header.
    if (length < IPV6_HEADER_LENGTH || bytes[offset]! >>> 4 !== 6) return drop(DropReason.MALFORMED_PACKET);
    const packetLength = IPV6_HEADER_LENGTH + ((bytes[offset + 4]! << 8) | bytes[offset + 5]!);
    if (packetLength > length) return drop(DropReason.MALFORMED_PACKET);
    packet.length = packetLength;
    if (bytes[offset + 6] !== CAPSULE_NEXT_HEADER) return drop(DropReason.NOT_CAPSULE);
    if (!link) return drop(DropReason.WRONG_LINK);
    // Source binding of the link: an engine link, or the source host's own link.
    if (link.kind !== LinkKind.ENGINE && !bytesEqual(link.peerHostId, 0, bytes, offset + 8, 16))
      return drop(DropReason.WRONG_LINK);
    if (!view.parse(bytes, offset + IPV6_HEADER_LENGTH, offset + packetLength))
      return drop(DropReason.MALFORMED_CAPSULE);
    const packetType = view.packetType;
    counters.byType[packetType] = counters.byType[packetType]! + 1;
    if (bytes[offset + 7]! <= 1) return drop(DropReason.HOP_LIMIT);
    const now = clock.nowMs();
    const nowSeconds = Math.floor(now / 1000);
    const flowLabel = readFlowLabel(bytes, offset);
    let id = table.find(bytes, offset + 8, offset + 24, flowLabel);
    if (id >= 0 && flows.isIdle(id, now)) {
      flows.remove(id);
      counters.flowsExpired++;
      id = -1;
    }

    // The flow: a type I packet creates it or rebinds it; type II and III need a known one.
    if (packetType === 1) {
      id = admitTypeI(bytes, offset, id, flowLabel, now, nowSeconds);
      if (id < 0) return false;
    } else if (id < 0) return drop(DropReason.UNKNOWN_FLOW);
    packet.flow = id;
    flowLastSeenMs[id] = now;
    flowPackets[id] = flowPackets[id]! + 1;
    flowBytes[id] = flowBytes[id]! + packetLength;
    const auth = flowAuth[id]!;
    if (auth.revoked) return drop(DropReason.AUTH_REVOKED);
    if (nowSeconds > auth.notAfter) return drop(DropReason.AUTH_EXPIRED);
    const program = flowProgram[id]!;
    if (
      packetType === 2 &&
      (program.codeValue.length !== view.codeLength ||
        !bytesEqual(program.codeValue, 0, bytes, view.codeOffset, view.codeLength))
    )
      return drop(DropReason.CODE_HASH_MISMATCH);

    // Which PATH hop this is, and which entry it runs.
    let entryIndex = 0;
    packet.hopIndexOriginal = -1;
    if (view.pathOffset >= 0) {
      const p = view.pathOffset;
      const hopIndex = bytes[p + PathOffset.HOP_INDEX]!;
      packet.hopIndexOriginal = hopIndex;
      entryIndex = (bytes[p + PathOffset.DEFAULT_ENTRY]! << 8) | bytes[p + PathOffset.DEFAULT_ENTRY + 1]!;
      if (hopIndex < bytes[p + PathOffset.HOP_COUNT]!) {
        const hop = p + PathOffset.HOPS + 4 * hopIndex;
        if (((bytes[hop]! << 8) | bytes[hop + 1]!) === engineId) {
          packet.isThisHop = true;
          entryIndex = bytes[hop + 2]!;
        }
      }
    }
    packet.traceWanted = (view.flags & CapsuleFlag.TRACE) !== 0;

    // Type III with a cached action: no execution.
    if (packetType === 3 && cacheVerdict[id] !== 0) {
      counters.cachedActions++;
      if (view.pathOffset >= 0) advanceHopIndex();
      const sent = applyAction(
        cacheVerdict[id]!,
        cacheCount[id]!,
        cacheLinks,
        id * EGRESS_MAX_LINKS,
        0,
        cacheDropReason[id]!,
      );
      // Its later packets may take the fast path (which checks all of the above again per packet).
      if (sent && fastPath && !packet.traceWanted) registerFlow(id, linkId, auth.notAfter);
      return sent;
    }

    // Run the program.
    if (entryIndex >= program.entryOffsets.length) return drop(TrapReason.BAD_ENTRY);
    const entryOffset = program.entryOffsets[entryIndex]!;
    fillPacketRecord(packetRecord, regions.packet, packet, link.programId, packetType, now, entryOffset);
    const path = regions.path;
    const data = regions.data;
    for (let i = 0; i < view.pathLength; i++) path[i] = bytes[view.pathOffset + i]!;
    for (let i = 0; i < view.dataLength; i++) data[i] = bytes[view.dataOffset + i]!;
    counters.programRuns++;
    runOptions.entryOffset = entryOffset;
    runOptions.pathLengthBytes = view.pathLength;
    runOptions.dataLengthBytes = view.dataLength;
    runOptions.flowMemory = flowMemory[id];
    runOptions.contractMemory = contractMemory[id];
    links.showContract(auth.contractId);
    if (fastPath) {
      fastPathState[FastPathEngineState.SHOWN_CONTRACT] = auth.contractId | 0;
      // Its later packets of this type may run the program in the fast path (which checks all of
      // the above again per packet and hands up what it does not do: docs/engine.md, "Fast path").
      // Not from a flow's first packet (a flow of one packet, common among new flows, would pay
      // the registration for nothing: 7% of a type I's cost), nor for a flow whose program the
      // fast path declined (a cached action registers it: above).
      if (
        !packet.traceWanted &&
        !hub.active &&
        flowPackets[id]! > 1 &&
        flowProgramState[id] !== FastPathProgramState.DECLINED
      )
        registerFlowAndProgram(id, linkId, auth.notAfter, auth.contractId, program);
    }
    const result = sandbox.run(program.prepared!, runOptions);
    counters.fuelUsed += result.fuelUsed;
    if (result.trap !== TrapReason.NONE) {
      cacheVerdict[id] = 0;
      packet.traceWanted = false;
      return drop(result.trap);
    }

    // Apply the action.
    const verdict = result.verdict;
    if ((result.flags & ActionFlag.TRACE) !== 0) packet.traceWanted = true;
    const count = verdict === Verdict.FORWARD ? 1 : verdict === Verdict.REPLICATE ? result.egressCount : 0;
    if ((result.flags & ActionFlag.CACHE) !== 0)
      flows.cacheAction(id, verdict, count, result.dropReason, actionView, ActionField.EGRESS_LINKS);
    else cacheVerdict[id] = 0;
    if (verdict !== Verdict.DROP) writeBack();
    return applyAction(
      verdict,
      count,
      actionView,
      ActionField.EGRESS_LINKS,
      result.fuelUsed,
      result.dropReason,
    );
  }

  /**
   * Registers flow `id` with the fast path for the packets of the current one's type (of any type:
   * checked, about to run), and its program if it is not: the PACKET record just filled for the
   * current packet (its per-packet fields are the fast path's to set).
   */
  function registerFlowAndProgram(
    id: number,
    linkId: number,
    notAfterSeconds: number,
    contractId: number,
    program: ProgramEntry,
  ): void {
    registerFlow(id, linkId, notAfterSeconds);
    if (flowProgramState[id] === FastPathProgramState.NONE) registerFlowProgram(id, contractId, program);
  }

  /**
   * Registers flow `id` with the fast path, the current packet's header the template of its type
   * (a type III packet's cached action applied or program run; a type I or II packet checked).
   */
  function registerFlow(id: number, linkId: number, notAfterSeconds: number): void {
    fastPath!.setFlow(
      id,
      packet.bytes,
      packet.offset,
      linkId,
      notAfterSeconds,
      inPacket(view.pathOffset),
      inPacket(view.dataOffset),
      view.dataLength,
      inPacket(view.transportOffset),
    );
  }

  /** A chunk value's offset in the current packet (the fast path's registrations), -1 when absent. */
  function inPacket(at: number): number {
    return at < 0 ? -1 : at - packet.offset;
  }

  /** Registers flow `id`'s program (after setFlow): the PACKET record just filled for the current packet. */
  function registerFlowProgram(id: number, contractId: number, program: ProgramEntry): void {
    const fast = fastPath!;
    const decoded = program.prepared!.decoded;
    fast.setFlowProgram(
      id,
      decoded.words,
      decoded.lengthBytes,
      program.entryOffsets,
      contractMemory[id]!,
      contractId | 0,
      settings.budgetInstructions,
      regions.packet,
      view.pathLength,
      view.dataLength,
    );
    // Refused (a flow the fast path cannot run): not offered again while the flow lives.
    if (flowProgramState[id] === FastPathProgramState.NONE)
      flowProgramState[id] = FastPathProgramState.DECLINED;
  }

  /** Counts a drop of the current packet; -1 (no flow) for admitTypeI to return. */
  function refuse(reason: number): -1 {
    drop(reason);
    return -1;
  }

  /**
   * Type I: the AUTH chunk's authorization and the CODE chunk's program verified (each once, then
   * cached) and checked for this packet (validity, revocation, source binding), and the flow
   * created or rebound to them. Returns the flow id, or -1 once the drop is counted.
   */
  function admitTypeI(
    bytes: Uint8Array,
    offset: number,
    flowId: number,
    flowLabel: number,
    now: number,
    nowSeconds: number,
  ): number {
    let id = flowId;
    const auth = authorizations.verify(bytes, view.authOffset, view.authLength, nowSeconds);
    if (typeof auth === 'number') {
      packet.flow = id;
      return refuse(auth);
    }
    if (auth.revoked) return refuse(DropReason.AUTH_REVOKED);
    if (nowSeconds > auth.notAfter) return refuse(DropReason.AUTH_EXPIRED);
    if (nowSeconds < auth.notBefore) return refuse(DropReason.AUTH_NOT_YET_VALID);
    if (!isAuthorizedSource(auth, bytes, offset + 8)) return refuse(DropReason.WRONG_SOURCE);
    let program: ProgramEntry | number;
    const current = id >= 0 ? flowProgram[id] : undefined;
    if (
      current &&
      flowAuth[id] === auth &&
      current.codeValue.length === view.codeLength &&
      bytesEqual(current.codeValue, 0, bytes, view.codeOffset, view.codeLength)
    )
      program = current;
    else program = programs.verify(auth, bytes, view.codeOffset, view.codeLength);
    if (typeof program === 'number') {
      packet.flow = id;
      return refuse(program);
    }
    const isNew = id < 0;
    if (isNew) {
      id = table.admit(bytes, offset + 8, offset + 24, flowLabel, auth.serialHigh, auth.serialLow, now);
      if (id < 0) return refuse(refusalDrops[id as -1 | -2 | -3]);
    } else if (flowAuth[id] !== auth) table.setAuthorization(id, auth.serialHigh, auth.serialLow);
    flows.bind(id, auth, program, now);
    if (isNew && hub.active) events.flowCreated(id);
    return id;
  }

  // ---- lifecycle --------------------------------------------------------------------------------
  const stops: (() => void)[] = [];
  const linkListeners = new Set<(info: LinkInfo) => void>();
  let started = false;

  return {
    engineId,
    start() {
      if (started) return;
      started = true;
      linkLayer.onPacket(handlePacket);
      linkLayer.onLinkChange((info) => {
        refreshLinks();
        for (const listener of linkListeners) listener(info);
      });
      refreshLinks();
      stops.push(clock.setInterval(() => expireFlows(), Math.max(1000, settings.flowIdleTimeoutMs / 4)));
      logger.info({ engineId, hostId: formatIpv6Address(options.hostId) }, 'engine started');
    },
    stop() {
      if (!started) return;
      started = false;
      linkLayer.onPacket(() => {});
      for (const stop of stops.splice(0)) stop();
      logger.info({ engineId }, 'engine stopped');
    },
    handlePacket,
    flows() {
      foldFastPath();
      return flows.snapshots();
    },
    links() {
      foldFastPath();
      return links.snapshots();
    },
    events: hub,
    contractMemory(contractId) {
      const memory = flows.contractMemoryOf(contractId);
      return memory && new Uint8Array(memory.buffer, memory.byteOffset, memory.byteLength).slice();
    },
    contracts: () => flows.contracts(),
    counters() {
      foldFastPath();
      return snapshotCounters(counters, {
        events: hub.counters(),
        revokedSerials: authorizations.revokedCount,
        liveFlows: table.size,
        flowsEvicted: table.evictions,
        linkLayer,
      });
    },
    fastPathStats: () => fastPath?.stats() ?? null,
    revoke(serials, notAfterMs) {
      // Every flow goes back through the pipeline, which checks revocation (and registers again).
      fastPath?.clearFlows();
      authorizations.revoke(serials, notAfterMs);
    },
    refreshLinks,
    setControllerKeys(keys) {
      if (keys.length === 0) return;
      authorizations.setControllerKeys(keys);
      linkLayer.setControllerKeys(keys);
    },
    setLinkCosts(costs) {
      links.setControllerCosts(costs);
      refreshLinks();
    },
    linkCost: (info) => links.costOf(info),
    setContractTags(contracts) {
      links.setContractTags(contracts);
      fastPathState[FastPathEngineState.SHOWN_CONTRACT] = -1;
      // What programs decided from the old routes must be decided again.
      flows.clearCachedActions();
    },
    expireFlows,
    onLinkChange(listener) {
      linkListeners.add(listener);
      return () => void linkListeners.delete(listener);
    },
  };
}

/**
 * Fills the PACKET record programs read: addresses, flow label, lengths, hop limit, next header,
 * traffic class, packet type, ingress (program) link id, time, PATH/DATA lengths, ports, entry.
 * The payload is sealed end to end: next header and ports are the TRANSPORT chunk's (the sealed
 * packet's protocol and ports, which the receiving agent checks against what it opens); without
 * that chunk, the capsule's next header (59 for a sealed or empty payload) and ports 0.
 */
function fillPacketRecord(
  record: DataView,
  recordBytes: Uint8Array,
  packet: CurrentPacket,
  programLinkId: number,
  packetType: number,
  nowMs: number,
  entryOffset: number,
): void {
  const { bytes, offset, view } = packet;
  const packetLength = packet.length;
  for (let i = 0; i < 32; i++) recordBytes[i] = bytes[offset + 8 + i]!;
  const flowLabel = readFlowLabel(bytes, offset);
  record.setUint32(PacketField.FLOW_LABEL, flowLabel, true);
  record.setUint16(PacketField.PACKET_LENGTH, packetLength, true);
  record.setUint16(PacketField.PAYLOAD_LENGTH, packetLength - IPV6_HEADER_LENGTH - view.length, true);
  recordBytes[PacketField.HOP_LIMIT] = bytes[offset + 7]!;
  const transport = view.transportOffset;
  recordBytes[PacketField.NEXT_HEADER] = transport >= 0 ? bytes[transport]! : view.nextHeader;
  recordBytes[PacketField.TRAFFIC_CLASS] = ((bytes[offset]! & 0x0f) << 4) | (bytes[offset + 1]! >>> 4);
  recordBytes[PacketField.PACKET_TYPE] = packetType;
  record.setUint32(PacketField.INGRESS_LINK, programLinkId, true);
  record.setUint32(PacketField.TIME_LOW, nowMs % 0x1_0000_0000, true);
  record.setUint32(PacketField.TIME_HIGH, Math.floor(nowMs / 0x1_0000_0000), true);
  record.setUint16(PacketField.PATH_LENGTH, view.pathLength, true);
  record.setUint16(PacketField.DATA_LENGTH, view.dataLength, true);
  record.setUint16(PacketField.SRC_PORT, transport >= 0 ? readU16(bytes, transport + 2) : 0, true);
  record.setUint16(PacketField.DST_PORT, transport >= 0 ? readU16(bytes, transport + 4) : 0, true);
  record.setUint32(PacketField.ENTRY, entryOffset, true);
}
