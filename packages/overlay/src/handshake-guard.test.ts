import { exportEd25519PublicKeyRaw, generateControllerKey, generateX25519KeyPair } from '@capsule/identity';
import { testSeed } from '@capsule/testkit';
import { CookieBody, LINK_FRAME_HEADER_LENGTH, LinkFrameType, LinkFrameView } from '@capsule/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeIdentity, START_MS } from '../test/helpers';
import {
  buildHandshakeFrame,
  createHandshakeSigner,
  solicitedNodeAddress,
  UNSPECIFIED_ADDRESS,
} from './handshake';
import {
  COOKIE_SECRET_LIFETIME_MS,
  CookieIssuer,
  checkHandshakeMac,
  computeHandshakeMac,
  HandshakeReplayCache,
  handshakeMac1Key,
  handshakeMac1Receiver,
  LoadMeter,
  openCookieReply,
  TokenBuckets,
  writeHandshakeMacs,
} from './handshake-guard';

const controller = generateControllerKey();
const controllerRaw = exportEd25519PublicKeyRaw(controller.publicKey);
const alpha = makeIdentity({ controller, key: 0, name: 'alpha', nowMs: START_MS });
const bravo = makeIdentity({ controller, key: 1, name: 'bravo', nowMs: START_MS });
const ephemeral = generateX25519KeyPair();

function solicitation(target: Uint8Array, mac1Key: Uint8Array, cookie?: Uint8Array) {
  let mac1: Uint8Array = new Uint8Array(0);
  const frame = buildHandshakeFrame({
    kind: 'solicitation',
    signer: createHandshakeSigner(alpha),
    destination: solicitedNodeAddress(bravo.hostId),
    target,
    timestampMs: START_MS,
    nonces: [new Uint8Array(14).fill(5)],
    receiverIndex: 0xabcd,
    ephemeralPublicKey: ephemeral.publicKeyRaw,
    frameReceiverIndex: 0,
    macs: (built) => {
      mac1 = writeHandshakeMacs(built, mac1Key, cookie);
    },
  });
  const view = new LinkFrameView();
  expect(view.parse(frame)).toBe(true);
  return { frame, view, mac1 };
}

const manualClock = (startMs = START_MS) => {
  let now = startMs;
  return { nowMs: () => now, advance: (ms: number) => void (now += ms) };
};

