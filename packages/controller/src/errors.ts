import { CapsuleError } from '@capsule/wire';

/**
 * Stable codes of the errors the controller throws outside a request (start-up, its signing key).
 * Errors answered to API clients are `ApiError`s (@capsule/api).
 */
export type ControllerErrorCode =
  /** A listener could not bind (EADDRINUSE, EACCES …): the controller stops instead of running half. */
  | 'CONTROLLER_LISTEN_FAILED'
  /** The signing key the key store holds is not a readable Ed25519 private key. */
  | 'CONTROLLER_SIGNING_KEY_INVALID'
  /** The store was used with a signing key that the key store no longer holds. */
  | 'CONTROLLER_SIGNING_KEY_MISSING'
  /** The key store holds another key than the one the store (and its other replicas) use. */
  | 'CONTROLLER_SIGNING_KEY_MISMATCH'
  /** A pinned client (createPinnedFetch) met a certificate other than the pinned one: nothing was sent. */
  | 'CONTROLLER_TLS_PIN_MISMATCH'
  /** A pinned client was given a URL that is not https (or a body it cannot send). */
  | 'CONTROLLER_TLS_NOT_HTTPS';

/** The error this package throws outside a request. */
export class ControllerError extends CapsuleError {
  declare readonly code: ControllerErrorCode;

  constructor(code: ControllerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
