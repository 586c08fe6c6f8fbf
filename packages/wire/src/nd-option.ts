/**
 * Neighbor-discovery options (RFC 4861 4.6), the SeND options (RFC 3971 5), and two of Capsule's
 * in the RFC 4727 experimental option types 253 and 254. Every option is a whole number of
 * 8-octet units; a length of 0 invalidates the packet (RFC 4861 4.6).
 *
 * ```
 * Generic:           | Type (8) | Length (8, in 8-octet units) | body …                        |
 * 1/2 Link-layer:    | 1 or 2   | n | Link-Layer Address (n × 8 − 2 bytes, padding included)  |
 * 3 Prefix Info:     | 3 | 4 | Prefix Length | L|A|Reserved1 | Valid Lifetime (32)           |
 *                    | Preferred Lifetime (32) | Reserved2 (32) | Prefix (128)                   |
 * 5 MTU:             | 5 | 1 | Reserved (16) | MTU (32)                                        |
 * 11 CGA:            | 11 | n | Pad Length | Reserved | CGA Parameters … | Padding (Pad Length) |
 * 12 RSA Signature:  | 12 | n | Reserved (16) | Key Hash (128) | Digital Signature … | Padding |
 * 13 Timestamp:      | 13 | 2 | Reserved (48) | Timestamp (64: 48-bit seconds, 16-bit 1/64K)  |
 * 14 Nonce:          | 14 | n | Nonce (n × 8 − 2 bytes, at least 6)                          |
 * 253 Node Cert.:    | 253 | n | Certificate Length (16) | Certificate … | zero padding        |
 * 254 Key Exchange:  | 254 | 5 | Reserved (16) | Receiver Index (32) | X25519 Public Key (256)  |
 * ```
 * The RSA Signature option has no length of its own for the signature: a decoded `signature`
 * holds the signature and its zero padding (0..7 bytes); the verifier knows the modulus length k
 * and takes the first k bytes (`rsaSignatureBytes`). Unknown options decode as `unknown` (RFC 4861:
 * receivers ignore options they do not recognise).
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes';
import {
  type DecodeError,
  type DecodeErrorCode,
  type DecodeResult,
  decoded,
  decodeFailure,
} from './decode-result';
import { ensureLength, ensureRoom, ensureUint, WireError } from './wire-error';

/** Option type numbers. */
export const NdOptionType = {
  SOURCE_LINK_LAYER_ADDRESS: 1,
  TARGET_LINK_LAYER_ADDRESS: 2,
  PREFIX_INFORMATION: 3,
  MTU: 5,
  CGA: 11,
  RSA_SIGNATURE: 12,
  TIMESTAMP: 13,
  NONCE: 14,
  /** Capsule: the controller-signed node certificate (RFC 4727 experimental type). */
  NODE_CERTIFICATE: 253,
  /** Capsule: ephemeral X25519 public key and receiver index (RFC 4727 experimental type). */
  KEY_EXCHANGE: 254,
} as const;

/** A neighbor-discovery option. */
export type NdOption =
  | { readonly kind: 'sourceLinkLayerAddress' | 'targetLinkLayerAddress'; readonly address: Uint8Array }
  | {
      readonly kind: 'prefixInformation';
      readonly prefixLength: number;
      readonly onLink: boolean;
      readonly autonomous: boolean;
      /** Seconds; 0xffffffff is infinity. */
      readonly validLifetime: number;
      readonly preferredLifetime: number;
      /** 16 bytes. */
      readonly prefix: Uint8Array;
    }
  | { readonly kind: 'mtu'; readonly mtu: number }
  | { readonly kind: 'cga'; readonly parameters: Uint8Array }
  | { readonly kind: 'rsaSignature'; readonly keyHash: Uint8Array; readonly signature: Uint8Array }
  | {
      readonly kind: 'timestamp';
      /** Seconds since 1970-01-01 00:00 UTC, 48 bits. */
      readonly seconds: number;
      /** 1/65536 s, 16 bits. */
      readonly fraction: number;
    }
  | { readonly kind: 'nonce'; readonly nonce: Uint8Array }
  | { readonly kind: 'nodeCertificate'; readonly certificate: Uint8Array }
  | { readonly kind: 'keyExchange'; readonly receiverIndex: number; readonly publicKey: Uint8Array }
  | { readonly kind: 'unknown'; readonly type: number; readonly body: Uint8Array };

