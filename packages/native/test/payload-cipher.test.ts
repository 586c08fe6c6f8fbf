/**
 * The PayloadCipher port (@capsule/identity): one suite, run against both implementations —
 * node:crypto (identity's createNodePayloadCipher, which writes the header with wire's codec) and
 * the addon's reused AES-256-GCM contexts (createNativePayloadCipher, whose C++ writes it) — then
 * the two against each other and against the one-shot sealPayload/openPayload: byte for byte the
 * same output, each opens what the other sealed.
 */
import {
  createNodePayloadCipher,
  E2E_SEAL_OVERHEAD,
  openPayload,
  type PayloadCipher,
  sealPayload,
} from '@capsule/identity';
import { testSeed } from '@capsule/testkit';
import { SealedPayloadView } from '@capsule/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createNativePayloadCipher } from '../src/index';

interface CipherFactory {
  name: string;
  create(key: Uint8Array): PayloadCipher;
}

const factories: CipherFactory[] = [
  { name: 'node:crypto', create: createNodePayloadCipher },
  { name: 'native AES-256-GCM contexts', create: createNativePayloadCipher },
];

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const safeCounter = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const epoch32 = fc.integer({ min: 0, max: 0xffff_ffff });

for (const factory of factories) {
  describe(`PayloadCipher: ${factory.name}`, () => {
    it('seals into the caller buffer at an offset and opens it back; the header parses with wire’s view (500 cases)', () => {
      fc.assert(
        fc.property(
          key32,
          epoch32,
          safeCounter,
          fc.uint8Array({ maxLength: 64 }),
          fc.uint8Array({ maxLength: 2000 }),
          fc.integer({ min: 0, max: 100 }),
          (key, epoch, counter, aad, plaintext, at) => {
            const cipher = factory.create(key);
            const out = new Uint8Array(at + plaintext.length + E2E_SEAL_OVERHEAD + 7);
            const written = cipher.seal(epoch, counter, aad, plaintext, 0, plaintext.length, out, at);
            expect(written).toBe(plaintext.length + E2E_SEAL_OVERHEAD);
            const view = new SealedPayloadView();
            expect(view.parse(out, at, at + written)).toBe(true);
            expect(view.keyEpoch).toBe(epoch);
            expect(view.counter).toBe(counter);
            const opened = new Uint8Array(plaintext.length + 3);
            expect(cipher.open(out, at, written, aad, opened, 3)).toBe(plaintext.length);
            expect(Buffer.from(opened.subarray(3)).equals(Buffer.from(plaintext))).toBe(true);
          },
        ),
        { seed: testSeed, numRuns: 500 },
      );
    });

    it('refuses a flipped bit anywhere in the sealed payload or the AAD, and another key (300 cases)', () => {
      fc.assert(
        fc.property(
          key32,
          safeCounter,
          fc.uint8Array({ minLength: 35, maxLength: 35 }),
          fc.uint8Array({ maxLength: 1500 }),
          fc.nat(),
          (key, counter, aad, plaintext, flip) => {
            const cipher = factory.create(key);
            const sealed = new Uint8Array(plaintext.length + E2E_SEAL_OVERHEAD);
            cipher.seal(1, counter, aad, plaintext, 0, plaintext.length, sealed, 0);
            const out = new Uint8Array(plaintext.length);
            const bit = flip % (sealed.length * 8);
            const forged = sealed.slice();
            forged[bit >> 3]! ^= 1 << (bit & 7);
            expect(cipher.open(forged, 0, forged.length, aad, out, 0)).toBe(-1);
            const forgedAad = aad.slice();
            forgedAad[flip % 35]! ^= 1 << (flip & 7);
            expect(cipher.open(sealed, 0, sealed.length, forgedAad, out, 0)).toBe(-1);
            const otherKey = key.slice();
            otherKey[0]! ^= 1;
            expect(factory.create(otherKey).open(sealed, 0, sealed.length, aad, out, 0)).toBe(-1);
            expect(cipher.open(sealed, 0, sealed.length, aad, out, 0)).toBe(plaintext.length);
          },
        ),
        { seed: testSeed, numRuns: 300 },
      );
    });

    it('seals a slice of a larger source, reuses itself across packets, refuses bad ranges and numbers with -1', () => {
      const key = new Uint8Array(32).fill(3);
      const cipher = factory.create(key);
      const source = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
      for (let counter = 1; counter <= 3; counter++) {
        const out = new Uint8Array(16 + 100 + 16);
        expect(cipher.seal(0, counter, new Uint8Array(0), source, 50, 100, out, 0)).toBe(132);
        const opened = openPayload(() => key, out, new Uint8Array(0));
        expect(opened).toMatchObject({ ok: true, epoch: 0, counter: BigInt(counter) });
        expect(opened.ok && Buffer.from(opened.plaintext).equals(Buffer.from(source.subarray(50, 150)))).toBe(
          true,
        );
      }
      const none = new Uint8Array(0);
      const room = new Uint8Array(200);
      expect(cipher.seal(0, 1, none, source, 0, 100, new Uint8Array(131), 0)).toBe(-1);
      expect(cipher.seal(0, 1, none, source, 0, 100, room, 69)).toBe(-1);
      expect(cipher.seal(0, 1, none, source, 250, 100, room, 0)).toBe(-1);
      expect(cipher.seal(0, 1, none, source, -1, 10, room, 0)).toBe(-1);
      expect(cipher.seal(0, 1, none, source, 0, -1, room, 0)).toBe(-1);
      expect(cipher.seal(0, 1, none, source, 0, 10, room, -1)).toBe(-1);
      expect(cipher.seal(2 ** 32, 1, none, source, 0, 10, room, 0)).toBe(-1);
      expect(cipher.seal(-1, 1, none, source, 0, 10, room, 0)).toBe(-1);
      expect(cipher.seal(0.5, 1, none, source, 0, 10, room, 0)).toBe(-1);
      expect(cipher.seal(0, -1, none, source, 0, 10, room, 0)).toBe(-1);
      expect(cipher.seal(0, 2 ** 53, none, source, 0, 10, room, 0)).toBe(-1);
      expect(cipher.seal(0, 1.5, none, source, 0, 10, room, 0)).toBe(-1);
      expect(cipher.seal(0, Number.NaN, none, source, 0, 10, room, 0)).toBe(-1);
      expect(cipher.seal(0xffff_ffff, Number.MAX_SAFE_INTEGER, none, source, 0, 10, room, 0)).toBe(42);
    });

    it('open refuses a payload shorter than 32 bytes, ranges outside the buffers and an output without room', () => {
      const cipher = factory.create(new Uint8Array(32));
      const sealed = new Uint8Array(10 + E2E_SEAL_OVERHEAD);
      expect(cipher.seal(1, 1, new Uint8Array(0), new Uint8Array(10), 0, 10, sealed, 0)).toBe(42);
      const out = new Uint8Array(10);
      expect(cipher.open(new Uint8Array(31), 0, 31, new Uint8Array(0), new Uint8Array(10), 0)).toBe(-1);
      expect(cipher.open(sealed, 0, 43, new Uint8Array(0), out, 0)).toBe(-1);
      expect(cipher.open(sealed, 1, 42, new Uint8Array(0), out, 0)).toBe(-1);
      expect(cipher.open(sealed, -1, 42, new Uint8Array(0), out, 0)).toBe(-1);
      expect(cipher.open(sealed, 0, 42, new Uint8Array(0), new Uint8Array(9), 0)).toBe(-1);
      expect(cipher.open(sealed, 0, 42, new Uint8Array(0), out, 1)).toBe(-1);
      expect(cipher.open(sealed, 0, 42, new Uint8Array(0), out, -1)).toBe(-1);
      expect(cipher.open(sealed, 0, 42, new Uint8Array(0), out, 0)).toBe(10);
    });

    it('opening 5,000 hostile inputs never throws', () => {
      const cipher = factory.create(new Uint8Array(32).fill(9));
      const out = new Uint8Array(128);
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 100 }),
          fc.integer({ min: -2, max: 110 }),
          fc.integer({ min: -2, max: 110 }),
          fc.uint8Array({ maxLength: 40 }),
          (bytes, at, length, aad) => {
            expect(cipher.open(bytes, at, length, aad, out, 0)).toBe(-1);
          },
        ),
        { seed: testSeed, numRuns: 5000 },
      );
    });

    it('refuses a key that is not 32 bytes', () => {
      expect(() => factory.create(new Uint8Array(16))).toThrow();
      expect(() => factory.create(new Uint8Array(33))).toThrow();
    });
  });
}

