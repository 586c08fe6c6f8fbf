/**
 * UDP header (RFC 768): the underlay transport of link frames (default port 7447).
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |            Length             |           Checksum            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Length counts header and data. The checksum covers a pseudo-header (checksum.ts); a computed 0
 * is sent as 0xffff, and 0 on IPv4 means "no checksum" (RFC 768).
 */
import { readU16, writeU16 } from './bytes';
import { transportChecksum } from './checksum';
import { type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureRoom, ensureUint, WireError } from './wire-error';

/** Length of the UDP header. */
export const UDP_HEADER_LENGTH = 8;

/** The fields of a UDP header. */
export interface UdpHeader {
  readonly sourcePort: number;
  readonly destinationPort: number;
  /** Header plus data, in bytes. */
  readonly length: number;
  /** As stored; use `udpChecksum` to compute it. */
  readonly checksum: number;
}

/** A decoded UDP header and its data (a view into the input). */
export interface DecodedUdpHeader extends UdpHeader {
  readonly payload: Uint8Array;
}

/** Writes the 8-byte header at into[offset] as given; returns 8. */
export function encodeUdpHeader(header: UdpHeader, into: Uint8Array, offset = 0): number {
  ensureUint(header.sourcePort, 16, 'UDP sourcePort');
  ensureUint(header.destinationPort, 16, 'UDP destinationPort');
  ensureUint(header.length, 16, 'UDP length');
  ensureUint(header.checksum, 16, 'UDP checksum');
  if (header.length < UDP_HEADER_LENGTH)
    throw new WireError('WIRE_VALUE_INVALID', `UDP length ${header.length} < 8`);
  ensureRoom(into, offset, UDP_HEADER_LENGTH, 'UDP header');
  writeU16(into, offset, header.sourcePort);
  writeU16(into, offset + 2, header.destinationPort);
  writeU16(into, offset + 4, header.length);
  writeU16(into, offset + 6, header.checksum);
  return UDP_HEADER_LENGTH;
}

/** Decodes a UDP header at the start of `bytes`; the datagram must be present in full. */
export function decodeUdpHeader(bytes: Uint8Array): DecodeResult<DecodedUdpHeader> {
  if (bytes.length < UDP_HEADER_LENGTH)
    return decodeFailure('TRUNCATED', `UDP header needs 8 bytes; got ${bytes.length}`, 0);
  const length = readU16(bytes, 4);
  if (length < UDP_HEADER_LENGTH) return decodeFailure('BAD_LENGTH', `UDP length ${length} < 8`, 4);
  if (length > bytes.length)
    return decodeFailure('TRUNCATED', `UDP length ${length}; got ${bytes.length} bytes`, 4);
  return decoded({
    sourcePort: readU16(bytes, 0),
    destinationPort: readU16(bytes, 2),
    length,
    checksum: readU16(bytes, 6),
    payload: bytes.subarray(UDP_HEADER_LENGTH, length),
  });
}

/**
 * The checksum for the datagram at bytes[offset, offset + length) given its pseudo-header sum
 * (ipv4PseudoHeaderSum / ipv6PseudoHeaderSum with protocol 17); the stored field is ignored and a
 * computed 0 becomes 0xffff.
 */
export function udpChecksum(
  pseudoHeaderSum: number,
  bytes: Uint8Array,
  offset: number,
  length: number,
): number {
  return transportChecksum(pseudoHeaderSum, bytes, offset, offset + length, offset + 6) || 0xffff;
}
