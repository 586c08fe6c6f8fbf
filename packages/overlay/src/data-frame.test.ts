import { deriveSessionKeys, generateX25519KeyPair, openLinkFrame } from '@capsule/identity';
import { testSeed } from '@capsule/testkit';
import { LinkFrameView, readLinkFrameCounter } from '@capsule/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipv6Packet } from '../test/packets';
import {
  createLinkSession,
  FrameBuffer,
  type LinkSession,
  MAX_INNER_PACKET_LENGTH,
  openDataFrame,
  SEAL_EXHAUSTED,
  SEAL_MALFORMED,
  sealDataFrame,
} from './data-frame';

function sessionPair(): [LinkSession, LinkSession] {
  const a = generateX25519KeyPair();
  const b = generateX25519KeyPair();
  const idA = new Uint8Array(16).fill(1);
  const idB = new Uint8Array(16).fill(2);
  const nonceA = new Uint8Array(14).fill(3);
  const nonceB = new Uint8Array(14).fill(4);
  const keysA = deriveSessionKeys({
    privateKey: a.privateKey,
    peerPublicKey: b.publicKeyRaw,
    localNonce: nonceA,
    peerNonce: nonceB,
    localHostId: idA,
    peerHostId: idB,
  });
  const keysB = deriveSessionKeys({
    privateKey: b.privateKey,
    peerPublicKey: a.publicKeyRaw,
    localNonce: nonceB,
    peerNonce: nonceA,
    localHostId: idB,
    peerHostId: idA,
  });
  return [
    createLinkSession({ localIndex: 11, peerIndex: 22, keys: keysA }),
    createLinkSession({ localIndex: 22, peerIndex: 11, keys: keysB }),
  ];
}

const source = new Uint8Array(16).fill(1);
const destination = new Uint8Array(16).fill(2);
/** An IPv6 packet from host 1 to host 2 carrying `payload` (test/packets.ts). */
const packet = (payload: Uint8Array) => ipv6Packet(source, destination, payload);

