import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateControllerKey } from './controller-key';
import { parseIpv6Address } from './ipv6-address';
import { generateX25519KeyPair } from './link-keys';
import {
  decodeNodeCertificate,
  encodeNodeCertificate,
  type NodeCertificateBody,
  NodeType,
  nodeCertificateLength,
  nodeCertificateMatchesSender,
  rsaKeyHash,
  signNodeCertificate,
  verifyNodeCertificate,
} from './node-certificate';
import { exportPublicKeyDer, generateRsaKeyPair } from './rsa-keys';

const key = generateControllerKey();
const now = 1_800_000_000;
const rsa = generateRsaKeyPair();

const body: Omit<NodeCertificateBody, 'keyId'> = {
  nodeType: NodeType.engine,
  serial: 42n,
  notBefore: now - 10,
  notAfter: now + 86_400,
  zoneId: 7,
  hostId: parseIpv6Address('2001:db8::3c4a:5bf6:ffb4:ca6c')!,
  x25519PublicKey: generateX25519KeyPair().publicKeyRaw,
  rsaKeyHash: rsaKeyHash(exportPublicKeyDer(rsa.publicKey)),
  name: 'engine-1.zürich.example',
};

describe('node certificate', () => {
  it('verifies against a set of trusted keys: previous key until its end of validity, then key-retired; unknown id refused', () => {
    const next = generateControllerKey();
    const trusted = [
      { publicKey: next.publicKey, keyId: next.keyId },
      { publicKey: key.publicKey, keyId: key.keyId, notAfter: now + 10 },
    ];
    const old = signNodeCertificate(body, key);
    expect(verifyNodeCertificate(old, trusted, now).ok).toBe(true);
    expect(verifyNodeCertificate(signNodeCertificate(body, next), trusted, now + 11).ok).toBe(true);
    expect(verifyNodeCertificate(old, trusted, now + 11)).toMatchObject({ ok: false, reason: 'key-retired' });
    expect(verifyNodeCertificate(old, trusted.slice(0, 1), now)).toMatchObject({
      ok: false,
      reason: next.keyId === key.keyId ? 'bad-signature' : 'wrong-key-id',
    });
    const forged = old.slice();
    Buffer.from(forged.buffer).writeUInt16BE(next.keyId, 2);
    expect(verifyNodeCertificate(forged, trusted, now)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('lays out the fields and the UTF-8 name, signature last', () => {
    const bytes = signNodeCertificate(body, key);
    const nameBytes = Buffer.from(body.name, 'utf8');
    expect(bytes.length).toBe(105 + nameBytes.length + 64);
    expect(bytes.length).toBe(nodeCertificateLength(body.name));
    expect([bytes[0], bytes[1]]).toEqual([1, 2]);
    expect(Buffer.from(bytes).readUInt16BE(2)).toBe(key.keyId);
    expect(Buffer.from(bytes).readBigUInt64BE(4)).toBe(42n);
    expect(Buffer.from(bytes).readUInt32BE(20)).toBe(7);
    expect(Buffer.from(bytes.subarray(24, 40)).equals(Buffer.from(body.hostId))).toBe(true);
    expect(Buffer.from(bytes.subarray(40, 72)).equals(Buffer.from(body.x25519PublicKey))).toBe(true);
    expect(Buffer.from(bytes.subarray(72, 104)).equals(Buffer.from(body.rsaKeyHash))).toBe(true);
    expect(bytes[104]).toBe(nameBytes.length);
    expect(Buffer.from(bytes.subarray(105, 105 + nameBytes.length)).toString('utf8')).toBe(body.name);
  });

  it('verifies, and says why when it does not', () => {
    const bytes = signNodeCertificate(body, key);
    const ok = verifyNodeCertificate(bytes, key, now);
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.value).toMatchObject({ ...body, keyId: key.keyId });
    expect(verifyNodeCertificate(bytes, generateControllerKey(), now)).toMatchObject({
      reason: 'wrong-key-id',
    });
    expect(verifyNodeCertificate(bytes, key, now + 86_401)).toMatchObject({ reason: 'expired' });
    expect(verifyNodeCertificate(bytes, key, now - 11)).toMatchObject({ reason: 'not-yet-valid' });
    for (let index = 0; index < bytes.length; index += 3) {
      const forged = bytes.slice();
      forged[index]! ^= 0x40;
      expect(verifyNodeCertificate(forged, key, now).ok, `byte ${index}`).toBe(false);
    }
  });

  it('binds to the SeND sender: host id = source CGA and RSA key hash = SHA-256 of the CGA key', () => {
    const publicKeyDer = exportPublicKeyDer(rsa.publicKey);
    expect(nodeCertificateMatchesSender(body, { address: body.hostId, publicKeyDer })).toBe(true);
    expect(
      nodeCertificateMatchesSender(body, { address: parseIpv6Address('2001:db8::1')!, publicKeyDer }),
    ).toBe(false);
    const otherDer = exportPublicKeyDer(generateRsaKeyPair().publicKey);
    expect(nodeCertificateMatchesSender(body, { address: body.hostId, publicKeyDer: otherDer })).toBe(false);
  });

  it('refuses names that are empty, too long or not UTF-8', () => {
    expect(() => signNodeCertificate({ ...body, name: '' }, key)).toThrow(
      expect.objectContaining({ code: 'IDENTITY_INVALID_ARGUMENT' }),
    );
    expect(() => signNodeCertificate({ ...body, name: 'x'.repeat(256) }, key)).toThrow();
    const bytes = signNodeCertificate({ ...body, name: 'ab' }, key);
    bytes[105] = 0xff;
    expect(decodeNodeCertificate(bytes)).toMatchObject({ ok: false });
  });

  it('property: sign → decode → encode round-trips, and verifies', () => {
    const arbitraryBody = fc.record({
      nodeType: fc.constantFrom(NodeType.host, NodeType.engine, NodeType.controller),
      serial: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      notBefore: fc.integer({ min: 0, max: 2 ** 31 }),
      notAfter: fc.integer({ min: 2 ** 31, max: 0xffffffff }),
      zoneId: fc.integer({ min: 0, max: 0xffffffff }),
      hostId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      x25519PublicKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      rsaKeyHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      name: fc.string({ minLength: 1, maxLength: 60 }).filter((name) => Buffer.byteLength(name) <= 255),
    });
    fc.assert(
      fc.property(arbitraryBody, (value) => {
        const bytes = signNodeCertificate(value, key);
        const decoded = decodeNodeCertificate(bytes);
        expect(decoded.ok).toBe(true);
        if (!decoded.ok) return;
        expect(decoded.value.name).toBe(value.name);
        const again = new Uint8Array(bytes.length);
        expect(encodeNodeCertificate(decoded.value, again)).toBe(bytes.length);
        expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
        expect(verifyNodeCertificate(bytes, key, value.notBefore).ok).toBe(true);
      }),
      { seed: testSeed, numRuns: 300 },
    );
  });

  it('decoder: 100,000 hostile inputs, never a throw', () => {
    const valid = signNodeCertificate(body, key);
    const mutated = fc
      .tuple(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        fc.integer({ min: -3, max: 3 }),
      )
      .map(([edits, resize]) => {
        const bytes = new Uint8Array(Math.max(0, valid.length + resize));
        bytes.set(valid.subarray(0, bytes.length));
        for (const [at, value] of edits) if (bytes.length > 0) bytes[at % bytes.length] = value;
        return bytes;
      });
    const input = fc.oneof(fc.uint8Array({ maxLength: 500 }), mutated);
    let runs = 0;
    let decodedCount = 0;
    fc.assert(
      fc.property(input, (bytes) => {
        runs += 1;
        if (decodeNodeCertificate(bytes).ok) decodedCount += 1;
      }),
      { seed: testSeed, numRuns: 100_000 },
    );
    expect(runs).toBe(100_000);
    expect(decodedCount).toBeGreaterThan(0);
  });
});
