/**
 * Flow events: what engines and agents tell an observer about the traffic they handle, streamed
 * on `GET /api/v1/events` (engine HTTP port, agent REST API) as NDJSON, one event a line, and read
 * by `capsule observe`. One type, the filter both ends apply, the hub a daemon publishes through
 * and the decoder the CLI reads lines with (it never throws on input).
 *
 *   kind      when                                             fields besides time, node, kind
 *   flow      an engine created a flow (its first type I)      source, destination, flowLabel, contractId, roleId, serial
 *   verdict   a flow's verdict changed (its first one too)     the flow's fields, verdict
 *   drop      a packet was dropped                             source?, destination?, flow's fields?, reason, programReason?, direction?
 *   log       a program called LOG                             the flow's fields, message, value?
 *   trace     an agent sent a traced packet (out) or received one (in)  the flow's fields, direction, timeUs, hops (in)
 *   lost      events this subscriber missed (slow reader, rate limit)  count
 *
 * A trace event is how `capsule trace` measures a flow's hops: the sending agent arms the next
 * packets of a flow (`POST /api/v1/trace`), they leave with the capsule header's TRACE flag set
 * (event `trace`, direction `out`, `timeUs` when sent), each engine appends its record (engine id,
 * time, fuel, verdict, reason: @capsule/wire trace-chunk.ts), and the receiving agent publishes the
 * records it arrived with (direction `in`, `timeUs` when delivered, `hops`). All times are the
 * nodes' wall clocks in µs modulo 2^32 (`clockUs`), so hop times across machines are as good as
 * their clock sync.
 *
 * The hub costs one boolean test per packet while nobody observes (`active`), and never blocks
 * the packet path: events over `eventsPerSecondMax` are counted (`suppressed`) and not built, and
 * a subscriber whose sink is `backlogBytesMax` behind loses events (told later as one `lost`).
 */
import type { Clock } from '@capsule/wire';

/** The kinds of flow event. */
export const flowEventKinds = ['flow', 'verdict', 'drop', 'log', 'trace', 'lost'] as const;
export type FlowEventKind = (typeof flowEventKinds)[number];

/** The verdict names a filter may name (the VM's, as engines count them). */
export const flowEventVerdicts = ['FORWARD', 'REPLICATE', 'DELIVER', 'DROP'] as const;

/** One engine's record of a traced packet (a TRACE chunk record, @capsule/wire trace-chunk.ts). */
export interface FlowEventHop {
  /** The engine's 16-bit id (the last 16 bits of its host id). */
  engineId: number;
  /** The engine's wall clock in µs modulo 2^32 when it sent the packet on. */
  timeUs: number;
  fuelUsed: number;
  /** The VM's verdict code and the engine's drop reason code (0: none). */
  verdict: number;
  reason: number;
}

/** Most hops a trace event carries (a 256-byte TRACE chunk of 12-byte records). */
export const FLOW_EVENT_HOPS_MAX = 21;

/** One flow event (absent fields are unknown or do not apply). */
export interface FlowEvent {
  /** Milliseconds since the Unix epoch (the node's clock). */
  timeMs: number;
  /** The node that saw it: `engine <host id>` or `agent <host name>`. */
  node: string;
  kind: FlowEventKind;
  /** IPv6 (or IPv4 on an agent's TUN) source and destination of the packet. */
  source?: string;
  destination?: string;
  flowLabel?: number;
  contractId?: number;
  roleId?: number;
  /** The authorization's serial (unsigned 64-bit, decimal). */
  serial?: string;
  /** FORWARD, REPLICATE, DELIVER or DROP. */
  verdict?: string;
  /** The drop reason's name (engine: DropReason; agent: the data plane's counter). */
  reason?: string;
  /** With reason PROGRAM_DROP: the program's own reason code. */
  programReason?: number;
  /** Agent drops and traces: `out` (from the application) or `in` (from the overlay). */
  direction?: 'in' | 'out';
  /** trace: the node's wall clock in µs modulo 2^32 when it sent (out) or delivered (in) the packet. */
  timeUs?: number;
  /** trace (in): the engines' records, in the order the packet met them. */
  hops?: FlowEventHop[];
  /** log: the decoded message (a number for a 4-byte LOG, text, or hex). */
  message?: string;
  /** log: the int a 4-byte LOG carried (`Services.log(257)` → 257). */
  value?: number;
  /** lost: how many events this subscriber missed. */
  count?: number;
}

/** What an observer asks for; every given field must match. */
export interface FlowEventFilter {
  /** Source or destination address, or the node's name, equal to this. */
  host?: string;
  contractId?: number;
  /** A verdict name; DROP also matches drop events. */
  verdict?: string;
  kinds?: readonly FlowEventKind[];
}