describe('DATA frames', () => {
  it('seal then open round-trips any IPv6 packet, with increasing counters and the peer index', () => {
    const [sender, receiver] = sessionPair();
    const out = new FrameBuffer();
    const view = new LinkFrameView();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), fc.nat(8), (payload, offset) => {
        const inner = packet(payload);
        const padded = new Uint8Array(offset + inner.length);
        padded.set(inner, offset);
        const counter = sender.sendCounter;
        const length = sealDataFrame(sender, padded, offset, inner.length, out);
        expect(length).toBe(16 + inner.length + 16);
        const frame = out.bytes.subarray(0, length);
        expect(view.parse(frame)).toBe(true);
        expect(view.receiverIndex).toBe(22);
        expect(view.counterLow).toBe(counter);
        expect(openDataFrame(receiver, frame, view)).toBe('ok');
        expect(Array.from(frame.subarray(view.bodyOffset, view.bodyEnd))).toEqual(Array.from(inner));
        expect(openDataFrame(receiver, frame, view)).toBe('replayed');
      }),
      { seed: testSeed, numRuns: 300 },
    );
  });

  it('seals keep-alives and refuses inner packets that are not IPv6 or are cut short', () => {
    const [sender, receiver] = sessionPair();
    const out = new FrameBuffer();
    const view = new LinkFrameView();
    const length = sealDataFrame(sender, new Uint8Array(0), 0, 0, out);
    expect(length).toBe(32);
    expect(view.parse(out.bytes.subarray(0, length))).toBe(true);
    expect(openDataFrame(receiver, out.bytes.subarray(0, length), view)).toBe('ok');
    const ipv4 = packet(new Uint8Array(8));
    ipv4[0] = 0x45;
    expect(sealDataFrame(sender, ipv4, 0, ipv4.length, out)).toBe(SEAL_MALFORMED);
    expect(sealDataFrame(sender, new Uint8Array(30).fill(0x60), 0, 30, out)).toBe(SEAL_MALFORMED);
    expect(sealDataFrame(sender, new Uint8Array(10), 5, 10, out)).toBe(SEAL_MALFORMED);
  });

  it('refuses a range outside the packet or over the largest inner packet, and spends no counter', () => {
    const [sender] = sessionPair();
    const out = new FrameBuffer();
    // The last frame's bytes are in `out`: a range past the packet's end must not seal them again.
    const inner = packet(new Uint8Array(64).fill(0xaa));
    expect(sealDataFrame(sender, inner, 0, inner.length, out)).toBe(16 + inner.length + 16);
    const counter = sender.sendCounter;
    const short = inner.slice(0, inner.length - 8); // its IPv6 header still says 64 bytes of payload
    const oversized = new Uint8Array(MAX_INNER_PACKET_LENGTH + 1);
    oversized.set(packet(new Uint8Array(0)));
    for (const [bytes, offset, length] of [
      [short, 0, inner.length], // past the end of the bytes
      [inner, 8, inner.length], // shifted past the end
      [inner, -inner.length, inner.length], // a negative offset (subarray would count from the end)
      [inner, 0, -1],
      [oversized, 0, oversized.length], // over MAX_INNER_PACKET_LENGTH
    ] as const)
      expect(sealDataFrame(sender, bytes, offset, length, out), `offset ${offset}, length ${length}`).toBe(
        SEAL_MALFORMED,
      );
    expect(sender.sendCounter).toBe(counter);
  });

  it('refuses a frame sealed with the other direction key, and every single-bit change of a sealed frame', () => {
    const [sender, receiver] = sessionPair();
    const out = new FrameBuffer();
    const view = new LinkFrameView();
    const inner = packet(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    const length = sealDataFrame(sender, inner, 0, inner.length, out);
    const frame = out.bytes.slice(0, length);
    // The sender cannot open its own frame: each direction has its own key.
    const sendersView = new LinkFrameView();
    expect(sendersView.parse(frame)).toBe(true);
    expect(openDataFrame(sender, frame, sendersView)).toBe('badTag');
    let refused = 0;
    for (let bit = 0; bit < length * 8; bit++) {
      const copy = Uint8Array.from(frame);
      copy[bit >>> 3] = copy[bit >>> 3]! ^ (1 << (bit & 7));
      if (!view.parse(copy) || openDataFrame(receiver, copy, view) !== 'ok') refused += 1;
    }
    expect(refused).toBe(length * 8);
    expect(view.parse(frame) && openDataFrame(receiver, frame, view)).toBe('ok');
  });

  it('takes a tag the caller vouches for (the native fast path verified it) as verified, never a replay', () => {
    const [sender, receiver] = sessionPair();
    const out = new FrameBuffer();
    const view = new LinkFrameView();
    const inner = packet(Uint8Array.of(1, 2, 3));
    const length = sealDataFrame(sender, inner, 0, inner.length, out);
    const frame = out.bytes.slice(0, length);
    frame[length - 1]! ^= 1; // a tag this key would refuse
    expect(view.parse(frame)).toBe(true);
    expect(openDataFrame(receiver, frame, view)).toBe('badTag');
    // Vouched for: the tag is not computed again, and the counter is marked.
    expect(openDataFrame(receiver, frame, view, true)).toBe('ok');
    // The window still refuses the same counter, vouched for or not.
    expect(openDataFrame(receiver, frame, view, true)).toBe('replayed');
  });

  it('writes the counter as u64 BE across 2^32 and up to 2^53 − 2, and the tag is the ChaCha20-Poly1305 one', () => {
    const [sender, receiver] = sessionPair();
    const out = new FrameBuffer();
    const view = new LinkFrameView();
    const inner = packet(Uint8Array.of(9, 9, 9));
    for (const counter of [
      0xffff_fffe,
      0xffff_ffff,
      0x1_0000_0000,
      0x1234_5678_9abc,
      Number.MAX_SAFE_INTEGER - 1,
    ]) {
      sender.sendCounter = counter;
      const length = sealDataFrame(sender, inner, 0, inner.length, out);
      const frame = out.bytes.slice(0, length);
      expect(readLinkFrameCounter(frame)).toBe(BigInt(counter));
      expect(view.parse(frame)).toBe(true);
      // The same tag node:crypto's ChaCha20-Poly1305 gives for the frame's AAD and an empty plaintext.
      const opened = openLinkFrame(
        receiver.receiveKey,
        BigInt(counter),
        frame.subarray(0, view.aadEnd),
        frame.subarray(view.tagOffset),
        {
          cipher: 'chacha20-poly1305',
        },
      );
      expect(opened?.length).toBe(0);
      expect(openDataFrame(receiver, frame, view)).toBe('ok');
    }
    expect(sealDataFrame(sender, inner, 0, inner.length, out)).toBe(SEAL_EXHAUSTED);
  });
});
