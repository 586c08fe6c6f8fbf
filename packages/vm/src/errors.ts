import { CapsuleError } from '@capsule/wire';

/** Stable codes of the errors the VM package (a running program traps instead: Trap values) throws. */
export type VmErrorCode = 'VM_BAD_BUDGET' | 'VM_BAD_ELF' | 'VM_CODE_TOO_LARGE' | 'VM_NO_NATIVE_TIER';

/** The error this package throws. */
export class VmError extends CapsuleError {
  declare readonly code: VmErrorCode;

  constructor(code: VmErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
