/**
 * Handshake DoS resistance, in the spirit of WireGuard's MAC1/MAC2 and cookie reply (the
 * WireGuard paper, section 5.4.4–5.4.7), fitted to the SeND-style handshake: everything a
 * responder does before it spends an RSA, CGA or Ed25519 verification on a handshake frame.
 *
 * ```
 * MAC1 key     = SHA-256("capsule-handshake-mac1-v1" ‖ controller Ed25519 key (32) ‖ receiver id (16))
 *                receiver id: the NS target (the responder's CGA, or :: when the initiator does not
 *                know it yet) / the NA destination (the initiator's CGA)
 * MAC1         = HMAC-SHA256(MAC1 key, frame[0, macOffset))[0..16]
 * cookie       = HMAC-SHA256(secret, underlay host ‖ port)[0..16]    secret: 32 random bytes, new every 120 s
 * MAC2         = HMAC-SHA256(cookie, frame[0, macOffset + 16))[0..16], or 16 zeros without a cookie
 * COOKIE frame = header (type 3, receiver index = the NS's Key Exchange index) ‖ R (32) ‖ nonce (12)
 *                ‖ ChaCha20-Poly1305(k, nonce 0, AAD = frame[0, 60), cookie) (16 + tag 16)
 *                k = HKDF-SHA256(X25519(r, the NS's ephemeral key), salt = nonce,
 *                                info = "capsule-cookie-v1" ‖ MAC1 of the NS), 32 bytes
 *                r, R: the responder's cookie X25519 key pair, new with each secret
 * ```
 *
 * - MAC1 proves the sender knows the receiver's public identity (the domain's controller key and,
 *   once known, the receiver's CGA) and that the frame is whole; it is checked before anything
 *   else is parsed.
 * - The cookie proves the sender receives datagrams at its source address: it is bound to that
 *   address and sealed to the initiator's ephemeral key, so only the initiator of that NS can
 *   read it (an on-path observer sees the NS but not its ephemeral private key), and it answers
 *   that NS only (its MAC1 is in the key derivation).
 * - The layer (create-link-layer.ts) applies, in order: MAC1; structure; addressing; freshness
 *   (timestamp within the window; the message's RSA signature not verified before:
 *   `HandshakeReplayCache`); then, for an NS, admission: with a valid MAC2 the source's proven
 *   budget (`TokenBuckets`), without one the source's unproven budget when not under load
 *   (`LoadMeter`), else a cookie reply (itself within a global budget). Only then public-key work.
 *
 * Everything here is bounded (entries, rates) and driven by the injected clock.
 */
import { createHash, createHmac, diffieHellman, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';
import {
  generateX25519KeyPair,
  importX25519PublicKeyRaw,
  openLinkFrame,
  sealLinkFrame,
  type X25519KeyPair,
} from '@capsule/identity';
import {
  type Clock,
  CookieBody,
  encodeLinkFrameHeader,
  HANDSHAKE_MAC_LENGTH,
  IPV6_HEADER_LENGTH,
  LINK_FRAME_HEADER_LENGTH,
  LinkFrameType,
  type LinkFrameView,
} from '@capsule/wire';
import type { UnderlayAddress } from './transport';

/** Domain-separation label of MAC1 keys. */
export const HANDSHAKE_MAC1_LABEL = 'capsule-handshake-mac1-v1';
/** HKDF info label of the key that seals a cookie. */
export const COOKIE_SEAL_LABEL = 'capsule-cookie-v1';
/** How long a responder's cookie secret lives (WireGuard's COOKIE_SECRET_MAX_AGE). */
export const COOKIE_SECRET_LIFETIME_MS = 120_000;
/** An initiator uses a cookie this long at most: the secret's life less a 5 s margin for latency. */
export const COOKIE_USE_LIFETIME_MS = COOKIE_SECRET_LIFETIME_MS - 5_000;
/** Bytes of a cookie. */
export const COOKIE_LENGTH = 16;

const ICMPV6_NEIGHBOR_SOLICITATION = 135;
const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
/** In the body: the ICMPv6 type, the ND target (NS), the IPv6 destination (NA). */
const BODY_ICMP_TYPE = IPV6_HEADER_LENGTH;
const BODY_TARGET = IPV6_HEADER_LENGTH + 8;
const BODY_DESTINATION = 24;
const COOKIE_AAD_END = LINK_FRAME_HEADER_LENGTH + CookieBody.SEALED_COOKIE;
const ZERO_ID = new Uint8Array(16);

/** The MAC1 key of a receiver: its CGA, or undefined (::) when the sender does not know it. */
export function handshakeMac1Key(
  controllerPublicKeyRaw: Uint8Array,
  receiverHostId?: Uint8Array,
): Uint8Array {
  return new Uint8Array(
    createHash('sha256')
      .update(HANDSHAKE_MAC1_LABEL)
      .update(controllerPublicKeyRaw)
      .update(receiverHostId ?? ZERO_ID)
      .digest(),
  );
}

/** HMAC-SHA256(key, frame[0, end)), its first 16 bytes. */
export function computeHandshakeMac(key: Uint8Array, frame: Uint8Array, end: number): Uint8Array {
  const digest = createHmac('sha256', key).update(frame.subarray(0, end)).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, HANDSHAKE_MAC_LENGTH);
}

