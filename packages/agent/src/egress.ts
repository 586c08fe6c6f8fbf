/**
 * Egress (seed: "Packets arriving from local applications …"): 1. egress policy (flow lookup by
 * destination: a peer of a local endpoint, then the Out ACL); 2. payload encryption (the whole
 * application packet, IPv4 or IPv6, sealed with the flow's e2e key); 3. the capsule IPv6 header
 * (src = own CGA, dst = peer CGA, flow label) with the chunks of the packet type chosen for this
 * packet; 4. checksum fix-ups (none are needed on this side: the inner IPv6 header carries next
 * header 253 and no transport checksum, and the application packet travels sealed and untouched —
 * its addresses are rewritten and its checksums fixed at ingress); 5. Ethernet: in TAP mode the
 * frame's header was removed on read (TapSegment) — the overlay packet goes out on the link layer.
 *
 * Packet type per flow: type I (AUTH + PATH + CODE + DATA) on the first packet and every
 * `authIntervalMs`; type II (PATH + CODE + DATA) for the next `codePackets`; then type III (PATH +
 * DATA, no code: engines run the flow's cached program). An engine admits a flow only from a type
 * I, so for `authRepeatForMs` after a flow's first type I (a new flow, or one rebuilt by a path
 * change) type I is due every `authRepeatMs` instead: a first type I lost, or sent before an engine
 * on the way switched to the new route, costs a new hop that long, not `authIntervalMs`.
 * PATH is the controller's path to the
 * peer in engine ids (flows.ts); the packet goes on the link to its first engine, which the flow
 * holds (`flow.firstHop.linkId`, kept by the agent as links come and go): no lookup per packet.
 * A type I packet that would exceed `maxOverlayPacketBytes` goes as a payload-less authorization
 * packet ahead of the data, which then goes as type II.
 *
 * Buffers and scratch are the DataPlane's, allocated once; headers are the flow's, encoded at
 * set-up, and so is its payload cipher (identity's PayloadCipher port: the native addon's reused
 * AES-256-GCM context by default, about 5 times cheaper than node:crypto's cipher object per
 * packet, or node:crypto — the agent's `payloadCipher` option). This module keeps no state.
 */
import {
  CapsuleFlag,
  clockUs,
  IPV6_HEADER_LENGTH,
  readU32,
  SEALED_PAYLOAD_OVERHEAD,
  writeU16,
} from '@capsule/wire';
import { isAllowed } from './acl';
import type { DataPlane } from './data-plane';
import { advanceSendEpoch, countSealed, isSendRekeyDue } from './e2e-epochs';
import { connectionLabel, type FirstHop, type Flow, FlowSlot } from './flows';
import { transportOf, writeTransportValue } from './transport';

/** What happened to one packet from the application (for tests; counters are the record). */
export const EgressResult = { SENT: 0, DROPPED: 1, CONSUMED: 2 } as const;
export type EgressResult = (typeof EgressResult)[keyof typeof EgressResult];

/** Writes a 20-bit flow label into the IPv6 header at out[0] and into the AAD (bytes 32..34). */
function writeFlowLabel(out: Uint8Array, aad: Uint8Array, label: number): void {
  out[1] = (out[1]! & 0xf0) | (label >>> 16);
  out[2] = (label >>> 8) & 0xff;
  out[3] = label & 0xff;
  aad[32] = label >>> 16;
  aad[33] = (label >>> 8) & 0xff;
  aad[34] = label & 0xff;
}

/** Hands `plane.out[0, length)` to the link of the flow's first hop; false when it is not up. */
function sendOnLink(plane: DataPlane, firstHop: FirstHop, length: number): boolean {
  return firstHop.linkId >= 0 && plane.deps.sendOnLink(firstHop.linkId, plane.out, 0, length);
}

