import { generateControllerKey, signFlowAuthorization } from '@capsule/identity';
import { type SignaturesAhead, silentLogger } from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import { createAuthorizations, isAuthorizedSource } from './authorizations';
import { createCounterState } from './counters';
import { DropReason } from './drop-reason';

const key = generateControllerKey();
const nowSeconds = 1_800_000_000;
const source = new Uint8Array(16).fill(0xab);

function authorization(
  serial: bigint,
  overrides: { notBefore?: number; notAfter?: number } = {},
  signer = key,
) {
  return signFlowAuthorization(
    {
      serial,
      notBefore: overrides.notBefore ?? nowSeconds - 60,
      notAfter: overrides.notAfter ?? nowSeconds + 60,
      domainId: 1,
      contractId: 2,
      roleId: 3,
      sourceHostId: source,
      logicHash: new Uint8Array(32).fill(7),
    },
    signer,
  );
}

/** `auth` at offset 5 of a larger buffer, as in a received packet. */
function inPacket(auth: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(auth.length + 10);
  bytes.set(auth, 5);
  return bytes;
}

function setup(cacheCapacity = 16) {
  const counters = createCounterState();
  const authorizations = createAuthorizations(
    { controllerPublicKey: key, cacheCapacity },
    { counters, logger: silentLogger },
  );
  const verify = (auth: Uint8Array, length = auth.length) =>
    authorizations.verify(inPacket(auth), 5, length, nowSeconds);
  return { counters, authorizations, verify };
}

describe('signatures verified ahead (a SignaturesAhead port)', () => {
  /** A port answering `answer` for every signature, recording the keys it is given. */
  function port(answer: number) {
    const given: number[][] = [];
    const asked: number[] = [];
    const ahead: SignaturesAhead = {
      setControllerKeys: (keys) => void given.push(keys.map((k) => k.keyId)),
      result: (publicKeyRaw, message, signature) => {
        expect([publicKeyRaw.length, message.length, signature.length]).toEqual([32, 84, 64]);
        asked.push(answer);
        return answer;
      },
      stats: () => ({
        queued: 0,
        ahead: 0,
        waited: 0,
        here: 0,
        unused: 0,
        full: 0,
        repeated: 0,
        direct: 0,
        library: 'openssl',
      }),
    };
    return { ahead, given, asked };
  }
  const withPort = (ahead: SignaturesAhead) => {
    const counters = createCounterState();
    const authorizations = createAuthorizations(
      { controllerPublicKey: key, cacheCapacity: 16 },
      { counters, logger: silentLogger, signaturesAhead: ahead },
    );
    return (auth: Uint8Array) => authorizations.verify(inPacket(auth), 5, auth.length, nowSeconds);
  };

  it("takes the port's answer, verifies here when it has none, and gives it the trusted keys", () => {
    const none = port(-1);
    const verify = withPort(none.ahead);
    expect(none.given).toEqual([[key.keyId]]);
    expect(verify(authorization(1n))).toMatchObject({ revoked: false });
    expect(verify(authorization(2n, {}, { ...generateControllerKey(), keyId: key.keyId }))).toBe(
      DropReason.AUTH_FORGED,
    );
    expect(none.asked).toEqual([-1, -1]);
    // Its answer stands: 0 refuses a good signature (so the engine never verifies twice).
    expect(withPort(port(0).ahead)(authorization(3n))).toBe(DropReason.AUTH_FORGED);
    expect(withPort(port(1).ahead)(authorization(4n))).toMatchObject({ revoked: false });
  });

  it('gives it at most 64 of the trusted keys (a larger set is not an error)', () => {
    const { ahead, given } = port(-1);
    const counters = createCounterState();
    const authorizations = createAuthorizations(
      { controllerPublicKey: key, cacheCapacity: 16 },
      { counters, logger: silentLogger, signaturesAhead: ahead },
    );
    const keys = Array.from({ length: 70 }, (_, i) => ({ ...generateControllerKey(), keyId: 100 + i }));
    authorizations.setControllerKeys(keys);
    expect(given.at(-1)).toHaveLength(64);
    expect(given.at(-1)![0]).toBe(100);
  });
});

