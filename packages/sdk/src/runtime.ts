/**
 * Runtime helpers written in the microprogram language itself, compiled with a program when it
 * uses them: 64-bit division and remainder (shift-subtract, with a 31-bit fast path) and
 * variable 64-bit shifts. They use only int operations and constant long shifts, which lowering
 * emits inline. The divisor is checked for zero before the call (a trap).
 */
export const runtimeSource = `
class $Runtime {
  static long $ldiv(long a, long b) {
    long q = $udivrem(a < 0 ? -a : a, b < 0 ? -b : b, false);
    return (a < 0) != (b < 0) ? -q : q;
  }

  static long $lrem(long a, long b) {
    long r = $udivrem(a < 0 ? -a : a, b < 0 ? -b : b, true);
    return a < 0 ? -r : r;
  }

  static long $udivrem(long n, long d, boolean wantRemainder) {
    if (n >= 0 && n <= 2147483647L && d >= 0 && d <= 2147483647L) {
      int x = (int) n;
      int y = (int) d;
      return wantRemainder ? x % y : x / y;
    }
    long q = 0;
    long r = 0;
    for (int i = 0; i < 64; i++) {
      boolean top = r < 0;
      r = (r << 1) | (n >>> 63);
      n = n << 1;
      q = q << 1;
      if (top || (r ^ Long.MIN_VALUE) >= (d ^ Long.MIN_VALUE)) {
        r = r - d;
        q = q | 1;
      }
    }
    return wantRemainder ? r : q;
  }

  static long $lshl(long a, int n) {
    n = n & 63;
    if (n == 0) return a;
    int lo = (int) a;
    int hi = (int) (a >>> 32);
    if (n >= 32) {
      hi = lo << (n - 32);
      lo = 0;
    } else {
      hi = (hi << n) | (lo >>> (32 - n));
      lo = lo << n;
    }
    return ((long) hi << 32) | (lo & 0xFFFFFFFFL);
  }

  static long $lshr(long a, int n) {
    n = n & 63;
    if (n == 0) return a;
    int lo = (int) a;
    int hi = (int) (a >>> 32);
    if (n >= 32) {
      lo = hi >> (n - 32);
      hi = hi >> 31;
    } else {
      lo = (lo >>> n) | (hi << (32 - n));
      hi = hi >> n;
    }
    return ((long) hi << 32) | (lo & 0xFFFFFFFFL);
  }

  static long $lushr(long a, int n) {
    n = n & 63;
    if (n == 0) return a;
    int lo = (int) a;
    int hi = (int) (a >>> 32);
    if (n >= 32) {
      lo = hi >>> (n - 32);
      hi = 0;
    } else {
      lo = (lo >>> n) | (hi << (32 - n));
      hi = hi >>> n;
    }
    return ((long) hi << 32) | (lo & 0xFFFFFFFFL);
  }
}
`;