/** Processes one packet (TUN) or frame (TAP) from the application interface. */
export function processEgress(
  plane: DataPlane,
  bytes: Uint8Array,
  offset: number,
  length: number,
): EgressResult {
  let ip = offset;
  let ipLength = length;
  if (plane.tap) {
    const at = plane.tap.receive(bytes, offset, length, plane.deps.writeToApp);
    if (at < 0) return EgressResult.CONSUMED;
    ip = at;
    ipLength = length - (at - offset);
  }
  if (ipLength < 1) {
    plane.drop('malformedOut');
    return EgressResult.DROPPED;
  }
  const version = bytes[ip]! >>> 4;
  let flow: Flow | undefined;
  if (version === 6) {
    if (ipLength < IPV6_HEADER_LENGTH) {
      plane.drop('malformedOut');
      return EgressResult.DROPPED;
    }
    // The kernel's own ND, MLD and router solicitations on the TUN: control traffic, not forwarded.
    const nextHeader = bytes[ip + 6]!;
    if (
      bytes[ip + 24] === 0xff ||
      (nextHeader === 58 && ipLength > 40 && bytes[ip + 40]! >= 130 && bytes[ip + 40]! <= 143) ||
      nextHeader === 0
    ) {
      plane.drop('localControl');
      return EgressResult.DROPPED;
    }
    flow = plane.flows.flowTo(bytes, ip + 24, ip + 8);
  } else if (version === 4) {
    if (ipLength < 20 || (bytes[ip]! & 0x0f) < 5) {
      plane.drop('malformedOut');
      return EgressResult.DROPPED;
    }
    flow = plane.flows.flowByIpv4(readU32(bytes, ip + 16));
  } else {
    plane.drop('malformedOut');
    return EgressResult.DROPPED;
  }
  if (flow === undefined) {
    plane.drop('noFlow');
    return EgressResult.DROPPED;
  }
  const statistics = flow.endpoint.statistics;
  // What the TRANSPORT chunk tells the engines, the ACL matches and a connection's label hashes.
  const transport = transportOf(plane.transport, bytes, ip, ipLength, version);
  if (plane.acl.out.length > 0) {
    if (!isAllowed(plane.acl.out, transport.protocol, transport.port, flow.peer.hostId)) {
      plane.drop('aclOut');
      statistics.dropsOut += 1;
      return EgressResult.DROPPED;
    }
  }
  const firstHop = flow.firstHop;
  if (firstHop === undefined) {
    plane.drop('noPath');
    statistics.dropsOut += 1;
    return EgressResult.DROPPED;
  }
  // Where the packet types are: types[at] packets since AUTH, types[at + 1] the last AUTH time —
  // the flow's state, or a role-addressed flow's connection (each application connection is its
  // own capsule flow: its label, its packet types).
  let types = flow.state;
  let at: number = FlowSlot.PACKETS_SINCE_AUTH;
  let label = -1;
  if (flow.connections !== undefined) {
    label = connectionLabel(flow.flowLabel, transport.protocol, transport.sourcePort, transport.port);
    types = flow.connections.slots;
    at = flow.connections.stateAt(label);
  }
  const now = plane.deps.clock.nowMs();
  const options = plane.options;
  const firstAuthMs = flow.state[FlowSlot.FIRST_AUTH_MS]!;
  const interval =
    now - firstAuthMs < options.authRepeatForMs ? options.authRepeatMs : options.authIntervalMs;
  let packetType: 1 | 2 | 3;
  if (now - types[at + 1]! >= interval) {
    packetType = 1;
    types[at + 1] = now;
    types[at] = 0;
    if (firstAuthMs === Number.NEGATIVE_INFINITY) flow.state[FlowSlot.FIRST_AUTH_MS] = now;
  } else {
    packetType = types[at]! < options.codePackets ? 2 : 3;
    types[at] = types[at]! + 1;
  }

  const sealedLength = ipLength + SEALED_PAYLOAD_OVERHEAD;
  let header = flow.headers[packetType];
  if (packetType === 1 && header.length + sealedLength > plane.options.maxOverlayPacketBytes) {
    // Authorization packet ahead of the data: capsule next header 59, no payload.
    const out = plane.out;
    out.set(header, 0);
    if (label >= 0) writeFlowLabel(out, flow.sendAad, label);
    writeTransportValue(out, flow.transportAt[1], transport);
    writeU16(out, 4, header.length - IPV6_HEADER_LENGTH);
    if (!sendOnLink(plane, firstHop, header.length)) {
      plane.drop('noPath');
      statistics.dropsOut += 1;
      return EgressResult.DROPPED;
    }
    plane.sentByType[1]! += 1;
    plane.sentByType[0]! += 1; // of which authorization-only
    packetType = 2;
    header = flow.headers[2];
  }
  const total = header.length + sealedLength;
  if (total > plane.out.length || total - IPV6_HEADER_LENGTH > 0xffff) {
    plane.drop('tooBig');
    statistics.dropsOut += 1;
    return EgressResult.DROPPED;
  }
  const out = plane.out;
  out.set(header, 0);
  if (label >= 0) writeFlowLabel(out, flow.sendAad, label);
  writeTransportValue(out, flow.transportAt[packetType], transport);
  // Armed by `capsule trace`: engines append their TRACE records to this packet.
  const traced = flow.tracePackets > 0;
  if (traced) {
    out[IPV6_HEADER_LENGTH + 3]! |= CapsuleFlag.TRACE;
    // The trace's first stamp, taken before the packet leaves: the first engine stamps after it.
    plane.tracedAtUs = clockUs(plane.deps.clock) % 0x1_0000_0000;
  }
  // A unicast flow's e2e key moves to the next epoch by time, volume or request (e2e-epochs.ts).
  const e2e = flow.e2e;
  if (flow.connections === undefined && isSendRekeyDue(e2e, plane.options, now))
    if (advanceSendEpoch(e2e)) plane.e2eRekeyCounts[0]! += 1;
  flow.sendCounter += 1;
  if (
    e2e.sendCipher.seal(
      e2e.sendEpoch,
      flow.sendCounter,
      flow.sendAad,
      bytes,
      ip,
      ipLength,
      out,
      header.length,
    ) < 0
  ) {
    plane.drop('tooBig');
    statistics.dropsOut += 1;
    return EgressResult.DROPPED;
  }
  countSealed(e2e, now);
  writeU16(out, 4, total - IPV6_HEADER_LENGTH);
  if (!sendOnLink(plane, firstHop, total)) {
    plane.drop('noPath');
    statistics.dropsOut += 1;
    return EgressResult.DROPPED;
  }
  if (traced) {
    flow.tracePackets -= 1;
    plane.tracedFlow = flow;
  }
  plane.sentByType[packetType]! += 1;
  statistics.packetsOut += 1;
  statistics.bytesOut += ipLength;
  if (!traced) plane.fastPath?.sent(flow, version);
  return EgressResult.SENT;
}
