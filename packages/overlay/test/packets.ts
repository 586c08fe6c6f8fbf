/** Inner packets for link-layer tests: plain IPv6, and IPv6 → capsule header (chunks) → sealed payload. */
import {
  CAPSULE_NEXT_HEADER,
  encodeCapsuleHeader,
  encodeIpv6Header,
  IpProtocol,
  PacketType,
} from '@capsule/wire';

/** An IPv6 packet (next header 59) from `source` to `destination` whose payload is `payload`. */
export function ipv6Packet(source: Uint8Array, destination: Uint8Array, payload: Uint8Array): Uint8Array {
  const packet = new Uint8Array(40 + payload.length);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: 0x12345,
      payloadLength: payload.length,
      nextHeader: IpProtocol.NO_NEXT_HEADER,
      hopLimit: 64,
      source,
      destination,
    },
    packet,
  );
  packet.set(payload, 40);
  return packet;
}

/** A type III capsule packet (DATA chunk) with an e2e-sealed payload (capsule next header 59). */
export function capsulePacket(
  source: Uint8Array,
  destination: Uint8Array,
  data: Uint8Array,
  sealedPayload: Uint8Array,
): { packet: Uint8Array; capsuleAt: number; capsuleEnd: number } {
  const capsule = new Uint8Array(512);
  const capsuleLength = encodeCapsuleHeader(
    { nextHeader: IpProtocol.NO_NEXT_HEADER, packetType: PacketType.III, flags: 0, data },
    capsule,
  );
  const payloadLength = capsuleLength + sealedPayload.length;
  const packet = new Uint8Array(40 + payloadLength);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: 7,
      payloadLength,
      nextHeader: CAPSULE_NEXT_HEADER,
      hopLimit: 64,
      source,
      destination,
    },
    packet,
  );
  packet.set(capsule.subarray(0, capsuleLength), 40);
  packet.set(sealedPayload, 40 + capsuleLength);
  return { packet, capsuleAt: 40, capsuleEnd: 40 + capsuleLength };
}
