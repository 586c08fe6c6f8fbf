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
  /**
   * PROGRAM_DROP verdicts by the program's own reason code: the first PROGRAM_DROP_CODES_MAX
   * distinct codes, the rest under PROGRAM_DROP_OTHER (label cardinality stays bounded).
   */
  readonly programDrops: Map<number, number>;
}

/** Distinct program drop codes counted one by one (then PROGRAM_DROP_OTHER). */
export const PROGRAM_DROP_CODES_MAX = 64;
/** The key program drop codes past the first PROGRAM_DROP_CODES_MAX are counted under. */
export const PROGRAM_DROP_OTHER = -1;

/**
 * Counts `times` (default 1) PROGRAM_DROPs with the program's reason `code` (no allocation once
 * the code is known).
 */
export function countProgramDrop(state: Pick<CounterState, 'programDrops'>, code: number, times = 1): void {
  const drops = state.programDrops;
  const count = drops.get(code);
  if (count !== undefined) drops.set(code, count + times);
  else if (drops.size < PROGRAM_DROP_CODES_MAX) drops.set(code, times);
  else drops.set(PROGRAM_DROP_OTHER, (drops.get(PROGRAM_DROP_OTHER) ?? 0) + times);
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
  /** PROGRAM_DROP verdicts by the program's reason code (decimal; `other` past the first 64 codes). */
  programDrops: Record<string, number>;
  /** Flow events: published, suppressed by the rate limit, lost to slow observers; observers now. */
  events: { published: number; suppressed: number; lost: number; subscribers: number };
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
    /** Renewed node certificates swapped into the live link layer. */
    certificateSwaps: number;
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
    programDrops: new Map(),
  };
}

/** The snapshot of `state`, with what other parts hold: gauges, the table's evictions, the link layer's counters. */
export function snapshotCounters(
  state: CounterState,
  others: {
    revokedSerials: number;
    events: EngineCounters['events'];
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
    programDrops: Object.fromEntries(
      [...state.programDrops]
        .sort(([a], [b]) => (a === PROGRAM_DROP_OTHER ? 1 : b === PROGRAM_DROP_OTHER ? -1 : a - b))
        .map(([code, count]) => [code === PROGRAM_DROP_OTHER ? 'other' : String(code), count]),
    ),
    events: { ...others.events },
    linkLayer: {
      drops: { ...linkLayer.drops },
      handshakeRejections: { ...linkLayer.handshakeRejections },
      handshakesVerified: linkLayer.handshakeStats.verified,
      cookieRepliesSent: linkLayer.handshakeStats.cookieRepliesSent,
      cookiesAccepted: linkLayer.handshakeStats.cookiesAccepted,
      certificateSwaps: linkLayer.handshakeStats.certificateSwaps,
    },
  };
}
