/**
 * Ingress (seed: "Packets arriving from network …"): 1. Ethernet header removed (the link layer
 * delivers bare inner IPv6 packets; TAP adds one on the way to the app); 2. ingress policy: an
 * IPv6 capsule packet (next header 253) addressed to our CGA from a peer of a local endpoint,
 * its capsule header parsed with wire's CapsuleHeaderView as engines parse it (every chunk
 * validated, next header 59); 3. the sealed payload (wire's SealedPayloadView: epoch, counter)
 * opened with the flow's PayloadCipher (AAD: src, dst, flow label as sent) into the plane's
 * buffer, replayed counters refused; 4. the original packet restored: an IPv6 packet must carry the
 * peer's CGA (or the address of the peer's role in the contract: a member answering a connection
 * made to the role address) and ours (else `spoofed`); an IPv4 packet gets the peer's local alias
 * as source and our IPv4 overlay address as destination; the opened packet's protocol and ports
 * must be what the capsule's TRANSPORT chunk told the engines (else `transportMismatch`: engines'
 * programs decided on those values); then the In ACL; 5. checksums: IPv4
 * header and TCP/UDP checksums updated incrementally for the rewritten addresses (RFC 1624). The
 * engine ids of a TRACE chunk are kept on the flow (`lastTrace`): the path the peer's last traced
 * packet took. Views, buffers and scratch are the DataPlane's; nothing is allocated per packet
 * (but the Ethernet copy in TAP mode, and a new group sender's key).
 */
import { deriveGroupSenderKey } from '@capsule/identity';
import { ReplayWindow } from '@capsule/overlay';
import {
  CAPSULE_NEXT_HEADER,
  type CapsuleHeaderView,
  IPV6_HEADER_LENGTH,
  IpProtocol,
  readFlowLabel,
  readU16,
  TRACE_RECORD_LENGTH,
  updateChecksumBytes,
  writeU16,
  writeU32,
} from '@capsule/wire';
import { isAllowed } from './acl';
import type { DataPlane } from './data-plane';
import { acceptCandidate, E2eReceive, receiveCipherOf } from './e2e-epochs';
import { type Flow, type GroupSenderEpoch, hashAddress16, isAddressAt, openKeyOf } from './flows';
import { isLengthAsDeclared, transportMatches, transportOf } from './transport';

/** What happened to one packet from the network. */
export const IngressResult = { DELIVERED: 0, DROPPED: 1, CONTROL: 2 } as const;
export type IngressResult = (typeof IngressResult)[keyof typeof IngressResult];

/**
 * Rewrites the source and destination of the IPv4 packet `packet[0, length)` and fixes the header
 * and TCP/UDP checksums.
 */
function rewriteIpv4(
  plane: DataPlane,
  packet: Uint8Array,
  length: number,
  source: number,
  destination: number,
): boolean {
  const headerLength = (packet[0]! & 0x0f) * 4;
  if (headerLength < 20 || length < headerLength) return false;
  const scratch = plane.scratch;
  writeU32(scratch, 0, source);
  writeU32(scratch, 4, destination);
  // IPv4 header checksum over the 8 address bytes (offset 12, even).
  writeU16(packet, 10, updateChecksumBytes(readU16(packet, 10), packet, 12, scratch, 0, 8));
  const isFirstFragment = (readU16(packet, 6) & 0x1fff) === 0;
  const protocol = packet[9]!;
  if (isFirstFragment) {
    const at = protocol === 6 ? headerLength + 16 : protocol === 17 ? headerLength + 6 : -1;
    if (at > 0 && at + 2 <= length) {
      const old = readU16(packet, at);
      // UDP checksum 0 means "none" (RFC 768): leave it so.
      if (!(protocol === 17 && old === 0)) {
        let updated = updateChecksumBytes(old, packet, 12, scratch, 0, 8);
        if (protocol === 17 && updated === 0) updated = 0xffff;
        writeU16(packet, at, updated);
      }
    }
  }
  packet.set(scratch, 12);
  return true;
}

/**
 * Keeps the engine ids of the packet's TRACE records (if it has a TRACE chunk) on the flow: the
 * path the peer's packet took, from the capsule header `view` parsed; and the whole records in
 * the plane (`traceRecords`, `tracedFlow`) for the trace event the agent publishes.
 */
