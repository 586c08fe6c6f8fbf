import { CapsuleError } from '@capsule/wire';

/** Stable codes of the errors the capsule command throws. */
export type CliErrorCode =
  | 'AGENT_UNREACHABLE'
  | 'CGA_INVALID_ADDRESS'
  | 'CGA_INVALID_COLLISION_COUNT'
  | 'CGA_INVALID_MODIFIER'
  | 'CGA_INVALID_PARAMETERS'
  | 'CGA_INVALID_SEC'
  | 'CLI_AMBIGUOUS'
  | 'CLI_BAD_ADDRESS'
  | 'CLI_BAD_CONFIG'
  | 'CLI_BAD_FILE'
  | 'CLI_BAD_KIND'
  | 'CLI_BAD_OPTION'
  | 'CLI_BAD_OUTPUT'
  | 'CLI_BAD_STORE'
  | 'CLI_BAD_TLS'
  | 'CLI_ENGINE_UNREACHABLE'
  | 'CLI_INSECURE_PERMISSIONS'
  | 'CLI_MISSING_OPTION'
  | 'CLI_NOT_LOGGED_IN'
  | 'CLI_READ_FAILED'
  | 'CLI_RESOLVER_INSTALL'
  | 'IDENTITY_FILE_EXISTS'
  | 'IDENTITY_INVALID_ARGUMENT'
  | 'IDENTITY_READ_FAILED'
  | 'IDENTITY_WRITE_FAILED'
  | 'IMAGE_INVALID'
  | 'SDK_BAD_ARGUMENT'
  | 'SDK_BAD_FIXTURE'
  | 'SDK_BAD_TIER'
  | 'SDK_COMPILE_FAILED'
  | 'SDK_READ_FAILED'
  | 'SDK_TRAP'
  | 'SDK_WRITE_FAILED'
  | 'VM_BAD_OPTION'
  | 'VM_BAD_TIER'
  | 'VM_NO_NATIVE_TIER'
  | 'VM_ISA_DOC_STALE'
  | 'VM_READ_FAILED'
  | 'VM_STEP_LIMIT'
  | 'WIRE_SAMPLE_ADDRESS'
  | 'WIRE_SAMPLE_LINK'
  | 'WIRE_SAMPLE_ND'
  | 'WIRE_SAMPLE_SEC';

/** The error this package throws. */
export class CliError extends CapsuleError {
  declare readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * An error a daemon answered with (the agent's REST API): its code is the daemon's, relayed as
 * given, so the CLI prints what the daemon said.
 */
export class RemoteError extends CapsuleError {}
