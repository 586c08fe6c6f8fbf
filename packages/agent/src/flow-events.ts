/**
 * The agent's flow events (the hub and the event type are @capsule/api's): a packet the data plane
 * dropped, with its reason (the DataPlaneDrops counter it went to) and direction — `out` from the
 * application (TUN/TAP), `in` from the overlay — and its addresses and contract when known. The
 * kernel's own ND/MLD on the TUN (`localControl`) is not an event: it is not traffic. Built only
 * while someone observes (`hub.active`).
 */
import type { FlowEvent, FlowEventHub } from '@capsule/api';
import { formatIpv4, formatIpv6, readU32 } from '@capsule/wire';
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
    event.flowLabel = ((bytes[ip + 1]! & 0x0f) << 16) | (bytes[ip + 2]! << 8) | bytes[ip + 3]!;
    const flow = plane.flows.flowByHostId(bytes, direction === 'out' ? ip + 24 : ip + 8);
    if (flow) event.contractId = flow.endpoint.spec.contractId;
  } else if (version === 4 && length >= 20) {
    event.source = formatIpv4(bytes, ip + 12);
    event.destination = formatIpv4(bytes, ip + 16);
    const flow = plane.flows.flowByIpv4(readU32(bytes, ip + 16));
    if (flow) event.contractId = flow.endpoint.spec.contractId;
  }
  hub.publish(event);
}
