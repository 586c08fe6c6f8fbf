/**
 * Every limit of docs/language.md ("Limits"), each at the limit (compiles, and runs where it can)
 * and one past it (CHECK_LIMIT, never a link error or a wrong result).
 */
import {
  CODE_MAX_BYTES,
  CONTRACT_BYTES,
  DATA_MAX_BYTES,
  decodeInstruction,
  FLOW_BYTES,
  STACK_BYTES,
  verifyProgram,
} from '@capsule/vm';
import { describe, expect, it } from 'vitest';
import { type CompileResult, compile, RUN_CODE_MAX_BYTES } from '../src/compile';
import { FRAME_MAX_BYTES, STATICS_MAX_BYTES } from '../src/lower';
import { runMethod } from '../src/run';

const codes = (r: CompileResult) => r.diagnostics.map((d) => d.code);
const call = (method: string, ...args: number[]) => ({ call: { method, args: args.map(BigInt) } });

/** Runs on both tiers; both must agree. */
function runBoth(source: string, method: string, ...args: number[]) {
  const results = (['interpreter', 'fast'] as const).map((tier) =>
    runMethod(source, method, args.map(BigInt), { tier }),
  );
  expect(results[1]).toEqual(results[0]);
  return results[0]!;
}

/**
 * A program of the form `build(bulk, pad)` whose code is exactly `limit` bytes (bulk statements
 * estimated from the cost of `sample` of them, then pads, 2 bytes each, to fill up), and the same
 * with one pad more.
 */
function programOfSize(
  limit: number,
  build: (bulk: number, pad: number) => string,
  compileIt: (source: string) => CompileResult,
  sample: number,
): { exact: string; over: string } {
  const size = (bulk: number, pad: number) =>
    compileIt(build(bulk, pad)).image?.code.length ?? Number.POSITIVE_INFINITY;
  const size0 = size(0, 0);
  const perBulk = (size(sample, 0) - size0) / sample;
  let bulk = Math.max(0, Math.floor((limit - size0) / perBulk) - 2);
  while (bulk > 0 && size(bulk, 0) > limit) bulk--;
  while (size(bulk + 1, 0) <= limit) bulk++;
  let pad = 0;
  while (size(bulk, pad + 1) <= limit) pad++;
  const exact = build(bulk, pad);
  expect(compileIt(exact).image?.code.length).toBe(limit);
  return { exact, over: build(bulk, pad + 1) };
}

describe('limits: code size', () => {
  it(`a program's code is at most ${CODE_MAX_BYTES} bytes (the sandbox's CODE region)`, () => {
    const build = (bulk: number, pad: number) =>
      `class Big { @Entry static void e(Packet p, Action a) { int x = p.hopLimit(); int y = p.flowLabel();\n${'x += y * x;\n'.repeat(bulk)}${'x++;\n'.repeat(pad)} a.forward(x); } }`;
    const { exact: source, over: overSource } = programOfSize(CODE_MAX_BYTES, build, (s) => compile(s), 10);
    const exact = compile(source);
    const image = exact.image!;
    expect(verifyProgram(image.code, { entryOffsets: image.entries.map((e) => e.offset) }).ok).toBe(true);
    const over = compile(overSource);
    expect(codes(over)).toEqual(['CHECK_LIMIT']);
    expect(over.diagnostics[0]!.message).toContain(`${CODE_MAX_BYTES + 2} bytes`);
  });

  it(`a program run with a call driver is at most ${RUN_CODE_MAX_BYTES} bytes; over 4 KiB its branches are relaxed`, () => {
    const build = (bulk: number, pad: number) =>
      `class Big { static int run(int x, int y) {\n${'x += y * x;\n'.repeat(bulk)}${'x++;\n'.repeat(pad)} return x; } }`;
    const compileIt = (source: string) => compile(source, call('Big.run', 1, 2));
    const { exact, over } = programOfSize(RUN_CODE_MAX_BYTES, build, compileIt, 1000);
    expect(codes(compileIt(over))).toEqual(['CHECK_LIMIT']);
    // The 64 KiB program runs on the conformance machine.
    const model = (x: number, y: number, bulk: number, pad: number) => {
      for (let i = 0; i < bulk; i++) x = (x + Math.imul(y, x)) | 0;
      return (x + pad) | 0;
    };
    const bulk = (exact.match(/x \+= y \* x;/g) ?? []).length;
    const pad = (exact.match(/x\+\+;/g) ?? []).length;
    const r = runBoth(exact, 'Big.run', 3, 5);
    expect(r).toMatchObject({ ok: true, machine: 'conformance', value: BigInt(model(3, 5, bulk, pad)) });
  }, 300_000);

  it('branches across more than 4 KiB (loops, conditions, the trap stub) are relaxed and run', () => {
    // A loop whose body is over 4 KiB: its back edge, the exits of the ifs and every bounds check
    // (a branch to the shared trap stub at the end of the code) span more than a B-type branch.
    const steps = 200;
    const body = Array.from(
      { length: steps },
      (_, i) => `if (t[${i % 8}] > ${i}) t[(x + ${i}) & 7] += x ^ ${i};`,
    );
    const source = `class Far { static int run(int x, int n) { int[] t = new int[8]; for (int k = 0; k < n; k++) {\n${body.join('\n')}\n x = x * 31 + t[k & 7]; } return x + t[n]; } }`;
    const model = (x: number, n: number): number | 'trap' => {
      const t = new Int32Array(8);
      for (let k = 0; k < n; k++) {
        for (let i = 0; i < steps; i++) if (t[i % 8]! > i) t[(x + i) & 7] = (t[(x + i) & 7]! + (x ^ i)) | 0;
        x = (Math.imul(x, 31) + t[k & 7]!) | 0;
      }
      return n < 0 || n >= 8 ? 'trap' : (x + t[n]!) | 0;
    };
    const compiled = compile(source, call('Far.run', 1, 2));
    expect(codes(compiled)).toEqual([]);
    expect(compiled.image!.code.length).toBeGreaterThan(4096);
    for (const [x, n] of [
      [7, 3],
      [-123456, 7],
      [5, 8],
    ] as const) {
      const r = runBoth(source, 'Far.run', x, n);
      const want = model(x, n);
      if (want === 'trap') expect(r).toMatchObject({ ok: false, kind: 'trap' });
      else expect(r).toMatchObject({ ok: true, value: BigInt(want) });
    }
  });
});

