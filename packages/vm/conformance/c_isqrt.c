#include "lib.h"
static u32 isqrt(u32 x) { u32 r = 0, bit = 1u << 30; while (bit > x) bit >>= 2; while (bit) { if (x >= r + bit) { x -= r + bit; r = (r >> 1) + bit; } else r >>= 1; bit >>= 2; } return r; }
int main(void) { u32 v[] = {0, 1, 2, 15, 16, 1000000, 0xffffffffu, 123456789}; for (int i = 0; i < 8; i++) put_line("isqrt", isqrt(v[i])); return 0; }
