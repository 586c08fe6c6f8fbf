/**
 * Authentication: password hashes (scrypt), bearer tokens (JWT signed with the controller's
 * Ed25519 key through jose, so every replica sharing the store verifies every other's tokens),
 * and the rate limit on failed logins.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { ApiError, type RoleName } from '@capsule/api';
import { type CryptoKey, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';

const scrypt = promisify(scryptCallback) as (
  password: string,
  salt: Buffer,
  length: number,
  options: object,
) => Promise<Buffer>;

/** scrypt cost: N = 2^14, r = 8, p = 1 (OWASP's minimum for scrypt), 32-byte key. */
const scryptParams = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** Hashes a password: `scrypt$<salt b64>$<key b64>`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32, scryptParams);
  return `scrypt$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Checks a password against a hash from `hashPassword` (constant time). */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const [scheme, saltText, keyText] = hash.split('$');
  if (scheme !== 'scrypt' || !saltText || !keyText) return false;
  const expected = Buffer.from(keyText, 'base64');
  const key = await scrypt(password, Buffer.from(saltText, 'base64'), expected.length, scryptParams);
  return timingSafeEqual(key, expected);
}

/** A hash that no password matches, to spend the same time on unknown users. */
export const unmatchableHash = `scrypt$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

/** Who is calling: the claims of a verified token. */
export interface Principal {
  userId: number;
  login: string;
  domainId: number;
  domain: string;
  roles: RoleName[];
  /** `user` tokens come from /api/v1/auth/token, `node` tokens from /sb/v1/login. */
  audience: 'user' | 'node';
  /** For node tokens issued at registration: the registered node. */
  nodeId?: number;
}

/** Issues and verifies bearer tokens. */
export interface TokenService {
  issue(principal: Principal, nowMs: number): Promise<{ token: string; expiresAt: string }>;
  /** Verifies a token for `audience`; throws UNAUTHENTICATED when forged, expired or malformed. */
  verify(token: string, audience: Principal['audience'], nowMs: number): Promise<Principal>;
}

/** Creates the token service over the controller's Ed25519 key (as JWK pair). */
export async function createTokenService(options: {
  privateJwk: JWK;
  publicJwk: JWK;
  issuer: string;
  tokenLifetimeMs: number;
}): Promise<TokenService> {
  const privateKey = (await importJWK(options.privateJwk, 'EdDSA')) as CryptoKey;
  const publicKey = (await importJWK(options.publicJwk, 'EdDSA')) as CryptoKey;
  return {
    async issue(principal, nowMs) {
      const iat = Math.floor(nowMs / 1000);
      const exp = iat + Math.ceil(options.tokenLifetimeMs / 1000);
      const token = await new SignJWT({
        login: principal.login,
        dom: principal.domainId,
        domn: principal.domain,
        roles: principal.roles,
        ...(principal.nodeId === undefined ? {} : { node: principal.nodeId }),
      })
        .setProtectedHeader({ alg: 'EdDSA' })
        .setSubject(String(principal.userId))
        .setAudience(principal.audience)
        .setIssuer(options.issuer)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(privateKey);
      return { token, expiresAt: new Date(exp * 1000).toISOString() };
    },
    async verify(token, audience, nowMs) {
      try {
        const { payload } = await jwtVerify(token, publicKey, {
          issuer: options.issuer,
          audience,
          algorithms: ['EdDSA'],
          currentDate: new Date(nowMs),
        });
        const roles = payload.roles;
        if (
          typeof payload.sub !== 'string' ||
          typeof payload.dom !== 'number' ||
          typeof payload.domn !== 'string' ||
          typeof payload.login !== 'string' ||
          !Array.isArray(roles)
        )
          throw new Error('claims missing');
        return {
          userId: Number(payload.sub),
          login: payload.login,
          domainId: payload.dom,
          domain: payload.domn,
          roles: roles as RoleName[],
          audience,
          ...(typeof payload.node === 'number' ? { nodeId: payload.node } : {}),
        };
      } catch (error) {
        const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
        throw new ApiError('UNAUTHENTICATED', expired ? 'the token has expired' : 'the token is not valid', {
          cause: error,
        });
      }
    },
  };
}

/** Counts failed logins per client address in a fixed window; over the limit the caller gets 429. */
export class LoginRateLimiter {
  readonly #failures = new Map<string, { count: number; windowStartMs: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  /** Throws RATE_LIMITED when `key` has failed too often in the current window. */
  check(key: string, nowMs: number): void {
    const entry = this.#failures.get(key);
    if (entry && nowMs - entry.windowStartMs < this.windowMs && entry.count >= this.maxFailures) {
      const retryS = Math.ceil((entry.windowStartMs + this.windowMs - nowMs) / 1000);
      throw new ApiError('RATE_LIMITED', `too many failed logins; retry in ${retryS} s`);
    }
  }

  /** Records one failure for `key`. */
  fail(key: string, nowMs: number): void {
    const entry = this.#failures.get(key);
    if (!entry || nowMs - entry.windowStartMs >= this.windowMs)
      this.#failures.set(key, { count: 1, windowStartMs: nowMs });
    else entry.count += 1;
    if (this.#failures.size > 100_000) this.#failures.clear();
  }
}