describe('the verified-authorization cache', () => {
  it('verifies once, then finds the same bytes by serial (one object); other bytes of the serial are verified', () => {
    const { counters, verify } = setup();
    const auth = authorization(42n);
    const first = verify(auth);
    expect(first).toMatchObject({
      serial: 42n,
      notBefore: nowSeconds - 60,
      notAfter: nowSeconds + 60,
      contractId: 2,
      roleId: 3,
      revoked: false,
    });
    expect(verify(auth)).toBe(first);
    expect(counters).toMatchObject({ authorizationsVerified: 1, authorizationCacheHits: 1 });
    // Same serial, different validity: not the cached one.
    const other = verify(authorization(42n, { notAfter: nowSeconds + 120 }));
    expect(other).not.toBe(first);
    expect(counters.authorizationsVerified).toBe(2);
    if (typeof first === 'number') throw new Error('not verified');
    expect(isAuthorizedSource(first, source, 0)).toBe(true);
    expect(isAuthorizedSource(first, new Uint8Array(16), 0)).toBe(false);
    expect(verify(authorization(0xfedc_ba98_7654_3210n))).toMatchObject({
      serial: 0xfedc_ba98_7654_3210n,
      serialHigh: 0xfedc_ba98,
      serialLow: 0x7654_3210,
    });
  });

  it('refuses forged, tampered, malformed, expired and not-yet-valid authorizations, caching none', () => {
    const { counters, verify } = setup();
    expect(verify(authorization(1n, {}, generateControllerKey()))).toBe(DropReason.AUTH_FORGED);
    const tampered = authorization(2n);
    tampered[40] = tampered[40]! ^ 1;
    expect(verify(tampered)).toBe(DropReason.AUTH_FORGED);
    expect(verify(authorization(3n), 147)).toBe(DropReason.AUTH_MALFORMED);
    const badVersion = authorization(4n);
    badVersion[0] = 9;
    expect(verify(badVersion)).toBe(DropReason.AUTH_MALFORMED);
    expect(verify(authorization(5n, { notAfter: nowSeconds - 1 }))).toBe(DropReason.AUTH_EXPIRED);
    expect(verify(authorization(6n, { notBefore: nowSeconds + 1 }))).toBe(DropReason.AUTH_NOT_YET_VALID);
    expect(counters).toMatchObject({ authorizationsVerified: 0, authorizationCacheHits: 0 });
  });

  it("checks the key id: a rotation's previous key until its end (then AUTH_EXPIRED), an untrusted key AUTH_FORGED", () => {
    const next = generateControllerKey();
    const counters = createCounterState();
    const authorizations = createAuthorizations(
      { controllerPublicKey: [next, { ...key, notAfter: nowSeconds + 30 }], cacheCapacity: 16 },
      { counters, logger: silentLogger },
    );
    const at = (auth: Uint8Array, seconds: number) =>
      authorizations.verify(inPacket(auth), 5, auth.length, seconds);
    expect(at(authorization(10n), nowSeconds)).toMatchObject({ serial: 10n });
    expect(at(authorization(11n, {}, next), nowSeconds + 31)).toMatchObject({ serial: 11n });
    expect(at(authorization(12n), nowSeconds + 31)).toBe(DropReason.AUTH_EXPIRED);
    expect(at(authorization(13n, {}, generateControllerKey()), nowSeconds)).toBe(DropReason.AUTH_FORGED);
    // The trusted set without the previous key: what it signed is refused, even what was cached.
    authorizations.setControllerKeys([next]);
    expect(at(authorization(10n), nowSeconds)).toBe(DropReason.AUTH_FORGED);
    expect(counters.authorizationsVerified).toBe(2);
  });

  it('marks a cached authorization revoked, and one revoked before it was first seen', () => {
    const { counters, authorizations, verify } = setup();
    const cached = verify(authorization(0x1_0000_0007n));
    authorizations.revoke([0x1_0000_0007n, 99n], [undefined, Date.UTC(2030, 0, 1)]);
    expect(cached).toMatchObject({ revoked: true });
    expect(verify(authorization(99n))).toMatchObject({ revoked: true });
    // Same low 32 bits, other serial: not revoked.
    expect(verify(authorization(7n))).toMatchObject({ revoked: false });
    expect(counters.revocations).toBe(2);
    expect(authorizations.revokedCount).toBe(2);
    authorizations.pruneRevoked(Date.UTC(2030, 0, 1) + 60_000);
    expect(authorizations.revokedCount).toBe(1);
  });

  it('starts over when full (bounded by cacheCapacity)', () => {
    const { counters, verify } = setup(2);
    const a = authorization(1n);
    verify(a);
    verify(authorization(2n));
    verify(authorization(3n)); // cleared, then cached
    verify(a);
    expect(counters).toMatchObject({ authorizationsVerified: 4, authorizationCacheHits: 0 });
  });
});