/** Bytes after the type and length fields of the fixed-size options. */
const X25519_KEY_LENGTH = 32;

const pad8 = (length: number) => (length + 7) & ~7;

/** The encoded length of `option` in bytes (a multiple of 8). */
export function ndOptionLength(option: NdOption): number {
  switch (option.kind) {
    case 'sourceLinkLayerAddress':
    case 'targetLinkLayerAddress':
      return pad8(2 + option.address.length);
    case 'prefixInformation':
      return 32;
    case 'mtu':
      return 8;
    case 'cga':
      return pad8(4 + option.parameters.length);
    case 'rsaSignature':
      return pad8(20 + option.signature.length);
    case 'timestamp':
      return 16;
    case 'nonce':
      return pad8(2 + option.nonce.length);
    case 'nodeCertificate':
      return pad8(4 + option.certificate.length);
    case 'keyExchange':
      return 40;
    case 'unknown':
      return pad8(2 + option.body.length);
  }
}

function typeOf(option: NdOption): number {
  switch (option.kind) {
    case 'sourceLinkLayerAddress':
      return NdOptionType.SOURCE_LINK_LAYER_ADDRESS;
    case 'targetLinkLayerAddress':
      return NdOptionType.TARGET_LINK_LAYER_ADDRESS;
    case 'prefixInformation':
      return NdOptionType.PREFIX_INFORMATION;
    case 'mtu':
      return NdOptionType.MTU;
    case 'cga':
      return NdOptionType.CGA;
    case 'rsaSignature':
      return NdOptionType.RSA_SIGNATURE;
    case 'timestamp':
      return NdOptionType.TIMESTAMP;
    case 'nonce':
      return NdOptionType.NONCE;
    case 'nodeCertificate':
      return NdOptionType.NODE_CERTIFICATE;
    case 'keyExchange':
      return NdOptionType.KEY_EXCHANGE;
    case 'unknown':
      return option.type;
  }
}

/** Writes one option (zero-padded to 8 octets) at into[offset]; returns its length. */
export function encodeNdOption(option: NdOption, into: Uint8Array, offset = 0): number {
  const length = ndOptionLength(option);
  if (length > 255 * 8) throw new WireError('WIRE_LIMIT_EXCEEDED', `ND option of ${length} bytes > 2040`);
  const type = typeOf(option);
  ensureUint(type, 8, 'ND option type');
  ensureRoom(into, offset, length, 'ND option');
  into.fill(0, offset, offset + length);
  into[offset] = type;
  into[offset + 1] = length / 8;
  const body = offset + 2;
  switch (option.kind) {
    case 'sourceLinkLayerAddress':
    case 'targetLinkLayerAddress':
      into.set(option.address, body);
      break;
    case 'prefixInformation':
      ensureUint(option.prefixLength, 8, 'prefix length');
      if (option.prefixLength > 128) throw new WireError('WIRE_VALUE_INVALID', 'prefix length > 128');
      ensureUint(option.validLifetime, 32, 'valid lifetime');
      ensureUint(option.preferredLifetime, 32, 'preferred lifetime');
      ensureLength(option.prefix, 16, 'prefix');
      into[body] = option.prefixLength;
      into[body + 1] = (option.onLink ? 0x80 : 0) | (option.autonomous ? 0x40 : 0);
      writeU32(into, body + 2, option.validLifetime);
      writeU32(into, body + 6, option.preferredLifetime);
      into.set(option.prefix, body + 14);
      break;
    case 'mtu':
      ensureUint(option.mtu, 32, 'MTU');
      writeU32(into, body + 2, option.mtu);
      break;
    case 'cga':
      into[body] = length - 4 - option.parameters.length;
      into.set(option.parameters, body + 2);
      break;
    case 'rsaSignature':
      ensureLength(option.keyHash, 16, 'RSA Signature key hash');
      into.set(option.keyHash, body + 2);
      into.set(option.signature, body + 18);
      break;
    case 'timestamp':
      ensureUint(option.seconds, 48, 'timestamp seconds');
      ensureUint(option.fraction, 16, 'timestamp fraction');
      writeU16(into, body + 6, Math.floor(option.seconds / 2 ** 32));
      writeU32(into, body + 8, option.seconds >>> 0);
      writeU16(into, body + 12, option.fraction);
      break;
    case 'nonce':
      if (option.nonce.length < 6)
        throw new WireError('WIRE_VALUE_INVALID', 'a SeND nonce has at least 6 bytes');
      if ((option.nonce.length + 2) % 8 !== 0)
        throw new WireError(
          'WIRE_VALUE_INVALID',
          `nonce of ${option.nonce.length} bytes: length + 2 must be a multiple of 8`,
        );
      into.set(option.nonce, body);
      break;
    case 'nodeCertificate':
      writeU16(into, body, option.certificate.length);
      into.set(option.certificate, body + 2);
      break;
    case 'keyExchange':
      ensureUint(option.receiverIndex, 32, 'key exchange receiver index');
      ensureLength(option.publicKey, X25519_KEY_LENGTH, 'X25519 public key');
      writeU32(into, body + 2, option.receiverIndex);
      into.set(option.publicKey, body + 6);
      break;
    case 'unknown':
      into.set(option.body, body);
      break;
  }
  return length;
}

