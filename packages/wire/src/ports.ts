/**
 * The two ports every package shares: a Clock (time and timers) and a Logger. They live here, in
 * the package everyone imports, so that there is one of each: a part declares the subset it uses
 * (`Pick<Clock, 'nowMs'>`, `Pick<Clock, 'nowMs' | 'setInterval'>`), tests inject a manual clock so
 * they never sleep, and daemons pass `systemClock` and a pino logger (which fits `Logger`).
 */

/** Time and timers (tests inject a manual one). */
export interface Clock {
  /** Wall-clock time: milliseconds since the Unix epoch. */
  nowMs(): number;
  /**
   * Wall-clock time in microseconds with sub-millisecond resolution, where the clock has it (the
   * times of TRACE records and packet traces: hops a few µs apart). `clockUs` falls back to
   * `nowMs() × 1000`.
   */
  nowUs?(): number;
  /** Calls `callback` every `ms` milliseconds until the returned function is called. */
  setInterval(callback: () => void, ms: number): () => void;
  /** Calls `callback` once after `ms` milliseconds unless the returned function is called first. */
  setTimeout(callback: () => void, ms: number): () => void;
}

/** The monotonic clock (ms, fractional) and the wall clock (whole ms) a `MicrosecondClock` combines. */
export interface MicrosecondClockSources {
  monotonicMs(): number;
  wallMs(): number;
}

/** Wall-clock µs from a monotonic clock and a base measured against the wall clock. */
export interface MicrosecondClock {
  nowUs(): number;
  /** The base in ms (wall = monotonic + base); measured at the first `nowUs` and again after a step. */
  readonly baseMs: number;
}

/** Most readings one measurement of a `MicrosecondClock`'s base takes. */
const MEASURE_READS_MAX = 50_000;

/**
 * The wall clock in µs: `monotonicMs() + base`, the base measured against the wall clock, not
 * taken from `performance.timeOrigin`. Node reads the monotonic and the wall clock one after the
 * other at start-up for that origin, and a process preempted between the two reads keeps a base
 * that late for its life: 32 and 36 ms in 2 of 126 processes started on two busy vCPUs (a 2.5 ms
 * check of each against the wall clock), enough to put one hop of a packet trace before the last.
 *
 * Measuring: with the wall clock in whole ms, a read `w` between monotonic reads `m1` and `m2`
 * bounds the base: `w - m2 <= base < w + 1 - m1`. Reads across a millisecond tick narrow that to
 * a few µs; the first `nowUs` reads until the bounds are within 10 µs (at most 50,000 reads or 100 ms;
 * the middle of the bounds). Every `nowUs` checks its reading against the base the same way and
 * measures again when the base falls outside (the wall clock was stepped).
 */
export function createMicrosecondClock(sources: MicrosecondClockSources): MicrosecondClock {
  const { monotonicMs, wallMs } = sources;
  let baseMs = Number.NaN;
  // The last reading: the monotonic clock after its wall read, and the bounds it puts on the base.
  let readAfter = 0;
  let readLow = 0;
  let readHigh = 0;

  function read(): void {
    const before = monotonicMs();
    const wall = wallMs();
    readAfter = monotonicMs();
    readLow = wall - readAfter;
    readHigh = wall + 1 - before;
  }

  function measure(): void {
    let low = Number.NEGATIVE_INFINITY;
    let high = Number.POSITIVE_INFINITY;
    // Bounded by reads, so a preemption does not use up the budget (about 5 ms of reads on this
    // machine: one tick is enough), and by 100 ms however slow the reads.
    const endMs = monotonicMs() + 100;
    for (let reads = 0; reads < MEASURE_READS_MAX; reads++) {
      read();
      low = Math.max(low, readLow);
      high = Math.min(high, readHigh);
      if (high - low <= 0.01 || readAfter >= endMs) break;
    }
    // Bounds that cross (a wall-clock step between reads): the highest lower bound.
    baseMs = low <= high ? (low + high) / 2 : low;
  }

  return {
    nowUs() {
      if (Number.isNaN(baseMs)) measure();
      read();
      if (baseMs < readLow - 0.01 || baseMs > readHigh + 0.01) {
        measure();
        return Math.floor((monotonicMs() + baseMs) * 1000);
      }
      return Math.floor((readAfter + baseMs) * 1000);
    },
    get baseMs() {
      return baseMs;
    },
  };
}

/** This process's microsecond wall clock (systemClock.nowUs). */
const systemMicroseconds = createMicrosecondClock({
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
});

/**
 * The wall clock and Node's timers. Its timers never keep a process alive on their own (a daemon
 * is kept alive by its sockets and servers, and stops by closing them).
 */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  // The monotonic clock plus a measured base on the wall clock: µs resolution, one time for every
  // process of a machine (and across machines as good as their clock sync).
  nowUs: () => systemMicroseconds.nowUs(),
  setInterval(callback, ms) {
    const timer = setInterval(callback, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/**
 * Why a native fast path cannot run beside `clock`, or undefined when it can. The native side keeps
 * time by the wall clock (CLOCK_REALTIME: authorization intervals, e2e epochs and their grace, link
 * receive times), JavaScript by its `clock`; with any clock but systemClock the two halves would
 * judge one flow by two times. createEngine, createAgent and createLinkLayer refuse the pair.
 */
export function fastPathClockProblem(clock: unknown): string | undefined {
  return clock === systemClock
    ? undefined
    : 'a native fast path keeps the system clock (CLOCK_REALTIME), so it runs only with clock: systemClock (the default); give no fast path with another clock';
}

/** The clock's time in microseconds (its `nowUs`, else `nowMs() × 1000`). */
export function clockUs(clock: Pick<Clock, 'nowMs' | 'nowUs'>): number {
  return clock.nowUs ? clock.nowUs() : Math.floor(clock.nowMs() * 1000);
}

/** A structured logger: fields first, then the message (pino's call shape, so a pino logger fits). */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** A logger that drops everything (the default where none is given). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