/** True when `event` passes `filter` (lost events always do: they say the stream has a gap). */
export function flowEventMatches(event: FlowEvent, filter: FlowEventFilter): boolean {
  if (event.kind === 'lost') return true;
  if (filter.kinds && !filter.kinds.includes(event.kind)) return false;
  if (
    filter.host !== undefined &&
    event.source !== filter.host &&
    event.destination !== filter.host &&
    event.node !== filter.host &&
    !event.node.endsWith(` ${filter.host}`)
  )
    return false;
  if (filter.contractId !== undefined && event.contractId !== filter.contractId) return false;
  if (filter.verdict !== undefined) {
    const verdict = event.kind === 'drop' ? 'DROP' : event.verdict;
    if (verdict !== filter.verdict) return false;
  }
  return true;
}

/** Longest host filter (an IPv6 address is ≤ 45 characters; a node name ≤ 253). */
const HOST_FILTER_MAX = 253;

/**
 * Reads a filter from query parameters (`host`, `contract`, `verdict`, `kind` = comma list).
 * Unknown parameters are refused, so a typo does not silently widen the stream.
 */
export function parseFlowEventFilter(
  query: Readonly<Record<string, string | undefined>>,
): { filter: FlowEventFilter } | { error: string } {
  const filter: FlowEventFilter = {};
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    switch (key) {
      case 'host':
        if (
          value.length === 0 ||
          value.length > HOST_FILTER_MAX ||
          !/^[\x21-\x7e\u00a0-\uffff]+$/.test(value)
        )
          return { error: `host: an address or node name of 1..${HOST_FILTER_MAX} characters` };
        filter.host = value;
        break;
      case 'contract': {
        if (!/^\d{1,10}$/.test(value) || Number(value) > 0xffff_ffff)
          return { error: 'contract: a contract id (unsigned 32-bit decimal)' };
        filter.contractId = Number(value);
        break;
      }
      case 'verdict': {
        const verdict = value.toUpperCase();
        if (!(flowEventVerdicts as readonly string[]).includes(verdict))
          return { error: `verdict: one of ${flowEventVerdicts.join(', ')}` };
        filter.verdict = verdict;
        break;
      }
      case 'kind': {
        const kinds = value.split(',');
        for (const kind of kinds)
          if (!(flowEventKinds as readonly string[]).includes(kind))
            return { error: `kind: a comma list of ${flowEventKinds.join(', ')}` };
        filter.kinds = kinds as FlowEventKind[];
        break;
      }
      default:
        return { error: `unknown parameter '${key.slice(0, 40)}' (host, contract, verdict, kind)` };
    }
  }
  return { filter };
}

