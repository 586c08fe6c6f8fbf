import { CapsuleError } from '@capsule/wire';

/** Stable codes of the errors the SDK's tools (the compiler reports Diagnostics instead) throws. */
export type SdkErrorCode = 'SIM_BAD_FIXTURE' | 'SIM_UNKNOWN_ENTRY';

/** The error this package throws. */
export class SdkError extends CapsuleError {
  declare readonly code: SdkErrorCode;

  constructor(code: SdkErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