describe('limits: memory', () => {
  it(`a method's frame is at most ${FRAME_MAX_BYTES} bytes`, () => {
    // byte[2028]: a 4-byte length header and 2028 bytes, the whole frame of a leaf method.
    const at = `class F { static int run(int i) { byte[] a = new byte[${FRAME_MAX_BYTES - 4}]; a[i] = 7; return a[${FRAME_MAX_BYTES - 5}] + a.length; } }`;
    expect(runBoth(at, 'F.run', FRAME_MAX_BYTES - 5)).toMatchObject({
      ok: true,
      value: BigInt(7 + FRAME_MAX_BYTES - 4),
    });
    const over = at.replace(`new byte[${FRAME_MAX_BYTES - 4}]`, `new byte[${FRAME_MAX_BYTES - 3}]`);
    expect(codes(compile(over, call('F.run', 0)))).toEqual(['CHECK_LIMIT']);
  });

  it(`static fields take at most ${STATICS_MAX_BYTES} bytes`, () => {
    // The reference (4), the length header (4) and 2040 bytes.
    const at = `class S { static byte[] s = new byte[${STATICS_MAX_BYTES - 8}]; static int run(int i) { s[i] = 9; return s[${STATICS_MAX_BYTES - 9}] * 1000 + s.length; } }`;
    expect(runBoth(at, 'S.run', STATICS_MAX_BYTES - 9)).toMatchObject({
      ok: true,
      value: BigInt(9000 + STATICS_MAX_BYTES - 8),
    });
    const over = at.replace(`new byte[${STATICS_MAX_BYTES - 8}]`, `new byte[${STATICS_MAX_BYTES - 7}]`);
    expect(codes(compile(over, call('S.run', 0)))).toEqual(['CHECK_LIMIT']);
  });

  it(`@Data, @Flow and @Shared fields fit their regions (${DATA_MAX_BYTES}, ${FLOW_BYTES}, ${CONTRACT_BYTES} bytes)`, () => {
    for (const [annotation, bytes] of [
      ['Data', DATA_MAX_BYTES],
      ['Flow', FLOW_BYTES],
      ['Shared', CONTRACT_BYTES],
    ] as const) {
      const at = `class R { @${annotation} static int x; @${annotation} static byte[] b = new byte[${bytes - 4}]; @Entry static void e(Action a) { b[${bytes - 5}] = 1; a.forward(x + b[${bytes - 5}]); } }`;
      const ok = compile(at);
      expect(codes(ok), annotation).toEqual([]);
      const region = { Data: 'dataBytes', Flow: 'flowBytes', Shared: 'contractBytes' } as const;
      expect(ok.image!.regions[region[annotation]]).toBe(bytes);
      const over = at.replace(`new byte[${bytes - 4}]`, `new byte[${bytes - 3}]`);
      expect(codes(compile(over)), annotation).toEqual(['CHECK_LIMIT']);
    }
  });

  it(`the stack (${STACK_BYTES} bytes) holds the statics and the deepest call chain`, () => {
    // statics 2048 + run's frame (16: ra) + g's frame (2032) = 4096. g is called from two places
    // and is not small, so it stays a function of its own (not lowered in place of its calls).
    const gSource = `static int g(int i, int j) { byte[] a = new byte[${FRAME_MAX_BYTES - 4}]; a[i] = 5; a[j] += 3; a[i + j] -= 2; a[i ^ j] *= 7; return a[0] + a[1] + a[2] + a[3] + s.length; }`;
    const at = `class K {
  static byte[] s = new byte[${STATICS_MAX_BYTES - 8}];
  ${gSource}
  static int run(int i) { return g(i, 0) + g(0, i) + 1; }
}`;
    const g = (i: number, j: number) => {
      const a = new Int8Array(4);
      a[i] = 5;
      a[j]! += 3;
      a[i + j]! -= 2;
      a[i ^ j]! *= 7;
      return a[0]! + a[1]! + a[2]! + a[3]! + STATICS_MAX_BYTES - 8;
    };
    expect(runBoth(at, 'K.run', 1)).toMatchObject({ ok: true, value: BigInt(g(1, 0) + g(0, 1) + 1) });
    // run's frame one step (16 bytes) larger: a 13-byte array (4 + 9, rounded up) beside ra.
    const over = at.replace(
      'static int run(int i) { return g(i, 0) + g(0, i) + 1; }',
      'static int run(int i) { byte[] b = new byte[9]; b[i & 7] = 1; return g(i, 0) + g(0, i) + b[1]; }',
    );
    const r = compile(over, call('K.run', 0));
    expect(codes(r)).toEqual(['CHECK_LIMIT']);
    expect(r.diagnostics[0]!.message).toContain(`needs ${STACK_BYTES + 16} bytes of stack`);
  });

  it('recursion deeper than the stack traps at run time (its depth is not known when compiling)', () => {
    const source = 'class Rec { static int run(int n) { return n == 0 ? 0 : 1 + run(n - 1); } }';
    const image = compile(source, call('Rec.run', 0)).image!;
    // run's frame size, from its prologue (`addi sp, sp, -frame`).
    const f = image.code;
    let frame = 0;
    for (let offset = 0; offset < f.length && frame === 0; ) {
      const d = decodeInstruction(f, offset);
      if (!d.ok) break;
      const i = d.instruction;
      if (
        (i.mnemonic === 'addi' || i.mnemonic === 'c.addi16sp' || i.mnemonic === 'c.addi') &&
        i.rd === 2 &&
        (i.imm ?? 0) < 0
      )
        frame = -(i.imm ?? 0);
      offset += d.size;
    }
    expect(frame).toBeGreaterThan(0);
    const deepest = STACK_BYTES / frame - 1; // run(n) has n + 1 activations
    expect(runBoth(source, 'Rec.run', deepest)).toMatchObject({ ok: true, value: BigInt(deepest) });
    expect(runBoth(source, 'Rec.run', deepest + 1)).toMatchObject({
      ok: false,
      kind: 'trap',
      reason: 'ACCESS_FAULT',
    });
  });
});

