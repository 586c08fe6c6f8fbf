#include "lib.h"
int main(void) {
  u32 best = 0, arg = 0;
  for (u32 n = 1; n < 3000; n++) { u32 x = n, steps = 0; while (x != 1) { x = (x & 1) ? 3 * x + 1 : x >> 1; steps++; } if (steps > best) { best = steps; arg = n; } }
  put_line("n", arg); put_line("steps", best); return 0;
}
