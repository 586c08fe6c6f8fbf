/**
 * Authentication: password hashes (scrypt), service-token secret hashes (SHA-256), bearer tokens (JWT signed with the controller's
 * Ed25519 key through jose, so every replica sharing the store verifies every other's tokens),
 * and the throttle on failed logins.
 */
import {
  createHash,
  createPrivateKey,
  type JsonWebKeyInput,
  type KeyObject,
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
  /**
   * The user's credential generation when the token was issued (the `gen` claim). A new password
   * moves the user's generation on, and a token of an older generation is refused
   * (`ControllerContext.authenticate`): a password change ends every session of the user at once.
   */
  credentialGeneration: number;
}

/** Issues and verifies bearer tokens. */
export interface TokenService {
  issue(principal: Principal, nowMs: number): Promise<{ token: string; expiresAt: string }>;
  /** Verifies a token for `audience`; throws UNAUTHENTICATED when forged, expired or malformed. */
  verify(token: string, audience: Principal['audience'], nowMs: number): Promise<Principal>;
}

/**
 * The keys tokens are signed and checked with while the controller's key ring rotates
 * (signing-key.ts): tokens carry the key id as their `kid` header.
 */
export interface TokenKeys {
  /** The key that signs at `nowMs`, and its `kid` (the key id, 4 hex digits). */
  signing(nowMs: number): { kid: string; privateKey: KeyObject };
  /** The public key of `kid` while trusted; `kid` undefined: a token issued before key ids. */
  verifying(kid: string | undefined, nowMs: number): KeyObject | undefined;
}