/** True when frame[macAt, +16) is the MAC of frame[0, macAt) under `key` (no early exit). */
export function checkHandshakeMac(key: Uint8Array, frame: Uint8Array, macAt: number): boolean {
  if (macAt < 0 || macAt + HANDSHAKE_MAC_LENGTH > frame.length) return false;
  const expected = computeHandshakeMac(key, frame, macAt);
  let difference = 0;
  for (let index = 0; index < HANDSHAKE_MAC_LENGTH; index++)
    difference |= expected[index]! ^ frame[macAt + index]!;
  return difference === 0;
}

/**
 * Writes MAC1 and MAC2 into the last 32 bytes of a built HANDSHAKE frame (MAC2 zeros without a
 * cookie); returns a copy of MAC1 (an initiator keeps it to open the cookie reply it may get).
 */
export function writeHandshakeMacs(frame: Uint8Array, mac1Key: Uint8Array, cookie?: Uint8Array): Uint8Array {
  const macAt = frame.length - 2 * HANDSHAKE_MAC_LENGTH;
  const mac1 = computeHandshakeMac(mac1Key, frame, macAt);
  frame.set(mac1, macAt);
  if (cookie)
    frame.set(computeHandshakeMac(cookie, frame, macAt + HANDSHAKE_MAC_LENGTH), macAt + HANDSHAKE_MAC_LENGTH);
  else frame.fill(0, macAt + HANDSHAKE_MAC_LENGTH);
  return mac1.slice();
}

/**
 * Whose identity MAC1 is keyed with, read at fixed offsets of the frame body before any parsing:
 * the NS target or the NA destination (a view), or undefined when the body is too short or is
 * neither an NS nor an NA.
 */
export function handshakeMac1Receiver(
  bytes: Uint8Array,
  view: LinkFrameView,
): { readonly isSolicitation: boolean; readonly receiver: Uint8Array } | undefined {
  const body = view.bodyOffset;
  if (view.bodyEnd - body < BODY_TARGET + 16) return undefined;
  const type = bytes[body + BODY_ICMP_TYPE];
  if (type === ICMPV6_NEIGHBOR_SOLICITATION)
    return { isSolicitation: true, receiver: bytes.subarray(body + BODY_TARGET, body + BODY_TARGET + 16) };
  if (type === ICMPV6_NEIGHBOR_ADVERTISEMENT)
    return {
      isSolicitation: false,
      receiver: bytes.subarray(body + BODY_DESTINATION, body + BODY_DESTINATION + 16),
    };
  return undefined;
}

/**
 * The RSA signatures of recently verified handshake messages, so that an exact replay (or a copy
 * with any unsigned byte changed) is dropped before any public-key work. An entry lives
 * `ttlMs` (twice the freshness window: a replay inside the window is always caught); at
 * `capacity` the oldest is forgotten first (such a replay then costs one verification, and the
 * stateful timestamp and nonce checks still refuse it).
 */
export class HandshakeReplayCache {
  readonly #entries = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #capacity: number;

  constructor(options: { ttlMs: number; capacity: number }) {
    this.#ttlMs = options.ttlMs;
    this.#capacity = Math.max(1, Math.floor(options.capacity));
  }

  /** The cache key of a signature (its first 32 bytes: PKCS#1 v1.5 signatures are uniform). */
  static idOf(signature: Uint8Array): string {
    return Buffer.from(signature.buffer, signature.byteOffset, Math.min(32, signature.byteLength)).toString(
      'base64',
    );
  }

