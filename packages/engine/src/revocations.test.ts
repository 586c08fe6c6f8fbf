import { silentLogger } from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import { createCounterState } from './counters';
import { createRevocations, REVOCATION_GRACE_MS, serialHalves } from './revocations';

describe('the revocation set', () => {
  it('holds each serial once, by both 32-bit halves (the top bit of either too)', () => {
    const counters = createCounterState();
    const revoked = createRevocations({ counters, logger: silentLogger });
    const serials = [1n, 0xffff_ffff_ffff_ffffn, 0x8000_0000_0000_0001n, (5n << 32n) | 1n];
    for (const serial of serials) expect(revoked.add(serial, undefined)).toBe(true);
    expect(revoked.add(1n, 123)).toBe(false);
    expect(counters.revocations).toBe(4);
    expect(revoked.size).toBe(4);
    for (const serial of serials) {
      const { high, low } = serialHalves(serial);
      expect(revoked.has(high, low)).toBe(true);
    }
    // Same low half, other high half: not revoked.
    expect(revoked.has(6, 1)).toBe(false);
  });

  it('forgets a serial a grace period after its authorization ended, keeps one without an end', () => {
    const counters = createCounterState();
    const revoked = createRevocations({ counters, logger: silentLogger });
    const endMs = 1_000_000;
    revoked.add(10n, endMs);
    revoked.add(11n, undefined);
    revoked.add(12n, Number.NaN);
    revoked.add(13n, endMs + 5000);
    revoked.prune(endMs + REVOCATION_GRACE_MS - 1);
    expect(revoked.size).toBe(4);
    revoked.prune(endMs + REVOCATION_GRACE_MS);
    expect(revoked.has(0, 10)).toBe(false);
    expect([11, 12, 13].map((low) => revoked.has(0, low))).toEqual([true, true, true]);
    expect(counters.revocationsPruned).toBe(1);
    revoked.prune(Number.MAX_SAFE_INTEGER);
    expect(revoked.size).toBe(2);
    expect(counters.revocationsPruned).toBe(2);
    // Pruned, then revoked again: counted again.
    expect(revoked.add(10n, undefined)).toBe(true);
    expect(counters.revocations).toBe(5);
  });
});
