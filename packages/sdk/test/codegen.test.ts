/**
 * Code generation where the JVM cannot be the oracle: entries on the sandbox machine across
 * packets (arrays relying on the zeroed STACK), what is lowered in place of calls, locals without
 * an initializer.
 */
import { describe, expect, it } from 'vitest';
import { compile, compileProgram } from '../src/compile';
import { runMethod } from '../src/run';
import { simulate } from '../src/simulator';

const dropReasons = (source: string, packets: number) => {
  const r = compile(source);
  expect(r.diagnostics).toEqual([]);
  const fixture = { packets: Array.from({ length: packets }, (_, i) => ({ packet: { hopLimit: i + 3 } })) };
  const results = (['interpreter', 'fast'] as const).map((tier) =>
    simulate(r.image!, fixture, { entry: 'e', tier }).map((o) => [o.verdict, o.dropReason, o.trap]),
  );
  expect(results[1]).toEqual(results[0]);
  return results[0]!;
};

describe('code generation', () => {
  it("an entry's array is all zero on every packet, though the packet before wrote it", () => {
    // Not zeroed by the code (the sandbox zeroes STACK before each execution): each packet sees zeros.
    const source = `class A { @Entry static void e(Packet p, Action a) {
      int[] t = new int[16]; int s = 0;
      for (int x : t) s += x;
      t[p.hopLimit() & 15] = 99; t[0] = 7;
      a.drop(0x100 + s);
    } }`;
    expect(dropReasons(source, 3)).toEqual([
      ['DROP', 0x100, 'NONE'],
      ['DROP', 0x100, 'NONE'],
      ['DROP', 0x100, 'NONE'],
    ]);
  });

  it('an array made in a loop is zeroed on every iteration', () => {
    const source = `class A { @Entry static void e(Packet p, Action a) {
      int s = 0;
      for (int k = 0; k < 3; k++) { int[] t = new int[12]; for (int x : t) s += x; t[k] = 9; t[11] = 5; }
      a.drop(0x100 + s);
    } }`;
    expect(dropReasons(source, 2)).toEqual([
      ['DROP', 0x100, 'NONE'],
      ['DROP', 0x100, 'NONE'],
    ]);
  });

  it("with static initializers (which ran in the entry's stack) an entry's arrays are zeroed", () => {
    const source = `class A {
      static int seed = fill();
      static int fill() { int[] junk = new int[24]; for (int i = 0; i < 24; i++) junk[i] = i + 1; return junk[23]; }
      @Entry static void e(Packet p, Action a) { int[] t = new int[24]; int s = 0; for (int x : t) s += x; a.drop(0x100 + s + seed - 24); }
    }`;
    expect(dropReasons(source, 2)).toEqual([
      ['DROP', 0x100, 'NONE'],
      ['DROP', 0x100, 'NONE'],
    ]);
  });

  it('a local without an initializer starts at zero', () => {
    const source =
      'class A { static int run(int a) { int x; long y; if (a > 0) { x = 5; y = 7; } return x + (int) y; } }';
    expect(runMethod(source, 'A.run', [1n])).toMatchObject({ ok: true, value: 12n });
    expect(runMethod(source, 'A.run', [-1n])).toMatchObject({ ok: true, value: 0n });
  });

  it('lowers in place a method called once and a small one, not a recursive one', () => {
    const source = `class A {
      static int once(int x) { int s = 0; for (int i = 0; i < x; i++) { s += i * x; if (s > 1000) break; s ^= x; } return s; }
      static int small(int x) { return x * 3 + 1; }
      static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
      static int run(int a) { return once(a) + small(a) + small(a + 1) + fib(a & 7); }
    }`;
    const { lowered, result } = compileProgram(source, { call: { method: 'A.run', args: [5n] } });
    expect(result.diagnostics).toEqual([]);
    expect(lowered!.functions.map((f) => f.name).filter((n) => n.startsWith('A.'))).toEqual([
      'A.run(int)',
      'A.fib(int)',
    ]);
    expect(runMethod(source, 'A.run', [5n])).toMatchObject({ ok: true, value: 71n + 16n + 19n + 5n });
  });

  it('checks no bounds inside a counted loop whose condition bounds the index, and keeps the others', () => {
    const checks = (body: string) => {
      const { emitted, result } = compileProgram(`class A { static int run(int[] p, int n) { ${body} } }`);
      expect(result.diagnostics).toEqual([]);
      return emitted!.listing.filter((l) => l.inst.mnemonic === 'bgeu' || l.inst.mnemonic === 'bltu').length;
    };
    expect(checks('int s = 0; for (int i = 0; i < p.length; i++) s += p[i]; return s;')).toBe(0);
    expect(
      checks('int[] t = new int[8]; int s = 0; for (int i = 2; i < 8 && i < n; i++) s += t[i]; return s;'),
    ).toBe(0);
    // The counter written in the body, a bound past the length, an index that is not the counter.
    expect(checks('int s = 0; for (int i = 0; i < p.length; i++) { s += p[i]; i += s & 1; } return s;')).toBe(
      1,
    );
    expect(checks('int[] t = new int[8]; int s = 0; for (int i = 0; i < 9; i++) s += t[i]; return s;')).toBe(
      1,
    );
    expect(checks('int s = 0; for (int i = 0; i < p.length; i++) s += p[i + 1]; return s;')).toBe(1);
  });

  it('keeps small methods as calls when lowering them in place would not fit the target', () => {
    const program = (calls: number) => `class A {
      static int mix(int x, int y) { return (x * 31 + y) ^ (x >>> 7) ^ (y << 3) ^ Integer.bitCount(x) ^ Integer.numberOfLeadingZeros(y); }
      @Entry static void e(Packet p, Action a) { int h = p.hopLimit(); int f = p.flowLabel();
        ${Array.from({ length: calls }, (_, i) => `h = mix(h, f + ${i});`).join(' ')}
        a.forward(h); } }`;
    const names = (calls: number) => {
      const { result, lowered } = compileProgram(program(calls));
      expect(result.diagnostics).toEqual([]);
      return lowered!.functions.map((f) => f.name);
    };
    expect(names(2)).toEqual(['A.e(Packet,Action)']);
    // Ten copies would be over 1 KiB: mix stays a method, and the program fits.
    expect(names(10)).toEqual(['A.e(Packet,Action)', 'A.mix(int,int)']);
  });
});
