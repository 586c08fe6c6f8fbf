/**
 * A fast-check generator of random microprograms for the differential tests: int and long
 * expressions over locals of every integral type (so narrowing and promotion are exercised),
 * array reads and writes, compound assignments, if/else, bounded for/while/do loops left early
 * and continued (labels too), switch with fall-through, calls (in place, and recursive ones), the
 * java.lang intrinsics, division (whose zero divisors trap here and throw on the JVM: both print
 * EXC).
 */
import fc from 'fast-check';

const intOps = ['+', '-', '*', '/', '%', '&', '|', '^', '<<', '>>', '>>>'];
const cmpOps = ['<', '<=', '>', '>=', '==', '!='];
const intVars = ['x0', 'x1', 'x2', 'b0', 's0', 'c0', 'a'];
const longVars = ['y0', 'y1', 'c'];
const narrowVars: [string, string][] = [
  ['b0', 'byte'],
  ['s0', 'short'],
  ['c0', 'char'],
];

const intLiteral = fc.oneof(
  fc.integer({ min: -20, max: 20 }).map((n) => `(${n})`),
  fc.integer().map((n) => (n === -2147483648 ? '(-2147483648)' : `(${n})`)),
  fc.constantFrom('Integer.MIN_VALUE', 'Integer.MAX_VALUE', '31', '32', '-1'),
);
const longLiteral = fc.oneof(
  fc.integer({ min: -20, max: 20 }).map((n) => `(${n}L)`),
  fc
    .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
    .map((n) => (n === -(2n ** 63n) ? 'Long.MIN_VALUE' : `(${n}L)`)),
  fc.constantFrom('Long.MIN_VALUE', 'Long.MAX_VALUE'),
);

interface Exprs {
  int: string;
  long: string;
  bool: string;
}

const exprs = fc.letrec<Exprs>((tie) => ({
  int: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    intLiteral,
    fc.constantFrom(...intVars),
    fc.tuple(tie('int'), fc.constantFrom(...intOps), tie('int')).map(([l, op, r]) => `(${l} ${op} ${r})`),
    fc.tuple(fc.constantFrom('-', '~', '+'), tie('int')).map(([op, e]) => `(${op} ${e})`),
    tie('long').map((e) => `((int) ${e})`),
    fc.tuple(fc.constantFrom('byte', 'short', 'char'), tie('int')).map(([t, e]) => `((${t}) ${e})`),
    // Calls: h is small (lowered in place), rec recursive (a real call: registers across it).
    fc.tuple(tie('int'), tie('int')).map(([a, b]) => `h(${a}, ${b})`),
    fc.tuple(tie('int'), tie('int')).map(([n, v]) => `rec((${n}) & 3, ${v})`),
    fc.tuple(tie('bool'), tie('int'), tie('int')).map(([c, a, b]) => `(${c} ? ${a} : ${b})`),
    tie('int').map((e) => `arr[(${e}) & 7]`),
    tie('int').map((e) => `bytes[(${e}) & 3]`),
    fc
      .tuple(
        fc.constantFrom(
          'Integer.bitCount',
          'Integer.numberOfLeadingZeros',
          'Integer.numberOfTrailingZeros',
          'Integer.reverse',
          'Integer.reverseBytes',
          'Math.abs',
        ),
        tie('int'),
      )
      .map(([f, e]) => `${f}(${e})`),
    fc
      .tuple(
        fc.constantFrom(
          'Integer.rotateLeft',
          'Integer.rotateRight',
          'Integer.compareUnsigned',
          'Math.min',
          'Math.max',
        ),
        tie('int'),
        tie('int'),
      )
      .map(([f, a, b]) => `${f}(${a}, ${b})`),
    fc.tuple(tie('long'), tie('long')).map(([a, b]) => `Long.compareUnsigned(${a}, ${b})`),
  ),
  long: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    longLiteral,
    fc.constantFrom(...longVars),
    tie('int').map((e) => `((long) ${e})`),
    fc.tuple(tie('long'), fc.constantFrom(...intOps), tie('long')).map(([l, op, r]) => `(${l} ${op} ${r})`),
    fc
      .tuple(tie('long'), fc.constantFrom('<<', '>>', '>>>'), tie('int'))
      .map(([l, op, r]) => `(${l} ${op} ${r})`),
    fc
      .tuple(tie('long'), fc.constantFrom('+', '*', '-'), tie('int'))
      .map(([l, op, r]) => `(${l} ${op} ${r})`),
    fc.tuple(fc.constantFrom('-', '~'), tie('long')).map(([op, e]) => `(${op} ${e})`),
    fc.tuple(tie('long'), tie('int')).map(([a, b]) => `lh(${a}, ${b})`),
    tie('int').map((e) => `Integer.toUnsignedLong(${e})`),
    tie('long').map((e) => `Math.abs(${e})`),
    fc
      .tuple(fc.constantFrom('Math.min', 'Math.max'), tie('long'), tie('long'))
      .map(([f, a, b]) => `${f}(${a}, ${b})`),
  ),
  bool: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(tie('int'), fc.constantFrom(...cmpOps), tie('int')).map(([l, op, r]) => `(${l} ${op} ${r})`),
    fc.tuple(tie('long'), fc.constantFrom(...cmpOps), tie('long')).map(([l, op, r]) => `(${l} ${op} ${r})`),
    fc
      .tuple(tie('bool'), fc.constantFrom('&&', '||', '&', '|', '^', '==', '!='), tie('bool'))
      .map(([l, op, r]) => `(${l} ${op} ${r})`),
    tie('bool').map((e) => `(!${e})`),
  ),
}));

