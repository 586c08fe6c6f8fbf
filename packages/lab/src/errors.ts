import { CapsuleError } from '@capsule/wire';

/** Stable codes of the errors the lab throws. */
export type LabErrorCode =
  | 'LAB_BAD_TOPOLOGY'
  | 'LAB_NEEDS_ROOT'
  | 'LAB_COMMAND_FAILED'
  | 'LAB_ALREADY_UP'
  | 'LAB_NOT_UP'
  | 'LAB_TIMEOUT'
  | 'LAB_NO_SUCH_NODE'
  | 'LAB_PROCESS_EXITED'
  | 'LAB_LEFTOVERS'
  | 'LAB_BAD_USE_CASE'
  | 'LAB_BAD_OPTION'
  | 'LAB_BAD_PIN';

/** The error this package throws. */
export class LabError extends CapsuleError {
  declare readonly code: LabErrorCode;

  constructor(code: LabErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
