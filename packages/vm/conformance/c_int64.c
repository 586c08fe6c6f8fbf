#include "lib.h"
int main(void) {
  volatile u64 a = 0x123456789abcdefull, b = 0xfedcba987654321ull;
  volatile i64 c = -1234567890123ll, d = 987654321ll;
  u64 m = a * b; i64 n = c * d; u64 s = a + b; i64 t = c - d;
  put_line("mul.hi", (u32)(m >> 32)); put_line("mul.lo", (u32)m);
  put_line("smul.hi", (u32)((u64)n >> 32)); put_line("smul.lo", (u32)n);
  put_line("add.hi", (u32)(s >> 32)); put_line("sub.hi", (u32)((u64)t >> 32));
  put_line("shr", (u32)(a >> 20)); put_line("sar", (u32)(c >> 33));
  put_line("lt", c < d); put_line("ult", a < b);
  return 0;
}
