/**
 * The closing `tests:` line CI reads (scripts/summary-line-reporter.ts): a file that failed with no
 * failed test — a beforeAll that threw, an import error — must count as a failure.
 */

import { describe, expect, it } from 'vitest';
import type { TestModule } from 'vitest/node';
import { countResults } from '../scripts/summary-line-reporter';

/** A stand-in for vitest's TestModule: its state and its tests' states. */
function moduleOf(state: 'passed' | 'failed' | 'skipped', tests: string[]): TestModule {
  return {
    state: () => state,
    children: {
      allTests: () => tests.map((testState) => ({ result: () => ({ state: testState }) }))[Symbol.iterator](),
    },
  } as unknown as TestModule;
}

describe('the summary line', () => {
  it('counts tests by state', () => {
    expect(
      countResults([
        moduleOf('passed', ['passed', 'passed', 'skipped']),
        moduleOf('failed', ['failed', 'passed']),
      ]),
    ).toEqual({ passed: 3, failed: 1, skipped: 1 });
  });

  it('counts a file that failed without a failed test (a hook threw, its tests skipped) as one failure', () => {
    expect(countResults([moduleOf('failed', ['skipped', 'skipped']), moduleOf('failed', [])])).toEqual({
      passed: 0,
      failed: 2,
      skipped: 2,
    });
  });
});
