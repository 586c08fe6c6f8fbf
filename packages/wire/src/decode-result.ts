/**
 * The result of decoding untrusted bytes. Decoders never throw on input: they return either the
 * value or an error naming what was wrong and at which byte offset (relative to the first byte
 * the decoder was given). Engines count drops by `code`.
 */

/** Every reason a decoder can refuse its input; stable strings (counters and logs use them). */
export type DecodeErrorCode =
  /** The input ends before a field or a length it announced. */
  | 'TRUNCATED'
  /** A length field disagrees with the bytes present or with another length. */
  | 'BAD_LENGTH'
  /** A version field holds a version this codec does not speak. */
  | 'BAD_VERSION'
  /** A type field holds a value this codec does not know. */
  | 'UNKNOWN_TYPE'
  /** A field holds a value the format forbids (a non-zero reserved field, an odd offset …). */
  | 'BAD_FIELD'
  /** A field or a whole structure is larger than its limit. */
  | 'LIMIT_EXCEEDED'
  /** Chunks out of ascending type order, or repeated. */
  | 'CHUNK_ORDER'
  /** The chunks present break the rules of the packet type (type I needs AUTH, …). */
  | 'PACKET_TYPE_RULE'
  /** Padding holds non-zero bytes or is longer than the format allows. */
  | 'BAD_PADDING'
  /** A neighbor-discovery option with length 0 (RFC 4861 section 4.6: discard the packet). */
  | 'OPTION_LENGTH_ZERO'
  /** Text that is not an address (for the address parsers). */
  | 'BAD_ADDRESS_TEXT'
  /** A required element is missing (an RSA Signature option, say). */
  | 'MISSING';

/** What a decoder reports instead of a value. */
export interface DecodeError {
  readonly code: DecodeErrorCode;
  readonly message: string;
  /** Byte offset of the offending field, from the start of the decoder's input. */
  readonly offset: number;
}

/** A decoded value, or the reason there is none. */
export type DecodeResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: DecodeError };

/** Wraps a decoded value. */
export function decoded<T>(value: T): DecodeResult<T> {
  return { ok: true, value };
}

/** Builds a failed result. */
export function decodeFailure<T = never>(
  code: DecodeErrorCode,
  message: string,
  offset: number,
): DecodeResult<T> {
  return { ok: false, error: { code, message, offset } };
}
