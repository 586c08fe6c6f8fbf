import { describe, expect, it } from 'vitest';
import { createMicrosecondClock, systemClock } from './ports';

/**
 * Simulated clocks: the monotonic clock advances `stepUs` per read (plus any `stall` queued for the
 * next read, a preemption); the wall clock is `floor(monotonic + baseMs)` whole ms.
 */
function simulated(baseMs: number, stepUs = 0.7) {
  const state = { monotonicMs: 1234.5, baseMs, stalls: [] as number[], wallReads: 0 };
  const advance = () => {
    state.monotonicMs += stepUs / 1000 + (state.stalls.shift() ?? 0);
  };
  return {
    state,
    sources: {
      monotonicMs: () => {
        advance();
        return state.monotonicMs;
      },
      wallMs: () => {
        advance();
        state.wallReads++;
        return Math.floor(state.monotonicMs + state.baseMs);
      },
    },
    trueUs: () => (state.monotonicMs + state.baseMs) * 1000,
  };
}

describe('microsecond clock (systemClock.nowUs)', () => {
  it('measures its base to within 10 µs of the wall clock from whole-ms reads', () => {
    const base = 1_765_000_000_000.375;
    const sim = simulated(base);
    const clock = createMicrosecondClock(sim.sources);
    const us = clock.nowUs();
    expect(Math.abs(clock.baseMs - base)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(us - sim.trueUs())).toBeLessThanOrEqual(10);
    // Later readings follow the monotonic clock, with no new measurement.
    const reads = sim.state.wallReads;
    for (let i = 0; i < 100; i++) expect(Math.abs(clock.nowUs() - sim.trueUs())).toBeLessThanOrEqual(10);
    expect(sim.state.wallReads - reads).toBe(100); // one check read each
  });

  it('is not thrown off by a preemption between its reads (what makes performance.timeOrigin late)', () => {
    // A stall (ms lost) before read `at` of the first ones: under 1 ms, a reading's own check
    // cannot see it, so the measurement must not take it in.
    for (const stallMs of [0.6, 30])
      for (let at = 0; at < 9; at++) {
        const base = 1_765_000_000_000.25;
        const sim = simulated(base);
        sim.state.stalls.push(...Array.from({ length: 9 }, (_, i) => (i === at ? stallMs : 0)));
        const clock = createMicrosecondClock(sim.sources);
        clock.nowUs();
        expect(Math.abs(clock.baseMs - base), `${stallMs} ms before read ${at}`).toBeLessThanOrEqual(0.01);
        expect(Math.abs(clock.nowUs() - sim.trueUs())).toBeLessThanOrEqual(10);
      }
  });

  it('measures again when the wall clock is stepped, either way', () => {
    const sim = simulated(1_765_000_000_000.125);
    const clock = createMicrosecondClock(sim.sources);
    clock.nowUs();
    sim.state.baseMs += 5000.375; // stepped forward 5 s
    expect(Math.abs(clock.nowUs() - sim.trueUs())).toBeLessThanOrEqual(10);
    expect(Math.abs(clock.baseMs - sim.state.baseMs)).toBeLessThanOrEqual(0.01);
    sim.state.baseMs -= 2.5; // back 2.5 ms
    expect(Math.abs(clock.nowUs() - sim.trueUs())).toBeLessThanOrEqual(10);
    expect(Math.abs(clock.baseMs - sim.state.baseMs)).toBeLessThanOrEqual(0.01);
  });

  it('stops measuring after 50,000 reads or 100 ms when the wall clock never ticks', () => {
    const sim = simulated(1_765_000_000_000.5);
    const frozen = Math.floor(sim.state.monotonicMs + sim.state.baseMs);
    const clock = createMicrosecondClock({ monotonicMs: sim.sources.monotonicMs, wallMs: () => frozen });
    const started = sim.state.monotonicMs;
    expect(Number.isFinite(clock.nowUs())).toBe(true);
    expect(sim.state.monotonicMs - started).toBeLessThan(101);
    const slow = simulated(1_765_000_000_000.5, 5000); // 5 ms a read: the 100 ms bound
    const slowClock = createMicrosecondClock({ monotonicMs: slow.sources.monotonicMs, wallMs: () => frozen });
    const slowStarted = slow.state.monotonicMs;
    slowClock.nowUs();
    expect(slow.state.monotonicMs - slowStarted).toBeLessThan(130);
  });

  it("agrees with this process's wall clock", () => {
    for (let i = 0; i < 1000; i++) {
      const before = Date.now();
      const us = systemClock.nowUs!();
      const after = Date.now();
      expect(us).toBeGreaterThanOrEqual(before * 1000 - 10);
      expect(us).toBeLessThan((after + 1) * 1000 + 10);
    }
  });
});
