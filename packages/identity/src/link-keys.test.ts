import { createHash, hkdfSync } from 'node:crypto';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv6Address } from './ipv6-address';
import {
  deriveE2eEpochKey,
  deriveSessionKeys,
  E2E_KEY_LABEL,
  exportX25519PublicKeyRaw,
  generateX25519KeyPair,
  importX25519PublicKeyRaw,
  isWeakX25519PublicKey,
  rotateSessionKeys,
} from './link-keys';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const hostA = parseIpv6Address('2001:db8::aaaa')!;
const hostB = parseIpv6Address('2001:db8::bbbb')!;

function bothSides(label?: string) {
  const a = generateX25519KeyPair();
  const b = generateX25519KeyPair();
  const nonceA = new Uint8Array(16).fill(1);
  const nonceB = new Uint8Array(16).fill(2);
  const keysA = deriveSessionKeys({
    privateKey: a.privateKey,
    peerPublicKey: b.publicKeyRaw,
    localNonce: nonceA,
    peerNonce: nonceB,
    localHostId: hostA,
    peerHostId: hostB,
    label,
  });
  const keysB = deriveSessionKeys({
    privateKey: b.privateKey,
    peerPublicKey: a.publicKeyRaw,
    localNonce: nonceB,
    peerNonce: nonceA,
    localHostId: hostB,
    peerHostId: hostA,
    label,
  });
  return { keysA, keysB };
}