describe('limits: methods and arrays', () => {
  it('a call passes at most 8 words of arguments (a long counts two)', () => {
    const ints = (n: number) => Array.from({ length: n }, (_, i) => `int p${i}`).join(', ');
    const sum = (n: number) => Array.from({ length: n }, (_, i) => `p${i}`).join(' + ');
    const args = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}`).join(', ');
    const at = `class M { static int f(${ints(8)}) { return ${sum(8)}; } static int run(int x) { return f(${args(8)}) + x; } }`;
    expect(runBoth(at, 'M.run', 100)).toMatchObject({ ok: true, value: 136n });
    const over = `class M { static int f(${ints(9)}) { return ${sum(9)}; } static int run(int x) { return f(${args(9)}) + x; } }`;
    expect(codes(compile(over, call('M.run', 0)))).toContain('CHECK_LIMIT');
    const longs = `class M { static long f(long a, long b, long c, long d) { return a + b + c + d; } static long run(int x) { return f(1, 2, 3, x); } }`;
    expect(runBoth(longs, 'M.run', 4)).toMatchObject({ ok: true, value: 10n });
    const longsOver = longs.replace('long d)', 'long d, int e)').replace('f(1, 2, 3, x)', 'f(1, 2, 3, x, 5)');
    expect(codes(compile(longsOver, call('M.run', 0)))).toContain('CHECK_LIMIT');
  });

  it('an array size is a constant, not negative', () => {
    expect(
      codes(
        compile(
          'class A { static int run(int n) { int[] a = new int[0]; return a.length; } }',
          call('A.run', 0),
        ),
      ),
    ).toEqual([]);
    expect(
      codes(
        compile(
          'class A { static int run(int n) { int[] a = new int[-1]; return a.length; } }',
          call('A.run', 0),
        ),
      ),
    ).toEqual(['CHECK_LIMIT']);
    expect(
      codes(
        compile(
          'class A { static int run(int n) { int[] a = new int[n]; return a.length; } }',
          call('A.run', 0),
        ),
      ),
    ).toEqual(['CHECK_CONSTANT_REQUIRED']);
  });
});
