/**
 * The in-process applications' packets: IPv6/UDP datagrams with a correct checksum (RFC 8200,
 * RFC 768; the pseudo-header of RFC 8200 §8.1), and their parsing on receipt.
 */
import { formatIpv6, parseIpv6 } from '@capsule/wire';
import { LabError } from './errors';

function address(text: string): Uint8Array {
  const parsed = parseIpv6(text);
  if (!parsed.ok) throw new LabError('LAB_BAD_USE_CASE', `not an IPv6 address: ${text}`);
  return parsed.value;
}

/** Builds an IPv6/UDP packet from `source`:`sourcePort` to `destination`:`destinationPort`. */
export function buildUdp6(
  source: string,
  destination: string,
  sourcePort: number,
  destinationPort: number,
  payload: Uint8Array,
): Uint8Array {
  const udpLength = 8 + payload.length;
  const packet = new Uint8Array(40 + udpLength);
  const view = new DataView(packet.buffer);
  view.setUint32(0, 0x60000000);
  view.setUint16(4, udpLength);
  packet[6] = 17;
  packet[7] = 64;
  packet.set(address(source), 8);
  packet.set(address(destination), 24);
  view.setUint16(40, sourcePort);
  view.setUint16(42, destinationPort);
  view.setUint16(44, udpLength);
  packet.set(payload, 48);
  let sum = 0;
  for (let i = 8; i < 40; i += 2) sum += view.getUint16(i);
  sum += udpLength + 17;
  for (let i = 40; i < packet.length; i += 2) sum += (packet[i]! << 8) | (packet[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  view.setUint16(46, ~sum & 0xffff || 0xffff);
  return packet;
}

/** A received UDP datagram, or undefined when the packet is no IPv6/UDP. */
export function parseUdp6(
  packet: Uint8Array,
):
  | { source: string; destination: string; sourcePort: number; destinationPort: number; payload: Uint8Array }
  | undefined {
  if (packet.length < 48 || packet[0]! >>> 4 !== 6 || packet[6] !== 17) return undefined;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  return {
    source: formatIpv6(packet.subarray(8, 24)),
    destination: formatIpv6(packet.subarray(24, 40)),
    sourcePort: view.getUint16(40),
    destinationPort: view.getUint16(42),
    payload: packet.subarray(48, 40 + view.getUint16(44)),
  };
}