function recordTrace(plane: DataPlane, flow: Flow, bytes: Uint8Array, view: CapsuleHeaderView): void {
  if (view.traceOffset < 0) return;
  const records = Math.min(Math.floor(view.traceLength / TRACE_RECORD_LENGTH), flow.lastTrace.length);
  for (let i = 0; i < records; i += 1)
    flow.lastTrace[i] = readU16(bytes, view.traceOffset + i * TRACE_RECORD_LENGTH);
  flow.lastTraceLength = records;
  const length = records * TRACE_RECORD_LENGTH;
  plane.traceRecords.set(bytes.subarray(view.traceOffset, view.traceOffset + length), 0);
  plane.traceRecordsLength = length;
  plane.tracedFlow = flow;
}

/**
 * Parses the capsule header of the inner packet at `offset` (payload `payloadLength` bytes) with
 * the plane's CapsuleHeaderView, as engines do: every chunk validated. Returns where the sealed
 * payload starts, or -1 when the header is invalid or is not followed by a sealed payload.
 */
function parseCapsule(plane: DataPlane, bytes: Uint8Array, offset: number, payloadLength: number): number {
  const view = plane.capsuleView;
  const capsule = offset + IPV6_HEADER_LENGTH;
  if (!view.parse(bytes, capsule, capsule + payloadLength) || view.nextHeader !== IpProtocol.NO_NEXT_HEADER)
    return -1;
  return capsule + view.length;
}

/**
 * A packet to a role address (anycast or multicast, see flows.ts `roleAddress`): accepted when a
 * local endpoint holds that role and the source is one of its peers; opened with the sender's
 * group key (derived from the packet's source and key epoch, kept per sender once a packet
 * opened); replay window per sender and epoch. Only IPv6 applications: the inner packet must
 * carry the sender's CGA and the role address.
 */
