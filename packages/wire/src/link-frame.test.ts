import { describe, expect, it } from 'vitest';
import { encodeCapsuleHeader } from './capsule-header';
import { encodeIpv6Header } from './ipv6';
import { decodeLinkFrame, encodeLinkFrame, LinkFrameView } from './link-frame';

function innerPacket(nextHeader: number, capsuleNextHeader: number, payloadLength: number) {
  const capsule = new Uint8Array(64);
  const capsuleLength =
    nextHeader === 253
      ? encodeCapsuleHeader(
          { nextHeader: capsuleNextHeader, packetType: 3, flags: 0, data: Uint8Array.of(9) },
          capsule,
        )
      : 0;
  const packet = new Uint8Array(40 + capsuleLength + payloadLength);
  encodeIpv6Header(
    {
      trafficClass: 0,
      flowLabel: 5,
      payloadLength: capsuleLength + payloadLength,
      nextHeader,
      hopLimit: 64,
      source: new Uint8Array(16),
      destination: new Uint8Array(16),
    },
    packet,
  );
  packet.set(capsule.subarray(0, capsuleLength), 40);
  return { packet, capsuleLength };
}

describe('link frame', () => {
  it('lays out the header: version, type, flags, reserved, receiver index, counter', () => {
    const bytes = new Uint8Array(32);
    encodeLinkFrame(
      { type: 2, flags: 0, receiverIndex: 0x01020304, counter: 0x1122334455667788n, body: new Uint8Array(0) },
      bytes,
    );
    expect(Array.from(bytes.subarray(0, 16))).toEqual([
      2, 2, 0, 0, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
    ]);
    const keepAlive = decodeLinkFrame(bytes);
    expect(keepAlive.ok && keepAlive.value.aadEnd).toBe(16);
  });

  it('authenticates up to the end of the capsule header when a sealed payload follows', () => {
    const { packet, capsuleLength } = innerPacket(253, 59, 100);
    const frame = new Uint8Array(16 + packet.length + 16);
    encodeLinkFrame({ type: 2, flags: 0, receiverIndex: 1, counter: 2n, body: packet }, frame);
    const view = new LinkFrameView();
    expect(view.parse(frame)).toBe(true);
    expect(view.aadEnd).toBe(16 + 40 + capsuleLength);
    expect(view.tagOffset).toBe(frame.length - 16);
    expect(view.counterLow).toBe(2);
  });

  it('authenticates the whole body otherwise', () => {
    for (const [nextHeader, capsuleNext] of [
      [253, 17],
      [17, 0],
    ] as const) {
      const { packet } = innerPacket(nextHeader, capsuleNext, 30);
      const frame = new Uint8Array(16 + packet.length + 16);
      encodeLinkFrame({ type: 2, flags: 0, receiverIndex: 1, counter: 2n, body: packet }, frame);
      const decoded = decodeLinkFrame(frame);
      expect(decoded.ok && decoded.value.aadEnd).toBe(16 + packet.length);
    }
  });

  it('refuses bad versions, types, reserved bytes, short frames and non-IPv6 bodies', () => {
    const frame = new Uint8Array(32);
    encodeLinkFrame({ type: 2, flags: 0, receiverIndex: 1, counter: 0n, body: new Uint8Array(0) }, frame);
    const code = (bytes: Uint8Array) => {
      const result = decodeLinkFrame(bytes);
      return result.ok ? 'ok' : result.error.code;
    };
    expect(code(frame)).toBe('ok');
    expect(code(frame.subarray(0, 31))).toBe('TRUNCATED');
    expect(code(Uint8Array.from(frame, (b, i) => (i === 0 ? 1 : b)))).toBe('BAD_VERSION');
    expect(code(Uint8Array.from(frame, (b, i) => (i === 1 ? 4 : b)))).toBe('UNKNOWN_TYPE');
    expect(code(Uint8Array.from(frame, (b, i) => (i === 3 ? 1 : b)))).toBe('BAD_FIELD');
    const notIpv6 = new Uint8Array(16 + 40 + 16);
    encodeLinkFrame(
      { type: 2, flags: 0, receiverIndex: 1, counter: 0n, body: new Uint8Array(40).fill(0x45) },
      notIpv6,
    );
    expect(code(notIpv6)).toBe('BAD_VERSION');
    // A DATA body cut inside its IPv6 header, or inside the capsule header after it: the
    // authenticated range cannot be found.
    const frameOf = (body: Uint8Array) => {
      const bytes = new Uint8Array(16 + body.length + 16);
      encodeLinkFrame({ type: 2, flags: 0, receiverIndex: 1, counter: 0n, body }, bytes);
      return bytes;
    };
    expect(code(frameOf(new Uint8Array(20).fill(0x60)))).toBe('TRUNCATED');
    const { packet, capsuleLength } = innerPacket(253, 59, 0);
    expect(code(frameOf(packet))).toBe('ok');
    expect(code(frameOf(packet.subarray(0, 40 + capsuleLength - 1)))).toBe('TRUNCATED');
    const handshake = new Uint8Array(16 + 8 + 32);
    encodeLinkFrame({ type: 1, flags: 0, receiverIndex: 0, counter: 0n, body: new Uint8Array(8) }, handshake);
    const decoded = decodeLinkFrame(handshake);
    expect(decoded.ok && decoded.value.tag).toBeUndefined();
  });

  it('ends a HANDSHAKE frame with MAC1 and MAC2, and refuses one too short for them', () => {
    const body = Uint8Array.from({ length: 10 }, (_, i) => i + 1);
    const macs = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
    const frame = new Uint8Array(16 + 10 + 32);
    expect(encodeLinkFrame({ type: 1, flags: 0, receiverIndex: 7, counter: 0n, body, macs }, frame)).toBe(58);
    const view = new LinkFrameView();
    expect(view.parse(frame)).toBe(true);
    expect(view.bodyEnd).toBe(26);
    expect(view.macOffset).toBe(26);
    expect(view.tagOffset).toBe(-1);
    const decoded = decodeLinkFrame(frame);
    expect(decoded.ok && Array.from(decoded.value.body)).toEqual(Array.from(body));
    expect(decoded.ok && Array.from(decoded.value.macs!)).toEqual(Array.from(macs));
    // Without MACs the encoder writes zeros for the sender to fill in.
    const unsigned = new Uint8Array(58);
    encodeLinkFrame({ type: 1, flags: 0, receiverIndex: 7, counter: 0n, body }, unsigned);
    expect(unsigned.subarray(26).every((byte) => byte === 0)).toBe(true);
    for (const length of [16, 30, 47]) {
      const short = decodeLinkFrame(frame.subarray(0, length));
      expect(short.ok ? 'ok' : short.error.code).toBe('TRUNCATED');
    }
    expect(() =>
      encodeLinkFrame(
        { type: 1, flags: 0, receiverIndex: 7, counter: 0n, body, macs: new Uint8Array(16) },
        frame,
      ),
    ).toThrow(/32 bytes/);
    expect(() =>
      encodeLinkFrame(
        { type: 2, flags: 0, receiverIndex: 7, counter: 0n, body: new Uint8Array(0), macs },
        frame,
      ),
    ).toThrow(/MACs/);
  });

  it('carries a COOKIE frame of exactly 76 body bytes and refuses any other length', () => {
    const body = Uint8Array.from({ length: 76 }, (_, i) => i);
    const frame = new Uint8Array(16 + 76);
    encodeLinkFrame({ type: 3, flags: 0, receiverIndex: 0xdeadbeef, counter: 0n, body }, frame);
    const view = new LinkFrameView();
    expect(view.parse(frame)).toBe(true);
    expect([view.type, view.receiverIndex, view.bodyOffset, view.bodyEnd, view.macOffset]).toEqual([
      3, 0xdeadbeef, 16, 92, -1,
    ]);
    const code = (bytes: Uint8Array) => {
      const result = decodeLinkFrame(bytes);
      return result.ok ? 'ok' : result.error.code;
    };
    expect(code(frame.subarray(0, 91))).toBe('TRUNCATED');
    const long = new Uint8Array(93);
    long.set(frame);
    expect(code(long)).toBe('BAD_LENGTH');
    expect(() =>
      encodeLinkFrame({ type: 3, flags: 0, receiverIndex: 1, counter: 0n, body: new Uint8Array(75) }, frame),
    ).toThrow(/76 bytes/);
  });
});