describe('link keys: X25519 + HKDF-SHA256', () => {
  it('both sides get the same two directional keys whoever initiated', () => {
    const { keysA, keysB } = bothSides();
    expect(hex(keysA.sendKey)).toBe(hex(keysB.receiveKey));
    expect(hex(keysA.receiveKey)).toBe(hex(keysB.sendKey));
    expect(hex(keysA.sendKey)).not.toBe(hex(keysA.receiveKey));
    expect(keysA.sendKey.length).toBe(32);
    expect(keysA.epoch).toBe(0);
  });

  it('another label (e2e) gives other keys', () => {
    const a = generateX25519KeyPair();
    const b = generateX25519KeyPair();
    const input = {
      privateKey: a.privateKey,
      peerPublicKey: b.publicKeyRaw,
      localNonce: new Uint8Array(16),
      peerNonce: new Uint8Array(16).fill(9),
      localHostId: hostA,
      peerHostId: hostB,
    };
    expect(hex(deriveSessionKeys(input).sendKey)).not.toBe(
      hex(deriveSessionKeys({ ...input, label: E2E_KEY_LABEL }).sendKey),
    );
  });

  it('rotation: both sides reach the same keys of epoch n+1, all epochs distinct', () => {
    let { keysA, keysB } = bothSides();
    const seen = new Set<string>([hex(keysA.sendKey), hex(keysA.receiveKey)]);
    for (let epoch = 1; epoch <= 5; epoch += 1) {
      keysA = rotateSessionKeys(keysA);
      keysB = rotateSessionKeys(keysB);
      expect(keysA.epoch).toBe(epoch);
      expect(hex(keysA.sendKey)).toBe(hex(keysB.receiveKey));
      expect(hex(keysA.receiveKey)).toBe(hex(keysB.sendKey));
      seen.add(hex(keysA.sendKey)).add(hex(keysA.receiveKey));
    }
    expect(seen.size).toBe(12);
  });

  it('e2e epoch keys: epoch 0 is the base key, each later epoch HKDF of the base and the epoch number (RFC 5869 by hand)', () => {
    const base = new Uint8Array(createHash('sha256').update('base').digest());
    expect(hex(deriveE2eEpochKey(base, 0))).toBe(hex(base));
    const info = Buffer.concat([Buffer.from('capsule-e2e-epoch-v1'), Buffer.from([0, 0, 1, 2])]);
    expect(hex(deriveE2eEpochKey(base, 0x102))).toBe(
      hex(new Uint8Array(hkdfSync('sha256', base, new Uint8Array(0), info, 32))),
    );
    const seen = new Set<string>();
    for (const epoch of [0, 1, 2, 3, 1000, 0xffff_ffff]) seen.add(hex(deriveE2eEpochKey(base, epoch)));
    expect(seen.size).toBe(6);
    // Epoch n+1 is not a function of epoch n's key alone: deriving from epoch 1's key gives another.
    expect(hex(deriveE2eEpochKey(deriveE2eEpochKey(base, 1), 1))).not.toBe(hex(deriveE2eEpochKey(base, 2)));
    for (const epoch of [-1, 1.5, 2 ** 32, Number.NaN])
      expect(() => deriveE2eEpochKey(base, epoch)).toThrow(/unsigned 32-bit/);
    expect(() => deriveE2eEpochKey(new Uint8Array(16), 1)).toThrow(/32 bytes/);
  });

  it('refuses equal host ids and a low-order peer key (all-zero secret)', () => {
    const a = generateX25519KeyPair();
    const input = {
      privateKey: a.privateKey,
      peerPublicKey: a.publicKeyRaw,
      localNonce: new Uint8Array(16),
      peerNonce: new Uint8Array(16),
      localHostId: hostA,
      peerHostId: hostA,
    };
    expect(() => deriveSessionKeys(input)).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_ARGUMENT' }),
    );
    for (const lowOrder of [new Uint8Array(32), Uint8Array.from([1, ...new Uint8Array(31)])])
      expect(() => deriveSessionKeys({ ...input, peerHostId: hostB, peerPublicKey: lowOrder })).toThrow(
        expect.objectContaining({ code: 'IDENTITY_WEAK_PEER_KEY' }),
      );
  });

  it('isWeakX25519PublicKey: the small-order points (and their encodings with the top bit set) are weak, real keys are not', () => {
    const smallOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ];
    for (const text of smallOrder) {
      const point = Buffer.from(text, 'hex');
      expect(isWeakX25519PublicKey(point), text).toBe(true);
      point[31]! |= 0x80; // RFC 7748 ignores the top bit: the same point
      expect(isWeakX25519PublicKey(point), `${text} | 0x80`).toBe(true);
    }
    expect(isWeakX25519PublicKey(new Uint8Array(31))).toBe(true);
    expect(isWeakX25519PublicKey(new Uint8Array(33).fill(9))).toBe(true);
    for (let i = 0; i < 20; i += 1)
      expect(isWeakX25519PublicKey(generateX25519KeyPair().publicKeyRaw)).toBe(false);
    expect(isWeakX25519PublicKey(Uint8Array.from([9, ...new Uint8Array(31)]))).toBe(false); // the base point
  });

  it('raw public keys round-trip', () => {
    const pair = generateX25519KeyPair();
    expect(hex(exportX25519PublicKeyRaw(importX25519PublicKeyRaw(pair.publicKeyRaw)))).toBe(
      hex(pair.publicKeyRaw),
    );
    expect(hex(exportX25519PublicKeyRaw(pair.privateKey))).toBe(hex(pair.publicKeyRaw));
  });

  it('property: agreement holds for any nonces and host ids', () => {
    const a = generateX25519KeyPair();
    const b = generateX25519KeyPair();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 32 }),
        fc.uint8Array({ maxLength: 32 }),
        (idA, idB, nonceA, nonceB) => {
          fc.pre(hex(idA) !== hex(idB));
          const ka = deriveSessionKeys({
            privateKey: a.privateKey,
            peerPublicKey: b.publicKeyRaw,
            localNonce: nonceA,
            peerNonce: nonceB,
            localHostId: idA,
            peerHostId: idB,
          });
          const kb = deriveSessionKeys({
            privateKey: b.privateKey,
            peerPublicKey: a.publicKeyRaw,
            localNonce: nonceB,
            peerNonce: nonceA,
            localHostId: idB,
            peerHostId: idA,
          });
          expect(hex(ka.sendKey)).toBe(hex(kb.receiveKey));
          expect(hex(ka.receiveKey)).toBe(hex(kb.sendKey));
        },
      ),
      { seed: testSeed, numRuns: 200 },
    );
  });
});
