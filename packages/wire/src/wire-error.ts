import { CapsuleError } from './errors';

/** Codes of the errors encoders throw: the caller passed a value the format cannot carry. */
export type WireErrorCode =
  /** The destination buffer is too small for the encoding. */
  | 'WIRE_BUFFER_TOO_SMALL'
  /** A field value does not fit its width or breaks a rule of the format. */
  | 'WIRE_VALUE_INVALID'
  /** A chunk, option or header exceeds its size limit. */
  | 'WIRE_LIMIT_EXCEEDED';

/**
 * Thrown by encoders only (programmer errors: the value came from our own code, not the network).
 * Decoders never throw; they return a DecodeResult.
 */
export class WireError extends CapsuleError {
  declare readonly code: WireErrorCode;

  constructor(code: WireErrorCode, message: string) {
    super(code, message);
  }
}

/** Throws WIRE_BUFFER_TOO_SMALL unless `into` has `length` bytes from `offset`. */
export function ensureRoom(into: Uint8Array, offset: number, length: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + length > into.length)
    throw new WireError(
      'WIRE_BUFFER_TOO_SMALL',
      `${what} needs ${length} bytes at offset ${offset}; the buffer has ${into.length}`,
    );
}

/** Throws WIRE_VALUE_INVALID unless `value` is an integer in [0, 2^bits). */
export function ensureUint(value: number, bits: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits)
    throw new WireError('WIRE_VALUE_INVALID', `${field} must be an integer in [0, 2^${bits}); got ${value}`);
}

/** Throws WIRE_VALUE_INVALID unless `bytes` is exactly `length` bytes long. */
export function ensureLength(bytes: Uint8Array, length: number, field: string): void {
  if (bytes.length !== length)
    throw new WireError('WIRE_VALUE_INVALID', `${field} must be ${length} bytes; got ${bytes.length}`);
}
