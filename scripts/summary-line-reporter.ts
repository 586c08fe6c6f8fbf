import type { Reporter, TestModule } from 'vitest/node';

/** The closing line's counts: every test by its state, and a failed file in which no test failed as one failure. */
export function countResults(testModules: ReadonlyArray<TestModule>): {
  passed: number;
  failed: number;
  skipped: number;
} {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const testModule of testModules) {
    let failedHere = 0;
    for (const test of testModule.children.allTests()) {
      const state = test.result().state;
      if (state === 'passed') passed += 1;
      else if (state === 'failed') failedHere += 1;
      else skipped += 1;
    }
    // A file that failed without a failed test (an import error, a hook such as beforeAll that
    // threw: its tests then show as skipped) is one failure, or the line would say 0.
    failed += testModule.state() === 'failed' && failedHere === 0 ? 1 : failedHere;
  }
  return { passed, failed, skipped };
}

/**
 * Prints one closing line, `tests: N passed, N failed, N skipped`, after vitest's own summary,
 * so that CI (which reads that plain line) counts the run whatever the reporter.
 */
export class SummaryLineReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const { passed, failed, skipped } = countResults(testModules);
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
