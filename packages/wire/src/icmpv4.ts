/**
 * ICMPv4 message header (RFC 792): for the underlay and carried IPv4 application packets.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Rest of Header (32 bits)                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Data …                                    |
 * ```
 * The checksum covers the ICMP message alone (no pseudo-header).
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes';
import { transportChecksum } from './checksum';
import { type DecodeResult, decoded, decodeFailure } from './decode-result';
import { ensureRoom, ensureUint } from './wire-error';

/** The fields of an ICMPv4 header. */
export interface Icmpv4Header {
  readonly type: number;
  readonly code: number;
  /** As stored (encodeIcmpv4Message computes it). */
  readonly checksum: number;
  /** The type-specific 32-bit word (identifier and sequence for echo, say). */
  readonly restOfHeader: number;
}

/** A decoded ICMPv4 message: header and data (a view). */
export interface DecodedIcmpv4Message extends Icmpv4Header {
  readonly data: Uint8Array;
}

/** Writes an ICMPv4 message with its checksum computed; returns its length. */
export function encodeIcmpv4Message(
  message: Omit<Icmpv4Header, 'checksum'> & { readonly data: Uint8Array },
  into: Uint8Array,
  offset = 0,
): number {
  ensureUint(message.type, 8, 'ICMPv4 type');
  ensureUint(message.code, 8, 'ICMPv4 code');
  ensureUint(message.restOfHeader, 32, 'ICMPv4 restOfHeader');
  const length = 8 + message.data.length;
  ensureRoom(into, offset, length, 'ICMPv4 message');
  into[offset] = message.type;
  into[offset + 1] = message.code;
  writeU32(into, offset + 4, message.restOfHeader);
  into.set(message.data, offset + 8);
  writeU16(into, offset + 2, transportChecksum(0, into, offset, offset + length, offset + 2));
  return length;
}

/** Decodes an ICMPv4 message occupying all of `bytes`. */
export function decodeIcmpv4Message(bytes: Uint8Array): DecodeResult<DecodedIcmpv4Message> {
  if (bytes.length < 8)
    return decodeFailure('TRUNCATED', `ICMPv4 header needs 8 bytes; got ${bytes.length}`, 0);
  return decoded({
    type: bytes[0]!,
    code: bytes[1]!,
    checksum: readU16(bytes, 2),
    restOfHeader: readU32(bytes, 4),
    data: bytes.subarray(8),
  });
}
