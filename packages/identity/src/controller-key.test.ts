import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  controllerKeyId,
  exportControllerPrivateKeyPem,
  exportControllerPublicKeyPem,
  exportEd25519PublicKeyRaw,
  generateControllerKey,
  importControllerPrivateKey,
  importControllerPublicKey,
  signEd25519,
  verifyEd25519,
} from './controller-key';
import { exportPrivateKeyPem, generateRsaKeyPair } from './rsa-keys';

describe('controller signing key', () => {
  const key = generateControllerKey();

  it('key id = first 16 bits of SHA-256 over the raw public key', () => {
    const raw = exportEd25519PublicKeyRaw(key.publicKey);
    expect(raw.length).toBe(32);
    expect(key.keyId).toBe(createHash('sha256').update(raw).digest().readUInt16BE(0));
    expect(controllerKeyId(key.privateKey)).toBe(key.keyId);
  });

  it('exports and imports (PEM private, PEM/DER/raw public) to the same key', () => {
    const message = new Uint8Array([1, 2, 3]);
    const imported = importControllerPrivateKey(exportControllerPrivateKeyPem(key));
    expect(imported.keyId).toBe(key.keyId);
    const signature = signEd25519(imported.privateKey, message);
    for (const form of [
      exportControllerPublicKeyPem(key),
      exportEd25519PublicKeyRaw(key.publicKey),
      new Uint8Array(key.publicKey.export({ format: 'der', type: 'spki' })),
    ]) {
      const publicKey = importControllerPublicKey(form);
      expect(publicKey.keyId).toBe(key.keyId);
      expect(verifyEd25519(publicKey.publicKey, message, signature)).toBe(true);
    }
  });

  it('refuses keys of another type and unreadable keys', () => {
    expect(() => importControllerPrivateKey(exportPrivateKeyPem(generateRsaKeyPair().privateKey))).toThrow(
      expect.objectContaining({ code: 'IDENTITY_WRONG_KEY_TYPE' }),
    );
    expect(() => importControllerPublicKey(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_KEY' }),
    );
    expect(verifyEd25519(key.publicKey, new Uint8Array(1), new Uint8Array(63))).toBe(false);
  });
});
