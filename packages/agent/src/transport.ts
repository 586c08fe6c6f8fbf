/**
 * The transport (protocol, ports) of an application packet: what the ACLs match, what a
 * role-addressed flow's connection label hashes, and what the TRANSPORT chunk (@capsule/wire
 * transport-chunk.ts) carries in cleartext for engines' programs. Egress writes the chunk from the
 * packet it seals; ingress checks the chunk against the packet it opens (`transportMatches`) and
 * drops a mismatch as `transportMismatch`: a sender that lies to the engines about its ports gets
 * its packets dropped at the destination.
 */
import { readU16 } from '@capsule/wire';
import type { TransportPorts } from './data-plane';

/**
 * Whether the IP packet bytes[ip, ip + length) (IP version `version`, its header already checked
 * to be there) is exactly as long as its header says: the IPv4 total length, 40 + the IPv6
 * payload length. An agent seals the packets its TUN device gave it, whose lengths always agree;
 * ingress drops an opened packet whose do not (cut short or with bytes after it) as `malformedIn`
 * instead of handing it to the kernel.
 */
export function isLengthAsDeclared(bytes: Uint8Array, ip: number, length: number, version: number): boolean {
  return version === 6 ? readU16(bytes, ip + 4) + 40 === length : readU16(bytes, ip + 2) === length;
}

/**
 * The transport protocol and ports of the IP packet bytes[ip, ip + length) (IP version
 * `version`, its header already checked to be there), written into `result` and returned: ports
 * -1 for other protocols than TCP and UDP, a later IPv4 fragment or a packet cut short. The
 * protocol is the IPv4 protocol or the IPv6 next header (extension headers are not walked).
 */
export function transportOf(
  result: TransportPorts,
  bytes: Uint8Array,
  ip: number,
  length: number,
  version: number,
): TransportPorts {
  let protocol: number;
  let l4: number;
  if (version === 6) {
    protocol = bytes[ip + 6]!;
    l4 = ip + 40;
  } else {
    protocol = bytes[ip + 9]!;
    l4 = ip + (bytes[ip]! & 0x0f) * 4;
  }
  result.protocol = protocol;
  result.port = -1;
  result.sourcePort = -1;
  if (version !== 6 && (readU16(bytes, ip + 6) & 0x1fff) !== 0) return result; // a later fragment
  if ((protocol === 6 || protocol === 17) && l4 + 4 <= ip + length) {
    result.port = readU16(bytes, l4 + 2);
    result.sourcePort = readU16(bytes, l4);
  }
  return result;
}

/** Writes `transport` as a TRANSPORT chunk value at into[at] (ports -1 as 0). */
export function writeTransportValue(into: Uint8Array, at: number, transport: TransportPorts): void {
  const sourcePort = transport.sourcePort < 0 ? 0 : transport.sourcePort;
  const port = transport.port < 0 ? 0 : transport.port;
  into[at] = transport.protocol;
  into[at + 1] = 0;
  into[at + 2] = sourcePort >>> 8;
  into[at + 3] = sourcePort & 0xff;
  into[at + 4] = port >>> 8;
  into[at + 5] = port & 0xff;
}

/**
 * Whether the TRANSPORT value at bytes[at] (-1: the packet has none) says what `transport` (read
 * from the opened packet) is. A packet without one never matches: every payload-carrying packet
 * an agent sends has it.
 */
export function transportMatches(bytes: Uint8Array, at: number, transport: TransportPorts): boolean {
  if (at < 0) return false;
  const sourcePort = transport.sourcePort < 0 ? 0 : transport.sourcePort;
  const port = transport.port < 0 ? 0 : transport.port;
  return (
    bytes[at] === transport.protocol &&
    readU16(bytes, at + 2) === sourcePort &&
    readU16(bytes, at + 4) === port
  );
}