  has(id: string, nowMs: number): boolean {
    const expiresMs = this.#entries.get(id);
    if (expiresMs === undefined) return false;
    if (nowMs < expiresMs) return true;
    this.#entries.delete(id);
    return false;
  }

  add(id: string, nowMs: number): void {
    this.#entries.delete(id);
    while (this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(id, nowMs + this.#ttlMs);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * Token buckets by key (an underlay host): `ratePerSecond` tokens a second, up to `burst`. At most
 * `maxKeys` buckets are held; the least recently used is forgotten first (it comes back full).
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; updatedMs: number }>();
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #maxKeys: number;

  constructor(options: { ratePerSecond: number; burst: number; maxKeys: number }) {
    this.#ratePerMs = options.ratePerSecond / 1000;
    this.#burst = options.burst;
    this.#maxKeys = Math.max(1, Math.floor(options.maxKeys));
  }

  /** Takes one token of `key`'s bucket; false when it is empty. */
  take(key: string, nowMs: number): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      while (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next();
        if (oldest.done) break;
        this.#buckets.delete(oldest.value);
      }
      bucket = { tokens: this.#burst, updatedMs: nowMs };
    } else {
      this.#buckets.delete(key); // re-inserted below: the map stays in least-recently-used order
      bucket.tokens = Math.min(
        this.#burst,
        bucket.tokens + Math.max(0, nowMs - bucket.updatedMs) * this.#ratePerMs,
      );
      bucket.updatedMs = nowMs;
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/**
 * "Under load": more than `thresholdPerSecond` handshake frames needed admission in the current
 * or the previous one-second window (so the state holds for a second after a burst ends).
 */
export class LoadMeter {
  readonly #thresholdPerSecond: number;
  #windowStartMs = Number.NEGATIVE_INFINITY;
  #current = 0;
  #previous = 0;

  constructor(thresholdPerSecond: number) {
    this.#thresholdPerSecond = thresholdPerSecond;
  }

  #roll(nowMs: number): void {
    if (nowMs - this.#windowStartMs < 1000) return;
    this.#previous = nowMs - this.#windowStartMs < 2000 ? this.#current : 0;
    this.#current = 0;
    this.#windowStartMs = nowMs;
  }

  /** Counts one frame. */
  note(nowMs: number): void {
    this.#roll(nowMs);
    this.#current += 1;
  }

  isUnderLoad(nowMs: number): boolean {
    this.#roll(nowMs);
    return this.#current > this.#thresholdPerSecond || this.#previous > this.#thresholdPerSecond;
  }
}

/** The key that seals (responder) or opens (initiator) one cookie. */
function cookieSealKey(
  privateKey: KeyObject,
  peerPublicKeyRaw: Uint8Array,
  nonce: Uint8Array,
  mac1: Uint8Array,
): Uint8Array | undefined {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey: importX25519PublicKeyRaw(peerPublicKeyRaw) });
  } catch {
    return undefined;
  }
  if (shared.every((byte) => byte === 0)) return undefined; // a low-order point
  const info = Buffer.concat([Buffer.from(COOKIE_SEAL_LABEL, 'utf8'), mac1]);
  return new Uint8Array(hkdfSync('sha256', shared, nonce, info, 32));
}

/**
 * The responder's cookies: the secret (new every COOKIE_SECRET_LIFETIME_MS, the previous one still
 * accepted for one more lifetime so that a rotation costs no round of cookie replies), the cookie
 * of an address, MAC2 checks and cookie replies.
 */
export class CookieIssuer {
  readonly #clock: Pick<Clock, 'nowMs'>;
  #secret: Uint8Array = new Uint8Array(0);
  #previous: Uint8Array | undefined;
  #bornMs = Number.NEGATIVE_INFINITY;
  #sealKeys: X25519KeyPair | undefined;

  constructor(deps: { clock: Pick<Clock, 'nowMs'> }) {
    this.#clock = deps.clock;
    this.#rotate();
  }

  #rotate(): void {
    const nowMs = this.#clock.nowMs();
    if (nowMs - this.#bornMs < COOKIE_SECRET_LIFETIME_MS) return;
    this.#previous = nowMs - this.#bornMs < 2 * COOKIE_SECRET_LIFETIME_MS ? this.#secret : undefined;
    this.#secret = new Uint8Array(randomBytes(32));
    this.#sealKeys = undefined; // made on first use: a layer never under load never generates one
    this.#bornMs = nowMs;
  }

