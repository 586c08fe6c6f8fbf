import { type CipherGCMTypes, createCipheriv } from 'node:crypto';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openLinkFrame, sealLinkFrame } from './aead';
import { IdentityError } from './errors';
import {
  ChaCha20Poly1305AadMac,
  computeLinkMac,
  LINK_MAC_NATIVE_FROM_BYTES,
  verifyLinkMac,
} from './link-mac';

/** node:crypto's ChaCha20-Poly1305 (the cast names the overload with the AEAD methods, as aead.ts does). */
const CHACHA = 'chacha20-poly1305' as CipherGCMTypes;

const hex = (text: string) => new Uint8Array(Buffer.from(text.replace(/[\s:]/g, ''), 'hex'));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** node:crypto's ChaCha20-Poly1305 tag for an empty plaintext: the reference. */
function nodeTag(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array): string {
  const cipher = createCipheriv(CHACHA, key, nonce, { authTagLength: 16 });
  cipher.setAAD(aad);
  cipher.final();
  return cipher.getAuthTag().toString('hex');
}

/** The link nonce: 0x00000000 ‖ counter (u64 BE). */
function linkNonce(counter: number): Uint8Array {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 4);
  return nonce;
}

/** Deterministic bytes from a 32-bit seed (xorshift32), so long random AADs cost no generator time. */
function bytesFrom(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed | 1;
  for (let index = 0; index < length; index += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state;
  }
  return bytes;
}

const mac = new ChaCha20Poly1305AadMac();
const rfcKey = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');

describe('RFC 8439 test vectors', () => {
  it('2.5.2: Poly1305 of "Cryptographic Forum Research Group"', () => {
    const key = hex(
      '85:d6:be:78:57:55:6d:33:7f:44:52:fe:42:d5:06:a8:01:03:80:8a:fb:0d:b2:fd:4a:bf:f6:af:41:49:f5:1b',
    );
    const tag = new Uint8Array(16);
    mac.writePoly1305(key, new TextEncoder().encode('Cryptographic Forum Research Group'), tag);
    expect(toHex(tag)).toBe('a8061dc1305136c6c22b8baf0c0127a9');
  });

  it('2.6.2: the Poly1305 key ChaCha20 generates', () => {
    const otk = new Uint8Array(32);
    mac.writeOneTimeKey(rfcKey, hex('000000000001020304050607'), otk);
    expect(toHex(otk)).toBe('8ad5a08b905f81cc815040274ab29471a833b637e3fd0da508dbb8e2fdd1a646');
  });

  it('2.8.2: the AEAD tag (one-time key, then Poly1305 over AAD, ciphertext and lengths)', () => {
    const nonce = hex('070000004041424344454647');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const otk = new Uint8Array(32);
    mac.writeOneTimeKey(rfcKey, nonce, otk);
    expect(toHex(otk)).toBe('7bac2b252db447af09b67a55a4e955840ae1d6731075d9eb2a9375783ed553ff');
    // The ciphertext is the RFC's (node:crypto's ChaCha20 reproduces its first and last bytes).
    const cipher = createCipheriv(CHACHA, rfcKey, nonce, { authTagLength: 16 });
    cipher.setAAD(aad);
    const ciphertext = cipher.update(plaintext);
    cipher.final();
    expect(toHex(ciphertext.subarray(0, 16))).toBe('d31a8d34648e60db7b86afbc53ef7ec2');
    expect(toHex(ciphertext.subarray(112))).toBe('6116');
    const macData = new Uint8Array(16 + 128 + 16);
    macData.set(aad, 0);
    macData.set(ciphertext, 16);
    macData[144] = aad.length;
    macData[152] = ciphertext.length;
    const tag = new Uint8Array(16);
    mac.writePoly1305(otk, macData, tag);
    expect(toHex(tag)).toBe('1ae10b594f09e26a7e902ecbd0600691');
    expect(cipher.getAuthTag().toString('hex')).toBe('1ae10b594f09e26a7e902ecbd0600691');
  });

  it('2.8.2 key, nonce and AAD with an empty plaintext: the tag node:crypto gives', () => {
    const nonce = hex('070000004041424344454647');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const tag = new Uint8Array(16);
    mac.writeTag(rfcKey, nonce, aad, tag);
    expect(toHex(tag)).toBe(nodeTag(rfcKey, nonce, aad));
  });
});

