/**
 * The egress path seals (and the unicast ingress path opens) with @capsule/tun's native PayloadSealer (a reused AES-256-GCM context);
 * ingress opens with @capsule/identity's openPayload. They must agree byte for byte.
 */
import { openPayload, sealPayload } from '@capsule/identity';
import { testSeed } from '@capsule/testkit';
import { createPayloadSealer } from '@capsule/tun';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('native PayloadSealer', () => {
  it('writes exactly what sealPayload writes, and openPayload opens it (2,000 random cases)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }),
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.uint8Array({ minLength: 0, maxLength: 2000 }),
        fc.integer({ min: 0, max: 100 }),
        (key, epoch, counter, aad, plaintext, at) => {
          const expected = new Uint8Array(at + plaintext.length + 32);
          const written = sealPayload(key, epoch, counter, aad, plaintext, expected, at);
          const actual = new Uint8Array(expected.length);
          const view = new DataView(actual.buffer);
          view.setUint32(at, epoch);
          view.setUint32(at + 4, 0);
          view.setBigUint64(at + 8, counter);
          const sealer = createPayloadSealer(key)!;
          expect(16 + sealer.seal(actual, at, aad, plaintext, 0, plaintext.length)).toBe(written);
          expect(Buffer.from(actual).equals(Buffer.from(expected))).toBe(true);
          const opened = openPayload(() => key, actual.subarray(at, at + written), aad);
          expect(opened.ok && Buffer.from(opened.plaintext).equals(Buffer.from(plaintext))).toBe(true);
        },
      ),
      { seed: testSeed, numRuns: 2000 },
    );
  });

  it('opens what sealPayload sealed, and refuses a flipped bit anywhere (500 random cases)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }),
        fc.uint8Array({ minLength: 35, maxLength: 35 }),
        fc.uint8Array({ minLength: 0, maxLength: 1500 }),
        fc.nat(),
        (key, counter, aad, plaintext, flip) => {
          const sealed = new Uint8Array(plaintext.length + 32);
          sealPayload(key, 1, counter, aad, plaintext, sealed, 0);
          const opener = createPayloadSealer(key)!;
          const out = new Uint8Array(plaintext.length + 8);
          expect(opener.open(sealed, 0, sealed.length, aad, out, 8)).toBe(plaintext.length);
          expect(Buffer.from(out.subarray(8)).equals(Buffer.from(plaintext))).toBe(true);
          const bit = flip % (sealed.length * 8);
          sealed[bit >> 3]! ^= 1 << (bit & 7);
          expect(opener.open(sealed, 0, sealed.length, aad, out, 8)).toBe(-1);
        },
      ),
      { seed: testSeed, numRuns: 500 },
    );
    const opener = createPayloadSealer(new Uint8Array(32))!;
    expect(opener.open(new Uint8Array(31), 0, 31, new Uint8Array(0), new Uint8Array(10), 0)).toBe(-1);
  });

  it('seals a slice of a larger source, reuses its context across packets, refuses short buffers', () => {
    const key = new Uint8Array(32).fill(3);
    const sealer = createPayloadSealer(key)!;
    const source = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    for (let counter = 1; counter <= 3; counter++) {
      const out = new Uint8Array(16 + 100 + 16);
      new DataView(out.buffer).setBigUint64(8, BigInt(counter));
      expect(sealer.seal(out, 0, new Uint8Array(0), source, 50, 100)).toBe(116);
      const opened = openPayload(() => key, out, new Uint8Array(0));
      expect(opened.ok && Buffer.from(opened.plaintext).equals(Buffer.from(source.subarray(50, 150)))).toBe(
        true,
      );
    }
    expect(sealer.seal(new Uint8Array(100), 0, new Uint8Array(0), source, 0, 100)).toBe(-1);
    expect(sealer.seal(new Uint8Array(200), 0, new Uint8Array(0), source, 250, 100)).toBe(-1);
  });
});