function processGroupIngress(
  plane: DataPlane,
  bytes: Uint8Array,
  offset: number,
  payloadLength: number,
): IngressResult {
  const membership = plane.flows.membershipByAddress(bytes, offset + 24);
  if (membership === undefined) {
    plane.drop('malformedIn');
    return IngressResult.DROPPED;
  }
  const { endpoint } = membership;
  let isPeer = false;
  for (const peer of endpoint.peers)
    if (isAddressAt(bytes, offset + 8, peer.hostId)) {
      isPeer = true;
      break;
    }
  if (!isPeer) {
    plane.drop('unknownPeer');
    return IngressResult.DROPPED;
  }
  const statistics = endpoint.statistics;
  const sealedStart = parseCapsule(plane, bytes, offset, payloadLength);
  if (sealedStart < 0) {
    plane.drop('malformedIn');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  const sealedEnd = offset + IPV6_HEADER_LENGTH + payloadLength;
  if (sealedStart === sealedEnd) return IngressResult.CONTROL;
  const aad = plane.receiveAad;
  for (let i = 0; i < 32; i += 1) aad[i] = bytes[offset + 8 + i]!;
  aad[32] = bytes[offset + 1]! & 0x0f;
  aad[33] = bytes[offset + 2]!;
  aad[34] = bytes[offset + 3]!;
  const sealed = plane.sealedView;
  if (!sealed.parse(bytes, sealedStart, sealedEnd)) {
    plane.drop('badSeal');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  // Only an epoch the endpoint holds a group secret of (the current one, or the one it replaced
  // while its grace lasts) opens: a removed member's old secret has no later epoch.
  const epoch = sealed.keyEpoch;
  const secret = openKeyOf(endpoint.groupKeys, epoch, plane.deps.clock.nowMs());
  if (secret === undefined) {
    plane.drop('badSeal');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  const senderHash = hashAddress16(bytes, offset + 8);
  let sender = membership.senders.get(senderHash);
  if (sender !== undefined && !isAddressAt(bytes, offset + 8, sender.hostId)) sender = undefined;
  let known: GroupSenderEpoch | undefined;
  if (sender !== undefined)
    known =
      sender.current.epoch === epoch
        ? sender.current
        : sender.previous?.epoch === epoch
          ? sender.previous
          : undefined;
  // A new sender, or a new epoch: the sender's key from the group secret, its host id and the epoch.
  const key = known?.key ?? deriveGroupSenderKey(secret, bytes.subarray(offset + 8, offset + 24), epoch);
  const cipher = known?.cipher ?? plane.flows.createPayloadCipher(key);
  const plainLength = cipher.open(bytes, sealedStart, sealedEnd - sealedStart, aad, plane.opened, 0);
  if (plainLength < 0) {
    plane.drop('badSeal');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  if (known === undefined) {
    // It opened: keep the sender's key of this epoch with a fresh replay window, and the other
    // epoch it has (packets of both arrive while a replaced epoch's grace lasts).
    known = { epoch, key, cipher, replay: new ReplayWindow() };
    if (sender === undefined) {
      sender = { hostId: bytes.slice(offset + 8, offset + 24), current: known, previous: undefined };
      membership.senders.set(senderHash, sender);
    } else if (epoch > sender.current.epoch) {
      sender.previous = sender.current;
      sender.current = known;
    } else sender.previous = known;
  }
  if (!known.replay.accept(sealed.counter)) {
    plane.drop('replayed');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  // The application packet: plane.opened[0, packetLength), opened in place (no view per packet).
  const packet = plane.opened;
  const packetLength = plainLength;
  if (
    packetLength < IPV6_HEADER_LENGTH ||
    packet[0]! >>> 4 !== 6 ||
    !isAddressAt(packet, 8, sender!.hostId) ||
    !isAddressAt(packet, 24, membership.address)
  ) {
    plane.drop('spoofed');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  if (!isLengthAsDeclared(packet, 0, packetLength, 6)) {
    plane.drop('malformedIn');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  const transport = transportOf(plane.transport, packet, 0, packetLength, 6);
  if (!transportMatches(bytes, plane.capsuleView.transportOffset, transport)) {
    plane.drop('transportMismatch');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  if (plane.acl.in.length > 0) {
    if (!isAllowed(plane.acl.in, transport.protocol, transport.port, sender!.hostId)) {
      plane.drop('aclIn');
      statistics.dropsIn += 1;
      return IngressResult.DROPPED;
    }
  }
  statistics.packetsIn += 1;
  statistics.bytesIn += packetLength;
  // The native fast path takes this sender's next packets to the role address like this one.
  plane.fastPath?.deliveredGroup(membership, sender!, known, bytes, offset, plane.capsuleView);
  if (plane.tap) {
    const out = plane.toApp;
    const header = plane.tap.writeHeader(out, 0, 6);
    out.set(packet.subarray(0, packetLength), header);
    plane.deps.writeToApp(out, 0, header + packetLength);
  } else plane.deps.writeToApp(packet, 0, packetLength);
  return IngressResult.DELIVERED;
}

/** Processes one inner IPv6 packet delivered by the link layer. */
export function processIngress(
  plane: DataPlane,
  bytes: Uint8Array,
  offset: number,
  length: number,
): IngressResult {
  if (
    length < IPV6_HEADER_LENGTH + 8 ||
    bytes[offset]! >>> 4 !== 6 ||
    bytes[offset + 6] !== CAPSULE_NEXT_HEADER
  ) {
    plane.drop('malformedIn');
    return IngressResult.DROPPED;
  }
  const payloadLength = readU16(bytes, offset + 4);
  if (IPV6_HEADER_LENGTH + payloadLength > length) {
    plane.drop('malformedIn');
    return IngressResult.DROPPED;
  }
  const own = plane.options.ownHostId;
  if (!isAddressAt(bytes, offset + 24, own)) return processGroupIngress(plane, bytes, offset, payloadLength);
  const label = readFlowLabel(bytes, offset);
  const flow = plane.flows.flowFrom(bytes, offset + 8, label);
  if (flow === undefined) {
    plane.drop('unknownPeer');
    return IngressResult.DROPPED;
  }
  const statistics = flow.endpoint.statistics;
  const sealedStart = parseCapsule(plane, bytes, offset, payloadLength);
  if (sealedStart < 0) {
    plane.drop('malformedIn');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  const sealedEnd = offset + IPV6_HEADER_LENGTH + payloadLength;
  if (sealedStart === sealedEnd) return IngressResult.CONTROL; // an authorization-only packet
  const aad = plane.receiveAad;
  for (let i = 0; i < 32; i += 1) aad[i] = bytes[offset + 8 + i]!;
  aad[32] = bytes[offset + 1]! & 0x0f;
  aad[33] = bytes[offset + 2]!;
  aad[34] = bytes[offset + 3]!;
  const sealed = plane.sealedView;
  if (!sealed.parse(bytes, sealedStart, sealedEnd)) {
    plane.drop('badSeal');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  // The key of the packet's epoch: current, previous in its grace, or the next one (e2e-epochs.ts).
  const e2e = flow.e2e;
  const now = plane.deps.clock.nowMs();
  const slot = plane.e2eCipher;
  const decision = receiveCipherOf(e2e, sealed.keyEpoch, sealed.counter, flow.replay, now, slot);
  if (decision === E2eReceive.STALE || decision === E2eReceive.AHEAD) {
    plane.drop(decision === E2eReceive.STALE ? 'e2eEpochStale' : 'e2eEpochAhead');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  const plainLength = slot.cipher!.open(bytes, sealedStart, sealedEnd - sealedStart, aad, plane.opened, 0);
  if (plainLength < 0) {
    plane.drop('badSeal');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  // The application packet: plane.opened[0, packetLength), opened in place (no view per packet).
  const packet = plane.opened;
  const packetLength = plainLength;
  // Checked after the tag, so that a forged packet never moves the window or the epoch.
  if (!flow.replay.accept(sealed.counter)) {
    plane.drop('replayed');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  if (
    decision === E2eReceive.CANDIDATE &&
    acceptCandidate(e2e, sealed.keyEpoch, plane.options.e2eRekeyGraceMs, now)
  )
    plane.e2eRekeyCounts[1]! += 1;
  e2e.hasOpened = true;
  recordTrace(plane, flow, bytes, plane.capsuleView);
  const version = packetLength > 0 ? packet[0]! >>> 4 : 0;
  if (version === 6 && packetLength >= IPV6_HEADER_LENGTH) {
    // The source is the peer's CGA, or its role's address: a member answering a connection made
    // to the role address (anycast TCP) answers from that address, which it holds on its TUN.
    const roleSource = flow.peerRoleAddress;
    if (
      !isAddressAt(packet, 24, own) ||
      !(
        isAddressAt(packet, 8, flow.peer.hostId) ||
        (roleSource !== undefined && isAddressAt(packet, 8, roleSource))
      )
    ) {
      plane.drop('spoofed');
      statistics.dropsIn += 1;
      return IngressResult.DROPPED;
    }
  } else if (version === 4 && packetLength >= 20 && (packet[0]! & 0x0f) >= 5) {
    if (!rewriteIpv4(plane, packet, packetLength, flow.ipv4Alias, plane.options.ownIpv4)) {
      plane.drop('malformedIn');
      statistics.dropsIn += 1;
      return IngressResult.DROPPED;
    }
  } else {
    plane.drop('malformedIn');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  if (!isLengthAsDeclared(packet, 0, packetLength, version)) {
    plane.drop('malformedIn');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  const transport = transportOf(plane.transport, packet, 0, packetLength, version);
  if (!transportMatches(bytes, plane.capsuleView.transportOffset, transport)) {
    plane.drop('transportMismatch');
    statistics.dropsIn += 1;
    return IngressResult.DROPPED;
  }
  if (plane.acl.in.length > 0) {
    if (!isAllowed(plane.acl.in, transport.protocol, transport.port, flow.peer.hostId)) {
      plane.drop('aclIn');
      statistics.dropsIn += 1;
      return IngressResult.DROPPED;
    }
  }
  statistics.packetsIn += 1;
  statistics.bytesIn += packetLength;
  // The native fast path takes this flow's next packets like this one (fast-path.ts).
  plane.fastPath?.delivered(flow, bytes, offset, plane.capsuleView);
  if (plane.tap) {
    const out = plane.toApp;
    const header = plane.tap.writeHeader(out, 0, version);
    out.set(packet.subarray(0, packetLength), header);
    plane.deps.writeToApp(out, 0, header + packetLength);
  } else plane.deps.writeToApp(packet, 0, packetLength);
  return IngressResult.DELIVERED;
}
