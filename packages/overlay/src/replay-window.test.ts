import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayWindow } from './replay-window';

describe('ReplayWindow', () => {
  it('accepts each counter once, in or out of order within the window', () => {
    const window = new ReplayWindow(64);
    for (const counter of [0, 2, 1, 5, 3, 4]) expect(window.accept(counter)).toBe(true);
    for (const counter of [0, 1, 2, 3, 4, 5]) expect(window.accept(counter)).toBe(false);
  });

  it('refuses counters older than the window and invalid counters', () => {
    const window = new ReplayWindow(64);
    expect(window.accept(1000)).toBe(true);
    expect(window.accept(1000 - 63)).toBe(true);
    expect(window.accept(1000 - 64)).toBe(false);
    expect(window.accept(-1)).toBe(false);
    expect(window.accept(1.5)).toBe(false);
    expect(window.accept(Number.MAX_SAFE_INTEGER)).toBe(false);
  });

  it('does not remember counters it only checked (a frame whose MAC failed)', () => {
    const window = new ReplayWindow();
    expect(window.check(7)).toBe(true);
    expect(window.check(7)).toBe(true);
    expect(window.accept(7)).toBe(true);
    expect(window.check(7)).toBe(false);
  });

  it('forgets old bits after large jumps (a reused slot is a fresh counter)', () => {
    const window = new ReplayWindow(64);
    window.accept(3);
    window.accept(3 + 96 * 10);
    expect(window.accept(3 + 96 * 10 - 32)).toBe(true);
  });

  it('agrees with an exact model on random sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 600 }), { maxLength: 300 }), (counters) => {
        const window = new ReplayWindow(128);
        const size = 128;
        const seen = new Set<number>();
        let highest = -1;
        for (const counter of counters) {
          const expected = !seen.has(counter) && (counter > highest || highest - counter < size);
          expect(window.accept(counter)).toBe(expected);
          if (expected) {
            seen.add(counter);
            highest = Math.max(highest, counter);
          }
        }
      }),
      { seed: testSeed, numRuns: 2000 },
    );
  });
});