describe('ChaCha20-Poly1305 tag over AAD, empty plaintext', () => {
  it('equals node:crypto for 20,000 random keys, nonces and AADs of 0–2048 bytes', () => {
    const tag = new Uint8Array(16);
    let runs = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.nat(2048),
        fc.integer(),
        (key, nonce, length, seed) => {
          runs += 1;
          const aad = bytesFrom(seed, length);
          mac.writeTag(key, nonce, aad, tag);
          expect(toHex(tag)).toBe(nodeTag(key, nonce, aad));
        },
      ),
      { seed: testSeed, numRuns: 20_000 },
    );
    expect(runs).toBe(20_000);
  });

  it('equals node:crypto at every AAD length 0–300 and at 2047/2048 with all-0xff bytes (carry stress)', () => {
    const key = new Uint8Array(32).fill(0xff);
    const nonce = new Uint8Array(12).fill(0xff);
    const tag = new Uint8Array(16);
    for (const length of [...Array.from({ length: 301 }, (_, index) => index), 2047, 2048]) {
      const aad = new Uint8Array(length).fill(0xff);
      mac.writeTag(key, nonce, aad, tag);
      expect(toHex(tag)).toBe(nodeTag(key, nonce, aad));
      mac.writeTag(rfcKey, nonce, aad, tag);
      expect(toHex(tag)).toBe(nodeTag(rfcKey, nonce, aad));
    }
  });
});