  static #cookieOf(secret: Uint8Array, from: UnderlayAddress): Uint8Array {
    const digest = createHmac('sha256', secret).update(`${from.host}\u0000${from.port}`).digest();
    return new Uint8Array(digest.buffer, digest.byteOffset, COOKIE_LENGTH);
  }

  /** The cookie of `from` now (for tests and for the reply). */
  cookieFor(from: UnderlayAddress): Uint8Array {
    this.#rotate();
    return CookieIssuer.#cookieOf(this.#secret, from);
  }

  /** True when the frame's MAC2 is right for a cookie of `from` (current or previous secret). */
  checkMac2(bytes: Uint8Array, macOffset: number, from: UnderlayAddress): boolean {
    this.#rotate();
    const mac2At = macOffset + HANDSHAKE_MAC_LENGTH;
    if (checkHandshakeMac(CookieIssuer.#cookieOf(this.#secret, from), bytes, mac2At)) return true;
    return (
      this.#previous !== undefined &&
      checkHandshakeMac(CookieIssuer.#cookieOf(this.#previous, from), bytes, mac2At)
    );
  }

  /**
   * The COOKIE frame answering the HANDSHAKE frame `bytes` (MAC1 at `macOffset`) from `from`,
   * sealed to `initiatorEphemeralKey`; undefined when that key is a low-order point.
   */
  reply(
    bytes: Uint8Array,
    macOffset: number,
    initiatorReceiverIndex: number,
    initiatorEphemeralKey: Uint8Array,
    from: UnderlayAddress,
  ): Uint8Array | undefined {
    const cookie = this.cookieFor(from);
    this.#sealKeys ??= generateX25519KeyPair();
    const frame = new Uint8Array(LINK_FRAME_HEADER_LENGTH + CookieBody.LENGTH);
    encodeLinkFrameHeader(
      { type: LinkFrameType.COOKIE, flags: 0, receiverIndex: initiatorReceiverIndex, counter: 0n },
      frame,
      0,
    );
    const body = LINK_FRAME_HEADER_LENGTH;
    frame.set(this.#sealKeys.publicKeyRaw, body + CookieBody.PUBLIC_KEY);
    const nonce = frame.subarray(body + CookieBody.NONCE, body + CookieBody.NONCE + 12);
    nonce.set(randomBytes(12));
    const mac1 = bytes.subarray(macOffset, macOffset + HANDSHAKE_MAC_LENGTH);
    const key = cookieSealKey(this.#sealKeys.privateKey, initiatorEphemeralKey, nonce, mac1);
    if (key === undefined) return undefined;
    // A fresh key per reply (random salt), so the AEAD's nonce can be the constant 0.
    sealLinkFrame(key, 0n, frame.subarray(0, COOKIE_AAD_END), cookie, frame, COOKIE_AAD_END);
    return frame;
  }
}

/**
 * Opens a COOKIE frame (`view` parsed it) with the initiator's ephemeral private key and the MAC1
 * of the NS it answers; the cookie, or undefined when it does not open. Never throws.
 */
export function openCookieReply(
  bytes: Uint8Array,
  view: LinkFrameView,
  ephemeralPrivateKey: KeyObject,
  mac1: Uint8Array,
): Uint8Array | undefined {
  if (view.type !== LinkFrameType.COOKIE || view.bodyEnd - view.bodyOffset !== CookieBody.LENGTH)
    return undefined;
  const body = view.bodyOffset;
  const frame = bytes.subarray(body - LINK_FRAME_HEADER_LENGTH, view.bodyEnd);
  const responderKey = frame.subarray(
    LINK_FRAME_HEADER_LENGTH + CookieBody.PUBLIC_KEY,
    LINK_FRAME_HEADER_LENGTH + CookieBody.PUBLIC_KEY + 32,
  );
  const nonce = frame.subarray(
    LINK_FRAME_HEADER_LENGTH + CookieBody.NONCE,
    LINK_FRAME_HEADER_LENGTH + CookieBody.NONCE + 12,
  );
  const key = cookieSealKey(ephemeralPrivateKey, responderKey, nonce, mac1);
  if (key === undefined) return undefined;
  const cookie = openLinkFrame(key, 0n, frame.subarray(0, COOKIE_AAD_END), frame.subarray(COOKIE_AAD_END));
  return cookie?.length === COOKIE_LENGTH ? new Uint8Array(cookie) : undefined;
}
