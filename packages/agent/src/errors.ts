import { CapsuleError } from '@capsule/wire';

/** Stable codes of the errors the agent throws. */
export type AgentErrorCode =
  | 'AGENT_BAD_ACL'
  | 'AGENT_BAD_CONFIG'
  | 'AGENT_BAD_OPTION'
  | 'AGENT_BAD_PROGRAM'
  | 'AGENT_CGA_FAILED'
  | 'AGENT_NOT_STARTED'
  | 'AGENT_STOPPED'
  | 'UNAVAILABLE';

/** The error this package throws. */
export class AgentError extends CapsuleError {
  declare readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
