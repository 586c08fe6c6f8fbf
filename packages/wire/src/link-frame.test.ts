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
      1, 2, 0, 0, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
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
    expect(code(Uint8Array.from(frame, (b, i) => (i === 0 ? 2 : b)))).toBe('BAD_VERSION');
    expect(code(Uint8Array.from(frame, (b, i) => (i === 1 ? 3 : b)))).toBe('UNKNOWN_TYPE');
    expect(code(Uint8Array.from(frame, (b, i) => (i === 3 ? 1 : b)))).toBe('BAD_FIELD');
    const notIpv6 = new Uint8Array(16 + 40 + 16);
    encodeLinkFrame(
      { type: 2, flags: 0, receiverIndex: 1, counter: 0n, body: new Uint8Array(40).fill(0x45) },
      notIpv6,
    );
    expect(code(notIpv6)).toBe('BAD_VERSION');
    const handshake = new Uint8Array(16 + 8);
    encodeLinkFrame({ type: 1, flags: 0, receiverIndex: 0, counter: 0n, body: new Uint8Array(8) }, handshake);
    const decoded = decodeLinkFrame(handshake);
    expect(decoded.ok && decoded.value.tag).toBeUndefined();
  });
});