/** Writes options one after another at into[offset]; returns the bytes written. */
export function encodeNdOptions(options: readonly NdOption[], into: Uint8Array, offset = 0): number {
  let at = offset;
  for (const option of options) at += encodeNdOption(option, into, at);
  return at - offset;
}

/**
 * A cursor over the options in bytes[start, end) that allocates nothing: `reset`, then `next()`
 * until false; then `errorCode` is undefined at a clean end or says what was wrong.
 */
export class NdOptionCursor {
  type = 0;
  /** Offset of the option's type byte. */
  offset = 0;
  /** Length in bytes (the length field × 8). */
  length = 0;
  errorCode: DecodeErrorCode | undefined = undefined;
  errorMessage = '';
  errorOffset = 0;
  private bytes: Uint8Array = new Uint8Array(0);
  private at = 0;
  private end = 0;

  reset(bytes: Uint8Array, start: number, end: number): this {
    this.bytes = bytes;
    this.at = start;
    this.end = end;
    this.errorCode = undefined;
    return this;
  }

  next(): boolean {
    const { bytes, at, end } = this;
    if (at >= end) return false;
    if (at + 2 > end) return this.fail('TRUNCATED', 'ND option header cut short', at);
    const length = bytes[at + 1]! * 8;
    if (length === 0) return this.fail('OPTION_LENGTH_ZERO', `ND option ${bytes[at]} has length 0`, at + 1);
    if (at + length > end)
      return this.fail('TRUNCATED', `ND option ${bytes[at]} of ${length} bytes cut short`, at + 1);
    this.type = bytes[at]!;
    this.offset = at;
    this.length = length;
    this.at = at + length;
    return true;
  }

  private fail(code: DecodeErrorCode, message: string, offset: number): false {
    this.errorCode = code;
    this.errorMessage = message;
    this.errorOffset = offset;
    this.at = this.end;
    return false;
  }
}

function badLength(type: number, length: number, expected: string): DecodeError {
  return { code: 'BAD_LENGTH', message: `ND option ${type} of ${length} bytes (${expected})`, offset: 1 };
}

