/**
 * Authentication: password hashes (scrypt), service-token secret hashes (SHA-256), bearer tokens (JWT signed with the controller's
 * Ed25519 key through jose, so every replica sharing the store verifies every other's tokens),
 * and the rate limit on failed logins.
 */
import {
  createHash,
  createPrivateKey,
  type JsonWebKeyInput,
  randomBytes,
  scrypt as scryptCallback,
  sign,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';
import { ApiError, type RoleName } from '@capsule/api';
import { type CryptoKey, importJWK, type JWK, jwtVerify } from 'jose';

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

/** SHA-256 of a service-token secret, as stored (the secret itself is shown once). */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
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

/** How long a verified token is remembered (never past its own expiry). */
const verifiedTokenCacheMs = 60_000;
/** Most tokens remembered at once; the oldest go first. */
const verifiedTokenCacheSize = 10_000;

/**
 * Creates the token service over the controller's Ed25519 key (as JWK pair).
 *
 * Tokens are compact JWS (`{"alg":"EdDSA"}`), signed with node:crypto over the controller's
 * KeyObject on libuv's thread pool (about 45 µs of CPU; jose's WebCrypto path takes about 105 µs) and verified with jose.
 * A verified token is remembered for a minute, keyed by the whole token text and audience
 * (not the signature alone: a remembered signature must not vouch for another header or
 * payload), so the bearer of a hot token — an admin script, a node's keep-alives — pays for the
 * signature check (about 200 µs of CPU) once. Expiry is still checked on every use; the user
 * behind the token is re-read by the caller on every request as before.
 */
export async function createTokenService(options: {
  privateJwk: JWK;
  publicJwk: JWK;
  issuer: string;
  tokenLifetimeMs: number;
}): Promise<TokenService> {
  const signingKey = createPrivateKey({ key: options.privateJwk as JsonWebKeyInput['key'], format: 'jwk' });
  const publicKey = (await importJWK(options.publicJwk, 'EdDSA')) as CryptoKey;
  const header = Buffer.from(JSON.stringify({ alg: 'EdDSA' })).toString('base64url');
  const verified = new Map<string, { principal: Principal; expiresS: number; untilMs: number }>();
  return {
    async issue(principal, nowMs) {
      const iat = Math.floor(nowMs / 1000);
      const exp = iat + Math.ceil(options.tokenLifetimeMs / 1000);
      // The claims jose's SignJWT wrote, in the same order.
      const claims = {
        login: principal.login,
        dom: principal.domainId,
        domn: principal.domain,
        roles: principal.roles,
        ...(principal.nodeId === undefined ? {} : { node: principal.nodeId }),
        sub: String(principal.userId),
        aud: principal.audience,
        iss: options.issuer,
        iat,
        exp,
      };
      const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      // Signed on libuv's thread pool, off the event loop.
      const signature = await new Promise<string>((resolve, reject) =>
        sign(null, Buffer.from(input), signingKey, (error, value) =>
          error ? reject(error) : resolve(value.toString('base64url')),
        ),
      );
      return { token: `${input}.${signature}`, expiresAt: new Date(exp * 1000).toISOString() };
    },
    async verify(token, audience, nowMs) {
      const cacheKey = `${audience} ${token}`;
      const known = verified.get(cacheKey);
      if (known) {
        // jose's rule: expired once the current second reaches `exp`.
        if (nowMs < known.untilMs && Math.floor(nowMs / 1000) < known.expiresS) return { ...known.principal };
        verified.delete(cacheKey);
      }
      let principal: Principal;
      let expiresS: number;
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
          typeof payload.exp !== 'number' ||
          !Array.isArray(roles)
        )
          throw new Error('claims missing');
        principal = {
          userId: Number(payload.sub),
          login: payload.login,
          domainId: payload.dom,
          domain: payload.domn,
          roles: roles as RoleName[],
          audience,
          ...(typeof payload.node === 'number' ? { nodeId: payload.node } : {}),
        };
        expiresS = payload.exp;
      } catch (error) {
        const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
        throw new ApiError('UNAUTHENTICATED', expired ? 'the token has expired' : 'the token is not valid', {
          cause: error,
        });
      }
      if (verified.size >= verifiedTokenCacheSize) verified.delete(verified.keys().next().value!);
      verified.set(cacheKey, { principal, expiresS, untilMs: nowMs + verifiedTokenCacheMs });
      return { ...principal };
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
