/**
 * The checker's flow rules (JLS 14.22): which statements can complete normally, which are
 * unreachable, which methods can end without a return. One directed case per construct; the
 * property test against javac is packages/sdk/test/reachability.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { checkSource } from './compile';

/** `line:column CODE` of every diagnostic of a class body. */
const codes = (body: string) =>
  checkSource(`class A {\n${body}\n}`).diagnostics.items.map(
    (d) => `${d.span.start.line - 1}:${d.span.start.column} ${d.code}`,
  );

describe('reachability: labeled blocks', () => {
  it('a labeled block that can complete leaves no stale break target behind', () => {
    // The program: after `blk: { … }` every later break used to mark the wrong statement.
    expect(
      codes(
        [
          'static int f(int a) { int r = 0; blk: { if (a == 0) break blk; r = 5; } for (;;) { if (r > 3) break; r++; } return r; }',
          'static int g(int a) { while (true) { if (a > 3) break; a++; } return a; }',
          'static int h(int a) { switch (a) { case 1: return 1; default: break; } return 0; }',
        ].join('\n'),
      ),
    ).toEqual([]);
  });

  it('a labeled block completes through its break even when its body cannot', () => {
    expect(codes('static int f(int a) { blk: { if (a > 0) break blk; return 1; } return 2; }')).toEqual([]);
    expect(codes('static int f(int a) { blk: { return 1; } return 2; }')).toEqual(['1:42 CHECK_UNREACHABLE']);
    expect(codes('static int f(int a) { a: b: { if (a > 0) break a; return 1; } return 2; }')).toEqual([]);
  });

  it('a break to an outer label does not make the inner statement complete', () => {
    expect(
      codes('static int f(int a) { out: { while (true) { if (a > 0) break out; } } return 1; }'),
    ).toEqual([]);
    expect(
      codes('static int f(int a) { out: { while (true) { if (a > 0) break out; } a++; } return 1; }'),
    ).toEqual(['1:69 CHECK_UNREACHABLE']);
  });
});

describe('reachability: loops', () => {
  it('while (true) and for (;;) complete only through a break', () => {
    expect(codes('static int f(int a) { while (true) { a++; } }')).toEqual([]);
    expect(codes('static int f(int a) { for (;;) { a++; } }')).toEqual([]);
    expect(codes('static int f(int a) { for (;;) { if (a > 9) break; a++; } }')).toEqual([
      '1:1 CHECK_MISSING_RETURN',
    ]);
    expect(codes('static int f(int a) { while (true) { a++; } return a; }')).toEqual([
      '1:45 CHECK_UNREACHABLE',
    ]);
  });

  it('a loop body behind a constant false condition is unreachable', () => {
    expect(codes('static int f(int a) { while (false) { a++; } return a; }')).toEqual([
      '1:37 CHECK_UNREACHABLE',
    ]);
    expect(codes('static int f(int a) { for (; 1 > 2;) a++; return a; }')).toEqual([
      '1:38 CHECK_UNREACHABLE',
    ]);
    expect(codes('static int f(int a) { do { a++; } while (false); return a; }')).toEqual([]);
  });

  it('labeled loops: break and continue to an outer loop', () => {
    expect(
      codes(
        'static int f(int a) { outer: for (;;) { for (;;) { if (a > 5) break outer; a++; continue outer; } } return a; }',
      ),
    ).toEqual([]);
    expect(
      codes('static int f(int a) { outer: while (true) { while (true) { break outer; } } return a; }'),
    ).toEqual([]);
    expect(
      codes('static int f(int a) { outer: while (true) { inner: while (true) { break inner; } } return a; }'),
    ).toEqual(['1:84 CHECK_UNREACHABLE']);
    expect(codes('static void f(int a) { blk: { while (true) { continue blk; } } }')).toEqual([
      '1:46 CHECK_BAD_BREAK',
    ]);
  });

  it('do-while completes when its body (or a continue) can and the condition is not true', () => {
    expect(codes('static int f(int a) { do { return 1; } while (a > 0); }')).toEqual([]);
    expect(codes('static int f(int a) { do { if (a > 0) continue; return 1; } while (a > 0); }')).toEqual([
      '1:1 CHECK_MISSING_RETURN',
    ]);
    expect(codes('static int f(int a) { do { a++; } while (true); }')).toEqual([]);
    expect(codes('static int f(int a) { do { if (a > 0) break; } while (true); }')).toEqual([
      '1:1 CHECK_MISSING_RETURN',
    ]);
  });
});

