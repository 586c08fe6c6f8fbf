import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AeadCipherName } from './aead';
import { createNodePayloadCipher, E2E_SEAL_OVERHEAD, openPayload, sealPayload } from './payload-cipher';

const ciphers: AeadCipherName[] = ['chacha20-poly1305', 'aes-256-gcm'];
const key = new Uint8Array(32).map((_, index) => index);
const header = new Uint8Array([1, 2, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 0x60, 0, 0, 0]);

describe.each(ciphers)('one-shot e2e payload seal/open, %s', (cipher) => {
  const options = { cipher };

  it('e2e payload: epoch | nonce | ciphertext | tag; opens with the epoch key only', () => {
    const plaintext = new TextEncoder().encode('an application packet');
    const out = new Uint8Array(plaintext.length + E2E_SEAL_OVERHEAD);
    const aad = new Uint8Array([0, 0, 0, 42]);
    expect(sealPayload(key, 3, 77n, aad, plaintext, out, 0, options)).toBe(out.length);
    expect(Buffer.from(out.subarray(0, 16)).toString('hex')).toBe(`00000003${'00000000'}000000000000004d`);
    const keys = (epoch: number) => (epoch === 3 ? key : undefined);
    const opened = openPayload(keys, out, aad, options);
    expect(opened.ok && Buffer.from(opened.plaintext).toString()).toBe('an application packet');
    expect(opened).toMatchObject({ epoch: 3, counter: 77n });
    expect(openPayload(keys, out, new Uint8Array([0, 0, 0, 43]), options)).toEqual({
      ok: false,
      reason: 'bad-tag',
    });
    expect(openPayload(() => undefined, out, aad, options)).toEqual({ ok: false, reason: 'unknown-epoch' });
    // A key of another length (a caller's bug, or a truncated key store) is refused, not thrown.
    for (const wrong of [key.subarray(0, 16), new Uint8Array(0), new Uint8Array(33)])
      expect(openPayload(() => wrong, out, aad, options)).toEqual({ ok: false, reason: 'bad-tag' });
    const epochChanged = out.slice();
    epochChanged[3] = 4;
    expect(openPayload(() => key, epochChanged, aad, options)).toEqual({ ok: false, reason: 'bad-tag' });
    const counterChanged = out.slice();
    counterChanged[15]! ^= 1;
    expect(openPayload(keys, counterChanged, aad, options)).toEqual({ ok: false, reason: 'bad-tag' });
    const nonceHigh = out.slice();
    nonceHigh[4] = 1;
    expect(openPayload(keys, nonceHigh, aad, options)).toEqual({ ok: false, reason: 'malformed' });
    expect(openPayload(keys, out.subarray(0, 31), aad, options)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('property: seal → open round-trips; any flipped bit is refused', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.nat(),
        (plaintext, aad, counter, flip) => {
          const out = new Uint8Array(plaintext.length + E2E_SEAL_OVERHEAD);
          sealPayload(key, 1, counter, aad, plaintext, out, 0, options);
          const opened = openPayload(() => key, out, aad, options);
          expect(opened.ok && Buffer.from(opened.plaintext).equals(Buffer.from(plaintext))).toBe(true);
          const bit = flip % (out.length * 8);
          out[bit >> 3]! ^= 1 << (bit & 7);
          expect(openPayload(() => key, out, aad, options).ok).toBe(false);
        },
      ),
      { seed: testSeed, numRuns: 500 },
    );
  });

  it('opening 20,000 hostile inputs never throws', () => {
    let runs = 0;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        runs += 1;
        expect(openPayload(() => key, bytes, header, options).ok).toBe(false);
      }),
      { seed: testSeed, numRuns: 20_000 },
    );
    expect(runs).toBe(20_000);
  });
});

describe('one-shot e2e payload misuse', () => {
  it('throws on an out-of-range epoch, counter or key, and a small buffer', () => {
    const out = new Uint8Array(64);
    expect(() => sealPayload(key, 2 ** 32, 0n, header, new Uint8Array(0), out)).toThrow();
    expect(() => sealPayload(key, 0, -1n, header, new Uint8Array(0), out)).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_ARGUMENT' }),
    );
    expect(() => sealPayload(key, 0, 2n ** 64n, header, new Uint8Array(0), out)).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_ARGUMENT' }),
    );
    expect(() => sealPayload(new Uint8Array(16), 0, 0n, header, new Uint8Array(0), out)).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_KEY' }),
    );
    expect(() => sealPayload(key, 0, 0n, header, new Uint8Array(33), out)).toThrow(
      expect.objectContaining({ code: 'IDENTITY_BUFFER_TOO_SMALL' }),
    );
  });
});

describe('createNodePayloadCipher (the port’s shared suite: packages/native/test/payload-cipher.test.ts)', () => {
  it('writes exactly what sealPayload writes (AES-256-GCM), and openPayload opens it (500 random cases)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) }),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 1500 }),
        fc.integer({ min: 0, max: 40 }),
        (cipherKey, epoch, counter, aad, plaintext, at) => {
          const expected = new Uint8Array(at + plaintext.length + E2E_SEAL_OVERHEAD);
          const written = sealPayload(cipherKey, epoch, counter, aad, plaintext, expected, at);
          const actual = new Uint8Array(expected.length);
          const cipher = createNodePayloadCipher(cipherKey);
          expect(cipher.seal(epoch, Number(counter), aad, plaintext, 0, plaintext.length, actual, at)).toBe(
            written,
          );
          expect(Buffer.from(actual).equals(Buffer.from(expected))).toBe(true);
          const opened = openPayload(() => cipherKey, actual.subarray(at), aad);
          expect(opened.ok && Buffer.from(opened.plaintext).equals(Buffer.from(plaintext))).toBe(true);
        },
      ),
      { seed: testSeed, numRuns: 500 },
    );
  });

  it('throws IDENTITY_INVALID_KEY for a key that is not 32 bytes', () => {
    expect(() => createNodePayloadCipher(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_KEY' }),
    );
  });
});
