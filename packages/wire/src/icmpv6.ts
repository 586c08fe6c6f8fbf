/**
 * ICMPv6 message header (RFC 4443 2.1). Neighbor-discovery bodies are decoded by nd-message.ts.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Message Body …                            |
 * ```
 * The checksum also covers the IPv6 pseudo-header with next header 58 (RFC 4443 2.3).
 */
import { readU16, writeU16 } from './bytes';
import { ipv6PseudoHeaderSum, transportChecksum } from './checksum';
import { type DecodeResult, decoded, decodeFailure } from './decode-result';
import { IpProtocol } from './ipv6';
import { ensureRoom, ensureUint } from './wire-error';

/** The fields of an ICMPv6 header. */
export interface Icmpv6Header {
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
}

/** A decoded ICMPv6 message: header and body (a view). */
export interface DecodedIcmpv6Message extends Icmpv6Header {
  readonly body: Uint8Array;
}

/** Writes an ICMPv6 message; the checksum is computed when both addresses are given, else written as 0. */
export function encodeIcmpv6Message(
  message: Omit<Icmpv6Header, 'checksum'> & { readonly body: Uint8Array },
  into: Uint8Array,
  offset = 0,
  addresses?: { readonly source: Uint8Array; readonly destination: Uint8Array },
): number {
  ensureUint(message.type, 8, 'ICMPv6 type');
  ensureUint(message.code, 8, 'ICMPv6 code');
  const length = 4 + message.body.length;
  ensureRoom(into, offset, length, 'ICMPv6 message');
  into[offset] = message.type;
  into[offset + 1] = message.code;
  writeU16(into, offset + 2, 0);
  into.set(message.body, offset + 4);
  if (addresses) setIcmpv6Checksum(into, offset, length, addresses.source, addresses.destination);
  return length;
}

/** Decodes an ICMPv6 message occupying all of `bytes`. */
export function decodeIcmpv6Message(bytes: Uint8Array): DecodeResult<DecodedIcmpv6Message> {
  if (bytes.length < 4)
    return decodeFailure('TRUNCATED', `ICMPv6 header needs 4 bytes; got ${bytes.length}`, 0);
  return decoded({ type: bytes[0]!, code: bytes[1]!, checksum: readU16(bytes, 2), body: bytes.subarray(4) });
}

/** The ICMPv6 checksum of bytes[offset, offset + length) between `source` and `destination` (16 bytes each). */
export function icmpv6Checksum(
  bytes: Uint8Array,
  offset: number,
  length: number,
  source: Uint8Array,
  destination: Uint8Array,
): number {
  const pseudo = ipv6PseudoHeaderSum(source, destination, IpProtocol.ICMPV6, length);
  return transportChecksum(pseudo, bytes, offset, offset + length, offset + 2);
}

/** Computes and stores the ICMPv6 checksum of the message at bytes[offset, offset + length). */
export function setIcmpv6Checksum(
  bytes: Uint8Array,
  offset: number,
  length: number,
  source: Uint8Array,
  destination: Uint8Array,
): void {
  writeU16(bytes, offset + 2, icmpv6Checksum(bytes, offset, length, source, destination));
}