/** Decodes the option at bytes[offset] whose length (bytes) the cursor found; offsets in errors are relative to it. */
function decodeOptionAt(bytes: Uint8Array, offset: number, length: number): NdOption | DecodeError {
  const type = bytes[offset]!;
  const body = offset + 2;
  const end = offset + length;
  switch (type) {
    case NdOptionType.SOURCE_LINK_LAYER_ADDRESS:
    case NdOptionType.TARGET_LINK_LAYER_ADDRESS:
      return {
        kind: type === 1 ? 'sourceLinkLayerAddress' : 'targetLinkLayerAddress',
        address: bytes.subarray(body, end),
      };
    case NdOptionType.PREFIX_INFORMATION: {
      if (length !== 32) return badLength(type, length, 'must be 32');
      const prefixLength = bytes[body]!;
      if (prefixLength > 128)
        return { code: 'BAD_FIELD', message: `prefix length ${prefixLength} > 128`, offset: 2 };
      return {
        kind: 'prefixInformation',
        prefixLength,
        onLink: (bytes[body + 1]! & 0x80) !== 0,
        autonomous: (bytes[body + 1]! & 0x40) !== 0,
        validLifetime: readU32(bytes, body + 2),
        preferredLifetime: readU32(bytes, body + 6),
        prefix: bytes.subarray(body + 14, body + 30),
      };
    }
    case NdOptionType.MTU:
      if (length !== 8) return badLength(type, length, 'must be 8');
      return { kind: 'mtu', mtu: readU32(bytes, body + 2) };
    case NdOptionType.CGA: {
      const padLength = bytes[body]!;
      if (4 + padLength > length)
        return { code: 'BAD_LENGTH', message: `CGA pad length ${padLength} exceeds the option`, offset: 2 };
      return { kind: 'cga', parameters: bytes.subarray(body + 2, end - padLength) };
    }
    case NdOptionType.RSA_SIGNATURE:
      if (length < 24) return badLength(type, length, 'at least 24');
      return {
        kind: 'rsaSignature',
        keyHash: bytes.subarray(body + 2, body + 18),
        signature: bytes.subarray(body + 18, end),
      };
    case NdOptionType.TIMESTAMP:
      if (length !== 16) return badLength(type, length, 'must be 16');
      return {
        kind: 'timestamp',
        seconds: readU16(bytes, body + 6) * 2 ** 32 + readU32(bytes, body + 8),
        fraction: readU16(bytes, body + 12),
      };
    case NdOptionType.NONCE:
      return { kind: 'nonce', nonce: bytes.subarray(body, end) };
    case NdOptionType.NODE_CERTIFICATE: {
      const certificateLength = readU16(bytes, body);
      if (length < 4) return badLength(type, length, 'at least 8');
      if (4 + certificateLength > length || pad8(4 + certificateLength) !== length)
        return {
          code: 'BAD_LENGTH',
          message: `certificate length ${certificateLength} in ${length} bytes`,
          offset: 2,
        };
      return { kind: 'nodeCertificate', certificate: bytes.subarray(body + 2, body + 2 + certificateLength) };
    }
    case NdOptionType.KEY_EXCHANGE:
      if (length !== 40) return badLength(type, length, 'must be 40');
      return {
        kind: 'keyExchange',
        receiverIndex: readU32(bytes, body + 2),
        publicKey: bytes.subarray(body + 6, end),
      };
    default:
      return { kind: 'unknown', type, body: bytes.subarray(body, end) };
  }
}

/** Decodes the options in bytes[start, end); error offsets are relative to `bytes`. */
export function decodeNdOptionsIn(bytes: Uint8Array, start: number, end: number): DecodeResult<NdOption[]> {
  const cursor = new NdOptionCursor().reset(bytes, start, end);
  const options: NdOption[] = [];
  while (cursor.next()) {
    const option = decodeOptionAt(bytes, cursor.offset, cursor.length);
    if ('code' in option) return decodeFailure(option.code, option.message, cursor.offset + option.offset);
    options.push(option);
  }
  if (cursor.errorCode) return decodeFailure(cursor.errorCode, cursor.errorMessage, cursor.errorOffset);
  return decoded(options);
}

/** Decodes a run of options occupying all of `bytes`. */
export function decodeNdOptions(bytes: Uint8Array): DecodeResult<NdOption[]> {
  return decodeNdOptionsIn(bytes, 0, bytes.length);
}

/** The first `modulusLength` bytes of a decoded RSA Signature option's signature (the rest is padding). */
export function rsaSignatureBytes(
  option: { readonly signature: Uint8Array },
  modulusLength: number,
): Uint8Array {
  return option.signature.subarray(0, modulusLength);
}

/** A SeND timestamp (RFC 3971 5.3.1) from milliseconds since the Unix epoch. */
export function timestampFromMs(ms: number): { seconds: number; fraction: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds, fraction: Math.min(0xffff, Math.floor(((ms - seconds * 1000) / 1000) * 65536)) };
}

/** Milliseconds since the Unix epoch of a SeND timestamp. */
export function timestampToMs(timestamp: { readonly seconds: number; readonly fraction: number }): number {
  return timestamp.seconds * 1000 + (timestamp.fraction * 1000) / 65536;
}
