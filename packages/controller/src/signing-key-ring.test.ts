/**
 * The signing key ring (signing-key.ts): a rotation announces the new key, activates it after the
 * delay, keeps the replaced key trusted for the overlap and then drops it; replicas on one store
 * agree, and a replica without the new private key refuses to sign instead of signing with another.
 */
import { verifyFlowAuthorization } from '@capsule/identity';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestStore } from '../test/harness';
import { createControllerIdentity } from './identity-port';
import { createMemorySigningKeyStore, createSigningKeyRing, loadOrCreateSigningKey } from './signing-key';
import { openStore, type Store } from './store/open-store';

describe('the signing key ring', () => {
  const stores: Store[] = [];
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const store of stores) await store.close();
    for (const drop of drops) await drop();
  });
  const rotation = { activationDelayMs: 60_000, overlapMs: 3_600_000 };
  const t0 = Date.UTC(2026, 11, 5);
  const authorizationAt = (identity: ReturnType<typeof createControllerIdentity>, ms: number) =>
    identity.issueFlowAuthorization({
      serial: 1n,
      notBeforeMs: ms,
      notAfterMs: ms + 600_000,
      domainId: 1,
      contractId: 2,
      roleId: 3,
      sourceHostId: new Uint8Array(16),
      logicHash: new Uint8Array(32),
    });

  it('announces, activates, overlaps, retires; a second replica refuses to sign until it has the new key', async () => {
    const test = await createTestStore('sqlite');
    drops.push(test.drop);
    const store = await openStore({ url: test.url, sqliteSynchronous: 'NORMAL' });
    stores.push(store);
    const keysA = createMemorySigningKeyStore();
    const first = await loadOrCreateSigningKey(store, keysA);
    const ringA = await createSigningKeyRing(store, keysA, first);
    // Replica B: the same first key file, not (yet) the rotated one.
    const keysB = createMemorySigningKeyStore();
    await keysB.create((await keysA.load())!);
    const ringB = await createSigningKeyRing(store, keysB, await loadOrCreateSigningKey(store, keysB));
    let now = t0;
    const identityA = createControllerIdentity(ringA, { nowMs: () => now });
    const identityB = createControllerIdentity(ringB, { nowMs: () => now });

    const rotated = await ringA.rotate(now, rotation);
    expect(rotated).toMatchObject({ replacedKeyId: first.keyId, activatesAtMs: t0 + 60_000 });
    expect(rotated.keyId).not.toBe(first.keyId);
    await expect(ringA.rotate(now, rotation)).rejects.toMatchObject({ code: 'CONFLICT' });
    // Announced: nodes are told both keys; the old one still signs.
    expect(identityA.trustedKeys().map((key) => [key.keyId, key.notAfter])).toEqual([
      [rotated.keyId, null],
      [first.keyId, new Date(t0 + 60_000 + 3_600_000).toISOString()],
    ]);
    expect(identityA.keyId).toBe(first.keyId);
    const old = authorizationAt(identityA, now);
    // Activated: A signs with the new key; B, which has not read the ring again, still names the old
    // one; after reading it, B refuses (its key store lacks the new key) rather than sign with the old.
    now = t0 + 60_000;
    expect(identityA.keyId).toBe(rotated.keyId);
    const fresh = authorizationAt(identityA, now);
    await ringB.reload();
    expect(() => identityB.keyId).toThrow(/not in this replica's key store: copy controller-key-/);
    await keysB.addKey!(rotated.keyId, (await keysA.loadKey!(rotated.keyId))!);
    await ringB.reload();
    expect(identityB.keyId).toBe(rotated.keyId);
    // A node trusting what the ring publishes: both verify during the overlap; after it, the old key's
    // signature is refused and the key leaves the published list.
    const trusted = (ms: number) =>
      ringA.trusted(ms).map((record) => ({
        ...ringB.publicKeyOf(record.keyId, ms)!,
        ...(record.retiresAtMs === null ? {} : { notAfter: Math.floor(record.retiresAtMs / 1000) }),
      }));
    expect(verifyFlowAuthorization(old, trusted(now), Math.floor(t0 / 1000) + 10).ok).toBe(true);
    expect(verifyFlowAuthorization(fresh, trusted(now), Math.floor(now / 1000) + 10).ok).toBe(true);
    const keysDuring = trusted(now);
    const after = t0 + 60_000 + 3_600_000 + 1000;
    expect(verifyFlowAuthorization(old, keysDuring, Math.floor(after / 1000))).toMatchObject({
      ok: false,
      reason: 'key-retired',
    });
    expect(ringA.trusted(after).map((record) => record.keyId)).toEqual([rotated.keyId]);
    expect(ringA.publicKeyOf(first.keyId, after)).toBeUndefined();
    // A restart reads the same ring: the rotated key signs, found in the key store by id.
    const restarted = await createSigningKeyRing(store, keysA, await loadOrCreateSigningKey(store, keysA));
    expect(restarted.signingKey(after).keyId).toBe(rotated.keyId);
    // The next rotation drops the retired key from the ring.
    const second = await ringA.rotate(after, rotation);
    expect(ringA.trusted(after).map((record) => record.keyId)).toEqual([second.keyId, rotated.keyId]);
  });
});
