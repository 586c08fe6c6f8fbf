/**
 * Handshake DoS resistance of the link layer (MemoryNetwork, manual clock): replays, forged MAC1,
 * stale timestamps, a source over its budget, load with cookie replies, spoofed sources, forged
 * and replayed cookie replies, the cookie replies' own budget. Each case counts what reached the
 * public-key checks (`handshakeStats.verified`): the point is that the attacks do not get there.
 */
import { randomBytes } from 'node:crypto';
import { exportEd25519PublicKeyRaw, generateX25519KeyPair } from '@capsule/identity';
import { CookieBody, LINK_FRAME_HEADER_LENGTH, LinkFrameType, LinkFrameView } from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import {
  buildHandshakeFrame,
  createHandshakeSigner,
  createLinkLayer,
  createMemoryNetwork,
  handshakeMac1Key,
  type LinkIdentity,
  type LinkLayer,
  type LinkLayerOptions,
  solicitedNodeAddress,
  type Transport,
  writeHandshakeMacs,
} from '../src/index';
import {
  createManualClock,
  generateControllerKey,
  makeIdentity,
  START_MS,
  type TapTransport,
  tapTransport,
} from './helpers';

const controller = generateControllerKey();
const controllerKeyRaw = exportEd25519PublicKeyRaw(controller.publicKey);
const timings = {
  keepAliveIntervalMs: 1_000,
  handshakeRetransmitMs: 250,
  handshakeBackoffMaxMs: 1_000,
  handshakeAttempts: 6,
  rekeyAfterMs: 1_000_000,
};
const alpha = makeIdentity({ controller, key: 0, name: 'alpha', nowMs: START_MS });
const carol = makeIdentity({ controller, key: 2, name: 'carol', nowMs: START_MS });
const mallory = makeIdentity({ controller, key: 3, name: 'mallory', nowMs: START_MS });

function setup(options: Partial<LinkLayerOptions> = {}) {
  const network = createMemoryNetwork();
  const clock = createManualClock();
  const wait = (ms: number) => clock.advance(ms, () => network.settle(), 10);
  const node = (identity: LinkIdentity, host: string): { layer: LinkLayer; tap: TapTransport } => {
    const tap = tapTransport(network.attach({ host, port: 7447 }));
    const layer = createLinkLayer({ identity, ...timings, ...options }, { transport: tap, clock });
    layer.start();
    return { layer, tap };
  };
  const a = node(alpha, '10.3.0.1');
  a.tap.recording = true;
  const attackers = new Map<string, Transport & { received: Uint8Array[] }>();
  /** A bare transport at `host` that records what it receives. */
  const attacker = (host = '10.3.0.66') => {
    let existing = attackers.get(host);
    if (existing === undefined) {
      const transport = network.attach({ host, port: 666 });
      const received: Uint8Array[] = [];
      transport.onDatagram((bytes) => received.push(new Uint8Array(bytes)));
      existing = Object.assign(transport, { received });
      attackers.set(host, existing);
    }
    return existing;
  };
  return { network, clock, wait, a, node, attacker };
}

/**
 * An NS to alpha as `signer` would send it: MAC1 keyed from alpha's CGA, MAC2 with `cookie`.
 * `signWith` signs with another RSA key than the CGA's (a bad signature, well formed otherwise).
 */
function solicitation(
  signer: LinkIdentity,
  timestampMs: number,
  options: { cookie?: Uint8Array; signWith?: LinkIdentity; ephemeral?: Uint8Array } = {},
): Uint8Array {
  return buildHandshakeFrame({
    kind: 'solicitation',
    signer: createHandshakeSigner({ ...signer, rsaPrivateKey: (options.signWith ?? signer).rsaPrivateKey }),
    destination: solicitedNodeAddress(alpha.hostId),
    target: alpha.hostId,
    timestampMs,
    nonces: [new Uint8Array(randomBytes(14))],
    receiverIndex: 0x4242,
    ephemeralPublicKey: options.ephemeral ?? generateX25519KeyPair().publicKeyRaw,
    frameReceiverIndex: 0,
    macs: (frame) =>
      void writeHandshakeMacs(frame, handshakeMac1Key(controllerKeyRaw, alpha.hostId), options.cookie),
  });
}

