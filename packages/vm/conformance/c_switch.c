#include "lib.h"
static u32 classify(u32 x) {
  switch (x % 11) { case 0: return 100; case 1: return x * 3; case 2: return x ^ 0xff; case 3: return x >> 2; case 4: return ~x;
  case 5: return x + 77; case 6: return x * x; case 7: return 7; case 8: return x & 0xf0; default: return 0; }
}
int main(void) { u32 h = 0; for (u32 i = 0; i < 200; i++) h = h * 33 + classify(i * 7 + 1); put_line("switch", h); return 0; }
