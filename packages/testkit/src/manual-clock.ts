/**
 * A manual clock: @capsule/wire's `Clock` whose time moves only when a test says, so that tests
 * never sleep and a lab can live through months in seconds.
 *
 * Two ways to move it:
 *
 * - `advance(ms)`: every timer due by `now + ms` fires, in due order (ties: in the order they were
 *   set or an interval re-armed), with `nowMs()` equal to its due time while it runs; an interval fires once per period.
 *   What a callback sets meanwhile fires in the same call when it falls due.
 * - `jump(ms)`: the time jumps to `now + ms` first, then every timer due fires once, in due order,
 *   and intervals are re-armed one period after the jump (the periods skipped are lost), which is
 *   what Node's timers do after the process was stopped or the machine suspended. Time-warped
 *   soaks use it: a 1 s interval costs one call per jump, not 86,400 a simulated day.
 */
import type { Clock } from '@capsule/wire';

/** A `Clock` moved by hand. */
export interface ManualClock extends Required<Pick<Clock, 'nowMs' | 'setInterval' | 'setTimeout'>> {
  /** Moves time forward by `ms`, firing every period of every timer due meanwhile at its due time. Returns the callbacks run. */
  advance(ms: number): number;
  /** Jumps time forward by `ms`, then fires each due timer once (skipped periods are lost). Returns the callbacks run. */
  jump(ms: number): number;
  /** Timers set and not yet fired (timeouts) or cancelled (intervals). */
  readonly pendingTimers: number;
  /** Callbacks run since the clock was made. */
  readonly firedTotal: number;
}

interface Timer {
  callback: () => void;
  dueMs: number;
  /** Interval period; 0 for a timeout. */
  everyMs: number;
  /** Order of (re-)arming: ties between equal due times fire in this order. */
  seq: number;
}

/** A manual clock starting at `startMs` (Unix ms). Timers with a delay below 1 ms wait 1 ms (Node's rule). */
export function createManualClock(startMs: number): ManualClock {
  let now = startMs;
  let seq = 0;
  let fired = 0;
  const timers = new Set<Timer>();

  const add = (callback: () => void, ms: number, repeat: boolean): (() => void) => {
    const delayMs = Math.max(1, Number.isFinite(ms) ? ms : 1);
    const timer: Timer = { callback, dueMs: now + delayMs, everyMs: repeat ? delayMs : 0, seq: seq++ };
    timers.add(timer);
    return () => void timers.delete(timer);
  };

  /** The earliest timer due at or before `limitMs`, or undefined. */
  const nextDue = (limitMs: number): Timer | undefined => {
    let best: Timer | undefined;
    for (const timer of timers)
      if (
        timer.dueMs <= limitMs &&
        (!best || timer.dueMs < best.dueMs || (timer.dueMs === best.dueMs && timer.seq < best.seq))
      )
        best = timer;
    return best;
  };

  const run = (timer: Timer, rearmFromMs: number): void => {
    if (timer.everyMs > 0) {
      timer.dueMs = rearmFromMs + timer.everyMs;
      timer.seq = seq++;
    } else timers.delete(timer);
    fired += 1;
    timer.callback();
  };

  return {
    nowMs: () => now,
    setInterval: (callback, ms) => add(callback, ms, true),
    setTimeout: (callback, ms) => add(callback, ms, false),
    advance(ms) {
      const endMs = now + Math.max(0, ms);
      const before = fired;
      for (let timer = nextDue(endMs); timer; timer = nextDue(endMs)) {
        now = Math.max(now, timer.dueMs);
        run(timer, timer.dueMs);
      }
      now = endMs;
      return fired - before;
    },
    jump(ms) {
      now += Math.max(0, ms);
      const before = fired;
      // Each timer due now fires once: what it (or another callback) sets fires at a later jump.
      const due = [...timers]
        .filter((timer) => timer.dueMs <= now)
        .sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq);
      for (const timer of due) if (timers.has(timer)) run(timer, now);
      return fired - before;
    },
    get pendingTimers() {
      return timers.size;
    },
    get firedTotal() {
      return fired;
    },
  };
}
