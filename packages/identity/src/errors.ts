import { CapsuleError } from '@capsule/wire';

/** Stable codes of the errors @capsule/identity throws (bad arguments, unusable keys, a search that gave up). */
export type IdentityErrorCode =
  | 'IDENTITY_INVALID_ARGUMENT'
  | 'IDENTITY_INVALID_KEY'
  | 'IDENTITY_WRONG_KEY_TYPE'
  | 'IDENTITY_BUFFER_TOO_SMALL'
  | 'IDENTITY_WEAK_PEER_KEY'
  | 'CGA_INVALID_PREFIX'
  | 'CGA_INVALID_SEC'
  | 'CGA_INVALID_MODIFIER'
  | 'CGA_INVALID_COLLISION_COUNT'
  | 'CGA_SEARCH_EXHAUSTED'
  | 'CGA_SEARCH_ABORTED';

/**
 * What @capsule/identity throws for everything that is not a per-message outcome. Verification of
 * untrusted input (CGA, signatures, certificates, authorizations) never throws: it returns a result.
 */
export class IdentityError extends CapsuleError {
  declare readonly code: IdentityErrorCode;

  constructor(code: IdentityErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
