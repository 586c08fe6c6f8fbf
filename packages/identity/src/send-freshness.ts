/**
 * Replay protection of SeND messages: the Timestamp check of RFC 3971 section 5.3.4 and a nonce
 * replay cache. Both are small bounded classes with an injected clock, so tests never sleep.
 */
import type { Clock as WireClock } from '@capsule/wire';
import { bytesToHex } from './bytes';
import { IdentityError } from './errors';

/** What the checks need of @capsule/wire's `Clock`: the current time. */
type Clock = Pick<WireClock, 'nowMs'>;

/** RFC 3971 section 5.3.4 parameters (defaults from section 10.2). */
export interface TimestampCheckerOptions {
  /** TIMESTAMP_DELTA: accepted distance between a first message's timestamp and our clock; default 300 s. */
  readonly deltaSeconds?: number;
  /** TIMESTAMP_FUZZ: accepted jitter between consecutive messages; default 1 s. */
  readonly fuzzSeconds?: number;
  /** TIMESTAMP_DRIFT: accepted relative clock drift of a peer; default 0.01 (1 %). */
  readonly drift?: number;
  /** Peers remembered (oldest forgotten first); default 1024. */
  readonly maxPeers?: number;
}

/** Why a timestamp was refused. */
export type TimestampFailure = 'outside-delta' | 'older-than-expected';

/** The outcome of `TimestampChecker.check`. */
export type TimestampCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: TimestampFailure };

interface PeerTimestamps {
  /** RDlast: our clock at the last accepted message, seconds. */
  receivedSeconds: number;
  /** TSlast: the peer's timestamp in it, seconds. */
  timestampSeconds: number;
}

/**
 * The receiver side of RFC 3971 5.3.4. First message from a peer (no cache entry): accept when
 * |RDnew − TSnew| < TIMESTAMP_DELTA. Later messages: accept when
 * TSnew + FUZZ > TSlast + (RDnew − RDlast) × (1 − DRIFT) − FUZZ, i.e. the peer's clock has not gone
 * back relative to ours; an accepted message whose TSnew > TSlast updates the entry. The cache is
 * bounded (least recently updated peer forgotten first): a forgotten peer falls back to the delta
 * check, which the nonce cache backs up.
 */
export class TimestampChecker {
  readonly #deltaSeconds: number;
  readonly #fuzzSeconds: number;
  readonly #drift: number;
  readonly #maxPeers: number;
  readonly #clock: Clock;
  readonly #peers = new Map<string, PeerTimestamps>();

  constructor(options: TimestampCheckerOptions, deps: { clock: Clock }) {
    this.#deltaSeconds = options.deltaSeconds ?? 300;
    this.#fuzzSeconds = options.fuzzSeconds ?? 1;
    this.#drift = options.drift ?? 0.01;
    this.#maxPeers = options.maxPeers ?? 1024;
    if (!(this.#maxPeers >= 1))
      throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'maxPeers must be at least 1');
    this.#clock = deps.clock;
  }

  /** Checks the timestamp (seconds since the epoch, fractions allowed) of a message from `peer` (for example its CGA). */
  check(peer: string, timestampSeconds: number): TimestampCheck {
    const now = this.#clock.nowMs() / 1000;
    if (!Number.isFinite(timestampSeconds)) return { ok: false, reason: 'outside-delta' };
    const last = this.#peers.get(peer);
    if (last === undefined) {
      if (!(Math.abs(now - timestampSeconds) < this.#deltaSeconds))
        return { ok: false, reason: 'outside-delta' };
      this.#remember(peer, { receivedSeconds: now, timestampSeconds });
      return { ok: true };
    }
    const expected =
      last.timestampSeconds + (now - last.receivedSeconds) * (1 - this.#drift) - this.#fuzzSeconds;
    if (!(timestampSeconds + this.#fuzzSeconds > expected))
      return { ok: false, reason: 'older-than-expected' };
    if (timestampSeconds > last.timestampSeconds)
      this.#remember(peer, { receivedSeconds: now, timestampSeconds });
    return { ok: true };
  }

  /** Number of peers remembered. */
  get size(): number {
    return this.#peers.size;
  }

  #remember(peer: string, entry: PeerTimestamps): void {
    this.#peers.delete(peer);
    this.#peers.set(peer, entry);
    if (this.#peers.size > this.#maxPeers) this.#peers.delete(this.#peers.keys().next().value!);
  }
}

/** Options of the nonce replay cache. */
export interface NonceCacheOptions {
  /** Most nonces remembered; default 8192. When full, the oldest is forgotten early. */
  readonly capacity?: number;
  /** How long a nonce is remembered; default 600 000 ms (twice the default TIMESTAMP_DELTA). */
  readonly ttlMs?: number;
}

/**
 * Remembers nonces (with their sender) for `ttlMs`, so a replayed message inside the timestamp
 * window is caught. Bounded: entries expire in insertion order and the oldest is evicted when full.
 */
export class NonceCache {
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  /** key → expiry time (ms); Map order is insertion order, which is expiry order. */
  readonly #entries = new Map<string, number>();

  constructor(options: NonceCacheOptions, deps: { clock: Clock }) {
    this.#capacity = options.capacity ?? 8192;
    this.#ttlMs = options.ttlMs ?? 600_000;
    if (!(this.#capacity >= 1))
      throw new IdentityError('IDENTITY_INVALID_ARGUMENT', 'capacity must be at least 1');
    this.#clock = deps.clock;
  }

  /**
   * True when `nonce` from `sender` was not seen within the TTL (and remembers it); false for a
   * replay. `sender` scopes nonces (for example the source CGA), so peers cannot collide.
   */
  checkAndRemember(sender: string, nonce: Uint8Array | string): boolean {
    const now = this.#clock.nowMs();
    this.#expire(now);
    const key = `${sender}\u0000${typeof nonce === 'string' ? nonce : bytesToHex(nonce)}`;
    if (this.#entries.has(key)) return false;
    this.#entries.set(key, now + this.#ttlMs);
    if (this.#entries.size > this.#capacity) this.#entries.delete(this.#entries.keys().next().value!);
    return true;
  }

  /** Number of nonces remembered. */
  get size(): number {
    this.#expire(this.#clock.nowMs());
    return this.#entries.size;
  }

  #expire(now: number): void {
    for (const [key, expiry] of this.#entries) {
      if (expiry > now) break;
      this.#entries.delete(key);
    }
  }
}
