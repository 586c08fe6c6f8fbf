#include "lib.h"
static int pop(u32 x) { int n = 0; while (x) { x &= x - 1; n++; } return n; }
static u32 rev(u32 x) { u32 r = 0; for (int i = 0; i < 32; i++) { r = (r << 1) | (x & 1); x >>= 1; } return r; }
static u32 rotl(u32 x, int k) { return (x << k) | (x >> (32 - k)); }
int main(void) {
  u32 v[] = {0, 1, 0x80000000u, 0xdeadbeefu, 0x12345678u, 0xffffffffu};
  for (int i = 0; i < 6; i++) { put_line("pop", pop(v[i])); put_line("rev", rev(v[i])); put_line("rotl", rotl(v[i], 13)); put_line("clz-ish", v[i] ? (u32)__builtin_clz(v[i]) : 32); }
  return 0;
}
