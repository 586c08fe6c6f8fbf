/**
 * Hand-written differential cases: each is a class body with a static `run` method and the
 * argument lists to call it with. Together they cover every construct of the language.
 */
export interface HandCase {
  readonly name: string;
  readonly body: string;
  /** Java parameter types of run, e.g. ['int', 'long']. */
  readonly params: readonly ('int' | 'long')[];
  readonly calls: readonly (readonly bigint[])[];
  /**
   * What the JVM runs instead of `body`, for constructs Java 17 lacks (switch on long, a preview
   * of later JDKs): the same computation written in Java 17.
   */
  readonly jvmBody?: string;
}

const I = (...xs: number[]) => xs.map(BigInt);
const edge = [
  I(0, 0),
  I(1, -1),
  I(-7, 3),
  I(2147483647, 1),
  I(-2147483648, -1),
  I(-2147483648, 2),
  I(123456, -789),
  I(13, 0),
];

/** Int edge values for the bit intrinsics: zero, ±1, the extremes, single bits, patterns. */
const bits = [
  0,
  1,
  -1,
  2147483647,
  -2147483648,
  0x80000001,
  0x00010000,
  0x12345678,
  -0x12345678,
  0xf0f0f0f0,
  0x00ff0000,
  1 << 30,
  3,
  255,
];
const bitCalls = bits.flatMap((a, i) => [
  [BigInt(a | 0), BigInt(bits[(i + 3) % bits.length]! | 0)],
  [BigInt(a | 0), BigInt([0, 31, 32, 33, -1, -31, 1, 16][i % 8]!)],
]);
/** Long edge values for the unsigned and Math intrinsics. */
const longs = [
  0n,
  1n,
  -1n,
  9223372036854775807n,
  -9223372036854775808n,
  4294967295n,
  4294967296n,
  -4294967296n,
  2147483648n,
  0x123456789abcdef0n,
  -0x123456789abcdef0n,
  7n,
  -7n,
];
const longCalls = longs.flatMap((a, i) => [
  [a, longs[(i + 1) % longs.length]!],
  [a, longs[(i + 5) % longs.length]!],
  [a, a],
]);

