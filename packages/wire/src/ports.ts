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

/**
 * The wall clock and Node's timers. Its timers never keep a process alive on their own (a daemon
 * is kept alive by its sockets and servers, and stops by closing them).
 */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  // The process's start on the wall clock plus the monotonic time since: µs resolution, one base
  // for every process of a machine (and across machines as good as their clock sync).
  nowUs: () => Math.floor((performance.timeOrigin + performance.now()) * 1000),
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
