/**
 * javac is the oracle for Java's flow rules (JLS 14.22): random method bodies built from every
 * statement that affects reachability — labeled blocks and loops, while/do/for with constant and
 * variable conditions, switch with and without default, break/continue with and without labels,
 * return — are checked by javac (one run over all of them) and by our checker. Each program must
 * get the same verdicts: the same unreachable statements (by line) and the same missing returns.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canRun, testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../src/compile';

const PROGRAMS = 400;
const CHOICES = 400;

interface Scope {
  readonly depth: number;
  readonly labels: readonly { readonly name: string; readonly isLoop: boolean }[];
  readonly inLoop: boolean;
  readonly inSwitch: boolean;
}

/**
 * Builds one program from a list of choices (each a natural number; the list is read in order and
 * wraps around). Every statement starts a line, so javac's line numbers name the statement.
 */
export function reachabilityProgram(className: string, choices: readonly number[]): string {
  let at = 0;
  let names = 0;
  const pick = (n: number) => choices[at++ % choices.length]! % n;
  const cond = () =>
    [`x > ${pick(10)}`, `x < ${pick(10)}`, 'true', 'false', 'T', 'F', '1 < 2', `x == ${pick(4)}`][
      pick(20) < 12 ? pick(3) : pick(8)
    ]!;
  const list = (scope: Scope, max: number): string[] => {
    const out: string[] = [];
    const n = pick(max + 1);
    for (let i = 0; i < n; i++) out.push(stmt(scope, true));
    return out;
  };
  const block = (scope: Scope) => `{\n${list(scope, 3).join('\n')}\n}`;
  const loopScope = (scope: Scope): Scope => ({ ...scope, depth: scope.depth + 1, inLoop: true });
  const stmt = (scope: Scope, isInList = false): string => {
    const deep = scope.depth >= 4;
    const kind = pick(deep ? 6 : 16);
    const inner: Scope = { ...scope, depth: scope.depth + 1 };
    switch (kind) {
      case 0:
        return 'x++;';
      case 1:
        // A declaration is a block statement, not a statement (javac rejects `if (c) int v;`).
        return isInList ? `int v${names++} = x + ${pick(9)};` : 'x += 2;';
      case 2:
        return pick(3) === 0 ? 'return x;' : 'x = x * 3 + 1;';
      case 3:
      case 4: {
        const jumps: string[] = [];
        if (scope.inLoop || scope.inSwitch) jumps.push('break;');
        if (scope.inLoop) jumps.push('continue;');
        for (const l of scope.labels) {
          jumps.push(`break ${l.name};`);
          if (l.isLoop) jumps.push(`continue ${l.name};`);
        }
        if (jumps.length === 0) return 'x--;';
        const jump = jumps[pick(jumps.length)]!;
        return pick(2) === 0 ? jump : `if (${cond()}) ${jump}`;
      }
      case 5:
        return 'return x;';
      case 6:
        return pick(2) === 0
          ? `if (${cond()})\n${stmt(inner)}`
          : `if (${cond()})\n${stmt(inner)}\nelse\n${stmt(inner)}`;
      case 7:
        return `while (${cond()})\n${stmt(loopScope(scope))}`;
      case 8:
        return `do\n${stmt(loopScope(scope))}\nwhile (${cond()});`;
      case 9: {
        const header = [`;${cond()};`, ';;', `int i${names} = 0; i${names} < ${pick(5)}; i${names}++`][
          pick(3)
        ]!;
        names++;
        return `for (${header})\n${stmt(loopScope(scope))}`;
      }
      case 10: {
        const s: Scope = { ...inner, inSwitch: true };
        const groups: string[] = [];
        const count = 1 + pick(3);
        const defaultAt = pick(count + 2);
        for (let g = 0; g < count; g++) {
          const labels = g === defaultAt ? 'default:' : `case ${g}:`;
          groups.push(`${labels}\n${list(s, 2).join('\n')}`);
        }
        return `switch (x) {\n${groups.join('\n')}\n}`;
      }
      case 11:
      case 12: {
        const name = `L${names++}`;
        const isLoop = pick(2) === 0;
        const labelled: Scope = { ...inner, labels: [...scope.labels, { name, isLoop }] };
        if (!isLoop)
          return `${name}:\n${pick(3) === 0 ? `if (${cond()}) ${block(labelled)}` : block(labelled)}`;
        const body = loopScope(labelled);
        return pick(2) === 0
          ? `${name}:\nwhile (${cond()})\n${stmt(body)}`
          : `${name}:\nfor (;;)\n${stmt(body)}`;
      }
      default:
        return block(inner);
    }
  };
  const body = list({ depth: 0, labels: [], inLoop: false, inSwitch: false }, 4);
  if (pick(2) === 0) body.push('return x;');
  return [
    `class ${className} {`,
    'static final boolean T = true;',
    'static final boolean F = false;',
    'static int run(int x) {',
    ...body,
    '}',
    '}',
    '',
  ].join('\n');
}

