import { CapsuleError } from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import { ApiError, type ApiErrorCode, apiErrorStatus, isApiErrorCode, statusOfCode } from './errors';

const codes = Object.keys(apiErrorStatus) as ApiErrorCode[];

describe('the error table', () => {
  it('gives every code a client or server error status, and codes are upper snake case', () => {
    expect(codes.length).toBeGreaterThan(20);
    for (const code of codes) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]*$/);
      const status = apiErrorStatus[code];
      expect(status === 500 || status === 503 || (status >= 400 && status < 500), code).toBe(true);
    }
  });

  it('keeps the statuses clients and docs rely on', () => {
    expect(apiErrorStatus).toMatchObject({
      VALIDATION_FAILED: 400,
      MALFORMED_BODY: 400,
      BAD_CREDENTIALS: 401,
      UNAUTHENTICATED: 401,
      NONCE_INVALID: 401,
      FORBIDDEN: 403,
      LINK_REFUSED: 403,
      NOT_FOUND: 404,
      CONFLICT: 409,
      NODE_NOT_REGISTERED: 409,
      BODY_TOO_LARGE: 413,
      UNSUPPORTED_MEDIA_TYPE: 415,
      RATE_LIMITED: 429,
      INTERNAL: 500,
      UNAVAILABLE: 503,
    });
  });

  it('makes each ApiError carry its code, message, cause and the status from the table', () => {
    const cause = new Error('underneath');
    for (const code of codes) {
      const error = new ApiError(code, `about ${code}`, { cause });
      expect(error).toBeInstanceOf(CapsuleError);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({
        code,
        message: `about ${code}`,
        status: apiErrorStatus[code],
        name: 'ApiError',
      });
      expect(error.cause).toBe(cause);
      expect(statusOfCode(code)).toBe(apiErrorStatus[code]);
      expect(isApiErrorCode(code)).toBe(true);
    }
  });

  it('treats unknown codes — inherited property names included — as internal errors', () => {
    for (const code of [
      '',
      'nope',
      'not_found',
      'toString',
      'constructor',
      '__proto__',
      'hasOwnProperty',
      'valueOf',
    ]) {
      expect(isApiErrorCode(code), code).toBe(false);
      expect(statusOfCode(code), code).toBe(500);
    }
  });
});
