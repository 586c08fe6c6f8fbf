/**
 * The engine's per-flow state: struct-of-arrays indexed by the FlowTable's flow id, allocated once
 * for `capacity` flows — the flow's verified authorization and program, its FLOW memory (256 B,
 * zeroed at creation) and its contract's CONTRACT memory (shared by the contract's flows), its
 * statistics, last verdict and cached action. Binding, expiring and removing a flow allocate
 * nothing (a contract's first flow allocates its CONTRACT memory, once).
 */
import { formatIpv6Address } from '@capsule/identity';
import { EGRESS_MAX_LINKS, FLOW_BYTES, Verdict } from '@capsule/vm';
import type { VerifiedAuthorization } from './authorizations';
import { type CounterState, verdictNames } from './counters';
import { DropReason, dropReasonName } from './drop-reason';
import { FlowTable } from './flow-table';
import type { ProgramEntry } from './programs';

/** One live flow, for `capsule engine flows` and the HTTP API. */
export interface FlowSnapshot {
  id: number;
  source: string;
  destination: string;
  flowLabel: number;
  serial: string;
  contractId: number;
  roleId: number;
  logicHash: string;
  packets: number;
  bytes: number;
  drops: number;
  lastVerdict: string;
  cachedAction: string | undefined;
  createdAtMs: number;
  lastSeenMs: number;
  notAfterSeconds: number;
  revoked: boolean;
}

export interface EngineFlowsOptions {
  /** Live flows at most. */
  capacity: number;
  /** Live flows one source host may hold (the table's fairness: docs/engine.md, "Flow table"). */
  perSourceMax: number;
  /** Live flows one authorization (serial) may hold. */
  perAuthorizationMax: number;
  /** A flow with a packet within this long is never evicted to make room for another. */
  evictionIdleMs: number;
  /** A flow with no packet for this long is idle (removed). */
  idleTimeoutMs: number;
  /** Size of a contract's CONTRACT memory (the sandbox's region). */
  contractBytes: number;
}

/** The per-flow state of one engine (arrays indexed by flow id; read and written by the pipeline). */
export interface EngineFlows {
  readonly table: FlowTable;
  readonly live: Uint8Array;
  readonly auth: (VerifiedAuthorization | undefined)[];
  readonly program: (ProgramEntry | undefined)[];
  readonly contractMemory: (DataView | undefined)[];
  readonly flowMemory: (DataView | undefined)[];
  /** Every flow's FLOW memory, FLOW_BYTES per flow id (what `flowMemory` views). */
  readonly flowMemoryBytes: Uint8Array;
  readonly createdMs: Float64Array;
  readonly lastSeenMs: Float64Array;
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  readonly drops: Float64Array;
  readonly lastVerdict: Uint8Array;
  readonly lastReason: Uint16Array;
  /** The program's own reason of its last DROP. */
  readonly programReason: Uint32Array;
  /** Cached action: verdict (0 = none), egress count, program link ids (EGRESS_MAX_LINKS per flow), drop reason. */
  readonly cacheVerdict: Uint8Array;
  readonly cacheCount: Uint8Array;
  readonly cacheLinks: Uint32Array;
  readonly cacheDropReason: Uint32Array;
  /** True when flow `id` has seen no packet for longer than the idle timeout. */
  isIdle(id: number, nowMs: number): boolean;
  /** Binds flow `id` to an authorization and program (creating it when new); a change clears its cached action. */
  bind(id: number, auth: VerifiedAuthorization, program: ProgramEntry, nowMs: number): void;
  /** Removes flow `id` (from the table too). */
  remove(id: number): void;
  /** Removes every idle flow; returns how many. */
  expireIdle(nowMs: number): number;
  /** Stores an action for flow `id`'s later type III packets (links read from `links` at `linksAt`, u32 LE). */
  cacheAction(
    id: number,
    verdict: number,
    count: number,
    dropReason: number,
    links: DataView,
    linksAt: number,
  ): void;
  /** Forgets every cached action (a topology change: programs decide again). */
  clearCachedActions(): void;
  snapshots(): FlowSnapshot[];
  /** A contract's CONTRACT memory (undefined before its first flow). */
  contractMemoryOf(contractId: number): DataView | undefined;
  /** Contracts with CONTRACT memory, ascending by id, with their live flows. */
  contracts(): { contractId: number; liveFlows: number }[];
}