/** javac's verdicts as `U<line>` (unreachable statement) and `M` (missing return), sorted. */
function javacVerdicts(output: string, count: number): string[][] {
  const verdicts: string[][] = Array.from({ length: count }, () => []);
  for (const line of output.split('\n')) {
    const m = /^.*?P(\d+)\.java:(\d+): error: (.*)$/.exec(line);
    if (!m) continue;
    const [, index, lineNo, message] = m;
    const v =
      message === 'unreachable statement'
        ? `U${lineNo}`
        : message === 'missing return statement'
          ? 'M'
          : `OTHER ${lineNo}: ${message}`;
    verdicts[Number(index)]!.push(v);
  }
  return verdicts.map((v) => v.sort());
}

function ourVerdicts(source: string): string[] {
  return checkSource(source)
    .diagnostics.items.map((d) =>
      d.code === 'CHECK_UNREACHABLE'
        ? `U${d.span.start.line}`
        : d.code === 'CHECK_MISSING_RETURN'
          ? 'M'
          : `OTHER ${d.span.start.line}: ${d.code} ${d.message}`,
    )
    .sort();
}

describe.skipIf(!canRun({ tools: ['javac'] }))('reachability: our checker agrees with javac', () => {
  const programs = fc
    .sample(fc.array(fc.nat(), { minLength: CHOICES, maxLength: CHOICES }), {
      seed: testSeed,
      numRuns: PROGRAMS,
    })
    .map((choices, i) => reachabilityProgram(`P${i}`, choices));
  let dir = '';
  let javac: string[][] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'capsule-reach-'));
    const files = programs.map((source, i) => {
      const file = join(dir, `P${i}.java`);
      writeFileSync(file, source);
      return file;
    });
    let output = '';
    try {
      // Report flow errors of every class, not only of the first one with an error.
      execFileSync('javac', ['-XDshould-stop.ifError=FLOW', '-Xmaxerrs', '100000', '-d', dir, ...files], {
        stdio: 'pipe',
        encoding: 'utf8',
      });
    } catch (error) {
      output = String((error as { stderr?: string }).stderr ?? '');
    }
    javac = javacVerdicts(output, programs.length);
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`${PROGRAMS} random method bodies get javac's verdicts`, () => {
    const mismatches: string[] = [];
    programs.forEach((source, i) => {
      const ours = ourVerdicts(source);
      if (ours.join() !== javac[i]!.join())
        mismatches.push(`P${i}: javac [${javac[i]!.join(', ')}] ours [${ours.join(', ')}]\n${source}`);
    });
    expect(mismatches.slice(0, 3)).toEqual([]);
    // The generator must produce both outcomes in quantity, or the property says little.
    const rejected = javac.filter((v) => v.length > 0).length;
    expect(rejected).toBeGreaterThan(PROGRAMS / 5);
    expect(PROGRAMS - rejected).toBeGreaterThan(PROGRAMS / 5);
    expect(javac.flat().filter((v) => v.startsWith('OTHER'))).toEqual([]);
  });
});
