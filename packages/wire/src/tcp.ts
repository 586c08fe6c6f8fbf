/**
 * TCP header (RFC 9293 3.1), decoded for policy and checksum fix-ups of carried packets.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Sequence Number                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Acknowledgment Number                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data |       |C|E|U|A|P|R|S|F|                               |
 * | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 * |       |       |R|E|G|K|H|T|N|N|                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Options (Data Offset − 5 words, 0..40 bytes)        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * Reserved bits are sent as zero and ignored on receipt (RFC 9293).
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes';
import { type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureRoom, ensureUint, WireError } from './wire-error';

/** Length of a TCP header without options. */
export const TCP_MIN_HEADER_LENGTH = 20;

/** TCP control bits (the low byte of the 16-bit word at offset 12). */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** The fields of a TCP header. */
export interface TcpHeader {
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly sequenceNumber: number;
  readonly acknowledgmentNumber: number;
  /** Control bits, 8 bits (TcpFlag). */
  readonly flags: number;
  readonly window: number;
  /** As stored: computed by the caller with transportChecksum (protocol 6). */
  readonly checksum: number;
  readonly urgentPointer: number;
  /** Raw options, a multiple of 4 bytes, at most 40. */
  readonly options: Uint8Array;
}

/** A decoded TCP header, its length (data offset × 4) and the segment data (a view). */
export interface DecodedTcpHeader extends TcpHeader {
  readonly headerLength: number;
  readonly payload: Uint8Array;
}

/** Writes the header at into[offset] as given; returns its length (20 + options). */
export function encodeTcpHeader(header: TcpHeader, into: Uint8Array, offset = 0): number {
  const { options } = header;
  if (options.length % 4 !== 0 || options.length > 40)
    throw new WireError(
      'WIRE_VALUE_INVALID',
      `TCP options must be a multiple of 4 bytes, ≤ 40; got ${options.length}`,
    );
  ensureUint(header.sourcePort, 16, 'TCP sourcePort');
  ensureUint(header.destinationPort, 16, 'TCP destinationPort');
  ensureUint(header.sequenceNumber, 32, 'TCP sequenceNumber');
  ensureUint(header.acknowledgmentNumber, 32, 'TCP acknowledgmentNumber');
  ensureUint(header.flags, 8, 'TCP flags');
  ensureUint(header.window, 16, 'TCP window');
  ensureUint(header.checksum, 16, 'TCP checksum');
  ensureUint(header.urgentPointer, 16, 'TCP urgentPointer');
  const headerLength = TCP_MIN_HEADER_LENGTH + options.length;
  ensureRoom(into, offset, headerLength, 'TCP header');
  writeU16(into, offset, header.sourcePort);
  writeU16(into, offset + 2, header.destinationPort);
  writeU32(into, offset + 4, header.sequenceNumber);
  writeU32(into, offset + 8, header.acknowledgmentNumber);
  into[offset + 12] = (headerLength >>> 2) << 4;
  into[offset + 13] = header.flags;
  writeU16(into, offset + 14, header.window);
  writeU16(into, offset + 16, header.checksum);
  writeU16(into, offset + 18, header.urgentPointer);
  into.set(options, offset + 20);
  return headerLength;
}

/** Decodes a TCP header at the start of `bytes` (the segment: header and data to the end). */
export function decodeTcpHeader(bytes: Uint8Array): DecodeResult<DecodedTcpHeader> {
  if (bytes.length < TCP_MIN_HEADER_LENGTH)
    return decodeFailure('TRUNCATED', `TCP header needs 20 bytes; got ${bytes.length}`, 0);
  const headerLength = (bytes[12]! >>> 4) * 4;
  if (headerLength < TCP_MIN_HEADER_LENGTH)
    return decodeFailure('BAD_LENGTH', `TCP data offset ${headerLength / 4} < 5`, 12);
  if (headerLength > bytes.length)
    return decodeFailure('TRUNCATED', `TCP header of ${headerLength} bytes; got ${bytes.length}`, 12);
  return decoded({
    sourcePort: readU16(bytes, 0),
    destinationPort: readU16(bytes, 2),
    sequenceNumber: readU32(bytes, 4),
    acknowledgmentNumber: readU32(bytes, 8),
    flags: bytes[13]!,
    window: readU16(bytes, 14),
    checksum: readU16(bytes, 16),
    urgentPointer: readU16(bytes, 18),
    options: bytes.subarray(20, headerLength),
    headerLength,
    payload: bytes.subarray(headerLength),
  });
}