describe('PayloadCipher: node:crypto and native agree byte for byte', () => {
  const [node, native] = factories as [CipherFactory, CipherFactory];

  it('native writes exactly what node:crypto and sealPayload write, and each opens the other’s (2,000 cases)', () => {
    fc.assert(
      fc.property(
        key32,
        epoch32,
        safeCounter,
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 2000 }),
        fc.integer({ min: 0, max: 100 }),
        (key, epoch, counter, aad, plaintext, at) => {
          const expected = new Uint8Array(at + plaintext.length + E2E_SEAL_OVERHEAD);
          const written = sealPayload(key, epoch, BigInt(counter), aad, plaintext, expected, at);
          const byNode = new Uint8Array(expected.length);
          const byNative = new Uint8Array(expected.length);
          const nodeCipher = node.create(key);
          const nativeCipher = native.create(key);
          expect(nodeCipher.seal(epoch, counter, aad, plaintext, 0, plaintext.length, byNode, at)).toBe(
            written,
          );
          expect(nativeCipher.seal(epoch, counter, aad, plaintext, 0, plaintext.length, byNative, at)).toBe(
            written,
          );
          expect(Buffer.from(byNative).equals(Buffer.from(expected))).toBe(true);
          expect(Buffer.from(byNode).equals(Buffer.from(expected))).toBe(true);
          const opened = openPayload(() => key, byNative.subarray(at, at + written), aad);
          expect(opened.ok && Buffer.from(opened.plaintext).equals(Buffer.from(plaintext))).toBe(true);
          const out = new Uint8Array(plaintext.length);
          expect(nodeCipher.open(byNative, at, written, aad, out, 0)).toBe(plaintext.length);
          expect(Buffer.from(out).equals(Buffer.from(plaintext))).toBe(true);
          out.fill(0);
          expect(nativeCipher.open(byNode, at, written, aad, out, 0)).toBe(plaintext.length);
          expect(Buffer.from(out).equals(Buffer.from(plaintext))).toBe(true);
        },
      ),
      { seed: testSeed, numRuns: 2000 },
    );
  });

  it('native opens what sealPayload sealed, and refuses a flipped bit anywhere (500 cases)', () => {
    fc.assert(
      fc.property(
        key32,
        fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }),
        fc.uint8Array({ minLength: 35, maxLength: 35 }),
        fc.uint8Array({ minLength: 0, maxLength: 1500 }),
        fc.nat(),
        (key, counter, aad, plaintext, flip) => {
          const sealed = new Uint8Array(plaintext.length + 32);
          sealPayload(key, 1, counter, aad, plaintext, sealed, 0);
          const opener = native.create(key);
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
  });
});
