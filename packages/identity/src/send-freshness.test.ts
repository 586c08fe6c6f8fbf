import { describe, expect, it } from 'vitest';
import { NonceCache, TimestampChecker } from './send-freshness';

function manualClock(startMs: number) {
  const clock = { now: startMs, nowMs: () => clock.now };
  return clock;
}

describe('SeND timestamp freshness (RFC 3971 5.3.4)', () => {
  const t0 = 1_800_000_000_000;

  it('accepts a first message within TIMESTAMP_DELTA of our clock, refuses one outside', () => {
    const clock = manualClock(t0);
    const checker = new TimestampChecker({}, { clock });
    expect(checker.check('a', t0 / 1000 + 299)).toEqual({ ok: true });
    expect(checker.check('b', t0 / 1000 - 299.5)).toEqual({ ok: true });
    expect(checker.check('c', t0 / 1000 + 300)).toEqual({ ok: false, reason: 'outside-delta' });
    expect(checker.check('d', t0 / 1000 - 301)).toEqual({ ok: false, reason: 'outside-delta' });
    expect(checker.check('e', Number.NaN)).toEqual({ ok: false, reason: 'outside-delta' });
  });

  it('accepts later messages that move with our clock (within drift and fuzz), refuses one that went back', () => {
    const clock = manualClock(t0);
    const checker = new TimestampChecker({}, { clock });
    const peerOffset = 100; // the peer's clock is 100 s ahead: fine, within delta
    expect(checker.check('p', t0 / 1000 + peerOffset).ok).toBe(true);
    clock.now += 60_000;
    // 60 s later the peer may have moved 60 s × (1 − 1 %) − 2 × fuzz ahead at least
    expect(checker.check('p', t0 / 1000 + peerOffset + 60 * 0.99 - 1.5).ok).toBe(true);
    expect(checker.check('p', t0 / 1000 + peerOffset + 10)).toEqual({
      ok: false,
      reason: 'older-than-expected',
    });
    // a replay of the very first message is now too old
    expect(checker.check('p', t0 / 1000 + peerOffset)).toEqual({ ok: false, reason: 'older-than-expected' });
    // a timestamp that is not a number, from a known peer: refused, and the peer's entry unharmed
    // (infinity accepted would refuse every later message of that peer)
    for (const timestamp of [Number.POSITIVE_INFINITY, Number.NaN])
      expect(checker.check('p', timestamp)).toEqual({ ok: false, reason: 'outside-delta' });
    expect(checker.check('p', t0 / 1000 + peerOffset + 61).ok).toBe(true);
  });

  it('forgets the least recently updated peer when full', () => {
    const clock = manualClock(t0);
    const checker = new TimestampChecker({ maxPeers: 2 }, { clock });
    checker.check('a', t0 / 1000);
    checker.check('b', t0 / 1000);
    checker.check('c', t0 / 1000);
    expect(checker.size).toBe(2);
  });
});

describe('nonce replay cache', () => {
  it('refuses a replay within the TTL, accepts it after, scopes nonces by sender', () => {
    const clock = manualClock(0);
    const cache = new NonceCache({ ttlMs: 1000 }, { clock });
    const nonce = new Uint8Array([1, 2, 3, 4, 5, 6]);
    expect(cache.checkAndRemember('fe80::1', nonce)).toBe(true);
    expect(cache.checkAndRemember('fe80::1', nonce)).toBe(false);
    expect(cache.checkAndRemember('fe80::2', nonce)).toBe(true);
    clock.now = 999;
    expect(cache.checkAndRemember('fe80::1', nonce)).toBe(false);
    clock.now = 1000;
    expect(cache.checkAndRemember('fe80::1', nonce)).toBe(true);
  });

  it('is bounded: never holds more than its capacity, expired entries leave', () => {
    const clock = manualClock(0);
    const cache = new NonceCache({ capacity: 100, ttlMs: 50 }, { clock });
    for (let index = 0; index < 1000; index += 1) {
      clock.now = index;
      expect(cache.checkAndRemember('peer', `n${index}`)).toBe(true);
      expect(cache.size).toBeLessThanOrEqual(100);
    }
    expect(cache.size).toBe(50);
    clock.now = 10_000;
    expect(cache.size).toBe(0);
  });
});
