import { defineConfig } from 'vitest/config';
import { SummaryLineReporter } from './scripts/summary-line-reporter.ts';

// One config for the whole monorepo: unit tests beside code, cross-module tests in
// packages/*/test, whole-system tests in test/. Packages resolve to their TypeScript sources
// through their package.json "exports", so no build is needed to test.
export default defineConfig({
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'test/**/*.test.ts',
      'apps/*/test/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', new SummaryLineReporter()],
  },
});
