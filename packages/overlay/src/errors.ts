import { CapsuleError } from '@capsule/wire';

/** Stable codes of the errors the overlay package throws (misuse and configuration, never per packet). */
export type OverlayErrorCode =
  | 'OVERLAY_IDENTITY_INVALID'
  | 'OVERLAY_OPTION_INVALID'
  | 'UNDERLAY_ADDRESS_IN_USE'
  | 'UNDERLAY_BIND_FAILED';

/** The error this package throws. */
export class OverlayError extends CapsuleError {
  declare readonly code: OverlayErrorCode;

  constructor(code: OverlayErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