/** How far in the future a token's `iat` may be (clock skew between replicas) before it is refused. */
export const defaultTokenClockSkewMs = 60_000;

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
  /** A token issued more than this far ahead of the verifier's clock is refused (default 60 s). */
  clockSkewMs?: number;
  /** The key ring's keys (tokens with `kid`); without it, the JWK pair alone (no `kid`). */
  keys?: TokenKeys;
}): Promise<TokenService> {
  const clockSkewMs = options.clockSkewMs ?? defaultTokenClockSkewMs;
  const signingKey = createPrivateKey({ key: options.privateJwk as JsonWebKeyInput['key'], format: 'jwk' });
  const publicKey = (await importJWK(options.publicJwk, 'EdDSA')) as CryptoKey;
  const header = Buffer.from(JSON.stringify({ alg: 'EdDSA' })).toString('base64url');
  const headersByKid = new Map<string, string>();
  const headerOf = (kid: string) => {
    let text = headersByKid.get(kid);
    if (text === undefined) {
      text = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid })).toString('base64url');
      headersByKid.set(kid, text);
    }
    return text;
  };
  const keys = options.keys;
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
        gen: principal.credentialGeneration,
        sub: String(principal.userId),
        aud: principal.audience,
        iss: options.issuer,
        iat,
        exp,
      };
      const signer = keys?.signing(nowMs);
      const input = `${signer ? headerOf(signer.kid) : header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      // Signed on libuv's thread pool, off the event loop.
      const signature = await new Promise<string>((resolve, reject) =>
        sign(null, Buffer.from(input), signer?.privateKey ?? signingKey, (error, value) =>
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
        const key = keys
          ? async (protectedHeader: { kid?: string }) => {
              const found = keys.verifying(protectedHeader.kid, nowMs);
              if (found === undefined) throw new Error('unknown or retired key id');
              return found;
            }
          : publicKey;
        const { payload } = await jwtVerify(token, key, {
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
          typeof payload.iat !== 'number' ||
          typeof payload.gen !== 'number' ||
          !Array.isArray(roles)
        )
          throw new Error('claims missing');
        // jose checks `iat` only against a maximum age: a token dated ahead (a forged clock, or
        // one issued to outlive a password change) is refused here.
        if (payload.iat * 1000 > nowMs + clockSkewMs)
          throw Object.assign(new Error('issued in the future'), { code: 'CAPSULE_TOKEN_FUTURE' });
        principal = {
          userId: Number(payload.sub),
          login: payload.login,
          domainId: payload.dom,
          domain: payload.domn,
          roles: roles as RoleName[],
          audience,
          ...(typeof payload.node === 'number' ? { nodeId: payload.node } : {}),
          credentialGeneration: payload.gen,
        };
        expiresS = payload.exp;
      } catch (error) {
        const code = (error as { code?: string }).code;
        const message =
          code === 'ERR_JWT_EXPIRED'
            ? 'the token has expired'
            : code === 'CAPSULE_TOKEN_FUTURE'
              ? 'the token was issued in the future'
              : 'the token is not valid';
        throw new ApiError('UNAUTHENTICATED', message, { cause: error });
      }
      if (verified.size >= verifiedTokenCacheSize) verified.delete(verified.keys().next().value!);
      verified.set(cacheKey, { principal, expiresS, untilMs: nowMs + verifiedTokenCacheMs });
      return { ...principal };
    },
  };
}

/** The login throttle's limits (failed logins per window); `createLoginThrottle` fills the defaults. */
export interface LoginThrottleOptions {
  /** Failures of one account from one address per window (the controller's `loginFailuresPerMinute`). */
  failuresPerAccountAndAddress: number;
  /** Failures of one account from all addresses together per window (default 3 × the above). */
  failuresPerAccount?: number;
  /** Failures from one address over all accounts per window (default 10 × the first). */
  failuresPerAddress?: number;
  /** The window (default one minute). */
  windowMs?: number;
  /** How long a successful login keeps its address known to the account (default 24 h). */
  knownAddressMs?: number;
  /** Most entries per table before the oldest go (default 100,000). */
  maxEntries?: number;
}

/**
 * The throttle on failed logins, in fixed windows, keyed three ways:
 *
 * - per (account, address): the tight limit. One address guessing one account stops quickly; the
 *   other users behind the same address (a shared proxy) are not held up by it.
 * - per account over all addresses: many addresses no longer multiply the guesses at an account.
 *   An address that logged in to the account successfully within `knownAddressMs` is exempt from
 *   this limit (and the next), so a distributed attack on the admin does not lock the admin out
 *   of their usual place.
 * - per address over all accounts: one address spraying a password over many accounts.
 *
 * A refusal is RATE_LIMITED with `retryAfterSeconds` (sent as the `Retry-After` header), checked
 * before the password, so the right password is refused too while a limit holds.
 */
export class LoginThrottle {
  readonly #pair: FailureCounter;
  readonly #account: FailureCounter;
  readonly #address: FailureCounter;
  /** `account address` → when its last success stops counting. */
  readonly #known = new Map<string, number>();
  readonly #knownAddressMs: number;
  readonly #maxEntries: number;

  constructor(options: LoginThrottleOptions) {
    const windowMs = options.windowMs ?? 60_000;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#knownAddressMs = options.knownAddressMs ?? 24 * 3_600_000;
    const perPair = options.failuresPerAccountAndAddress;
    this.#pair = new FailureCounter(perPair, windowMs, this.#maxEntries);
    this.#account = new FailureCounter(options.failuresPerAccount ?? 3 * perPair, windowMs, this.#maxEntries);
    this.#address = new FailureCounter(
      options.failuresPerAddress ?? 10 * perPair,
      windowMs,
      this.#maxEntries,
    );
  }

  /** Throws RATE_LIMITED (with `retryAfterSeconds`) when a limit holds for this account and address. */
  check(account: string, address: string, nowMs: number): void {
    const pair = `${account} ${address}`;
    let waitMs = this.#pair.blockedForMs(pair, nowMs);
    if (!this.#isKnown(pair, nowMs))
      waitMs = Math.max(
        waitMs,
        this.#account.blockedForMs(account, nowMs),
        this.#address.blockedForMs(address, nowMs),
      );
    if (waitMs > 0) {
      const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new ApiError('RATE_LIMITED', `too many failed logins; retry in ${retryAfterSeconds} s`, {
        retryAfterSeconds,
      });
    }
  }

  /** Records one failed login. */
  fail(account: string, address: string, nowMs: number): void {
    this.#pair.count(`${account} ${address}`, nowMs);
    this.#account.count(account, nowMs);
    this.#address.count(address, nowMs);
  }

  /** Records a successful login: the address becomes known to the account. */
  succeed(account: string, address: string, nowMs: number): void {
    const pair = `${account} ${address}`;
    this.#known.delete(pair);
    if (this.#known.size >= this.#maxEntries) this.#known.delete(this.#known.keys().next().value!);
    this.#known.set(pair, nowMs + this.#knownAddressMs);
  }

  #isKnown(pair: string, nowMs: number): boolean {
    const until = this.#known.get(pair);
    return until !== undefined && nowMs < until;
  }
}

/** Failures per key in fixed windows, at most `maxEntries` keys (the oldest window goes first). */
class FailureCounter {
  readonly #entries = new Map<string, { count: number; windowStartMs: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly maxEntries: number,
  ) {}

  /** How long `key` stays refused (0: not refused). */
  blockedForMs(key: string, nowMs: number): number {
    const entry = this.#entries.get(key);
    if (!entry || nowMs - entry.windowStartMs >= this.windowMs || entry.count < this.maxFailures) return 0;
    return entry.windowStartMs + this.windowMs - nowMs;
  }

  count(key: string, nowMs: number): void {
    const entry = this.#entries.get(key);
    if (entry && nowMs - entry.windowStartMs < this.windowMs) {
      entry.count += 1;
      return;
    }
    this.#entries.delete(key);
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { count: 1, windowStartMs: nowMs });
  }
}
