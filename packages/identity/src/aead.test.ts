import { type CipherGCMTypes, createCipheriv } from 'node:crypto';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AEAD_CIPHER, type AeadCipherName, LINK_CIPHER, openLinkFrame, sealLinkFrame } from './aead';

/** node:crypto's ChaCha20-Poly1305 (the cast names the overload with the AEAD methods, as aead.ts does). */
const CHACHA = 'chacha20-poly1305' as CipherGCMTypes;

const ciphers: AeadCipherName[] = ['chacha20-poly1305', 'aes-256-gcm'];
const key = new Uint8Array(32).map((_, index) => index);
const otherKey = new Uint8Array(32).fill(0x55);
const header = new Uint8Array([1, 2, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 0x60, 0, 0, 0]);

describe.each(ciphers)('AEAD %s', (cipher) => {
  const options = { cipher };

  it('link frame: a MAC over the headers (empty plaintext) authenticates every header bit and the counter', () => {
    const out = new Uint8Array(16);
    expect(sealLinkFrame(key, 9n, header, new Uint8Array(0), out, 0, options)).toBe(16);
    expect(openLinkFrame(key, 9n, header, out, options)?.length).toBe(0);
    for (let bit = 0; bit < header.length * 8; bit += 1) {
      const forged = header.slice();
      forged[bit >> 3]! ^= 1 << (bit & 7);
      expect(openLinkFrame(key, 9n, forged, out, options)).toBeUndefined();
    }
    expect(openLinkFrame(key, 10n, header, out, options)).toBeUndefined();
    expect(openLinkFrame(otherKey, 9n, header, out, options)).toBeUndefined();
    const tag = out.slice();
    tag[15]! ^= 1;
    expect(openLinkFrame(key, 9n, header, tag, options)).toBeUndefined();
  });

  it('link frame with a payload round-trips into the caller buffer at an offset', () => {
    const plaintext = new Uint8Array(1400).map((_, index) => index & 0xff);
    const out = new Uint8Array(1500);
    const written = sealLinkFrame(key, 2n ** 64n - 1n, header, plaintext, out, 40, options);
    expect(written).toBe(1416);
    expect(Buffer.from(out.subarray(40, 40 + 1400)).equals(Buffer.from(plaintext))).toBe(false);
    const opened = openLinkFrame(key, 2n ** 64n - 1n, header, out.subarray(40, 40 + written), options);
    expect(opened && Buffer.from(opened).equals(Buffer.from(plaintext))).toBe(true);
  });

  it('opening 20,000 hostile link frames never throws (payloads: payload-cipher.test.ts)', () => {
    let runs = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.bigInt({ min: -5n, max: 2n ** 65n }),
        (bytes, counter) => {
          runs += 1;
          expect(openLinkFrame(key, counter, header, bytes, options)).toBeUndefined();
        },
      ),
      { seed: testSeed, numRuns: 20_000 },
    );
    expect(runs).toBe(20_000);
  });
});

describe('AEAD misuse', () => {
  it('throws on a short key, a small buffer, an out-of-range counter (the epoch: payload-cipher.test.ts)', () => {
    const out = new Uint8Array(64);
    expect(() => sealLinkFrame(new Uint8Array(16), 0n, header, new Uint8Array(0), out)).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_KEY' }),
    );
    expect(() => sealLinkFrame(key, 0n, header, new Uint8Array(60), out)).toThrow(
      expect.objectContaining({ code: 'IDENTITY_BUFFER_TOO_SMALL' }),
    );
    expect(() => sealLinkFrame(key, -1n, header, new Uint8Array(0), out)).toThrow();
  });

  it('the default cipher is one of the two measured', () => {
    expect(ciphers).toContain(AEAD_CIPHER);
  });

  it('link frames default to ChaCha20-Poly1305 (the link MAC path when the plaintext is empty)', () => {
    expect(LINK_CIPHER).toBe('chacha20-poly1305');
    const byDefault = new Uint8Array(16);
    const named = new Uint8Array(16);
    sealLinkFrame(key, 0x1_0000_0005n, header, new Uint8Array(0), byDefault);
    sealLinkFrame(key, 0x1_0000_0005n, header, new Uint8Array(0), named, 0, { cipher: 'chacha20-poly1305' });
    expect(Array.from(byDefault)).toEqual(Array.from(named));
    const nonce = Buffer.from('000000000000000100000005', 'hex');
    const reference = createCipheriv(CHACHA, key, nonce, { authTagLength: 16 });
    reference.setAAD(header);
    reference.final();
    expect(Buffer.from(byDefault).equals(reference.getAuthTag())).toBe(true);
    expect(openLinkFrame(key, 0x1_0000_0005n, header, byDefault, { cipher: 'aes-256-gcm' })).toBeUndefined();
  });
});
