/**
 * Anti-replay for link frames (the counter of each DATA frame), as RFC 6479 describes: a sliding
 * bitmap of the last `windowSize` counters below the highest seen. A counter is accepted once;
 * anything older than the window, or seen before, is refused. Checking and marking are separate so
 * that a frame is marked only after its MAC verified (a forged frame must not advance the window).
 *
 * Counters are numbers, not bigints (bigint arithmetic allocates, and this runs per packet): the
 * wire field is 64 bits, but a sender never goes past 2^53 (28 years at 10 Mpps), so a counter at
 * or above Number.MAX_SAFE_INTEGER is refused. No allocation after construction.
 */
/** Index of the highest accepted counter in `ReplayWindow.state`. */
export const REPLAY_HIGHEST = 1;
/** Length of a ReplayWindow's own state array (index 0 is free for the session's send counter). */
export const REPLAY_STATE_LENGTH = 2;

export class ReplayWindow {
  /** The bitmap (RFC 6479): one bit per counter of the window, in words of 32. */
  readonly bits: Uint32Array;
  /**
   * `state[HIGHEST]`: the highest accepted counter, or -1 before the first. A typed array, not a
   * field, so that a native data path can check and mark the same window (the engine's fast path,
   * @capsule/native); `state` may hold the session's other counters at other indices.
   */
  readonly state: Float64Array;
  private readonly windowSize: number;

  /**
   * `windowSize` is rounded up to a multiple of 32 (plus one word of slack, as RFC 6479 does).
   * `state` (index HIGHEST) is allocated unless given.
   */
  constructor(windowSize = 2016, state?: Float64Array) {
    const words = Math.max(2, Math.ceil(windowSize / 32) + 1);
    this.bits = new Uint32Array(words);
    this.windowSize = (words - 1) * 32;
    this.state = state ?? new Float64Array(REPLAY_STATE_LENGTH);
    this.state[REPLAY_HIGHEST] = -1;
  }

  private get highest(): number {
    return this.state[REPLAY_HIGHEST]!;
  }

  private set highest(counter: number) {
    this.state[REPLAY_HIGHEST] = counter;
  }

  /** True when `counter` has not been seen and is not older than the window. */
  check(counter: number): boolean {
    if (!Number.isSafeInteger(counter) || counter < 0 || counter === Number.MAX_SAFE_INTEGER) return false;
    if (counter > this.highest) return true;
    if (this.highest - counter >= this.windowSize) return false;
    const bit = counter % (this.bits.length * 32);
    return (this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0;
  }

  /** Records `counter` as seen; call only after check() returned true and the frame authenticated. */
  mark(counter: number): void {
    const words = this.bits.length;
    if (counter > this.highest) {
      // Clear the words the window slides over (all of them after a jump past the whole bitmap).
      const oldWord = this.highest < 0 ? -1 : Math.floor(this.highest / 32);
      const newWord = Math.floor(counter / 32);
      const clear = Math.min(newWord - oldWord, words);
      for (let step = 1; step <= clear; step++) this.bits[(oldWord + step) % words] = 0;
      this.highest = counter;
    }
    const bit = counter % (words * 32);
    this.bits[bit >>> 5] = this.bits[bit >>> 5]! | (1 << (bit & 31));
  }

  /** Checks and, when accepted, marks. */
  accept(counter: number): boolean {
    if (!this.check(counter)) return false;
    this.mark(counter);
    return true;
  }
}