describe('handshake MACs', () => {
  const key = handshakeMac1Key(controllerRaw, bravo.hostId);

  it('keys MAC1 from the controller key and the receiver (:: when unknown), and checks it', () => {
    expect(key).toHaveLength(32);
    expect(handshakeMac1Key(controllerRaw, alpha.hostId)).not.toEqual(key);
    expect(handshakeMac1Key(controllerRaw)).toEqual(handshakeMac1Key(controllerRaw, UNSPECIFIED_ADDRESS));
    expect(
      handshakeMac1Key(exportEd25519PublicKeyRaw(generateControllerKey().publicKey), bravo.hostId),
    ).not.toEqual(key);
    const { frame, view, mac1 } = solicitation(bravo.hostId, key);
    expect(view.macOffset).toBe(frame.length - 32);
    expect(Array.from(frame.subarray(view.macOffset, view.macOffset + 16))).toEqual(Array.from(mac1));
    expect(frame.subarray(view.macOffset + 16).every((byte) => byte === 0)).toBe(true); // no cookie: MAC2 zero
    expect(checkHandshakeMac(key, frame, view.macOffset)).toBe(true);
    expect(checkHandshakeMac(handshakeMac1Key(controllerRaw), frame, view.macOffset)).toBe(false);
    expect(checkHandshakeMac(key, frame, frame.length - 8)).toBe(false); // no room for a MAC there
    expect(checkHandshakeMac(key, frame, -1)).toBe(false);
  });

  it('covers every byte before it: any change of the frame header, the body or MAC1 fails', () => {
    const { frame, view } = solicitation(bravo.hostId, key, new Uint8Array(16).fill(9));
    const macAt = view.macOffset;
    fc.assert(
      fc.property(fc.nat(macAt + 15), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const copy = frame.slice();
        copy[at] = copy[at]! ^ xor;
        if (at < macAt) expect(checkHandshakeMac(key, copy, macAt)).toBe(false);
        // MAC2 covers MAC1 too.
        expect(checkHandshakeMac(new Uint8Array(16).fill(9), copy, macAt + 16)).toBe(false);
      }),
      { seed: testSeed, numRuns: 300 },
    );
  });

  it('reads whose identity keys MAC1 at fixed offsets: the NS target, the NA destination', () => {
    const { frame, view } = solicitation(bravo.hostId, key);
    const addressed = handshakeMac1Receiver(frame, view);
    expect(addressed?.isSolicitation).toBe(true);
    expect(Array.from(addressed!.receiver)).toEqual(Array.from(bravo.hostId));
    const advertisement = buildHandshakeFrame({
      kind: 'advertisement',
      signer: createHandshakeSigner(bravo),
      destination: alpha.hostId,
      target: bravo.hostId,
      timestampMs: START_MS,
      nonces: [new Uint8Array(14).fill(1), new Uint8Array(14).fill(2)],
      receiverIndex: 5,
      ephemeralPublicKey: ephemeral.publicKeyRaw,
      frameReceiverIndex: 9,
    });
    const naView = new LinkFrameView();
    naView.parse(advertisement);
    const na = handshakeMac1Receiver(advertisement, naView);
    expect(na?.isSolicitation).toBe(false);
    expect(Array.from(na!.receiver)).toEqual(Array.from(alpha.hostId));
    // Too short, or another ICMPv6 type: nothing to key with.
    const short = new LinkFrameView();
    short.parse(frame.subarray(0, 16 + 60 + 32));
    expect(handshakeMac1Receiver(frame.subarray(0, 16 + 60 + 32), short)).toBeUndefined();
    const other = frame.slice();
    other[16 + 40] = 134;
    expect(handshakeMac1Receiver(other, view)).toBeUndefined();
  });

  it('never throws on random frames and never accepts a random MAC (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(320), (bytes, at) => {
        expect(checkHandshakeMac(key, bytes, at)).toBe(false);
        const view = new LinkFrameView();
        if (view.parse(bytes)) handshakeMac1Receiver(bytes, view);
      }),
      { seed: testSeed, numRuns: 2_000 },
    );
    expect(computeHandshakeMac(key, new Uint8Array(0), 0)).toHaveLength(16);
  });
});

describe('HandshakeReplayCache', () => {
  it('remembers a signature for its lifetime, and forgets the oldest first when full', () => {
    const cache = new HandshakeReplayCache({ ttlMs: 1_000, capacity: 3 });
    const ids = [1, 2, 3, 4].map((n) => HandshakeReplayCache.idOf(new Uint8Array(256).fill(n)));
    expect(new Set(ids).size).toBe(4);
    cache.add(ids[0]!, 0);
    expect(cache.has(ids[0]!, 999)).toBe(true);
    expect(cache.has(ids[0]!, 1_000)).toBe(false); // expired, and dropped
    expect(cache.size).toBe(0);
    for (const id of ids.slice(0, 3)) cache.add(id, 10);
    cache.add(ids[3]!, 10);
    expect(cache.size).toBe(3);
    expect(cache.has(ids[0]!, 10)).toBe(false);
    for (const id of ids.slice(1)) expect(cache.has(id, 10)).toBe(true);
  });
});

describe('TokenBuckets', () => {
  it('allows a burst, then the rate, per key; holds at most maxKeys keys', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 10, burst: 5, maxKeys: 2 });
    const takes = (key: string, n: number, nowMs: number) =>
      Array.from({ length: n }, () => buckets.take(key, nowMs)).filter(Boolean).length;
    expect(takes('a', 8, 0)).toBe(5);
    expect(takes('b', 8, 0)).toBe(5); // another source has its own bucket
    expect(takes('a', 8, 100)).toBe(1); // 100 ms at 10/s
    expect(takes('a', 8, 10_100)).toBe(5); // never more than the burst
    expect(buckets.take('c', 10_100)).toBe(true);
    expect(buckets.size).toBe(2); // b (least recently used) was forgotten
    expect(takes('b', 8, 10_100)).toBe(5); // …and comes back full
  });
});

