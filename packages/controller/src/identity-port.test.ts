import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { importRsaPublicKey } from './identity-port';

describe('importRsaPublicKey', () => {
  const der = (key: ReturnType<typeof generateKeyPairSync>['publicKey']) =>
    key.export({ format: 'der', type: 'spki' }) as Buffer;

  it('imports RSA keys of several sizes exactly as the DER decoder does', () => {
    for (const modulusLength of [1024, 2048]) {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength });
      const imported = importRsaPublicKey(der(publicKey));
      expect(imported.asymmetricKeyType).toBe('rsa');
      expect(imported.equals(createPublicKey({ key: der(publicKey), format: 'der', type: 'spki' }))).toBe(
        true,
      );
    }
  });

  it('hands other keys and malformed bytes to the DER decoder (same result, same errors)', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    expect(importRsaPublicKey(der(publicKey)).asymmetricKeyType).toBe('ed25519');
    const rsa = der(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
    const viaDer = (bytes: Buffer) => {
      try {
        return createPublicKey({ key: bytes, format: 'der', type: 'spki' });
      } catch {
        return 'throws';
      }
    };
    const modulus = rsa.indexOf(Buffer.from([0x02, 0x81, 0x81]));
    const cases = [
      rsa.subarray(0, rsa.length - 1),
      Buffer.concat([rsa, Buffer.from([0])]),
      Buffer.from([0x30, 0x82, 0xff, 0xff]),
      Buffer.alloc(0),
      Buffer.concat([rsa.subarray(0, modulus + 3), Buffer.from([0x80]), rsa.subarray(modulus + 4)]), // negative n
    ];
    expect(cases.filter((bytes) => viaDer(bytes) === 'throws').length).toBeGreaterThanOrEqual(3);
    for (const bytes of cases) {
      const expected = viaDer(bytes);
      if (expected === 'throws') expect(() => importRsaPublicKey(bytes)).toThrow();
      else expect(importRsaPublicKey(bytes).equals(expected)).toBe(true);
    }
  });
});
