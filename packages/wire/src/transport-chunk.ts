/**
 * The TRANSPORT chunk value (capsule chunk type 6): the protocol and ports of the application
 * packet sealed behind the capsule header, in cleartext so that engines' programs can read them
 * (`Packet.nextHeader()`, `srcPort()`, `dstPort()`). The sending agent writes it from the packet
 * it seals; the receiving agent, which opens the seal, drops (counted) any packet whose opened
 * protocol or ports differ from it — so a sender that lies here gains nothing but a counted drop
 * at the destination (docs/security.md, "What engines see of a flow").
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   Protocol    |   Reserved    |          Source Port          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Exactly 6 bytes. Protocol: the IPv4 protocol field or the IPv6 next header of the sealed packet
 * (the first one: extension headers are not walked). Ports: the TCP or UDP ports of a first
 * fragment, else 0 (other protocols, later IPv4 fragments, a packet cut short). Reserved: written
 * as 0; a receiver refuses any other value (so the field can get a meaning later).
 */
import { readU16, writeU16 } from './bytes';
import { type DecodeError, type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureRoom, ensureUint } from './wire-error';

/** The TRANSPORT value's length, in bytes (it has no other). */
export const TRANSPORT_CHUNK_LENGTH = 6;

/** The transport of a sealed application packet, as the TRANSPORT chunk carries it. */
export interface TransportChunk {
  /** IPv4 protocol / IPv6 next header (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …). */
  readonly protocol: number;
  /** TCP/UDP source port, else 0. */
  readonly sourcePort: number;
  /** TCP/UDP destination port, else 0. */
  readonly destinationPort: number;
}

/** Writes the TRANSPORT value at into[offset]; returns 6. Throws WireError on a value out of range. */
export function encodeTransportChunk(value: TransportChunk, into: Uint8Array, offset = 0): number {
  ensureUint(value.protocol, 8, 'TRANSPORT protocol');
  ensureUint(value.sourcePort, 16, 'TRANSPORT sourcePort');
  ensureUint(value.destinationPort, 16, 'TRANSPORT destinationPort');
  ensureRoom(into, offset, TRANSPORT_CHUNK_LENGTH, 'TRANSPORT chunk');
  into[offset] = value.protocol;
  into[offset + 1] = 0;
  writeU16(into, offset + 2, value.sourcePort);
  writeU16(into, offset + 4, value.destinationPort);
  return TRANSPORT_CHUNK_LENGTH;
}

/** Checks the TRANSPORT value at bytes[offset, offset + length) without allocating (undefined when valid). */
export function checkTransportChunk(
  bytes: Uint8Array,
  offset: number,
  length: number,
): DecodeError | undefined {
  if (length !== TRANSPORT_CHUNK_LENGTH)
    return {
      code: 'BAD_LENGTH',
      message: `TRANSPORT chunk of ${length} bytes (exactly ${TRANSPORT_CHUNK_LENGTH})`,
      offset: 0,
    };
  if (bytes[offset + 1] !== 0)
    return { code: 'BAD_FIELD', message: 'TRANSPORT reserved byte is not 0', offset: 1 };
  return undefined;
}

/** Decodes a TRANSPORT value occupying all of `bytes`. Never throws. */
export function decodeTransportChunk(bytes: Uint8Array): DecodeResult<TransportChunk> {
  const problem = checkTransportChunk(bytes, 0, bytes.length);
  if (problem) return decodeFailure(problem.code, problem.message, problem.offset);
  return decoded({
    protocol: bytes[0]!,
    sourcePort: readU16(bytes, 2),
    destinationPort: readU16(bytes, 4),
  });
}