// Static fields are per execution on our VM and per JVM on the JVM: cases with statics are called once.
export const handCases: HandCase[] = [
  {
    name: 'add',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return a + b; }',
  },
  {
    name: 'sub',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return a - b; }',
  },
  {
    name: 'mul',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return a * b; }',
  },
  {
    name: 'div',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return a / b; }',
  },
  {
    name: 'rem',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return a % b; }',
  },
  {
    name: 'divconst',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return a / -3 + a % 5 + (a / 1) - b / 7; }',
  },
  {
    name: 'bits',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return (a & b) ^ (a | 0x0F0F) ^ ~b; }',
  },
  {
    name: 'shifts',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return (a << b) ^ (a >> b) ^ (a >>> b) ^ (a << 33) ^ (a >>> -1); }',
  },
  {
    name: 'compare',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int r = 0; if (a < b) r |= 1; if (a <= b) r |= 2; if (a > b) r |= 4; if (a >= b) r |= 8; if (a == b) r |= 16; if (a != b) r |= 32; return r; }',
  },
  {
    name: 'boolval',
    params: ['int', 'int'],
    calls: edge,
    body: 'static boolean run(int a, int b) { boolean p = a < b; boolean q = a == 0 || b / a > 1; return p ^ q | (p & !q); }',
  },
  {
    name: 'shortcircuit',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int n = 0; if (b != 0 && a / b > 2) n++; if (b == 0 || a % b == 0) n += 10; boolean t = (a > 0) && (b > 0) || (a < 0); return t ? n : -n; }',
  },
  {
    name: 'ternary',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return a > b ? a - b : (b > 0 ? b : a == 0 ? 42 : -1); }',
  },
  {
    name: 'narrow',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { byte x = (byte) a; short s = (short) b; char c = (char) a; return x + s * 3 + c; }',
  },
  {
    name: 'compoundnarrow',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { byte x = 100; x += a; short s = 30000; s *= b; char c = 65535; c += 2; x >>= 1; s ^= a; c -= b; return x * 1000003 + s * 31 + c; }',
  },
  {
    name: 'incdec',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int x = a; int y = x++ + ++x; byte z = 127; z++; char c = 0; c--; short s = -32768; s--; return y * 7 + x-- - --b + z + c + s; }',
  },
  {
    name: 'promotion',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { byte x = (byte) a; char c = (char) b; return (x >>> 4) + (c >> 2) + (x * c) + (byte) (x << 3) + -c + ~x; }',
  },
  {
    name: 'charlit',
    params: ['int', 'int'],
    calls: edge,
    body: "static int run(int a, int b) { char c = 'A'; c += a & 7; char d = '\\n'; return c * 100 + d + '\\u0041' + '\\\\'; }",
  },
  {
    name: 'minmax',
    params: ['int', 'int'],
    calls: edge,
    body: 'static long run(int a, int b) { return (long) Integer.MIN_VALUE - Integer.MAX_VALUE + a + (Long.MAX_VALUE / 3) + (Long.MIN_VALUE >> 60) + Short.MAX_VALUE + Byte.MIN_VALUE + Character.MAX_VALUE; }',
  },
  {
    name: 'minovf',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int m = Integer.MIN_VALUE; return m / -1 + m % -1 + (m * -1) + Math0(a); } static int Math0(int x) { return -x; }',
  },
  {
    name: 'while',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int n = 0; int x = a & 1023; while (x > 0) { n += x; x -= 3; } return n; }',
  },
  {
    name: 'do',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int n = 0; int i = 0; do { n = n * 31 + i; i++; } while (i < (b & 15)); return n; }',
  },
  {
    name: 'for',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int s = 0; for (int i = 0, j = 10; i < j; i++, j--) s += i * j ^ a; for (;;) { s++; if (s > 5 || s < -5) break; } return s; }',
  },
  {
    name: 'labeled',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int n = 0; outer: for (int i = 0; i < 10; i++) { for (int j = 0; j < 10; j++) { if (j == (a & 7)) continue outer; if (i * j > (b & 63)) break outer; n += i + j; } } blk: { if (a > 0) break blk; n = -n; } return n; }',
  },
  {
    name: 'switch',
    params: ['int', 'int'],
    calls: edge.concat([I(2, 0), I(3, 0), I(5, 0), I(100, 0), I(-1, 0)]),
    body: 'static int run(int a, int b) { int r = 0; switch (a) { case 0: r = 10; case 1: r += 1; break; case 2: case 3: r = 23; break; case 100: return 7; case -1: r = -1; default: r += 1000; } return r; }',
  },
  {
    name: 'switchchar',
    params: ['int', 'int'],
    calls: [I(65, 0), I(66, 0), I(0, 0), I(67, 1)],
    body: "static int run(int a, int b) { char c = (char) a; switch (c) { case 'A': return 1; case 'B': return 2; default: switch (b) { case 1: return 3; } } return 0; }",
  },
  {
    name: 'array',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int[] x = new int[10]; for (int i = 0; i < x.length; i++) x[i] = i * a; x[3] += b; x[4]++; --x[5]; int s = 0; for (int i = 0; i < 10; i++) s = s * 31 + x[i]; return s; }',
  },
  {
    name: 'arrayinit',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { byte[] x = {1, -2, 127, (byte) 200}; short[] s = new short[] {-1, 32767}; char[] c = {65, 66}; boolean[] f = {true, false}; x[0] += a; s[1] += b; c[0] -= 1; return x[0] + x[1] + x[2] + x[3] + s[0] + s[1] + c[0] + c[1] + (f[0] ? 1 : 0) + x.length; }',
  },
  {
    name: 'arraybounds',
    params: ['int', 'int'],
    calls: [I(0, 0), I(3, 0), I(4, 0), I(-1, 0)],
    body: 'static int run(int a, int b) { int[] x = new int[4]; x[a] = 5; return x[a & 3]; }',
  },
  {
    name: 'arraypass',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int sum(int[] v) { int s = 0; for (int i = 0; i < v.length; i++) s += v[i]; return s; } static void fill(int[] v, int k) { for (int i = 0; i < v.length; i++) v[i] = k + i; } static int run(int a, int b) { int[] v = new int[5]; fill(v, a); int[] w = v; w[0] = b; return sum(v) + sum(w); }',
  },
  {
    name: 'longarray',
    params: ['int', 'int'],
    calls: edge,
    body: 'static long run(int a, int b) { long[] v = new long[4]; v[0] = a; v[1] = (long) a * b; v[2] = v[1] << 20; v[3] = v[2] - v[0]; v[(a & 3)] += 1L << 40; return v[0] ^ v[1] ^ v[2] ^ v[3]; }',
  },
  {
    name: 'statics',
    params: ['int', 'int'],
    calls: [I(7, -3)],
    body: 'static int counter = 5; static final int K = 7; static long total; static byte small = -3; static int[] table = new int[3]; static void bump(int x) { counter += x; total += counter; small++; table[x & 1] += x; } static long run(int a, int b) { bump(a); bump(b); bump(K); return counter + total + small + table[0] * 3 + table[1]; }',
  },
  {
    name: 'recursion',
    params: ['int', 'int'],
    calls: [I(0, 0), I(1, 0), I(10, 0), I(15, 0)],
    body: 'static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); } static int run(int a, int b) { return fib(a); }',
  },
  {
    name: 'gcd',
    params: ['int', 'int'],
    calls: [I(12, 18), I(17, 5), I(0, 9), I(-12, 8)],
    body: 'static int gcd(int a, int b) { while (b != 0) { int t = a % b; a = b; b = t; } return a; } static int run(int a, int b) { return gcd(a, b); }',
  },
  {
    name: 'calls',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int f(int x, int y, int z, int w, int v, int u, int t, int s) { return x - y + z * w - v + u ^ t - s; } static int run(int a, int b) { return f(a, b, f(1, 2, 3, 4, 5, 6, 7, 8), a, b, a * 2, b * 2, f(a, a, a, a, b, b, b, b)); }',
  },
  {
    name: 'overload',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int g(int x) { return x * 2; } static long g(long x) { return x * 3; } static int g(int x, int y) { return x - y; } static long run(int a, int b) { return g(a) + g((long) b) + g(a, b); }',
  },
  {
    name: 'evalorder',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int x = a; int y = x + (x = b) * 2 + x; int[] v = new int[3]; int i = 0; v[i++] = i; v[i] = i++ + i; return y * 100 + v[0] * 10 + v[1] + v[2] + i; }',
  },
  {
    name: 'assignexpr',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int x; int y; x = y = a + b; byte c; int d = (c = (byte) a) + 1; return x + y + c + d; }',
  },
  {
    name: 'ladd',
    params: ['long', 'long'],
    calls: [I(0, 0), I(1, -1), I(4294967295, 1), I(-1, -1)].concat([
      [9223372036854775807n, 1n],
      [-9223372036854775808n, -1n],
      [123456789012345n, -987654321098n],
    ]),
    body: 'static long run(long a, long b) { return a + b; }',
  },
  {
    name: 'lsub',
    params: ['long', 'long'],
    calls: [I(0, 1), I(1, 2), [0n, 4294967296n], [-9223372036854775808n, 1n]],
    body: 'static long run(long a, long b) { return a - b; }',
  },
  {
    name: 'lmul',
    params: ['long', 'long'],
    calls: [I(3, 7), [4294967296n, 4294967296n], [-123456789012n, 987654321n], [9223372036854775807n, -2n]],
    body: 'static long run(long a, long b) { return a * b; }',
  },
  {
    name: 'ldiv',
    params: ['long', 'long'],
    calls: [
      I(7, 2),
      I(-7, 2),
      [9223372036854775807n, 3n],
      [-9223372036854775808n, -1n],
      [123456789012345n, -1000n],
      I(5, 0),
      [-9223372036854775808n, 7n],
    ],
    body: 'static long run(long a, long b) { return a / b; }',
  },
  {
    name: 'lrem',
    params: ['long', 'long'],
    calls: [
      I(7, 2),
      I(-7, 2),
      [9223372036854775807n, 3n],
      [-9223372036854775808n, -1n],
      [123456789012345n, -1000n],
      I(5, 0),
      [1n << 40n, (1n << 33n) + 5n],
    ],
    body: 'static long run(long a, long b) { return a % b; }',
  },
  {
    name: 'lshift',
    params: ['long', 'int'],
    calls: [
      I(1, 0),
      I(1, 31),
      I(1, 32),
      I(1, 63),
      I(-1, 64),
      [-9223372036854775808n, 1n],
      [0x123456789abcdefn, 12n],
      [-5n, 33n],
    ],
    body: 'static long run(long a, int n) { return (a << n) ^ (a >> n) ^ (a >>> n) ^ (a << 3) ^ (a >>> 35) ^ (a >> 63); }',
  },
  {
    name: 'lcompare',
    params: ['long', 'long'],
    calls: [
      I(0, 0),
      I(1, -1),
      [4294967296n, 4294967295n],
      [-4294967296n, 1n],
      [9223372036854775807n, -9223372036854775808n],
    ],
    body: 'static int run(long a, long b) { int r = 0; if (a < b) r |= 1; if (a <= b) r |= 2; if (a > b) r |= 4; if (a >= b) r |= 8; if (a == b) r |= 16; if (a != b) r |= 32; boolean x = a < b; return r + (x ? 64 : 0); }',
  },
  {
    name: 'lbits',
    params: ['long', 'long'],
    calls: [I(0, 0), [0x0f0f0f0f0f0f0f0fn, -1n], [-9223372036854775808n, 255n]],
    body: 'static long run(long a, long b) { return (a & b) | (~a ^ b) + -a; }',
  },
  {
    name: 'lcasts',
    params: ['long', 'int'],
    calls: [I(0, 0), [0x123456789n, -1n], [-9223372036854775808n, 2147483647n], [-1n, -2147483648n]],
    body: 'static long run(long a, int b) { int x = (int) a; byte y = (byte) a; char c = (char) a; short s = (short) (a >> 16); long w = b; long u = c; return x + y + c + s + w * 3 + u + (long) (int) (a >>> 32); }',
  },
  {
    name: 'lcompound',
    params: ['long', 'int'],
    calls: [I(5, 3), [-1n, 65n], [0x7fffffffffffn, -7n]],
    body: 'static long run(long a, int b) { long x = a; x += b; x *= 3; x <<= b; x >>>= 1; x ^= a; x -= 1; x++; x |= 4; x &= ~1L; int i = 10; i += x; i >>= 1; short s = 5; s += x; return x + i + s; }',
  },
  {
    name: 'lloop',
    params: ['long', 'int'],
    calls: [I(1, 5), [3n, 20n], [-2n, 40n]],
    body: 'static long run(long a, int n) { long f = 1; long s = 0; for (int i = 0; i < n; i++) { f = f * a + i; s += f >>> 3; } return f ^ s; }',
  },
  {
    name: 'lternary',
    params: ['long', 'long'],
    calls: [I(1, 2), I(5, -5)],
    body: 'static long run(long a, long b) { long m = a > b ? a : b; int k = a == b ? 1 : 0; return m * 10 + k + (a < 0 ? -a : a); }',
  },
  {
    name: 'lswitchcast',
    params: ['long', 'int'],
    calls: [I(1, 1), I(4294967298, 2), I(-3, 0)],
    body: 'static int run(long a, int b) { switch ((int) a) { case 1: return 10; case 2: return 20; default: return (int) (a * b); } }',
  },
  {
    name: 'nested',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return ((a + 1) * (b - 2) - (a ^ b) * ((a | 3) + (b & 5))) / (((a & 7) + 1) * ((b >>> 28) + 1)) + (((a << 2) - (b << 3)) * ((a >> 1) + (b >> 2)) + (a - b) * (a + b) * (a - 1) * (b + 1)); }',
  },
  {
    name: 'deepexpr',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { return a + (b + (a * (b + (a - (b * (a + (b - (a * (b + (a - (b * (a + (b + 1))))))))))))); }',
  },
  {
    name: 'callsinexpr',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int sq(int x) { return x * x; } static int run(int a, int b) { int[] v = {1, 2, 3}; return sq(a) + v[1] * sq(b) - (sq(a + 1) - sq(sq(b & 7))) * v[sq(1)]; }',
  },
  {
    name: 'localsmany',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int h(int x) { return x + 1; } static int run(int a, int b) { int c1 = a, c2 = b, c3 = a + b, c4 = a - b, c5 = a * b, c6 = a ^ b, c7 = a | b, c8 = a & b, c9 = c1 + c2, c10 = c3 + c4, c11 = c5 + c6, c12 = c7 + c8, c13 = c9 + c10, c14 = c11 + c12, c15 = h(c13) + c14; long l1 = c15, l2 = (long) c1 * c2; return c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11 + c12 + c13 + c14 + c15 + (int) (l1 ^ l2) + h(c1); }',
  },
  {
    name: 'boolops',
    params: ['int', 'int'],
    calls: edge,
    body: 'static boolean run(int a, int b) { boolean p = a > 0, q = b > 0; boolean r = p; r &= q; boolean s = p; s |= !q; boolean t = p; t ^= q; return (r == s) != t || (p & q) == (p | q); }',
  },
  {
    name: 'voidcall',
    params: ['int', 'int'],
    calls: [I(4, 9)],
    body: 'static int acc; static void add(int x) { if (x < 0) return; acc += x; } static int run(int a, int b) { add(a); add(b); add(3); return acc; }',
  },
  {
    name: 'finalconst',
    params: ['int', 'int'],
    calls: edge,
    body: 'static final int A = 3 * 7 - 1; static final long B = 1L << 40; static final byte C = (byte) 300; static final char D = (char) -1; static int run(int a, int b) { final int L = A + 2; switch (b & 31) { case A: return 1; case L: return 2; } return a + L + (int) (B >> 35) + C + D; }',
  },
  {
    name: 'unaryminus',
    params: ['int', 'int'],
    calls: edge,
    body: 'static long run(int a, int b) { int x = -2147483648; long y = -9223372036854775808L; return -a + -x + (-y >>> 1) + - -b + +a; }',
  },
  {
    name: 'hexoctbin',
    params: ['int', 'int'],
    calls: edge,
    body: 'static long run(int a, int b) { return 0xFFFFFFFF + 0x7fff_ffff + 017 + 0b1010 + 0xFFFFFFFFFFFFFFFFL + 1_000_000 + a; }',
  },
  {
    name: 'divzero',
    params: ['int', 'int'],
    calls: [I(1, 0), I(0, 1)],
    body: 'static int run(int a, int b) { return a / b + a % (b - 1 + a); }',
  },
  {
    name: 'whilebreak',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { int i = 0; while (true) { i++; if (i > 20) break; if ((i & 1) == 0) continue; a += i; } return a; }',
  },
  {
    name: 'bytearraywrap',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { byte[] v = new byte[4]; v[0] = (byte) a; v[1] = (byte) (v[0] * 2); v[2] += 200; v[3] -= b; short[] w = new short[2]; w[0] = (short) (a >> 3); w[1]--; char[] c = new char[2]; c[0] = (char) a; c[1]--; return v[0] + v[1] + v[2] + v[3] + w[0] + w[1] + c[0] + c[1]; }',
  },
  {
    name: 'emptyandblocks',
    params: ['int', 'int'],
    calls: edge,
    body: 'static int run(int a, int b) { ; { int x = a; { x += b; } a = x; } if (a > 0) ; else { a = -a; } return a; }',
  },
  {
    name: 'bigconst',
    params: ['int', 'int'],
    calls: edge,
    body: 'static long run(int a, int b) { int k = 0x12345678; int m = -2049; int n = 2048; long l = 0x123456789ABCDEF0L; return (long) k * a + m * b + n + l; }',
  },
  {
    name: 'loopmany',
    params: ['int', 'int'],
    calls: [I(1, 2), I(7, 9)],
    body: 'static int run(int a, int b) { int[] p = new int[16]; int n = 0; for (int i = 2; i < 100; i++) { boolean prime = true; for (int j = 2; j * j <= i; j++) if (i % j == 0) { prime = false; break; } if (prime && n < 16) p[n++] = i; } return p[a & 15] * 1000 + p[b & 15] + n; }',
  },
  {
    name: 'labeledthenloops',
    params: ['int', 'int'],
    calls: edge,
    // A labeled block that can complete, then loops ended by break and a switch (the checker once
    // judged the code after them unreachable).
    body: 'static int run(int a, int b) { int r = 0; blk: { if (a == 0) break blk; r = 5; } for (;;) { if (r > 30) break; r += b & 7; r++; } switch (a & 3) { case 0: r += 1; break; case 1: return r * 2; default: r -= 3; } while (true) { if (r < 100) break; r -= 50; } outer: for (int i = 0; ; i++) { for (int j = 0; j < 5; j++) { if (i * j > 6) break outer; if (j > i) continue outer; r += j; } } return r; }',
  },
  {
    name: 'bigarrayconstindex',
    params: ['int', 'int'],
    calls: edge,
    // Constant indexes far into an array (lowering once clamped their displacement).
    body: 'static int run(int a, int b) { byte[] v = new byte[1000]; v[600] = (byte) a; v[b & 1023] += 3; long[] w = new long[100]; w[99] = a; w[64] = b; return v[600] * 7 + v[999] + v[b & 1023] + (int) (w[99] - w[64]) + (int) w[b & 127]; }',
  },
  {
    name: 'farbranches',
    params: ['int', 'int'],
    calls: [I(7, 3), I(-123456, 7), I(5, 8), I(1, -1)],
    // Over 4 KiB of code in one loop: the back edge, the ifs and the bounds checks (branches to
    // the shared trap stub) span more than a conditional branch reaches; they are relaxed.
    body: `static int run(int x, int n) { int[] t = new int[8]; for (int k = 0; k < n; k++) { ${Array.from(
      { length: 200 },
      (_, i) => `if (t[${i % 8}] > ${i}) t[(x + ${i}) & 7] += x ^ ${i};`,
    ).join(' ')} x = x * 31 + t[k & 7]; } return x + t[n]; }`,
  },
  {
    name: 'intbits',
    params: ['int', 'int'],
    calls: bitCalls,
    body: 'static long run(int a, int b) { long h = Integer.bitCount(a); h = h * 37 + Integer.numberOfLeadingZeros(a); h = h * 37 + Integer.numberOfTrailingZeros(a); h = h * 37 + Integer.numberOfLeadingZeros(b); h = h * 37 + Integer.numberOfTrailingZeros(b); h = h * 31 + Integer.reverse(a); h = h * 31 + Integer.reverseBytes(a); h = h * 31 + Integer.rotateLeft(a, b); h = h * 31 + Integer.rotateRight(a, b); h = h * 31 + Integer.rotateLeft(a, 7); h = h * 31 + Integer.rotateRight(a, 33); h = h * 31 + Integer.rotateLeft(a, 0); h = h * 31 + Integer.toUnsignedLong(a); return h; }',
  },
  {
    name: 'intunsignedmath',
    params: ['int', 'int'],
    calls: [...bitCalls, I(5, 0), I(-5, 0)],
    body: 'static long run(int a, int b) { long h = Integer.compareUnsigned(a, b); h = h * 31 + Integer.compareUnsigned(b, a); h = h * 31 + Integer.compareUnsigned(a, a); h = h * 31 + Math.abs(a); h = h * 31 + Math.min(a, b); h = h * 31 + Math.max(a, b); h = h * 31 + Math.max((byte) a, (short) b); h = h * 31 + Integer.divideUnsigned(a, b); h = h * 31 + Integer.remainderUnsigned(a, b); return h; }',
  },
  {
    name: 'longunsignedmath',
    params: ['long', 'long'],
    calls: longCalls,
    body: 'static long run(long a, long b) { long h = Long.compareUnsigned(a, b); h = h * 31 + Long.compareUnsigned(b, a); h = h * 31 + Math.abs(a); h = h * 31 + Math.min(a, b); h = h * 31 + Math.max(a, b); h = h * 31 + Math.min((int) a, b); h = h * 31 + Math.max(a, (int) b); if (b != 0) { h = h * 31 + Long.divideUnsigned(a, b); h = h * 31 + Long.remainderUnsigned(a, b); } return h; }',
  },
  {
    name: 'longdivzero',
    params: ['long', 'long'],
    calls: [
      [5n, 0n],
      [-1n, 0n],
      [5n, 3n],
    ],
    body: 'static long run(long a, long b) { return Long.divideUnsigned(a, b) + Long.remainderUnsigned(b, a); }',
  },
  {
    name: 'intrinsicsconst',
    params: ['int', 'int'],
    calls: [I(0, 0)],
    // Constant arguments: folded by the compiler, still Java's values.
    body: 'static long run(int a, int b) { return Integer.bitCount(-1) + Integer.numberOfLeadingZeros(0) * 100L + Integer.numberOfTrailingZeros(0x80000000) * 10000L + Integer.reverse(1) + Integer.reverseBytes(0x12345678) * 3L + Integer.rotateLeft(0x80000001, 33) + Integer.rotateRight(1, -1) + Integer.toUnsignedLong(-1) + Integer.compareUnsigned(-1, 1) + Integer.divideUnsigned(-1, 3) + Integer.remainderUnsigned(-1, 7) + Long.compareUnsigned(-1L, 1L) + Long.divideUnsigned(-1L, 10L) + Long.remainderUnsigned(-1L, 10L) + Math.abs(Integer.MIN_VALUE) + Math.abs(Long.MIN_VALUE + 1) + Math.min(-3, 2) + Math.max(3L, -2L); }',
  },
  {
    name: 'staticinit',
    params: ['int', 'int'],
    calls: [I(7, 3)],
    // A CRC-32 table filled by a static initializer; field initializers and blocks in source order.
    body: 'static final int[] CRC = new int[256]; static int order = 1; static { for (int n = 0; n < 256; n++) { int c = n; for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1; CRC[n] = c; } order = order * 10 + 2; } static int after = order * 10 + 3; static { after = after * 10 + 4; } static int crc(int seed, int v) { int c = ~seed; for (int i = 0; i < 4; i++) { c = CRC[(c ^ (v >>> (8 * i))) & 0xFF] ^ (c >>> 8); } return ~c; } static long run(int a, int b) { return ((long) crc(a, b) << 16) + after; }',
  },
  {
    name: 'foreach',
    params: ['int', 'int'],
    calls: edge,
    body: "static int[] table = {3, 1, 4, 1, 5}; static int sum(int[] v) { int s = 0; for (int x : v) s = s * 7 + x; return s; } static long run(int a, int b) { long h = 0; int[] xs = {a, b, a ^ b, 5}; for (int x : xs) h = h * 31 + x; for (final long y : new byte[] {(byte) a, (byte) b, -1}) h += y; for (char c : new char[] {(char) a, 'z'}) h = h * 3 + c; for (long l : new long[] {a, (long) b << 40}) h ^= l; outer: for (int x : table) { for (int y : xs) { if (x == y) continue outer; if (y < 0) break outer; h += x * y; } } int[] v = xs; for (int x : v) { v = table; h += x; } h += sum(table) + sum(new int[0]); return h; }",
  },
  {
    name: 'switchlong',
    params: ['long', 'long'],
    calls: [
      [0n, 0n],
      [5n, 1n],
      [-1n, 2n],
      [4294967296n, 3n],
      [-9223372036854775808n, 4n],
      [4294967301n, 5n],
      [6n, 6n],
      [-4294967296n, 7n],
    ],
    body: 'static long run(long a, long b) { long s = b; switch (a) { case 0L: s += 1; break; case 5L: s += 2; case -1L: s += 3; break; case 0x100000000L: s += 4; break; case Long.MIN_VALUE: s += 5; break; case 0x100000005L: s += 6; break; case -4294967296L: return -s; default: s += 7; } return s; }',
    // Java 17 has no switch on long: the same branches as an if-chain.
    jvmBody:
      'static long run(long a, long b) { long s = b; if (a == 0L) { s += 1; } else if (a == 5L) { s += 2; s += 3; } else if (a == -1L) { s += 3; } else if (a == 0x100000000L) { s += 4; } else if (a == Long.MIN_VALUE) { s += 5; } else if (a == 0x100000005L) { s += 6; } else if (a == -4294967296L) { return -s; } else { s += 7; } return s; }',
  },
  {
    name: 'inlined',
    params: ['int', 'int'],
    calls: edge,
    // once: called from one place; twice: small; both lowered in place. Their parameters are their
    // own variables (writing x does not change p); early returns from inside loops.
    body: 'static int once(int x, int y) { x = x * 3; if (y > 0) return x + y; for (int i = 0; i < 3; i++) { if (x > 100) return -x; x += y; } return x; } static int twice(int a) { return a ^ (a >>> 3); } static long run(int a, int b) { int p = a; int r = once(p, b); return (long) r * 31 + p + twice(a) + twice(b) + twice(r); }',
  },
  {
    name: 'pressure',
    params: ['int', 'int'],
    calls: bitCalls.slice(0, 10),
    // Many values live at once, across calls (the runtime's 64-bit division): spills and reloads.
    body: 'static long run(int a, int b) { return Integer.reverse(a) ^ Integer.reverseBytes(b) ^ Integer.rotateLeft(a, b) ^ Integer.rotateRight(a, 5) ^ Integer.toUnsignedLong(a) ^ Math.min((long) a, b) ^ Math.max(a, b) * 7 ^ Long.compareUnsigned(a, b) ^ Long.divideUnsigned(a, b | 1) ^ Long.remainderUnsigned((long) a << 20, b | 3) ^ (long) Integer.bitCount(a ^ b) << 40; }',
  },
  {
    name: 'loopinvariants',
    params: ['int', 'int'],
    calls: edge,
    // Constants and invariant values moved before loops (also loops that run zero times), the same
    // product before and after its operand changes, nested loops left by a labeled break.
    body: 'static int run(int a, int b) { int s = 0; for (int i = 0; i < (b & 7); i++) { s += (a & 31) * 24 + i * 24; for (int j = 0; j < 3; j++) { if (j * 24 == i) break; s ^= a * 24 + j; } } outer: for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) { if ((a ^ j) == 0x7FFFFFFF) break outer; s += 1000003 * (i + 1); } int t = a * 24; a++; t += a * 24; return s + t; }',
  },
  {
    name: 'countedloops',
    params: ['int', 'int'],
    calls: edge,
    // Counted loops whose condition bounds the index (no bounds checks inside), and loops where it
    // does not: the counter written in the body, a bound past the length, another array.
    body: 'static int[] st = {4, 5, 6}; static int run(int a, int b) { int[] t = new int[5]; int[] u = new int[3]; int s = 0; for (int i = 0; i < t.length; i++) t[i] = a + i; for (int i = 1; i < 3 && i < b; i++) s += t[i] * st[i] + u[i]; for (int i = 0; i < t.length; i += 1) { s ^= t[i]; if ((t[i] & 1) == 0) i++; } for (int i = 0; i < 5; i++) s += t[i]; int[] v = t; for (int i = 0; i < v.length; i++) { s += v[i]; v = u; } for (int i = 0; i < 3; i++) s += st[i]; for (int i = 0; i < (b & 7); i++) s += u[i]; return s; }',
  },
];
