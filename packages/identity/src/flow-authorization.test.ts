import { createHash } from 'node:crypto';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateControllerKey, signEd25519 } from './controller-key';
import {
  checkFlowAuthorization,
  decodeFlowAuthorization,
  encodeFlowAuthorization,
  FLOW_AUTHORIZATION_LENGTH,
  type FlowAuthorizationBody,
  signFlowAuthorization,
  verifyFlowAuthorization,
} from './flow-authorization';
import { parseIpv6Address } from './ipv6-address';

const key = generateControllerKey();
const otherKey = generateControllerKey();
const now = 1_800_000_000;

const body: Omit<FlowAuthorizationBody, 'keyId'> = {
  serial: 0x0102030405060708n,
  notBefore: now - 60,
  notAfter: now + 3600,
  domainId: 0x11111111,
  contractId: 0x22222222,
  roleId: 0x33333333,
  sourceHostId: parseIpv6Address('2001:db8:1:2:3c4a:5bf6:ffb4:ca6c')!,
  logicHash: new Uint8Array(createHash('sha256').update('code chunk').digest()),
};

const arbitraryBody = fc.record({
  serial: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  notBefore: fc.integer({ min: 0, max: 0xffffffff }),
  notAfter: fc.integer({ min: 0, max: 0xffffffff }),
  domainId: fc.integer({ min: 0, max: 0xffffffff }),
  contractId: fc.integer({ min: 0, max: 0xffffffff }),
  roleId: fc.integer({ min: 0, max: 0xffffffff }),
  sourceHostId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  logicHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});

describe('flow authorization layout (148 bytes, big-endian)', () => {
  it('puts every field at its offset', () => {
    const bytes = signFlowAuthorization(body, key);
    expect(bytes.length).toBe(FLOW_AUTHORIZATION_LENGTH);
    const hex = Buffer.from(bytes).toString('hex');
    expect(hex.slice(0, 4)).toBe('0101');
    expect(bytes[2]! * 256 + bytes[3]!).toBe(key.keyId);
    expect(hex.slice(8, 24)).toBe('0102030405060708');
    expect(Buffer.from(bytes).readUInt32BE(12)).toBe(now - 60);
    expect(Buffer.from(bytes).readUInt32BE(16)).toBe(now + 3600);
    expect(hex.slice(40, 72)).toBe('11111111222222223333333300000000'); // ids, reserved zero
    expect(Buffer.from(bytes.subarray(36, 52)).equals(Buffer.from(body.sourceHostId))).toBe(true);
    expect(Buffer.from(bytes.subarray(52, 84)).equals(Buffer.from(body.logicHash))).toBe(true);
  });
});

