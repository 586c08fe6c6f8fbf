/**
 * Differential tests against the JVM: every hand-written case (differential-cases.ts) and a batch
 * of random programs (random-programs.ts, fixed seed) is compiled by javac — all classes in one
 * javac run, called from one generated Main in one JVM — and by our compiler, run on our VM with
 * the three tiers (interpreter, fast and native). Results must be equal; an exception on the JVM (division by
 * zero, index out of bounds) must be a trap on our VM (both print EXC).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNativeVmTier } from '@capsule/native';
import { canRun, testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CompileResult, compile } from '../src/compile';
import { runCompiled } from '../src/run';
import { handCases } from './differential-cases';
import { randomProgram } from './random-programs';

const RANDOM_PROGRAMS = 200;

interface Case {
  readonly label: string;
  readonly className: string;
  readonly source: string;
  /** The JVM's source, when it differs (constructs Java 17 lacks). */
  readonly jvmSource?: string;
  readonly params: readonly ('int' | 'long')[];
  readonly args: readonly bigint[];
}

function buildCases(): Case[] {
  const cases: Case[] = [];
  for (const h of handCases) {
    const className = `H_${h.name}`;
    const source = `class ${className} {\n  ${h.body}\n}\n`;
    const jvmSource = h.jvmBody === undefined ? undefined : `class ${className} {\n  ${h.jvmBody}\n}\n`;
    h.calls.forEach((args, i) => {
      cases.push({
        label: `${h.name}#${i}`,
        className,
        source,
        ...(jvmSource === undefined ? {} : { jvmSource }),
        params: h.params,
        args,
      });
    });
  }
  const programs = fc.sample(fc.tuple(fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })), {
    seed: testSeed,
    numRuns: RANDOM_PROGRAMS,
  });
  programs.forEach(([a, c], i) => {
    const className = `R_${i}`;
    const [source] = fc.sample(randomProgram(className), { seed: testSeed + i, numRuns: 1 });
    cases.push({
      label: `random#${i}`,
      className,
      source: source!,
      params: ['int', 'long'],
      args: [BigInt(a), c],
    });
  });
  return cases;
}

const literal = (v: bigint, t: 'int' | 'long') =>
  t === 'long'
    ? v === -(2n ** 63n)
      ? 'Long.MIN_VALUE'
      : `${v}L`
    : v === -(2n ** 31n)
      ? 'Integer.MIN_VALUE'
      : `${v}`;

describe.skipIf(!canRun({ tools: ['javac', 'java'] }))(
  'differential: our compiler and VM against javac and the JVM',
  () => {
    const cases = buildCases();
    let dir = '';
    let jvm: string[] = [];

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'capsule-diff-'));
      const sources = new Map<string, string>();
      for (const c of cases) sources.set(c.className, c.jvmSource ?? c.source);
      for (const [name, source] of sources) writeFileSync(join(dir, `${name}.java`), source);
      const calls = cases.map(
        (c) =>
          `    try { p(${c.className}.run(${c.args.map((a, i) => literal(a, c.params[i]!)).join(', ')})); } catch (ArithmeticException | ArrayIndexOutOfBoundsException e) { System.out.println("EXC"); }`,
      );
      // Static initializers run once per class on the JVM, once per execution on our VM: cases with
      // statics are called once per class in Main by re-creating nothing — so they use one call each.
      const main = `class Main {
  static void p(int v) { System.out.println(v); }
  static void p(long v) { System.out.println(v); }
  static void p(boolean v) { System.out.println(v ? 1 : 0); }
  public static void main(String[] args) {
${chunk(calls, 200)
  .map((_group, i) => `    part${i}();`)
  .join('\n')}
  }
${chunk(calls, 200)
  .map((group, i) => `  static void part${i}() {\n${group.join('\n')}\n  }`)
  .join('\n')}
}
`;
      writeFileSync(join(dir, 'Main.java'), main);
      execFileSync(
        'javac',
        ['-nowarn', '-d', dir, ...[...sources.keys(), 'Main'].map((n) => join(dir, `${n}.java`))],
        { stdio: 'pipe' },
      );
      jvm = execFileSync('java', ['-Xss8m', '-cp', dir, 'Main'], { encoding: 'utf8' }).trim().split('\n');
    }, 120_000);

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it(`has at least 300 cases (${cases.length}: ${handCases.length} hand-written programs, ${RANDOM_PROGRAMS} random)`, () => {
      expect(cases.length).toBeGreaterThanOrEqual(300);
      expect(jvm.length).toBe(cases.length);
    });

    // One compilation per case, run on every tier.
    const compiled = new Map<Case, CompileResult>();
    const compiledCase = (c: Case) => {
      let r = compiled.get(c);
      if (!r)
        compiled.set(c, (r = compile(c.source, { call: { method: `${c.className}.run`, args: c.args } })));
      return r;
    };
    const nativeTier = createNativeVmTier();
    for (const tier of ['interpreter', 'fast', 'native'] as const) {
      it(`every case gives the JVM's result on the ${tier} tier`, () => {
        const mismatches: string[] = [];
        cases.forEach((c, i) => {
          const r = runCompiled(compiledCase(c), { tier, nativeTier });
          const ours = r.ok
            ? String(r.value)
            : r.kind === 'trap' && /ACCESS_FAULT|bad access at 0x0/.test(r.reason)
              ? 'EXC'
              : r.kind === 'trap'
                ? `TRAP ${r.reason}`
                : `COMPILE ${r.diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code} ${d.message}`).join('; ')}`;
          if (ours !== jvm[i])
            mismatches.push(`${c.label} (${c.args.join(', ')}): jvm ${jvm[i]} ours ${ours}`);
        });
        expect(mismatches.slice(0, 20)).toEqual([]);
        // Some 2,000 programs run per tier: a loaded 2-core machine needs minutes.
      }, 300_000);
    }
  },
);

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