/** The query string of a filter (the inverse of parseFlowEventFilter). */
export function flowEventQuery(filter: FlowEventFilter): string {
  const parts: string[] = [];
  if (filter.host !== undefined) parts.push(`host=${encodeURIComponent(filter.host)}`);
  if (filter.contractId !== undefined) parts.push(`contract=${filter.contractId}`);
  if (filter.verdict !== undefined) parts.push(`verdict=${filter.verdict}`);
  if (filter.kinds) parts.push(`kind=${filter.kinds.join(',')}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** Longest NDJSON line the decoder reads (events are far shorter). */
export const FLOW_EVENT_LINE_MAX = 4096;

const optionalFields: Record<string, 'string' | 'number'> = {
  source: 'string',
  destination: 'string',
  flowLabel: 'number',
  contractId: 'number',
  roleId: 'number',
  serial: 'string',
  verdict: 'string',
  reason: 'string',
  programReason: 'number',
  direction: 'string',
  message: 'string',
  value: 'number',
  count: 'number',
  timeUs: 'number',
};

const hopFieldMax: Record<keyof FlowEventHop, number> = {
  engineId: 0xffff,
  timeUs: 0xffff_ffff,
  fuelUsed: 0xffff_ffff,
  verdict: 0xff,
  reason: 0xff,
};

/** Reads a trace event's hops; undefined when they are not FLOW_EVENT_HOPS_MAX records at most. */
function hopsOf(value: unknown): FlowEventHop[] | undefined {
  if (!Array.isArray(value) || value.length > FLOW_EVENT_HOPS_MAX) return undefined;
  const hops: FlowEventHop[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return undefined;
    const record = item as Record<string, unknown>;
    const hop = {} as Record<keyof FlowEventHop, number>;
    for (const [name, max] of Object.entries(hopFieldMax) as [keyof FlowEventHop, number][]) {
      const field = record[name];
      if (typeof field !== 'number' || !Number.isInteger(field) || field < 0 || field > max) return undefined;
      hop[name] = field;
    }
    hops.push(hop);
  }
  return hops;
}

/** Reads one NDJSON line; never throws (a line it cannot read is an error with the reason). */
export function decodeFlowEvent(line: string): { event: FlowEvent } | { error: string } {
  if (line.length > FLOW_EVENT_LINE_MAX) return { error: `line longer than ${FLOW_EVENT_LINE_MAX}` };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'not an object' };
  const record = value as Record<string, unknown>;
  if (typeof record.timeMs !== 'number' || !Number.isFinite(record.timeMs)) return { error: 'timeMs' };
  if (typeof record.node !== 'string' || record.node.length > HOST_FILTER_MAX + 16) return { error: 'node' };
  if (!(flowEventKinds as readonly unknown[]).includes(record.kind)) return { error: 'kind' };
  const event: FlowEvent = { timeMs: record.timeMs, node: record.node, kind: record.kind as FlowEventKind };
  for (const [name, type] of Object.entries(optionalFields)) {
    const field = record[name];
    if (field === undefined) continue;
    if (typeof field !== type || (type === 'number' && !Number.isFinite(field))) return { error: name };
    if (name === 'direction' && field !== 'in' && field !== 'out') return { error: name };
    if (
      name === 'timeUs' &&
      (!Number.isInteger(field) || (field as number) < 0 || (field as number) > 0xffff_ffff)
    )
      return { error: name };
    (event as unknown as Record<string, unknown>)[name] = field;
  }
  if (record.hops !== undefined) {
    const hops = hopsOf(record.hops);
    if (!hops) return { error: 'hops' };
    event.hops = hops;
  }
  return { event };
}

/** Where a subscriber's events go (an HTTP response, in the daemons). */
export interface FlowEventSink {
  /** Writes one NDJSON line. */
  write(line: string): void;
  /** Bytes written and not yet flushed (the sink's backlog). */
  backlogBytes(): number;
}

export interface FlowEventHubOptions {
  /** The node name events carry. */
  node: string;
  /** Events built per second at most, over all subscribers (the rest are counted, not built). */
  eventsPerSecondMax: number;
  /** A subscriber this far behind loses events. */
  backlogBytesMax: number;
  /** Subscribers at most. */
  subscribersMax: number;
}

export const defaultFlowEventHubOptions = {
  eventsPerSecondMax: 2000,
  backlogBytesMax: 1 << 20,
  subscribersMax: 16,
};

/** A daemon's publisher of flow events. */
export interface FlowEventHub {
  /** True while someone observes: the packet path builds events only then. */
  readonly active: boolean;
  readonly node: string;
  /**
   * Takes an event slot (the rate limit); false: do not build the event (counted as suppressed).
   * Call it right before building an event, only when `active`.
   */
  admit(): boolean;
  /** Sends an event (its `timeMs`, `node` already set) to every matching subscriber. */
  publish(event: FlowEvent): void;
  /** Adds a subscriber; undefined when there are subscribersMax already. Returns its removal. */
  subscribe(filter: FlowEventFilter, sink: FlowEventSink): (() => void) | undefined;
  /** Counters: events published, suppressed by the rate limit, lost to slow subscribers; subscribers now. */
  counters(): { published: number; suppressed: number; lost: number; subscribers: number };
}

export function createFlowEventHub(
  options: Partial<FlowEventHubOptions> & { node: string },
  deps: {
    clock: Pick<Clock, 'nowMs'>;
    /** Told whenever `active` changes (a native data path that cannot build events hands its packets up). */
    onActiveChange?: (active: boolean) => void;
  },
): FlowEventHub {
  const settings = { ...defaultFlowEventHubOptions, ...options };
  const subscribers = new Set<{ filter: FlowEventFilter; sink: FlowEventSink; lost: number }>();
  let windowStartMs = 0;
  let windowEvents = 0;
  let published = 0;
  let suppressed = 0;
  let lost = 0;
  const hub: FlowEventHub = {
    active: false,
    node: settings.node,
    admit() {
      const now = deps.clock.nowMs();
      if (now - windowStartMs >= 1000) {
        windowStartMs = now;
        windowEvents = 0;
      }
      if (windowEvents >= settings.eventsPerSecondMax) {
        suppressed++;
        for (const subscriber of subscribers) subscriber.lost++;
        return false;
      }
      windowEvents++;
      return true;
    },
    publish(event) {
      published++;
      let line: string | undefined;
      for (const subscriber of subscribers) {
        if (!flowEventMatches(event, subscriber.filter)) continue;
        if (subscriber.sink.backlogBytes() > settings.backlogBytesMax) {
          subscriber.lost++;
          lost++;
          continue;
        }
        if (subscriber.lost > 0) {
          const gap: FlowEvent = {
            timeMs: event.timeMs,
            node: settings.node,
            kind: 'lost',
            count: subscriber.lost,
          };
          subscriber.sink.write(`${JSON.stringify(gap)}\n`);
          subscriber.lost = 0;
        }
        line ??= `${JSON.stringify(event)}\n`;
        subscriber.sink.write(line);
      }
    },
    subscribe(filter, sink) {
      if (subscribers.size >= settings.subscribersMax) return undefined;
      const subscriber = { filter, sink, lost: 0 };
      subscribers.add(subscriber);
      (hub as { active: boolean }).active = true;
      deps.onActiveChange?.(true);
      return () => {
        subscribers.delete(subscriber);
        (hub as { active: boolean }).active = subscribers.size > 0;
        deps.onActiveChange?.(hub.active);
      };
    },
    counters: () => ({ published, suppressed, lost, subscribers: subscribers.size }),
  };
  return hub;
}
