import { describe, expect, it } from 'vitest';
import { createManualClock } from './manual-clock';

const START_MS = Date.UTC(2027, 0, 15);

describe('createManualClock', () => {
  it('stands still until moved', () => {
    const clock = createManualClock(START_MS);
    let fired = 0;
    clock.setTimeout(() => fired++, 10);
    expect(clock.nowMs()).toBe(START_MS);
    expect(fired).toBe(0);
    expect(clock.pendingTimers).toBe(1);
  });

  it('advance fires every period in due order, with the time of each due moment', () => {
    const clock = createManualClock(START_MS);
    const seen: string[] = [];
    clock.setInterval(() => seen.push(`a@${clock.nowMs() - START_MS}`), 30);
    clock.setInterval(() => seen.push(`b@${clock.nowMs() - START_MS}`), 20);
    clock.setTimeout(() => seen.push(`t@${clock.nowMs() - START_MS}`), 60);
    expect(clock.advance(65)).toBe(6);
    // Ties fire in the order the timers were (re-)armed: t (set at 0), a (re-armed at 30), b (at 40).
    expect(seen).toEqual(['b@20', 'a@30', 'b@40', 't@60', 'a@60', 'b@60']);
    expect(clock.nowMs()).toBe(START_MS + 65);
    expect(clock.pendingTimers).toBe(2);
  });

  it('advance runs what callbacks set when it falls due in the same call', () => {
    const clock = createManualClock(START_MS);
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.nowMs() - START_MS);
      clock.setTimeout(() => seen.push(clock.nowMs() - START_MS), 5);
    }, 10);
    clock.advance(20);
    expect(seen).toEqual([10, 15]);
  });

  it('jump fires each due timer once and loses the skipped periods', () => {
    const clock = createManualClock(START_MS);
    let ticks = 0;
    let timeouts = 0;
    clock.setInterval(() => ticks++, 1000);
    clock.setTimeout(() => timeouts++, 500);
    clock.setTimeout(() => timeouts++, 5000);
    expect(clock.jump(3_600_000)).toBe(3);
    expect(ticks).toBe(1);
    expect(timeouts).toBe(2);
    // Re-armed one period after the jump.
    expect(clock.jump(999)).toBe(0);
    expect(clock.jump(1)).toBe(1);
    expect(ticks).toBe(2);
  });

  it('a timer set by a callback during a jump waits for the next move', () => {
    const clock = createManualClock(START_MS);
    let inner = 0;
    clock.setTimeout(() => clock.setTimeout(() => inner++, 1), 10);
    clock.jump(10);
    expect(inner).toBe(0);
    clock.jump(1);
    expect(inner).toBe(1);
  });

  it('cancelled timers never fire, even when cancelled by an earlier callback of the same move', () => {
    const clock = createManualClock(START_MS);
    let fired = 0;
    let cancelB = () => {};
    clock.setTimeout(() => cancelB(), 10);
    cancelB = clock.setTimeout(() => fired++, 20);
    const cancelC = clock.setInterval(() => fired++, 5);
    cancelC();
    clock.jump(100);
    clock.advance(100);
    expect(fired).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(clock.firedTotal).toBe(1);
  });

  it('a delay below 1 ms (or not a number) waits 1 ms; moving backwards is ignored', () => {
    const clock = createManualClock(START_MS);
    let fired = 0;
    clock.setInterval(() => fired++, 0);
    clock.setTimeout(() => fired++, Number.NaN);
    clock.advance(-50);
    expect(clock.nowMs()).toBe(START_MS);
    expect(clock.advance(3)).toBe(4);
    expect(fired).toBe(4);
  });
});
