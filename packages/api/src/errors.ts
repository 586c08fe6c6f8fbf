/**
 * Every error code the control-plane API can answer with, and its HTTP status — the one table.
 * The controller throws `ApiError(code, message)`; its error handler looks the status up here;
 * the typed client turns a `{code, message}` response back into an `ApiError`.
 */
import { CapsuleError } from '@capsule/wire';

/** Error code → HTTP status. Codes are stable: clients and tests match on them. */
export const apiErrorStatus = {
  /** The request body, query or path does not match the schema (wrong type, unknown field …). */
  VALIDATION_FAILED: 400,
  /** The body is not valid JSON, or not JSON at all. */
  MALFORMED_BODY: 400,
  /** A southbound registration whose CGA parameters do not produce the claimed host id. */
  CGA_INVALID: 400,
  /** A signature (node registration, …) that does not verify. */
  SIGNATURE_INVALID: 400,
  /** A template's program image that the VM verifier rejects. */
  PROGRAM_REJECTED: 400,
  /** A node key the controller refuses at registration: RSA below 2048 bits, a low-order X25519 key. */
  WEAK_KEY: 400,
  /** A password the policy refuses: shorter than 12 characters, a common password, too few distinct characters. */
  WEAK_PASSWORD: 400,
  /** A reference to an object that does not exist (a domain, zone, node … named in a body). */
  REFERENCE_NOT_FOUND: 400,
  /** Wrong domain, user name or password, or a disabled user. */
  BAD_CREDENTIALS: 401,
  /** No bearer token, or one that is malformed, forged or expired. */
  UNAUTHENTICATED: 401,
  /** A node-registration nonce that is unknown, used already, or expired. */
  NONCE_INVALID: 401,
  /** A service token that is unknown, expired or does not match. */
  SERVICE_TOKEN_INVALID: 401,
  /** Authenticated, but the caller's roles or domain do not allow this. */
  FORBIDDEN: 403,
  /** A service asked for a contract role it has not been granted. */
  ROLE_NOT_GRANTED: 403,
  /** A link that policy refuses (unknown peer, disabled pair, host-to-host …). */
  LINK_REFUSED: 403,
  /** A link to an engine of another domain that no peering lets this node's domain use. */
  DOMAIN_NOT_PEERED: 403,
  /** No such object, or not visible to the caller. */
  NOT_FOUND: 404,
  /** A unique name or id is taken. */
  CONFLICT: 409,
  /** The object is still referenced by others and cannot be deleted. */
  IN_USE: 409,
  /** The node's user has no zone, so it has no netprefix to register under. */
  NO_ZONE: 409,
  /** The node is not registered yet (keep-alive, links, endpoints before registration). */
  NODE_NOT_REGISTERED: 409,
  /** The body exceeds the configured limit. */
  BODY_TOO_LARGE: 413,
  /** The body is not `application/json`. */
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** Too many failed logins (from this address, or for this account); the answer's `Retry-After` says when to try again. */
  RATE_LIMITED: 429,
  /** An unexpected fault in the controller (a bug): logged with its stack. */
  INTERNAL: 500,
  /** A capability the controller was started without (for example no program verifier). */
  UNAVAILABLE: 503,
} as const;

/** One of the API's error codes. */
export type ApiErrorCode = keyof typeof apiErrorStatus;

/** The JSON body of every error response. */
export interface ApiErrorBody {
  code: string;
  message: string;
}

/** An API error: the code decides the HTTP status (see `apiErrorStatus`). */
export class ApiError extends CapsuleError {
  declare readonly code: ApiErrorCode;
  /** The HTTP status from the table. */
  readonly status: number;

  /** For RATE_LIMITED: whole seconds until a retry may succeed (the `Retry-After` header). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ApiErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = apiErrorStatus[code];
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** The HTTP status for any code; unknown codes (inherited property names too) are internal errors (500). */
export function statusOfCode(code: string): number {
  return isApiErrorCode(code) ? apiErrorStatus[code] : 500;
}

/** True when `code` is one of the API's error codes. */
export function isApiErrorCode(code: string): code is ApiErrorCode {
  return Object.hasOwn(apiErrorStatus, code);
}
