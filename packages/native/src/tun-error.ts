import { CapsuleError } from '@capsule/wire';

/** Opening, reading or writing a device (or native socket) failed; `code` says which, `errno` the system's reason. */
export class TunError extends CapsuleError {
  readonly errno: number | undefined;
  constructor(
    code:
      | 'TUN_OPEN_FAILED'
      | 'TUN_PERMISSION'
      | 'TUN_READ_FAILED'
      | 'TUN_WRITE_FAILED'
      | 'TUN_ADDON_MISSING'
      | 'TUN_BAD_OPTIONS'
      | 'INTERFACE_CONFIG_FAILED',
    message: string,
    errno?: number,
  ) {
    super(code, message);
    this.errno = errno;
  }
}
