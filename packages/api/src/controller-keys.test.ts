import { exportEd25519PublicKeyRaw, generateControllerKey } from '@capsule/identity';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { trustedControllerKeysOf } from './controller-keys';

const raw = (key: ReturnType<typeof generateControllerKey>) =>
  Buffer.from(exportEd25519PublicKeyRaw(key.publicKey)).toString('base64');

describe('trustedControllerKeysOf', () => {
  const current = generateControllerKey();
  const previous = generateControllerKey();
  const info = (key: ReturnType<typeof generateControllerKey>, notAfter: string | null) => ({
    keyId: key.keyId,
    publicKey: raw(key),
    notAfter,
  });

  it('takes controllerPublicKey alone from a controller before rotation, and the list with ends of validity', () => {
    expect(trustedControllerKeysOf({ controllerPublicKey: raw(current) })).toMatchObject({
      ok: true,
      keys: [{ keyId: current.keyId }],
    });
    const both = trustedControllerKeysOf({
      controllerPublicKey: raw(current),
      controllerKeys: [info(current, null), info(previous, '2027-01-01T00:00:00.000Z')],
    });
    expect(both.ok && both.keys.map((key) => [key.keyId, key.notAfter])).toEqual([
      [current.keyId, undefined],
      [previous.keyId, Date.parse('2027-01-01T00:00:00Z') / 1000],
    ]);
  });

  it('refuses a forged key id, a duplicate, a bad key or time, and a list without the signing key', () => {
    const cases = [
      [{ ...info(current, null), keyId: (current.keyId + 1) & 0xffff }],
      [info(current, null), info(current, null)],
      [info(current, null), { ...info(previous, null), publicKey: 'AAAA' }],
      [info(current, null), info(previous, 'yesterday')],
      [info(previous, null)],
    ];
    for (const controllerKeys of cases)
      expect(trustedControllerKeysOf({ controllerPublicKey: raw(current), controllerKeys }).ok).toBe(false);
    expect(trustedControllerKeysOf({ controllerPublicKey: 'not base64!' }).ok).toBe(false);
  });

  it('refuses an unreadable signing key beside a good list, and an empty list (a keep-alive answer has no signing key)', () => {
    // Without its own check an unreadable controllerPublicKey would skip the "list holds it" rule.
    expect(
      trustedControllerKeysOf({ controllerPublicKey: 'not base64!', controllerKeys: [info(current, null)] }),
    ).toEqual({ ok: false, problem: 'controllerPublicKey is not a raw Ed25519 key' });
    // A node told to trust no key at all would refuse every certificate and authorization.
    for (const answer of [{ controllerKeys: [] }, { controllerPublicKey: raw(current), controllerKeys: [] }])
      expect(trustedControllerKeysOf(answer)).toEqual({ ok: false, problem: 'controllerKeys is empty' });
  });

  it('never throws on arbitrary answers (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 60 }),
        fc.option(
          fc.array(
            fc.record({
              keyId: fc.integer({ min: 0, max: 0xffff }),
              publicKey: fc.oneof(fc.constant(raw(current)), fc.base64String({ maxLength: 44 })),
              notAfter: fc.option(fc.string({ maxLength: 40 })),
            }),
            { maxLength: 8 },
          ),
          { nil: undefined },
        ),
        (controllerPublicKey, controllerKeys) => {
          const result = trustedControllerKeysOf({ controllerPublicKey, controllerKeys });
          if (result.ok) expect(result.keys.length).toBeGreaterThan(0);
        },
      ),
      { seed: testSeed, numRuns: 500 },
    );
  });
});
