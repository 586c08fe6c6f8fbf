/**
 * IPv4 header (RFC 791), used for the underlay only.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |   DSCP    |ECN|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |0|D|M|     Fragment Offset     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 Options (IHL − 5 words, 0..40 bytes)          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * IHL counts 32-bit words (5..15). The encoder always computes the header checksum.
 */
import { readU16, writeU16 } from './bytes';
import { internetChecksum, updateChecksumWord } from './checksum';
import { type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureLength, ensureRoom, ensureUint, WireError } from './wire-error';

/** Length of an IPv4 header without options. */
export const IPV4_MIN_HEADER_LENGTH = 20;

/** The fields of an IPv4 header that a sender chooses (the checksum is computed). */
export interface Ipv4Header {
  /** Differentiated services code point, 6 bits. */
  readonly dscp: number;
  /** Explicit congestion notification, 2 bits. */
  readonly ecn: number;
  /** Header plus payload, in bytes. */
  readonly totalLength: number;
  readonly identification: number;
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  /** In 8-byte units, 13 bits. */
  readonly fragmentOffset: number;
  readonly ttl: number;
  /** Upper-layer protocol number (17 UDP, 6 TCP, 1 ICMP). */
  readonly protocol: number;
  /** 4 bytes. */
  readonly source: Uint8Array;
  /** 4 bytes. */
  readonly destination: Uint8Array;
  /** Raw options, a multiple of 4 bytes, at most 40 (empty for none). */
  readonly options: Uint8Array;
}

/** A decoded IPv4 header: the fields, the stored checksum and the payload (views into the input). */
export interface DecodedIpv4Header extends Ipv4Header {
  /** IHL × 4. */
  readonly headerLength: number;
  readonly headerChecksum: number;
  readonly isChecksumValid: boolean;
  /** bytes[headerLength, totalLength). */
  readonly payload: Uint8Array;
}

/** Writes the header (checksum computed) at into[offset]; returns its length. */
export function encodeIpv4Header(header: Ipv4Header, into: Uint8Array, offset = 0): number {
  const { options } = header;
  if (options.length % 4 !== 0 || options.length > 40)
    throw new WireError(
      'WIRE_VALUE_INVALID',
      `IPv4 options must be a multiple of 4 bytes, ≤ 40; got ${options.length}`,
    );
  const headerLength = IPV4_MIN_HEADER_LENGTH + options.length;
  ensureUint(header.dscp, 6, 'IPv4 dscp');
  ensureUint(header.ecn, 2, 'IPv4 ecn');
  ensureUint(header.totalLength, 16, 'IPv4 totalLength');
  if (header.totalLength < headerLength)
    throw new WireError(
      'WIRE_VALUE_INVALID',
      `IPv4 totalLength ${header.totalLength} < header ${headerLength}`,
    );
  ensureUint(header.identification, 16, 'IPv4 identification');
  ensureUint(header.fragmentOffset, 13, 'IPv4 fragmentOffset');
  ensureUint(header.ttl, 8, 'IPv4 ttl');
  ensureUint(header.protocol, 8, 'IPv4 protocol');
  ensureLength(header.source, 4, 'IPv4 source');
  ensureLength(header.destination, 4, 'IPv4 destination');
  ensureRoom(into, offset, headerLength, 'IPv4 header');
  into[offset] = 0x40 | (headerLength >>> 2);
  into[offset + 1] = (header.dscp << 2) | header.ecn;
  writeU16(into, offset + 2, header.totalLength);
  writeU16(into, offset + 4, header.identification);
  writeU16(
    into,
    offset + 6,
    (header.dontFragment ? 0x4000 : 0) | (header.moreFragments ? 0x2000 : 0) | header.fragmentOffset,
  );
  into[offset + 8] = header.ttl;
  into[offset + 9] = header.protocol;
  writeU16(into, offset + 10, 0);
  into.set(header.source, offset + 12);
  into.set(header.destination, offset + 16);
  into.set(options, offset + 20);
  writeU16(into, offset + 10, internetChecksum(into, offset, offset + headerLength));
  return headerLength;
}

/** Decodes an IPv4 header from the start of `bytes` (bytes may extend past totalLength). */
export function decodeIpv4Header(bytes: Uint8Array): DecodeResult<DecodedIpv4Header> {
  if (bytes.length < IPV4_MIN_HEADER_LENGTH)
    return decodeFailure('TRUNCATED', `IPv4 header needs 20 bytes; got ${bytes.length}`, 0);
  const version = bytes[0]! >>> 4;
  if (version !== 4) return decodeFailure('BAD_VERSION', `IPv4 version field is ${version}`, 0);
  const headerLength = (bytes[0]! & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER_LENGTH)
    return decodeFailure('BAD_LENGTH', `IPv4 IHL ${headerLength / 4} < 5`, 0);
  if (bytes.length < headerLength)
    return decodeFailure('TRUNCATED', `IPv4 header of ${headerLength} bytes; got ${bytes.length}`, 0);
  const totalLength = readU16(bytes, 2);
  if (totalLength < headerLength)
    return decodeFailure('BAD_LENGTH', `IPv4 total length ${totalLength} < header length ${headerLength}`, 2);
  if (totalLength > bytes.length)
    return decodeFailure('TRUNCATED', `IPv4 total length ${totalLength}; got ${bytes.length} bytes`, 2);
  const flagsAndOffset = readU16(bytes, 6);
  if (flagsAndOffset & 0x8000) return decodeFailure('BAD_FIELD', 'IPv4 reserved flag bit is set', 6);
  return decoded({
    dscp: bytes[1]! >>> 2,
    ecn: bytes[1]! & 3,
    totalLength,
    identification: readU16(bytes, 4),
    dontFragment: (flagsAndOffset & 0x4000) !== 0,
    moreFragments: (flagsAndOffset & 0x2000) !== 0,
    fragmentOffset: flagsAndOffset & 0x1fff,
    ttl: bytes[8]!,
    protocol: bytes[9]!,
    source: bytes.subarray(12, 16),
    destination: bytes.subarray(16, 20),
    options: bytes.subarray(20, headerLength),
    headerLength,
    headerChecksum: readU16(bytes, 10),
    isChecksumValid: internetChecksum(bytes, 0, headerLength) === 0,
    payload: bytes.subarray(headerLength, totalLength),
  });
}

/**
 * Decrements the TTL of the IPv4 header at bytes[offset] in place and patches its checksum with
 * RFC 1624 (no re-summing). Returns the new TTL; leaves a TTL of 0 untouched and returns -1.
 */
export function decrementIpv4Ttl(bytes: Uint8Array, offset = 0): number {
  const ttl = bytes[offset + 8]!;
  if (ttl === 0) return -1;
  const oldWord = readU16(bytes, offset + 8);
  bytes[offset + 8] = ttl - 1;
  const checksum = updateChecksumWord(readU16(bytes, offset + 10), oldWord, readU16(bytes, offset + 8));
  writeU16(bytes, offset + 10, checksum);
  return ttl - 1;
}