describe('the link MAC (nonce 0 ‖ counter, AAD a range of the frame)', () => {
  const key = bytesFrom(7, 32);
  const frame = bytesFrom(8, 200);

  it('is the ChaCha20-Poly1305 tag of the AAD range, for counters across 2^32 up to 2^53 − 1', () => {
    const out = new Uint8Array(20);
    for (const counter of [0, 1, 0xffff_ffff, 0x1_0000_0000, 0x1234_5678_9abc, Number.MAX_SAFE_INTEGER]) {
      computeLinkMac(key, counter, frame, 3, 120, out, 4);
      expect(toHex(out.subarray(4))).toBe(nodeTag(key, linkNonce(counter), frame.subarray(3, 120)));
      expect(verifyLinkMac(key, counter, frame, 3, 120, out, 4)).toBe(true);
    }
  });

  it('matches sealLinkFrame/openLinkFrame (bigint counters) and node:crypto over random counters and ranges', () => {
    const out = new Uint8Array(16);
    const sealed = new Uint8Array(16);
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.nat(200), fc.nat(200), (counter, a, b) => {
        const [start, end] = a <= b ? [a, b] : [b, a];
        computeLinkMac(key, counter, frame, start, end, out, 0);
        const aad = frame.subarray(start, end);
        expect(toHex(out)).toBe(nodeTag(key, linkNonce(counter), aad));
        expect(sealLinkFrame(key, BigInt(counter), aad, new Uint8Array(0), sealed)).toBe(16);
        expect(toHex(sealed)).toBe(toHex(out));
        expect(openLinkFrame(key, BigInt(counter), aad, out)?.length).toBe(0);
      }),
      { seed: testSeed, numRuns: 2000 },
    );
  });

  it('gives the same tag on both sides of the node:crypto threshold for long AADs, and refuses changes there too', () => {
    const long = bytesFrom(10, 9000);
    const tag = new Uint8Array(16);
    const around = [-2, -1, 0, 1, 2, 500].map((delta) => LINK_MAC_NATIVE_FROM_BYTES + delta);
    for (const length of [...around, 1416, 2048, 9000]) {
      const counter = 0x1_2345_6789 + length;
      computeLinkMac(key, counter, long, 0, length, tag, 0);
      expect(toHex(tag)).toBe(nodeTag(key, linkNonce(counter), long.subarray(0, length)));
      expect(verifyLinkMac(key, counter, long, 0, length, tag, 0)).toBe(true);
      expect(verifyLinkMac(key, counter + 1, long, 0, length, tag, 0)).toBe(false);
      long[length - 1]! ^= 0x80;
      expect(verifyLinkMac(key, counter, long, 0, length, tag, 0)).toBe(false);
      long[length - 1]! ^= 0x80;
      tag[15]! ^= 1;
      expect(verifyLinkMac(key, counter, long, 0, length, tag, 0)).toBe(false);
    }
  });

  it('refuses every flipped bit of AAD and tag, another counter and another key', () => {
    const tag = new Uint8Array(16);
    const aad = frame.slice(0, 104);
    computeLinkMac(key, 99, aad, 0, aad.length, tag, 0);
    expect(verifyLinkMac(key, 99, aad, 0, aad.length, tag, 0)).toBe(true);
    for (let bit = 0; bit < aad.length * 8; bit += 1) {
      aad[bit >> 3]! ^= 1 << (bit & 7);
      expect(verifyLinkMac(key, 99, aad, 0, aad.length, tag, 0)).toBe(false);
      aad[bit >> 3]! ^= 1 << (bit & 7);
    }
    for (let bit = 0; bit < 128; bit += 1) {
      tag[bit >> 3]! ^= 1 << (bit & 7);
      expect(verifyLinkMac(key, 99, aad, 0, aad.length, tag, 0)).toBe(false);
      tag[bit >> 3]! ^= 1 << (bit & 7);
    }
    expect(verifyLinkMac(key, 98, aad, 0, aad.length, tag, 0)).toBe(false);
    expect(verifyLinkMac(key, 99 + 2 ** 32, aad, 0, aad.length, tag, 0)).toBe(false);
    expect(verifyLinkMac(bytesFrom(9, 32), 99, aad, 0, aad.length, tag, 0)).toBe(false);
    expect(verifyLinkMac(key, 99, aad, 0, aad.length - 1, tag, 0)).toBe(false);
    expect(verifyLinkMac(key, 99, aad, 0, aad.length, tag, 0)).toBe(true);
  });

  it('verify never throws on misuse (false); compute throws IdentityError', () => {
    const tag = new Uint8Array(16);
    expect(verifyLinkMac(new Uint8Array(16), 0, frame, 0, 10, tag, 0)).toBe(false);
    expect(verifyLinkMac(key, -1, frame, 0, 10, tag, 0)).toBe(false);
    expect(verifyLinkMac(key, 1.5, frame, 0, 10, tag, 0)).toBe(false);
    expect(verifyLinkMac(key, 2 ** 53, frame, 0, 10, tag, 0)).toBe(false);
    expect(verifyLinkMac(key, 0, frame, 10, 5, tag, 0)).toBe(false);
    expect(verifyLinkMac(key, 0, frame, 0, 201, tag, 0)).toBe(false);
    expect(verifyLinkMac(key, 0, frame, 0, 10, tag, 1)).toBe(false);
    expect(() => computeLinkMac(new Uint8Array(31), 0, frame, 0, 10, tag, 0)).toThrow(IdentityError);
    expect(() => computeLinkMac(key, -1, frame, 0, 10, tag, 0)).toThrow(IdentityError);
    expect(() => computeLinkMac(key, 0, frame, 0, 201, tag, 0)).toThrow(IdentityError);
    expect(() => computeLinkMac(key, 0, frame, 0, 10, tag, 1)).toThrow(IdentityError);
  });
});
