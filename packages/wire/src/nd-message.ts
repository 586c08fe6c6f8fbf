/**
 * Neighbor-discovery messages (RFC 4861 4.1–4.4) as ICMPv6 messages, with their options
 * (nd-option.ts), and the byte range a SeND RSA Signature covers (RFC 3971 5.2).
 *
 * ```
 * Router Solicitation (133):
 * |  Type = 133   |   Code = 0    |           Checksum            |
 * |                            Reserved                           |
 * |   Options …
 *
 * Router Advertisement (134):
 * |  Type = 134   |   Code = 0    |           Checksum            |
 * | Cur Hop Limit |M|O|  Reserved |        Router Lifetime        |
 * |                         Reachable Time                        |
 * |                          Retrans Timer                        |
 * |   Options …
 *
 * Neighbor Solicitation (135):
 * |  Type = 135   |   Code = 0    |           Checksum            |
 * |                            Reserved                           |
 * |                       Target Address (128)                    |
 * |   Options …
 *
 * Neighbor Advertisement (136):
 * |  Type = 136   |   Code = 0    |           Checksum            |
 * |R|S|O|                     Reserved                            |
 * |                       Target Address (128)                    |
 * |   Options …
 * ```
 * Decoding checks the ICMP code (0), the minimum lengths and every option; the hop limit of 255
 * (an IPv6 header field) and the checksum (it needs the addresses: `icmpv6Checksum`) are the
 * receiver's to check. Reserved fields are written as zero and ignored on receipt.
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes';
import { type DecodeResult, decoded, decodeFailure } from './decode-result';
import { setIcmpv6Checksum } from './icmpv6';
import {
  decodeNdOptionsIn,
  encodeNdOptions,
  type NdOption,
  NdOptionCursor,
  NdOptionType,
  ndOptionLength,
} from './nd-option';
import { ensureLength, ensureRoom, ensureUint, WireError } from './wire-error';

/** ICMPv6 types of the neighbor-discovery messages. */
export const NdMessageType = {
  ROUTER_SOLICITATION: 133,
  ROUTER_ADVERTISEMENT: 134,
  NEIGHBOR_SOLICITATION: 135,
  NEIGHBOR_ADVERTISEMENT: 136,
} as const;

/** A neighbor-discovery message (the ICMPv6 message, without the IPv6 header). */
export type NdMessage =
  | { readonly kind: 'routerSolicitation'; readonly options: readonly NdOption[] }
  | {
      readonly kind: 'routerAdvertisement';
      readonly curHopLimit: number;
      readonly managed: boolean;
      readonly other: boolean;
      /** Seconds. */
      readonly routerLifetime: number;
      /** Milliseconds. */
      readonly reachableTime: number;
      /** Milliseconds. */
      readonly retransTimer: number;
      readonly options: readonly NdOption[];
    }
  | {
      readonly kind: 'neighborSolicitation';
      readonly targetAddress: Uint8Array;
      readonly options: readonly NdOption[];
    }
  | {
      readonly kind: 'neighborAdvertisement';
      readonly router: boolean;
      readonly solicited: boolean;
      readonly override: boolean;
      readonly targetAddress: Uint8Array;
      readonly options: readonly NdOption[];
    };

/** A decoded message with the checksum as stored. */
export type DecodedNdMessage = NdMessage & { readonly checksum: number };

/** Where the options start, per message type (0 for a type that is not ND). */
export function ndOptionsOffset(type: number): number {
  switch (type) {
    case NdMessageType.ROUTER_SOLICITATION:
      return 8;
    case NdMessageType.ROUTER_ADVERTISEMENT:
      return 16;
    case NdMessageType.NEIGHBOR_SOLICITATION:
    case NdMessageType.NEIGHBOR_ADVERTISEMENT:
      return 24;
    default:
      return 0;
  }
}

function typeOf(message: NdMessage): number {
  switch (message.kind) {
    case 'routerSolicitation':
      return NdMessageType.ROUTER_SOLICITATION;
    case 'routerAdvertisement':
      return NdMessageType.ROUTER_ADVERTISEMENT;
    case 'neighborSolicitation':
      return NdMessageType.NEIGHBOR_SOLICITATION;
    case 'neighborAdvertisement':
      return NdMessageType.NEIGHBOR_ADVERTISEMENT;
  }
}

/** The encoded length of `message`. */
export function ndMessageLength(message: NdMessage): number {
  let length = ndOptionsOffset(typeOf(message));
  for (const option of message.options) length += ndOptionLength(option);
  return length;
}

/**
 * Writes `message` at into[offset]; returns its length. With `addresses` (the IPv6 source and
 * destination) the checksum is computed; without, it is left 0 (a SeND signer fills it in later).
 */
export function encodeNdMessage(
  message: NdMessage,
  into: Uint8Array,
  offset = 0,
  addresses?: { readonly source: Uint8Array; readonly destination: Uint8Array },
): number {
  const type = typeOf(message);
  const length = ndMessageLength(message);
  ensureRoom(into, offset, length, 'ND message');
  const optionsAt = offset + ndOptionsOffset(type);
  into.fill(0, offset, optionsAt);
  into[offset] = type;
  switch (message.kind) {
    case 'routerSolicitation':
      break;
    case 'routerAdvertisement':
      ensureUint(message.curHopLimit, 8, 'RA curHopLimit');
      ensureUint(message.routerLifetime, 16, 'RA routerLifetime');
      ensureUint(message.reachableTime, 32, 'RA reachableTime');
      ensureUint(message.retransTimer, 32, 'RA retransTimer');
      into[offset + 4] = message.curHopLimit;
      into[offset + 5] = (message.managed ? 0x80 : 0) | (message.other ? 0x40 : 0);
      writeU16(into, offset + 6, message.routerLifetime);
      writeU32(into, offset + 8, message.reachableTime);
      writeU32(into, offset + 12, message.retransTimer);
      break;
    case 'neighborSolicitation':
      ensureLength(message.targetAddress, 16, 'NS target address');
      into.set(message.targetAddress, offset + 8);
      break;
    case 'neighborAdvertisement':
      ensureLength(message.targetAddress, 16, 'NA target address');
      into[offset + 4] =
        (message.router ? 0x80 : 0) | (message.solicited ? 0x40 : 0) | (message.override ? 0x20 : 0);
      into.set(message.targetAddress, offset + 8);
      break;
  }
  const written = encodeNdOptions(message.options, into, optionsAt);
  if (optionsAt + written !== offset + length)
    throw new WireError('WIRE_VALUE_INVALID', 'ND options length mismatch');
  if (addresses) setIcmpv6Checksum(into, offset, length, addresses.source, addresses.destination);
  return length;
}