const compoundOps = ['+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<=', '>>=', '>>>='];

const statement: fc.Arbitrary<string> = fc.letrec<{ stmt: string }>((tie) => ({
  stmt: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.constantFrom('x0', 'x1', 'x2'), exprs.int).map(([v, e]) => `${v} = ${e};`),
    fc.tuple(fc.constantFrom('y0', 'y1'), exprs.long).map(([v, e]) => `${v} = ${e};`),
    fc.tuple(fc.constantFrom(...narrowVars), exprs.int).map(([[v, t], e]) => `${v} = (${t}) ${e};`),
    fc
      .tuple(fc.constantFrom('x0', 'x1', 'b0', 's0', 'c0'), fc.constantFrom(...compoundOps), exprs.int)
      .map(([v, op, e]) => `${v} ${op} ${e};`),
    fc
      .tuple(
        fc.constantFrom('y0', 'y1', 'x2'),
        fc.constantFrom('+=', '-=', '*=', '^=', '<<=', '>>>='),
        exprs.long,
      )
      .map(([v, op, e]) => `${v} ${op} ${e};`),
    fc.tuple(exprs.int, exprs.int).map(([i, e]) => `arr[(${i}) & 7] = ${e};`),
    fc.tuple(exprs.int, fc.constantFrom('+=', '^=', '*=')).map(([i, op]) => `bytes[(${i}) & 3] ${op} x0;`),
    fc.constantFrom('x0++;', '--x1;', 'b0++;', 'c0--;', 'y0++;', 's0--;', 'arr[x2 & 7]++;'),
    fc.tuple(exprs.bool, tie('stmt'), tie('stmt')).map(([c, a, b]) => `if (${c}) { ${a} } else { ${b} }`),
    fc
      .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 999_999 }), tie('stmt'))
      .map(([n, k, s]) => `for (int i${k} = 0; i${k} < ${n}; i${k}++) { x2 += i${k}; ${s} }`),
    // Loops left early and continued, do-while, switch with fall-through.
    fc
      .tuple(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 999_999 }),
        exprs.bool,
        exprs.bool,
        tie('stmt'),
      )
      .map(
        ([n, k, b, c, s]) =>
          `int w${k}c = 0; w${k}: while (true) { if (++w${k}c > ${n}) break; x1++; if (${b}) continue; for (int j${k} = 0; j${k} < 3; j${k}++) { if (${c}) continue w${k}; x0 ^= j${k}; } ${s} }`,
      ),
    fc
      .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 999_999 }), tie('stmt'))
      .map(([n, k, s]) => `int d${k} = 0; do { ${s} x2 += 3; } while (++d${k} < ${n});`),
    fc
      .tuple(exprs.int, tie('stmt'), tie('stmt'), tie('stmt'))
      .map(
        ([e, a, b, c]) =>
          `switch ((${e}) & 3) { case 0: ${a} break; case 1: ${b} case 2: x0 += 2; break; default: ${c} }`,
      ),
  ),
})).stmt;

/** A random class `name` with `static long run(int a, long c)`. */
export function randomProgram(name: string): fc.Arbitrary<string> {
  return fc.array(statement, { minLength: 2, maxLength: 6 }).map(
    (stmts) => `class ${name} {
  static int h(int p, int q) { return p * 3 ^ q; }
  static int rec(int n, int v) { return n <= 0 ? v : rec(n - 1, v * 31 + n); }
  static long lh(long a, int b) { return (a << 3) - b; }
  static long run(int a, long c) {
    int x0 = a, x1 = 7, x2 = -3;
    long y0 = c, y1 = 1L;
    byte b0 = (byte) a;
    short s0 = (short) (a >> 3);
    char c0 = (char) (a * 3);
    int[] arr = new int[8];
    byte[] bytes = {1, -1, 127, -128};
    ${stmts.join('\n    ')}
    long h = y0 * 31 + y1;
    h = h * 31 + x0; h = h * 31 + x1; h = h * 31 + x2; h = h * 31 + b0; h = h * 31 + s0; h = h * 31 + c0;
    for (int k = 0; k < 8; k++) h = h * 31 + arr[k];
    for (int k = 0; k < 4; k++) h = h * 31 + bytes[k];
    return h;
  }
}
`,
  );
}
