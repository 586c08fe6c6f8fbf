/**
 * @capsule/testkit — helpers for tests only (never imported by a package's src).
 *
 * Tests that need root or an external tool call `requireTools` / `requireRoot` at the top of a
 * `describe`: outside CI a missing prerequisite skips the suite and prints why; in CI (CI=true),
 * where `.ci/run` installs everything, a missing prerequisite fails the suite instead, so a green
 * CI never hides a skipped oracle.
 */
import { execFileSync } from 'node:child_process';

/** True when running under CI (the CI environment variable is set and not "false"). */
export const isCI = Boolean(process.env.CI) && process.env.CI !== 'false';

/** True when the process runs as root (needed for network namespaces and TUN devices). */
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Fixed seed for property and fuzz tests; override with CAPSULE_TEST_SEED to explore. */
export const testSeed = Number(process.env.CAPSULE_TEST_SEED ?? 20261121);

const toolCache = new Map<string, string | undefined>();

/** The absolute path of `tool` on PATH, or undefined. */
export function findTool(tool: string): string | undefined {
  if (!toolCache.has(tool)) {
    let found: string | undefined;
    try {
      found =
        execFileSync('sh', ['-c', `command -v ${JSON.stringify(tool)}`], { encoding: 'utf8' }).trim() ||
        undefined;
    } catch {
      found = undefined;
    }
    toolCache.set(tool, found);
  }
  return toolCache.get(tool);
}

/**
 * Returns the reason the suite cannot run (missing tools), or undefined when it can. Outside CI
 * the reason is printed once; in CI it throws, failing the suite.
 */
export function missingPrerequisites(options: {
  tools?: readonly string[];
  root?: boolean;
}): string | undefined {
  const missing = (options.tools ?? []).filter((tool) => findTool(tool) === undefined);
  const reasons: string[] = [];
  if (missing.length > 0) reasons.push(`missing tools: ${missing.join(', ')}`);
  if (options.root && !isRoot) reasons.push('needs root');
  if (reasons.length === 0) return undefined;
  const reason = reasons.join('; ');
  if (isCI) throw new Error(`CI must provide every test prerequisite (${reason}): fix .ci/run`);
  process.stderr.write(`[skip] ${reason}\n`);
  return reason;
}

/** Shorthand: true when the tools (and root, if asked) are present; see missingPrerequisites. */
export function canRun(options: { tools?: readonly string[]; root?: boolean }): boolean {
  return missingPrerequisites(options) === undefined;
}

export { createManualClock, type ManualClock } from './manual-clock';