/** Decodes a neighbor-discovery message occupying all of `bytes` (the ICMPv6 message). */
export function decodeNdMessage(bytes: Uint8Array): DecodeResult<DecodedNdMessage> {
  if (bytes.length < 4)
    return decodeFailure('TRUNCATED', `ICMPv6 header needs 4 bytes; got ${bytes.length}`, 0);
  const type = bytes[0]!;
  const optionsAt = ndOptionsOffset(type);
  if (optionsAt === 0)
    return decodeFailure('UNKNOWN_TYPE', `ICMPv6 type ${type} is not neighbor discovery`, 0);
  if (bytes[1] !== 0) return decodeFailure('BAD_FIELD', `ND code ${bytes[1]} (must be 0)`, 1);
  if (bytes.length < optionsAt)
    return decodeFailure(
      'TRUNCATED',
      `ND message type ${type} needs ${optionsAt} bytes; got ${bytes.length}`,
      4,
    );
  const options = decodeNdOptionsIn(bytes, optionsAt, bytes.length);
  if (!options.ok) return options;
  const checksum = readU16(bytes, 2);
  switch (type) {
    case NdMessageType.ROUTER_SOLICITATION:
      return decoded({ kind: 'routerSolicitation', checksum, options: options.value });
    case NdMessageType.ROUTER_ADVERTISEMENT:
      return decoded({
        kind: 'routerAdvertisement',
        checksum,
        curHopLimit: bytes[4]!,
        managed: (bytes[5]! & 0x80) !== 0,
        other: (bytes[5]! & 0x40) !== 0,
        routerLifetime: readU16(bytes, 6),
        reachableTime: readU32(bytes, 8),
        retransTimer: readU32(bytes, 12),
        options: options.value,
      });
    case NdMessageType.NEIGHBOR_SOLICITATION:
      return decoded({
        kind: 'neighborSolicitation',
        checksum,
        targetAddress: bytes.subarray(8, 24),
        options: options.value,
      });
    default:
      return decoded({
        kind: 'neighborAdvertisement',
        checksum,
        router: (bytes[4]! & 0x80) !== 0,
        solicited: (bytes[4]! & 0x40) !== 0,
        override: (bytes[4]! & 0x20) !== 0,
        targetAddress: bytes.subarray(8, 24),
        options: options.value,
      });
  }
}

/** Where the SeND signature sits in an ND message and what it covers. */
export interface SendSignedRange {
  /**
   * The ICMP message bytes the signature covers are [0, signedEnd): type, code, checksum, the
   * message header and the options before the (first) RSA Signature option (RFC 3971 5.2 items
   * 4–6; the signer prepends the CGA Message Type tag and the two addresses).
   */
  readonly signedEnd: number;
  /** Offset of the RSA Signature option (= signedEnd). */
  readonly signatureOptionOffset: number;
  /** Length of the RSA Signature option. */
  readonly signatureOptionLength: number;
  /** Key Hash field (a view). */
  readonly keyHash: Uint8Array;
  /** Digital signature and padding (a view; see rsaSignatureBytes). */
  readonly signature: Uint8Array;
}

/**
 * Finds the first RSA Signature option of the ND message `icmp` and the range it signs, without
 * re-encoding anything (options after it are ignored, RFC 3971 5.2.2). MISSING when there is none.
 */
export function sendSignedRange(icmp: Uint8Array): DecodeResult<SendSignedRange> {
  if (icmp.length < 4) return decodeFailure('TRUNCATED', 'ICMPv6 header cut short', 0);
  const optionsAt = ndOptionsOffset(icmp[0]!);
  if (optionsAt === 0)
    return decodeFailure('UNKNOWN_TYPE', `ICMPv6 type ${icmp[0]} is not neighbor discovery`, 0);
  if (icmp.length < optionsAt) return decodeFailure('TRUNCATED', 'ND message header cut short', 4);
  const cursor = new NdOptionCursor().reset(icmp, optionsAt, icmp.length);
  while (cursor.next()) {
    if (cursor.type !== NdOptionType.RSA_SIGNATURE) continue;
    if (cursor.length < 24)
      return decodeFailure('BAD_LENGTH', `RSA Signature option of ${cursor.length} bytes`, cursor.offset + 1);
    const at = cursor.offset;
    return decoded({
      signedEnd: at,
      signatureOptionOffset: at,
      signatureOptionLength: cursor.length,
      keyHash: icmp.subarray(at + 4, at + 20),
      signature: icmp.subarray(at + 20, at + cursor.length),
    });
  }
  if (cursor.errorCode) return decodeFailure(cursor.errorCode, cursor.errorMessage, cursor.errorOffset);
  return decodeFailure('MISSING', 'no RSA Signature option', optionsAt);
}
