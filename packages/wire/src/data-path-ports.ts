/**
 * The ports of a native data path: what the overlay's link layer and the engine tell a fast path
 * that forwards established traffic without them (docs/engine.md, "Fast path"), and what it gives
 * back. They live here, in the package every side imports, so that there is one declaration of
 * each: overlay (LinkLayerDeps.dataPath) and the engine (EngineOptions.fastPath) are written
 * against them, and @capsule/native's createNativeFastPath implements both (it may import neither
 * overlay nor the engine). All calls are synchronous, on the owner's thread, and must not throw.
 */

/** An underlay endpoint: IPv4 or IPv6 host text and a UDP port. */
export interface UnderlayAddress {
  readonly host: string;
  readonly port: number;
}

/** The link layer's side (overlay's LinkLayerDeps.dataPath). */
export interface LinkDataPath {
  /** A confirmed session: frames with receiver index `localIndex` authenticate with `receiveKey`. */
  receiving(
    localIndex: number,
    linkId: number,
    receiveKey: Uint8Array,
    counters: Float64Array,
    replayBits: Uint32Array,
  ): void;
  /** The session no longer receives (retired). */
  retired(localIndex: number): void;
  /** The link's current session for sending, to `underlay`; the layer rekeys at `rekeyAfterPackets`. */
  sending(
    linkId: number,
    peerIndex: number,
    sendKey: Uint8Array,
    counters: Float64Array,
    underlay: UnderlayAddress,
    rekeyAfterPackets: number,
  ): void;
  /** The link has no sending session (down or stopped). */
  notSending(linkId: number): void;
  /**
   * What it carried since the last call, per link: [linkId, packetsIn, bytesIn, packetsOut,
   * bytesOut, lastReceiveMs, lastSendMs] repeated (0 for a time it did not set).
   */
  drainTraffic(): Float64Array;
}

/** The per-flow arrays of the engine a fast path reads and writes in place (the engine's flows.ts owns them). */
export interface FastPathFlowArrays {
  flowLastSeenMs: Float64Array;
  flowPackets: Float64Array;
  flowBytes: Float64Array;
  flowLastVerdict: Uint8Array;
  flowLastReason: Uint16Array;
  cacheVerdict: Uint8Array;
  cacheCount: Uint8Array;
  /** EGRESS_MAX_LINKS program link ids per flow. */
  cacheLinks: Uint32Array;
}

/** What a fast path counted since the last `takeCounters` (engine counters it carried). */
export interface FastPathCounters {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  typeIII: number;
  cachedActions: number;
  /** By verdict code (index 1 FORWARD, 2 REPLICATE, 3 DELIVER). */
  verdicts: readonly number[];
  /** Per program link id that moved: [programId, packetsIn, bytesIn, packetsOut, bytesOut]. */
  links: readonly (readonly [number, number, number, number, number])[];
}

/**
 * The engine's side (EngineOptions.fastPath). The engine registers links and the flows whose
 * cached action it has just applied; the fast path forwards their later type III packets itself,
 * exactly as the pipeline would, and hands everything else up unchanged. It updates the flow
 * arrays in place and keeps the other counters for the engine to take.
 */
export interface EngineFastPath {
  bindEngine(arrays: FastPathFlowArrays, engineId: number, idleTimeoutMs: number): void;
  /** A link (program id → link-layer id; kind as the ENGINE record; up; peer host id). */
  setLink(programId: number, linkId: number, kind: number, up: boolean, peerHostId: Uint8Array): void;
  clearLinks(): void;
  /**
   * Flow `flowId` may be forwarded natively: its packet `packet[offset…]` (whose capsule header is
   * the template its later packets must match, except the DATA value and the PATH hop index) came
   * on link `ingressLinkId`; its authorization ends at `notAfterSeconds`. Offsets of the PATH and
   * DATA values are relative to the packet, -1 when absent.
   */
  setFlow(
    flowId: number,
    packet: Uint8Array,
    offset: number,
    ingressLinkId: number,
    notAfterSeconds: number,
    pathOffset: number,
    dataOffset: number,
    dataLength: number,
  ): void;
  removeFlow(flowId: number): void;
  clearFlows(): void;
  takeCounters(): FastPathCounters;
}

/**
 * The agent's side (AgentDeps.fastPath; docs/agent.md, "Fast path"). The agent binds its plane's
 * packets-by-type array and options, and installs the unicast flows whose type III packets the
 * fast path may send itself from the TUN device's read path, exactly as egress would; it clears
 * them whenever its flow table, ACL or links change. The per-flow arrays are the flow's own
 * (send counter, packet type state, trace), its e2e send state (epoch, packets, since, rekey
 * requested) and its endpoint's statistics: each side sees the other's updates at once. Slots:
 * packages/agent/src/flows.ts.
 */
export interface AgentFastPath {
  bindAgent(
    sentByType: Float64Array,
    options: {
      readonly authIntervalMs: number;
      readonly codePackets: number;
      readonly e2eRekeyAfterMs: number;
      readonly e2eRekeyAfterPackets: number;
    },
  ): void;
  /**
   * Packets to `destination` (the peer's 16-byte CGA, or its 4-byte IPv4 alias) may go natively:
   * sealed with `sendKey` (the key of e2e epoch `epoch`) behind `header` (inner IPv6 + capsule of a
   * type III packet, TRANSPORT value at `transportAt`), with the AAD `aad`, on link `linkId`.
   */
  setEgressFlow(
    destination: Uint8Array,
    flowState: Float64Array,
    e2eState: Float64Array,
    statistics: Float64Array,
    sendKey: Uint8Array,
    epoch: number,
    header: Uint8Array,
    transportAt: number,
    aad: Uint8Array,
    linkId: number,
  ): void;
  clearEgressFlows(): void;
  /** Application packets offered and taken since it was made, destinations installed now. */
  agentStats(): { offered: number; taken: number; egressFlows: number };
  /** The object a TUN device's reader offers its batches to (@capsule/native TunDevice.start). */
  readonly filter: object;
}