export function createEngineFlows(
  options: EngineFlowsOptions,
  deps: {
    counters: Pick<CounterState, 'flowsCreated' | 'flowsExpired'>;
    /** Told when a flow stops being what a fast path registered (removed, evicted, rebound). */
    withdraw?: (id: number) => void;
  },
): EngineFlows {
  const { capacity, idleTimeoutMs } = options;
  const { counters, withdraw } = deps;
  const table = new FlowTable(
    {
      capacity,
      perSourceMax: options.perSourceMax,
      perAuthorizationMax: options.perAuthorizationMax,
      evictionIdleMs: options.evictionIdleMs,
    },
    (id) => forget(id),
  );
  const live = new Uint8Array(capacity);
  const auth: (VerifiedAuthorization | undefined)[] = new Array(capacity).fill(undefined);
  const program: (ProgramEntry | undefined)[] = new Array(capacity).fill(undefined);
  const contractMemory: (DataView | undefined)[] = new Array(capacity).fill(undefined);
  const flowMemoryBytes = new Uint8Array(capacity * FLOW_BYTES);
  const flowMemory: (DataView | undefined)[] = new Array(capacity).fill(undefined);
  const createdMs = new Float64Array(capacity);
  const lastSeenMs = table.lastSeenMs;
  const packets = new Float64Array(capacity);
  const bytes = new Float64Array(capacity);
  const drops = new Float64Array(capacity);
  const lastVerdict = new Uint8Array(capacity);
  const lastReason = new Uint16Array(capacity);
  const programReason = new Uint32Array(capacity);
  const cacheVerdict = new Uint8Array(capacity);
  const cacheCount = new Uint8Array(capacity);
  const cacheLinks = new Uint32Array(capacity * EGRESS_MAX_LINKS);
  const cacheDropReason = new Uint32Array(capacity);
  /** CONTRACT memory by contract id. */
  const contracts = new Map<number, DataView>();

  function remove(id: number): void {
    table.remove(id);
    forget(id);
  }

  /** Clears the per-flow state of a flow the table removed or is evicting. */
  function forget(id: number): void {
    withdraw?.(id);
    live[id] = 0;
    program[id] = undefined;
    auth[id] = undefined;
    contractMemory[id] = undefined;
    cacheVerdict[id] = 0;
  }

  function describeCache(id: number): string | undefined {
    const verdict = cacheVerdict[id]!;
    if (verdict === 0) return undefined;
    const count = cacheCount[id]!;
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(cacheLinks[id * EGRESS_MAX_LINKS + i]!);
    return count > 0 ? `${verdictNames[verdict]} ${ids.join(',')}` : verdictNames[verdict];
  }

  return {
    table,
    live,
    auth,
    program,
    contractMemory,
    flowMemory,
    flowMemoryBytes,
    createdMs,
    lastSeenMs,
    packets,
    bytes,
    drops,
    lastVerdict,
    lastReason,
    programReason,
    cacheVerdict,
    cacheCount,
    cacheLinks,
    cacheDropReason,
    isIdle: (id, nowMs) => nowMs - lastSeenMs[id]! > idleTimeoutMs,
    bind(id, flowAuth, flowProgram, nowMs) {
      if (auth[id] !== flowAuth || program[id] !== flowProgram) {
        cacheVerdict[id] = 0;
        withdraw?.(id);
      }
      auth[id] = flowAuth;
      program[id] = flowProgram;
      let contract = contracts.get(flowAuth.contractId);
      if (!contract) {
        contract = new DataView(new ArrayBuffer(options.contractBytes));
        contracts.set(flowAuth.contractId, contract);
      }
      contractMemory[id] = contract;
      if (!live[id]) {
        live[id] = 1;
        createdMs[id] = nowMs;
        packets[id] = 0;
        bytes[id] = 0;
        drops[id] = 0;
        lastVerdict[id] = 0;
        lastReason[id] = 0;
        flowMemoryBytes.fill(0, id * FLOW_BYTES, (id + 1) * FLOW_BYTES);
        flowMemory[id] ??= new DataView(flowMemoryBytes.buffer, id * FLOW_BYTES, FLOW_BYTES);
        counters.flowsCreated++;
      }
    },
    remove,
    expireIdle(nowMs) {
      let removed = 0;
      for (let id = 0; id < capacity; id++)
        if (live[id] && nowMs - lastSeenMs[id]! > idleTimeoutMs) {
          remove(id);
          removed++;
        }
      counters.flowsExpired += removed;
      return removed;
    },
    cacheAction(id, verdict, count, dropReason, links, linksAt) {
      cacheVerdict[id] = verdict;
      cacheCount[id] = count;
      cacheDropReason[id] = dropReason;
      for (let i = 0; i < count; i++)
        cacheLinks[id * EGRESS_MAX_LINKS + i] = links.getUint32(linksAt + 4 * i, true);
    },
    clearCachedActions: () => cacheVerdict.fill(0),
    contractMemoryOf: (contractId) => contracts.get(contractId),
    contracts() {
      const liveFlows = new Map<number, number>();
      for (const id of contracts.keys()) liveFlows.set(id, 0);
      for (let id = 0; id < capacity; id++) {
        const flowAuth = live[id] ? auth[id] : undefined;
        if (flowAuth) liveFlows.set(flowAuth.contractId, (liveFlows.get(flowAuth.contractId) ?? 0) + 1);
      }
      return [...liveFlows]
        .sort(([a], [b]) => a - b)
        .map(([contractId, count]) => ({ contractId, liveFlows: count }));
    },
    snapshots() {
      const out: FlowSnapshot[] = [];
      for (let id = 0; id < capacity; id++) {
        if (!live[id]) continue;
        const flowAuth = auth[id]!;
        const verdict = lastVerdict[id]!;
        out.push({
          id,
          source: formatIpv6Address(table.sourceOf(id)),
          destination: formatIpv6Address(table.destinationOf(id)),
          flowLabel: table.flowLabelOf(id),
          serial: flowAuth.serial.toString(),
          contractId: flowAuth.contractId,
          roleId: flowAuth.roleId,
          logicHash: program[id]?.logicHash ?? '',
          packets: packets[id]!,
          bytes: bytes[id]!,
          drops: drops[id]!,
          lastVerdict:
            verdict === Verdict.DROP
              ? lastReason[id] === DropReason.PROGRAM_DROP
                ? `DROP PROGRAM_DROP ${programReason[id]}`
                : `DROP ${dropReasonName(lastReason[id]!)}`
              : (verdictNames[verdict] ?? String(verdict)),
          cachedAction: describeCache(id),
          createdAtMs: createdMs[id]!,
          lastSeenMs: lastSeenMs[id]!,
          notAfterSeconds: flowAuth.notAfter,
          revoked: flowAuth.revoked,
        });
      }
      return out;
    },
  };
}