describe('flow authorization signing', () => {
  it('verifies what the controller signed, and returns the fields', () => {
    const result = verifyFlowAuthorization(signFlowAuthorization(body, key), key, now);
    expect(result.ok).toBe(true);
    if (result.ok)
      expect(result.value).toMatchObject({ ...body, keyId: key.keyId, version: 1, algorithm: 1 });
  });

  it('rejects a flipped bit in the body or in the signature', () => {
    const bytes = signFlowAuthorization(body, key);
    for (let bit = 0; bit < 148 * 8; bit += 7) {
      const forged = bytes.slice();
      forged[bit >> 3]! ^= 1 << (bit & 7);
      const result = verifyFlowAuthorization(forged, key, now);
      expect(result.ok, `bit ${bit}`).toBe(false);
    }
  });

  it('accepts an authorization of the first release, which wrote permission bits in the reserved field', () => {
    const bytes = signFlowAuthorization(body, key);
    Buffer.from(bytes.buffer).writeUInt32BE(576, 32); // what a template role's permissions: 576 gave
    bytes.set(signEd25519(key.privateKey, bytes.subarray(0, 84)), 84);
    const result = verifyFlowAuthorization(bytes, key, now);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.value).toMatchObject({ ...body, keyId: key.keyId });
  });

  it('a rotation: the current key and a previous one until its end of validity; then key-retired; unknown and forged key ids refused', () => {
    const previous = { publicKey: key.publicKey, keyId: key.keyId, notAfter: now + 100 };
    const current = { publicKey: otherKey.publicKey, keyId: otherKey.keyId };
    const trusted = [current, previous];
    const old = signFlowAuthorization(body, key);
    const fresh = signFlowAuthorization(body, otherKey);
    expect(verifyFlowAuthorization(old, trusted, now).ok).toBe(true);
    expect(verifyFlowAuthorization(fresh, trusted, now).ok).toBe(true);
    expect(verifyFlowAuthorization(old, trusted, now + 100).ok).toBe(true);
    // After the overlap the old key is dropped: its signatures are refused, the new key's are not.
    expect(verifyFlowAuthorization(old, trusted, now + 101)).toMatchObject({
      ok: false,
      reason: 'key-retired',
    });
    expect(verifyFlowAuthorization(fresh, trusted, now + 101).ok).toBe(true);
    // A signature by a key nobody trusts (its own id) is refused before any signature check.
    const stranger = generateControllerKey();
    expect(verifyFlowAuthorization(signFlowAuthorization(body, stranger), trusted, now)).toMatchObject({
      ok: false,
      reason:
        stranger.keyId === key.keyId || stranger.keyId === otherKey.keyId ? 'bad-signature' : 'wrong-key-id',
    });
    // Forged key ids: the old key's signature relabelled with the current key's id, and the
    // stranger's relabelled with the old key's id, do not verify under the key they name.
    for (const [signer, named] of [
      [key, otherKey],
      [stranger, key],
    ] as const) {
      const forged = signFlowAuthorization(body, signer);
      Buffer.from(forged.buffer).writeUInt16BE(named.keyId, 2);
      expect(verifyFlowAuthorization(forged, trusted, now)).toMatchObject({
        ok: false,
        reason: 'bad-signature',
      });
      // … nor when re-signed by the signer over the relabelled bytes.
      forged.set(signEd25519(signer.privateKey, forged.subarray(0, 84)), 84);
      expect(verifyFlowAuthorization(forged, trusted, now)).toMatchObject({
        ok: false,
        reason: 'bad-signature',
      });
    }
    expect(verifyFlowAuthorization(fresh, [], now)).toMatchObject({ ok: false, reason: 'wrong-key-id' });
  });

  it('says why: wrong key id, bad signature (another key with the same id), expired, not yet valid', () => {
    const bytes = signFlowAuthorization(body, key);
    expect(verifyFlowAuthorization(bytes, otherKey, now)).toMatchObject({
      ok: false,
      reason: 'wrong-key-id',
    });
    expect(
      verifyFlowAuthorization(bytes, { publicKey: otherKey.publicKey, keyId: key.keyId }, now),
    ).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyFlowAuthorization(bytes, key, now + 3601)).toMatchObject({ ok: false, reason: 'expired' });
    expect(verifyFlowAuthorization(bytes, key, now - 61)).toMatchObject({
      ok: false,
      reason: 'not-yet-valid',
    });
    expect(verifyFlowAuthorization(bytes.subarray(0, 147), key, now)).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
  });

  it('checkFlowAuthorization, in place at an offset, says what verifyFlowAuthorization says (edited bytes, any time, wrong lengths)', () => {
    const valid = signFlowAuthorization(body, key);
    const keys = [
      { ...key, notAfter: now + 7200 },
      { publicKey: otherKey.publicKey, keyId: otherKey.keyId },
    ];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 147 }), fc.integer({ min: 0, max: 255 })), { maxLength: 2 }),
        fc.integer({ min: now - 120, max: now + 7300 }),
        fc.nat({ max: 7 }),
        fc.integer({ min: -2, max: 1 }),
        (edits, at, offset, lengthChange) => {
          const copy = valid.slice();
          for (const [index, value] of edits) copy[index] = value;
          const inPacket = new Uint8Array(offset + FLOW_AUTHORIZATION_LENGTH + 3);
          inPacket.set(copy, offset);
          const length = FLOW_AUTHORIZATION_LENGTH + lengthChange;
          const expected = verifyFlowAuthorization(inPacket.subarray(offset, offset + length), keys, at);
          const failure = checkFlowAuthorization(inPacket, offset, length, keys, at);
          expect(failure).toBe(expected.ok ? undefined : expected.reason);
        },
      ),
      { seed: testSeed, numRuns: 400 },
    );
    expect(checkFlowAuthorization(valid, 0, 148, key, now)).toBeUndefined();
    expect(checkFlowAuthorization(valid, 1, 148, key, now)).toBe('malformed'); // past the end
    expect(checkFlowAuthorization(valid, -1, 148, key, now)).toBe('malformed');
  });

  it('property: sign → verify accepts inside the window; decode → encode round-trips', () => {
    fc.assert(
      fc.property(arbitraryBody, (value) => {
        const bytes = signFlowAuthorization(value, key);
        const decoded = decodeFlowAuthorization(bytes);
        expect(decoded.ok).toBe(true);
        if (!decoded.ok) return;
        const again = new Uint8Array(FLOW_AUTHORIZATION_LENGTH + 5);
        expect(encodeFlowAuthorization(decoded.value, again, 5)).toBe(FLOW_AUTHORIZATION_LENGTH);
        expect(Buffer.from(again.subarray(5)).equals(Buffer.from(bytes))).toBe(true);
        const result = verifyFlowAuthorization(bytes, key, value.notBefore);
        if (value.notBefore <= value.notAfter) expect(result.ok).toBe(true);
        else expect(result).toMatchObject({ ok: false, reason: 'expired' });
      }),
      { seed: testSeed, numRuns: 300 },
    );
  });

  it('decoder: 100,000 hostile inputs, never a throw', () => {
    const valid = signFlowAuthorization(body, key);
    const mutated = fc
      .array(fc.tuple(fc.nat({ max: 147 }), fc.integer({ min: 0, max: 255 })), { maxLength: 3 })
      .map((edits) => {
        const bytes = valid.slice();
        for (const [at, value] of edits) bytes[at] = value;
        return bytes;
      });
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ minLength: 148, maxLength: 148 }),
      mutated,
    );
    let runs = 0;
    let decodedCount = 0;
    fc.assert(
      fc.property(input, (bytes) => {
        runs += 1;
        if (decodeFlowAuthorization(bytes).ok) decodedCount += 1;
      }),
      { seed: testSeed, numRuns: 100_000 },
    );
    expect(runs).toBe(100_000);
    expect(decodedCount).toBeGreaterThan(0);
  });
});
