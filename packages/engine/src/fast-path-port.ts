/**
 * The port of a fast path for established flows (docs/engine.md, "Fast path"): the engine
 * registers links and cached-action flows with it and folds back what it carried. @capsule/native
 * implements it (createNativeFastPath); the engine never imports the addon.
 */

/** The per-flow arrays of the engine a fast path reads and writes in place (flows.ts owns them). */
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
 * A native fast path for established flows (@capsule/native's `createNativeFastPath`, which the
 * engine node wires to the socket and the link layer; docs/engine.md, "Fast path"). The engine
 * registers links and the flows whose cached action it has just applied; the fast path forwards
 * their later type III packets itself, exactly as the pipeline would, and hands everything else
 * up unchanged. It updates the flow arrays in place and keeps the other counters for the engine to
 * take. Called synchronously on the engine's thread; must not throw.
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