describe('LoadMeter', () => {
  it('is under load above the threshold, for the rest of that second and the next', () => {
    const meter = new LoadMeter(3);
    for (let i = 0; i < 3; i++) meter.note(0);
    expect(meter.isUnderLoad(0)).toBe(false);
    meter.note(10);
    expect(meter.isUnderLoad(10)).toBe(true);
    expect(meter.isUnderLoad(1_500)).toBe(true); // the previous window was over
    expect(meter.isUnderLoad(3_100)).toBe(false); // two quiet windows later
  });
});

describe('cookies', () => {
  const key = handshakeMac1Key(controllerRaw, bravo.hostId);
  const from = { host: '10.9.0.1', port: 7447 };

  it('seals a cookie that only the NS initiator opens, bound to its address; MAC2 with it is accepted', () => {
    const clock = manualClock();
    const issuer = new CookieIssuer({ clock });
    const { frame, view, mac1 } = solicitation(bravo.hostId, key);
    const reply = issuer.reply(frame, view.macOffset, 0xabcd, ephemeral.publicKeyRaw, from)!;
    expect(reply).toHaveLength(LINK_FRAME_HEADER_LENGTH + CookieBody.LENGTH);
    const replyView = new LinkFrameView();
    expect(replyView.parse(reply)).toBe(true);
    expect([replyView.type, replyView.receiverIndex]).toEqual([LinkFrameType.COOKIE, 0xabcd]);
    const cookie = openCookieReply(reply, replyView, ephemeral.privateKey, mac1)!;
    expect(Array.from(cookie)).toEqual(Array.from(issuer.cookieFor(from)));
    // Another ephemeral key (an observer of the NS), or the MAC1 of another NS: nothing.
    expect(openCookieReply(reply, replyView, generateX25519KeyPair().privateKey, mac1)).toBeUndefined();
    expect(openCookieReply(reply, replyView, ephemeral.privateKey, new Uint8Array(16))).toBeUndefined();
    // Bound to the address: another port has another cookie.
    expect(issuer.cookieFor({ ...from, port: 7448 })).not.toEqual(cookie);
    const proven = solicitation(bravo.hostId, key, cookie);
    expect(issuer.checkMac2(proven.frame, proven.view.macOffset, from)).toBe(true);
    expect(issuer.checkMac2(proven.frame, proven.view.macOffset, { ...from, port: 7448 })).toBe(false);
    expect(issuer.checkMac2(frame, view.macOffset, from)).toBe(false); // MAC2 zero
  });

  it('accepts MAC2 under the previous secret for one lifetime after a rotation, not after two', () => {
    const clock = manualClock();
    const issuer = new CookieIssuer({ clock });
    const cookie = issuer.cookieFor(from);
    const proven = solicitation(bravo.hostId, key, cookie);
    clock.advance(COOKIE_SECRET_LIFETIME_MS);
    expect(issuer.cookieFor(from)).not.toEqual(cookie); // rotated
    expect(issuer.checkMac2(proven.frame, proven.view.macOffset, from)).toBe(true);
    clock.advance(COOKIE_SECRET_LIFETIME_MS);
    expect(issuer.checkMac2(proven.frame, proven.view.macOffset, from)).toBe(false);
  });

  it('refuses to seal to a low-order key; a tampered or cut reply never opens and never throws', () => {
    const issuer = new CookieIssuer({ clock: manualClock() });
    const { frame, view, mac1 } = solicitation(bravo.hostId, key);
    expect(issuer.reply(frame, view.macOffset, 1, new Uint8Array(32), from)).toBeUndefined();
    const reply = issuer.reply(frame, view.macOffset, 1, ephemeral.publicKeyRaw, from)!;
    fc.assert(
      fc.property(
        fc.nat(reply.length - 1),
        fc.integer({ min: 1, max: 255 }),
        fc.nat(reply.length),
        (at, xor, cut) => {
          const copy = reply.slice(0, cut < 20 ? reply.length : cut);
          copy[at % copy.length] = copy[at % copy.length]! ^ xor;
          const copyView = new LinkFrameView();
          if (!copyView.parse(copy)) return;
          // Every byte is authenticated: the header and R and the nonce as AAD (and key input), the rest as the AEAD's.
          expect(openCookieReply(copy, copyView, ephemeral.privateKey, mac1)).toBeUndefined();
        },
      ),
      { seed: testSeed, numRuns: 300 },
    );
  });
});