/** The same frame with MAC1 (and MAC2 zero) written again after an edit. */
function remac(frame: Uint8Array, edit: (copy: Uint8Array) => void): Uint8Array {
  const copy = frame.slice();
  edit(copy);
  writeHandshakeMacs(copy, handshakeMac1Key(controllerKeyRaw, alpha.hostId));
  return copy;
}

const cookieFrames = (received: Uint8Array[]) =>
  received.filter((bytes) => bytes[1] === LinkFrameType.COOKIE);

describe('handshake DoS resistance: what reaches the public-key checks', () => {
  it('verifies a genuine NS once; 5,000 replays (and copies with unsigned bytes changed) are dropped before any verification', async () => {
    const { a, wait, attacker, clock } = setup();
    const frame = solicitation(carol, clock.nowMs());
    attacker().send(frame, frame.length, a.tap.local);
    await wait(20);
    expect(a.layer.handshakeStats.verified).toBe(1);
    expect(attacker().received.filter((bytes) => bytes[1] === LinkFrameType.HANDSHAKE)).toHaveLength(1); // the NA
    const started = performance.now();
    for (let i = 0; i < 5_000; i++) a.tap.deliver(frame, attacker().local);
    const elapsedMs = performance.now() - started;
    // The frame receiver index and the flags are not signed: changed (and MAC1 redone), still the same message.
    a.tap.deliver(
      remac(frame, (copy) => void (copy[7] = copy[7]! ^ 1)),
      attacker().local,
    );
    a.tap.deliver(
      remac(frame, (copy) => void (copy[2] = 1)),
      attacker().local,
    );
    await wait(20);
    expect(a.layer.handshakeRejections.replayed).toBe(5_002);
    expect(a.layer.handshakeStats.verified).toBe(1);
    expect(attacker().received).toHaveLength(1);
    console.info(
      `5,000 replayed NS dropped in ${elapsedMs.toFixed(0)} ms (${((elapsedMs * 1000) / 5000).toFixed(1)} µs each)`,
    );
    // A verification costs ≈ 400 µs (docs/performance.md); a replay must cost a small fraction of it.
    expect((elapsedMs * 1000) / 5_000).toBeLessThan(200); // µs each, even on a loaded machine
  });

  it('refuses a wrong MAC1 (another domain, or an altered frame) before parsing, unanswered', async () => {
    const { a, wait, attacker, clock } = setup();
    const foreign = solicitation(carol, clock.nowMs());
    writeHandshakeMacs(
      foreign,
      handshakeMac1Key(exportEd25519PublicKeyRaw(generateControllerKey().publicKey), alpha.hostId),
    );
    attacker().send(foreign, foreign.length, a.tap.local);
    const altered = solicitation(carol, clock.nowMs());
    altered[LINK_FRAME_HEADER_LENGTH + 100] = altered[LINK_FRAME_HEADER_LENGTH + 100]! ^ 0x10;
    attacker().send(altered, altered.length, a.tap.local);
    await wait(20);
    expect(a.layer.handshakeRejections.mac1).toBe(2);
    expect(a.layer.handshakeStats.verified).toBe(0);
    expect(attacker().received).toHaveLength(0);
  });

  it('refuses a stale or future timestamp before verifying, even with a bad signature', async () => {
    const { a, wait, attacker, clock } = setup();
    for (const skewMs of [-301_000, 301_000]) {
      const frame = solicitation(carol, clock.nowMs() + skewMs, { signWith: mallory });
      attacker().send(frame, frame.length, a.tap.local);
    }
    await wait(20);
    expect(a.layer.handshakeRejections.timestamp).toBe(2);
    expect(a.layer.handshakeRejections.signature).toBe(0);
    expect(a.layer.handshakeStats.verified).toBe(0);
  });

  it('gives one source 20 verifications at once, then cookies instead; the budget refills with time', async () => {
    const { a, wait, attacker, clock } = setup();
    const frames = Array.from({ length: 25 }, () =>
      solicitation(carol, clock.nowMs(), { signWith: mallory }),
    );
    for (const frame of frames) a.tap.deliver(frame, attacker().local);
    await wait(10);
    expect(a.layer.handshakeStats.verified).toBe(20);
    expect(a.layer.handshakeRejections.signature).toBe(20);
    expect(a.layer.handshakeRejections['cookie-required']).toBe(5);
    expect(cookieFrames(attacker().received)).toHaveLength(5);
    expect(a.layer.handshakeStats.cookieRepliesSent).toBe(5);
    // Another source has its own budget.
    const other = solicitation(carol, clock.nowMs(), { signWith: mallory });
    a.tap.deliver(other, attacker('10.3.0.67').local);
    expect(a.layer.handshakeStats.verified).toBe(21);
    await wait(500); // 10 tokens at 20/s
    const later = Array.from({ length: 12 }, () => solicitation(carol, clock.nowMs(), { signWith: mallory }));
    for (const frame of later) a.tap.deliver(frame, attacker().local);
    expect(a.layer.handshakeStats.verified).toBe(31);
  });

  it('under load asks every NS for MAC2: a real initiator gets a cookie and completes, the spoofed flood gets cookies', async () => {
    const { a, wait, clock, node } = setup({ handshakeLoadPerSecond: 5 });
    // A flood of well-formed NS (bad signatures) from spoofed sources puts alpha under load.
    const flood = () => {
      for (let i = 0; i < 8; i++) {
        const frame = solicitation(carol, clock.nowMs(), { signWith: mallory });
        a.tap.deliver(frame, { host: `10.3.9.${i}`, port: 4000 + i });
      }
    };
    flood();
    const verifiedByFlood = a.layer.handshakeStats.verified;
    expect(verifiedByFlood).toBe(5); // below the threshold: the first 5 in this second were admitted
    expect(a.layer.handshakeRejections['cookie-required']).toBe(3);
    // Carol connects now: her first NS gets a cookie reply, her next carries MAC2 and is verified.
    const c = node(carol, '10.3.0.3');
    c.layer.connect(a.tap.local);
    for (let step = 0; step < 20 && !a.layer.linkTo(carol.hostId); step++) {
      flood();
      await wait(50);
    }
    expect(a.layer.linkTo(carol.hostId)?.state).toBe('up');
    expect(c.layer.linkTo(alpha.hostId)?.state).toBe('up');
    expect(c.layer.handshakeStats.cookiesAccepted).toBeGreaterThanOrEqual(1);
    // Only carol's NS was verified once the load set in: every flooded NS got a cookie.
    expect(a.layer.handshakeStats.verified - verifiedByFlood).toBe(1);
    c.layer.stop();
  });

  /** Alpha under load, and carol holding a cookie from it, her next NS (with MAC2) captured, not sent. */
  async function carolWithCookie(options: Partial<LinkLayerOptions> = {}) {
    const world = setup({ handshakeLoadPerSecond: 1, ...options });
    const { a, wait, clock, node } = world;
    for (let i = 0; i < 3; i++)
      a.tap.deliver(solicitation(mallory, clock.nowMs()), { host: `10.3.8.${i}`, port: 1 });
    const c = node(carol, '10.3.0.3');
    c.tap.cut = true; // carol's frames are recorded, and delivered only by hand
    c.tap.recording = true;
    a.tap.sent.length = 0;
    c.layer.connect(a.tap.local);
    await wait(10);
    const first = c.tap.sent.find((sent) => sent.bytes[1] === LinkFrameType.HANDSHAKE)!.bytes;
    a.tap.deliver(first, c.tap.local);
    await wait(10);
    const reply = a.tap.sent.find(
      (sent) => sent.bytes[1] === LinkFrameType.COOKIE && sent.to.host === '10.3.0.3',
    );
    expect(reply, 'alpha under load answers carol with a cookie').toBeDefined();
    return { ...world, c, first, reply: reply!.bytes };
  }

  it('does not take a MAC2 made for another address: a copy of a proven NS from elsewhere gets a cookie, not a verification', async () => {
    const { a, c, reply, wait, attacker } = await carolWithCookie();
    const verified = a.layer.handshakeStats.verified;
    c.tap.sent.length = 0;
    c.tap.deliver(reply, a.tap.local);
    expect(c.layer.handshakeStats.cookiesAccepted).toBe(1);
    await wait(300); // carol sends her next NS at once (the next tick), with MAC2
    const proven = c.tap.sent.find((sent) => sent.bytes[1] === LinkFrameType.HANDSHAKE)!.bytes;
    expect(proven.subarray(proven.length - 16).some((byte) => byte !== 0)).toBe(true);
    attacker().send(proven, proven.length, a.tap.local);
    await wait(10);
    expect(a.layer.handshakeStats.verified).toBe(verified);
    expect(cookieFrames(attacker().received)).toHaveLength(1);
    // From carol's address the same NS is proven and verified.
    a.tap.deliver(proven, c.tap.local);
    expect(a.layer.handshakeStats.verified).toBe(verified + 1);
    c.layer.stop();
  });

  it('refuses forged, replayed, misdirected and unexpected cookie replies, counted', async () => {
    const { c, reply, a, attacker } = await carolWithCookie();
    const counted = () => c.layer.handshakeRejections['cookie-invalid'];
    // A forged reply (a changed sealed byte), one for an unknown index, one from another address.
    const forged = reply.slice();
    const sealedAt = LINK_FRAME_HEADER_LENGTH + CookieBody.SEALED_COOKIE;
    forged[sealedAt] = forged[sealedAt]! ^ 1;
    c.tap.deliver(forged, a.tap.local);
    const unknown = reply.slice();
    unknown[4] = unknown[4]! ^ 0x80;
    c.tap.deliver(unknown, a.tap.local);
    c.tap.deliver(reply, attacker().local);
    expect(counted()).toBe(3);
    expect(c.layer.handshakeStats.cookiesAccepted).toBe(0);
    // The genuine one opens; the same reply again is refused (one cookie per NS).
    c.tap.deliver(reply, a.tap.local);
    expect(c.layer.handshakeStats.cookiesAccepted).toBe(1);
    c.tap.deliver(reply, a.tap.local);
    expect(counted()).toBe(4);
    expect(c.layer.drops.handshakeRejected).toBe(4);
    expect(new LinkFrameView().parse(reply)).toBe(true);
    c.layer.stop();
  });

  it('caps the cookie replies themselves (each costs an X25519 agreement)', async () => {
    const { a, wait, clock } = setup({ handshakeLoadPerSecond: 1, cookieRepliesPerSecond: 3 });
    for (let i = 0; i < 10; i++)
      a.tap.deliver(solicitation(mallory, clock.nowMs()), { host: `10.3.7.${i}`, port: 1 });
    await wait(10);
    // 1 admitted below the threshold, then 3 cookie replies, then nothing.
    expect(a.layer.handshakeStats.verified).toBe(1);
    expect(a.layer.handshakeStats.cookieRepliesSent).toBe(3);
    expect(a.layer.handshakeRejections['rate-limited']).toBe(6);
  });

  it('checks an NA against our pending handshakes before verifying it', async () => {
    const { a, wait, attacker, clock } = setup();
    const advertisement = buildHandshakeFrame({
      kind: 'advertisement',
      signer: createHandshakeSigner({ ...carol, rsaPrivateKey: mallory.rsaPrivateKey }),
      destination: alpha.hostId,
      target: carol.hostId,
      timestampMs: clock.nowMs(),
      nonces: [new Uint8Array(14).fill(1), new Uint8Array(14).fill(2)],
      receiverIndex: 77,
      ephemeralPublicKey: generateX25519KeyPair().publicKeyRaw,
      frameReceiverIndex: 12345,
      macs: (frame) => void writeHandshakeMacs(frame, handshakeMac1Key(controllerKeyRaw, alpha.hostId)),
    });
    attacker().send(advertisement, advertisement.length, a.tap.local);
    await wait(20);
    expect(a.layer.handshakeRejections.unexpected).toBe(1);
    expect(a.layer.handshakeStats.verified).toBe(0);
  });
});
