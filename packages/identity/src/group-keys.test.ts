import { createHmac } from 'node:crypto';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveGroupSenderKey, GROUP_KEY_LABEL, generateGroupSecret } from './group-keys';

/** RFC 5869 HKDF-SHA256 written out with HMAC, independent of node:crypto's hkdf. */
function hkdfByHand(ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const prk = createHmac('sha256', Buffer.alloc(32)).update(ikm).digest();
  const out: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; out.length * 32 < length; i += 1) {
    previous = createHmac('sha256', prk)
      .update(Buffer.concat([previous, Buffer.from(info), Buffer.of(i)]))
      .digest();
    out.push(previous);
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, length));
}

describe('group sender keys', () => {
  it('are HKDF-SHA256(secret, info = label ‖ sender host id ‖ epoch), as RFC 5869 computes it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 1, max: 0xffff_ffff }),
        (secret, hostId, epoch) => {
          const info = Buffer.concat([
            Buffer.from(GROUP_KEY_LABEL),
            hostId,
            Buffer.from([epoch >>> 24, (epoch >>> 16) & 0xff, (epoch >>> 8) & 0xff, epoch & 0xff]),
          ]);
          expect(deriveGroupSenderKey(secret, hostId, epoch)).toEqual(hkdfByHand(secret, info, 32));
        },
      ),
      { seed: testSeed, numRuns: 300 },
    );
  });

  it('differ per sender, per epoch and per secret', () => {
    const secret = generateGroupSecret();
    const hostA = new Uint8Array(16).fill(0xaa);
    const hostB = new Uint8Array(16).fill(0xbb);
    const keys = [
      deriveGroupSenderKey(secret, hostA, 1),
      deriveGroupSenderKey(secret, hostB, 1),
      deriveGroupSenderKey(secret, hostA, 2),
      deriveGroupSenderKey(generateGroupSecret(), hostA, 1),
    ].map((key) => Buffer.from(key).toString('hex'));
    expect(new Set(keys).size).toBe(4);
    expect(generateGroupSecret()).not.toEqual(secret);
  });

  it('refuses a secret, host id or epoch out of shape (the caller’s bug)', () => {
    const host = new Uint8Array(16);
    expect(() => deriveGroupSenderKey(new Uint8Array(31), host, 1)).toThrow(/32 bytes/);
    expect(() => deriveGroupSenderKey(new Uint8Array(32), new Uint8Array(4), 1)).toThrow(/16 bytes/);
    for (const epoch of [0, -1, 2 ** 32, 1.5, Number.NaN])
      expect(() => deriveGroupSenderKey(new Uint8Array(32), host, epoch)).toThrow(/epoch/);
  });
});
