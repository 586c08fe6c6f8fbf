/**
 * The engine's counters: one mutable record the pipeline increments (plain numbers and typed
 * arrays indexed by code, so counting allocates nothing), and the snapshot `Engine.counters()`,
 * the keep-alive statistics and /metrics read.
 */
import type { LinkLayer } from '@capsule/overlay';
import { Verdict } from '@capsule/vm';
import { dropReasonName } from './drop-reason';
import type { FlowEvictions } from './flow-table';

/** The counters as the pipeline keeps them (monotonic since start). */
export interface CounterState {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** By packet type (index 1..3). */
  readonly byType: Float64Array;
  /** By verdict code (index 1..4). */
  readonly verdicts: Float64Array;
  /** By drop reason code (0..255). */
  readonly drops: Float64Array;
  programRuns: number;
  cachedActions: number;
  authorizationsVerified: number;
  authorizationCacheHits: number;
  programsVerified: number;
  programsRejected: number;
  emits: number;
  traceRecords: number;
  traceFull: number;
  revocations: number;
  revocationsPruned: number;
  flowsCreated: number;
  flowsExpired: number;
  fuelUsed: number;
}

/** Counters since start (monotonic). */
export interface EngineCounters {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** By packet type I, II, III. */
  packetsByType: { I: number; II: number; III: number };
  /** By verdict name (FORWARD, REPLICATE, DELIVER, DROP). */
  verdicts: Record<string, number>;
  /** By drop reason name. */
  drops: Record<string, number>;
  programRuns: number;
  cachedActions: number;
  authorizationsVerified: number;
  authorizationCacheHits: number;
  programsVerified: number;
  programsRejected: number;
  emits: number;
  traceRecords: number;
  traceFull: number;
  revocations: number;
  /** Revoked serials dropped from the revocation list once their authorization had expired. */
  revocationsPruned: number;
  /** Revoked serials held now. */
  revokedSerials: number;
  flowsCreated: number;
  flowsExpired: number;
  /** Flows evicted to admit another (docs/engine.md, "Flow table"), by cause. */
  flowsEvicted: FlowEvictions;
  liveFlows: number;
  fuelUsed: number;
  /**
   * The link layer's own counters: frames it refused before the pipeline (`drops`, by reason),
   * refused handshake and cookie frames by reason, handshakes verified and cookies exchanged.
   */
  linkLayer: {
    drops: Record<string, number>;
    handshakeRejections: Record<string, number>;
    handshakesVerified: number;
    cookieRepliesSent: number;
    cookiesAccepted: number;
  };
}

/** Verdict names by code (NONE, FORWARD, REPLICATE, DELIVER, DROP). */
export const verdictNames: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, code] of Object.entries(Verdict)) names[code] = name;
  return names;
})();

/** All counters at zero. */
export function createCounterState(): CounterState {
  return {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    byType: new Float64Array(4),
    verdicts: new Float64Array(5),
    drops: new Float64Array(256),
    programRuns: 0,
    cachedActions: 0,
    authorizationsVerified: 0,
    authorizationCacheHits: 0,
    programsVerified: 0,
    programsRejected: 0,
    emits: 0,
    traceRecords: 0,
    traceFull: 0,
    revocations: 0,
    revocationsPruned: 0,
    flowsCreated: 0,
    flowsExpired: 0,
    fuelUsed: 0,
  };
}

/** The snapshot of `state`, with what other parts hold: gauges, the table's evictions, the link layer's counters. */
export function snapshotCounters(
  state: CounterState,
  others: {
    revokedSerials: number;
    liveFlows: number;
    flowsEvicted: FlowEvictions;
    linkLayer: Pick<LinkLayer, 'drops' | 'handshakeRejections' | 'handshakeStats'>;
  },
): EngineCounters {
  const { linkLayer } = others;
  const drops: Record<string, number> = {};
  state.drops.forEach((count, code) => {
    if (count > 0) drops[dropReasonName(code)] = count;
  });
  const verdicts: Record<string, number> = {};
  for (let v = Verdict.FORWARD; v <= Verdict.DROP; v++) verdicts[verdictNames[v]!] = state.verdicts[v]!;
  return {
    packetsIn: state.packetsIn,
    bytesIn: state.bytesIn,
    packetsOut: state.packetsOut,
    bytesOut: state.bytesOut,
    packetsByType: { I: state.byType[1]!, II: state.byType[2]!, III: state.byType[3]! },
    verdicts,
    drops,
    programRuns: state.programRuns,
    cachedActions: state.cachedActions,
    authorizationsVerified: state.authorizationsVerified,
    authorizationCacheHits: state.authorizationCacheHits,
    programsVerified: state.programsVerified,
    programsRejected: state.programsRejected,
    emits: state.emits,
    traceRecords: state.traceRecords,
    traceFull: state.traceFull,
    revocations: state.revocations,
    revocationsPruned: state.revocationsPruned,
    revokedSerials: others.revokedSerials,
    flowsCreated: state.flowsCreated,
    flowsExpired: state.flowsExpired,
    flowsEvicted: { ...others.flowsEvicted },
    liveFlows: others.liveFlows,
    fuelUsed: state.fuelUsed,
    linkLayer: {
      drops: { ...linkLayer.drops },
      handshakeRejections: { ...linkLayer.handshakeRejections },
      handshakesVerified: linkLayer.handshakeStats.verified,
      cookieRepliesSent: linkLayer.handshakeStats.cookieRepliesSent,
      cookiesAccepted: linkLayer.handshakeStats.cookiesAccepted,
    },
  };
}
