import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEarlyPathChanges } from './early-path-changes';

describe('early path-changes', () => {
  it('gives back the latest update held for an endpoint, once', () => {
    const early = createEarlyPathChanges<string>({ maxHeld: 4, holdMs: 1000 });
    early.hold(7, 'first', 0);
    early.hold(7, 'second', 10);
    expect(early.size).toBe(1);
    expect(early.take(8, 20)).toBeUndefined();
    expect(early.take(7, 20)).toBe('second');
    expect(early.take(7, 20)).toBeUndefined();
  });

  it('forgets an update after holdMs, and the oldest beyond maxHeld', () => {
    const early = createEarlyPathChanges<number>({ maxHeld: 2, holdMs: 1000 });
    early.hold(1, 1, 0);
    expect(early.take(1, 1001)).toBeUndefined();
    early.hold(1, 1, 0);
    expect(early.take(1, 1000)).toBe(1);
    early.hold(1, 1, 0);
    early.hold(2, 2, 1);
    early.hold(3, 3, 2);
    expect(early.size).toBe(2);
    expect(early.take(1, 3)).toBeUndefined();
    expect(early.take(2, 3)).toBe(2);
    expect(early.take(3, 3)).toBe(3);
  });

  it('stays within maxHeld and never gives back an expired or another endpoint’s update, whatever arrives (fast-check, fixed seed)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            take: fc.boolean(),
            id: fc.integer({ min: 0, max: 20 }),
            stepMs: fc.integer({ min: 0, max: 400 }),
          }),
          { maxLength: 300 },
        ),
        (operations) => {
          const early = createEarlyPathChanges<{ id: number; atMs: number }>({ maxHeld: 8, holdMs: 1000 });
          let nowMs = 0;
          for (const operation of operations) {
            nowMs += operation.stepMs;
            if (!operation.take) early.hold(operation.id, { id: operation.id, atMs: nowMs }, nowMs);
            else {
              const update = early.take(operation.id, nowMs);
              if (update) {
                expect(update.id).toBe(operation.id);
                expect(nowMs - update.atMs).toBeLessThanOrEqual(1000);
              }
            }
            expect(early.size).toBeLessThanOrEqual(8);
          }
        },
      ),
      { seed: 1605, numRuns: 200 },
    );
  });
});
