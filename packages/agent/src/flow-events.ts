/**
 * The agent's flow events (the hub and the event type are @capsule/api's): a packet the data plane
 * dropped, with its reason (the DataPlaneDrops counter it went to) and direction — `out` from the
 * application (TUN/TAP), `in` from the overlay — and its addresses and contract when known. The
 * kernel's own ND/MLD on the TUN (`localControl`) is not an event: it is not traffic. And a packet
 * of a traced flow sent (`out`) or received with its engines' TRACE records (`in`): `capsule
 * trace`. Built only while someone observes (`hub.active`).
 */
import type { FlowEvent, FlowEventHub } from '@capsule/api';
import {
  type Clock,
  clockUs,
  decodeTraceChunk,
  formatIpv4,
  formatIpv6,
  readFlowLabel,
  readU32,
} from '@capsule/wire';
import type { DataPlane } from './data-plane';

/** Publishes a drop event for the packet the data plane just dropped (call only when `hub.active`). */
export function publishDataPlaneDrop(
  hub: FlowEventHub,
  plane: DataPlane,
  clock: { nowMs(): number },
  direction: 'in' | 'out',
  bytes: Uint8Array,
  offset: number,
  length: number,
): void {
  const reason = plane.lastDrop;
  if (reason === 'localControl' || !hub.admit()) return;
  const event: FlowEvent = {
    timeMs: clock.nowMs(),
    node: hub.node,
    kind: 'drop',
    verdict: 'DROP',
    reason,
    direction,
  };
  const ip = direction === 'out' && plane.tap ? -1 : offset; // TAP frames: addresses not read here
  const version = ip >= 0 && length >= 1 ? bytes[ip]! >>> 4 : 0;
  if (version === 6 && length >= 40) {
    event.source = formatIpv6(bytes, ip + 8);
    event.destination = formatIpv6(bytes, ip + 24);
    event.flowLabel = readFlowLabel(bytes, ip);
    const flow =
      direction === 'out'
        ? plane.flows.flowTo(bytes, ip + 24, ip + 8)
        : plane.flows.flowFrom(bytes, ip + 8, event.flowLabel);
    if (flow) event.contractId = flow.endpoint.spec.contractId;
  } else if (version === 4 && length >= 20) {
    event.source = formatIpv4(bytes, ip + 12);
    event.destination = formatIpv4(bytes, ip + 16);
    const flow = plane.flows.flowByIpv4(readU32(bytes, ip + 16));
    if (flow) event.contractId = flow.endpoint.spec.contractId;
  }
  hub.publish(event);
}

/**
 * Publishes the trace event of the packet the data plane just handled traced (`plane.tracedFlow`,
 * which this clears): `out`, sent with the TRACE flag (its inner IPv6 header in `plane.out`); `in`,
 * received with a TRACE chunk (its inner IPv6 header at `bytes[offset]`), with the engines'
 * records and whether the agent delivered it (DELIVER) or dropped it (DROP and the reason).
 */
export function publishTrace(
  hub: FlowEventHub,
  plane: DataPlane,
  clock: Pick<Clock, 'nowMs' | 'nowUs'>,
  direction: 'in' | 'out',
  bytes: Uint8Array,
  offset: number,
  dropped: boolean,
): void {
  const flow = plane.tracedFlow;
  plane.tracedFlow = undefined;
  if (flow === undefined || !hub.active || !hub.admit()) return;
  const ip = direction === 'out' ? plane.out : bytes;
  const at = direction === 'out' ? 0 : offset;
  const event: FlowEvent = {
    timeMs: clock.nowMs(),
    node: hub.node,
    kind: 'trace',
    source: formatIpv6(ip, at + 8),
    destination: formatIpv6(ip, at + 24),
    flowLabel: readFlowLabel(ip, at),
    contractId: flow.endpoint.spec.contractId,
    direction,
    // Out: when egress took the packet (before sending it); in: now, after delivering it.
    timeUs: direction === 'out' ? plane.tracedAtUs : clockUs(clock) % 0x1_0000_0000,
  };
  if (direction === 'in') {
    const records = decodeTraceChunk(plane.traceRecords.subarray(0, plane.traceRecordsLength));
    event.hops = records.ok ? records.value.map((record) => ({ ...record })) : [];
    event.verdict = dropped ? 'DROP' : 'DELIVER';
    if (dropped) event.reason = plane.lastDrop;
  }
  hub.publish(event);
}