describe('reachability: switch', () => {
  it('a switch whose last group cannot fall out and which has a default cannot complete', () => {
    expect(codes('static int f(int a) { switch (a) { case 1: return 1; default: return 2; } }')).toEqual([]);
    expect(
      codes('static int f(int a) { switch (a) { case 1: return 1; default: return 2; } return 3; }'),
    ).toEqual(['1:75 CHECK_UNREACHABLE']);
  });

  it('a switch completes without a default, through a break, or with labels after the last group', () => {
    expect(codes('static int f(int a) { switch (a) { case 1: return 1; } }')).toEqual([
      '1:1 CHECK_MISSING_RETURN',
    ]);
    expect(codes('static int f(int a) { switch (a) { case 1: return 1; default: break; } }')).toEqual([
      '1:1 CHECK_MISSING_RETURN',
    ]);
    expect(codes('static int f(int a) { switch (a) { default: return 1; case 2: } }')).toEqual([
      '1:1 CHECK_MISSING_RETURN',
    ]);
    expect(codes('static int f(int a) { switch (a) { } return 0; }')).toEqual([]);
  });

  it('a break inside a loop inside a switch exits the loop, not the switch', () => {
    expect(
      codes('static int f(int a) { switch (a) { default: while (true) { break; } return 1; } }'),
    ).toEqual([]);
    expect(
      codes('static int f(int a) { switch (a) { default: while (true) { if (a > 0) return 2; } } }'),
    ).toEqual([]);
  });

  it('a statement after break or return in a group is unreachable', () => {
    expect(codes('static int f(int a) { switch (a) { case 1: break; a++; } return a; }')).toEqual([
      '1:51 CHECK_UNREACHABLE',
    ]);
  });
});

describe('checker: static initializers, enhanced for, switch on long, java.lang', () => {
  it('a static initializer must complete and has no return', () => {
    expect(
      codes('static int[] t = new int[4];\nstatic { for (int i = 0; i < 4; i++) t[i] = i * i; }'),
    ).toEqual([]);
    expect(codes('static { while (true) { } }')).toEqual(['1:1 CHECK_UNREACHABLE']);
    expect(codes('static { return; }')).toEqual(['1:10 CHECK_BAD_BREAK']);
    expect(codes('{ }')).toEqual(['1:1 PARSE_UNSUPPORTED']);
  });

  it('a static array field takes only another static array (a frame array would dangle)', () => {
    expect(codes('static int[] t;\nstatic { t = new int[4]; }')).toEqual(['2:10 PARSE_UNSUPPORTED']);
    expect(codes('static int[] t; static int[] u = {1};\nstatic void f(int[] a) { t = u; t = a; }')).toEqual([
      '2:33 PARSE_UNSUPPORTED',
    ]);
  });

  it('enhanced for: an array, an element assignable to the variable', () => {
    expect(
      codes(
        'static int f(byte[] b) { int s = 0; for (int x : b) s += x; for (final long y : new int[] {1}) s += (int) y; return s; }',
      ),
    ).toEqual([]);
    expect(codes('static int f(int[] a) { int s = 0; for (byte x : a) s += x; return s; }')).toEqual([
      '1:41 CHECK_TYPE_MISMATCH',
    ]);
    expect(codes('static int f(int a) { for (int x : a) a++; return a; }')).toEqual([
      '1:36 CHECK_TYPE_MISMATCH',
    ]);
    expect(codes('static int f(int[] a) { for (int x : a) { int x = 1; } return 0; }')).toEqual([
      '1:47 CHECK_DUPLICATE',
    ]);
    // It always completes; its body is reachable.
    expect(codes('static int f(int[] a) { for (int x : a) return x; }')).toEqual([
      '1:1 CHECK_MISSING_RETURN',
    ]);
    expect(
      codes('static int f(int[] a) { l: for (int x : a) { for (int y : a) continue l; } return 0; }'),
    ).toEqual([]);
  });

  it('switch on long takes long constants, unique', () => {
    expect(
      codes(
        'static int f(long v) { switch (v) { case 1L: return 1; case 0x100000000L: return 2; } return 0; }',
      ),
    ).toEqual([]);
    expect(codes('static int f(long v) { switch (v) { case 1: return 1; } return 0; }')).toEqual([
      '1:42 CHECK_TYPE_MISMATCH',
    ]);
    expect(codes('static int f(long v) { switch (v) { case 1L: case 1L: return 1; } return 0; }')).toEqual([
      '1:51 CHECK_DUPLICATE_CASE',
    ]);
    expect(codes('static int f(int v) { switch (v) { case 1L: return 1; } return 0; }')).toEqual([
      '1:41 CHECK_TYPE_MISMATCH',
    ]);
  });

  it('java.lang methods resolve their overloads as Java does', () => {
    expect(
      codes(
        'static long f(int a, long b, byte c) { return Math.min(a, b) + Math.abs(c) + Integer.bitCount(c) + Long.compareUnsigned(a, b); }',
      ),
    ).toEqual([]);
    expect(codes('static int f(long a) { return Integer.bitCount(a); }')).toEqual(['1:31 CHECK_BAD_CALL']);
    expect(codes('static int f(int a) { return Math.min(a, a, a); }')).toEqual(['1:30 CHECK_BAD_CALL']);
    expect(codes('static int f(int a) { return Integer.highestOneBit(a); }')).toEqual([
      '1:30 CHECK_UNKNOWN_NAME',
    ]);
    expect(codes('static int f(int a) { return Math.abs(a) > 0 ? Math.min(a, 1) : 0; }')).toEqual([]);
  });
});
