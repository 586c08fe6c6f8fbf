/** `serialized`: recomputations one at a time, callers sharing the run that has not started yet. */
import { describe, expect, it } from 'vitest';
import { serialized } from './context';

describe('serialized', () => {
  it('never runs twice at once, shares a waiting run, and starts each call’s run after the call', async () => {
    let running = 0;
    let most = 0;
    const starts: number[] = [];
    let release: (() => void)[] = [];
    const run = serialized(async () => {
      running += 1;
      most = Math.max(most, running);
      starts.push(starts.length);
      await new Promise<void>((resolve) => release.push(resolve));
      running -= 1;
    });
    const first = run();
    await Promise.resolve();
    await Promise.resolve();
    expect(starts).toHaveLength(1); // started
    const second = run();
    const third = run(); // shares the waiting second run
    expect(third).toBe(second);
    expect(first).not.toBe(second);
    release.shift()!();
    await first;
    await new Promise((r) => setTimeout(r, 0));
    expect(starts).toHaveLength(2); // the second run started after the first ended
    const fourth = run(); // the second is running: a third run waits for it
    expect(fourth).not.toBe(second);
    release.shift()!();
    await second;
    await new Promise((r) => setTimeout(r, 0));
    release.shift()!();
    await fourth;
    expect(starts).toHaveLength(3);
    expect(most).toBe(1);
    release = [];
  });

  it('gives a failed run’s error to its callers and goes on with the next', async () => {
    let fail = true;
    const run = serialized(async () => {
      if (fail) throw new Error('broken');
    });
    await expect(run()).rejects.toThrow('broken');
    fail = false;
    await expect(run()).resolves.toBeUndefined();
  });
});
