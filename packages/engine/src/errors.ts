import { CapsuleError } from '@capsule/wire';

/** Stable codes of the errors the engine throws. */
export type EngineErrorCode = 'ENGINE_HTTP_BIND_FAILED' | 'ENGINE_BAD_CERTIFICATE' | 'ENGINE_BAD_OPTION';

/** The error this package throws. */
export class EngineError extends CapsuleError {
  declare readonly code: EngineErrorCode;

  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
