#include "lib.h"
static i32 a[200];
static void quicksort(i32 *v, int lo, int hi) {
  if (lo >= hi) return;
  i32 p = v[(lo + hi) / 2]; int i = lo, j = hi;
  while (i <= j) { while (v[i] < p) i++; while (v[j] > p) j--; if (i <= j) { i32 t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; } }
  quicksort(v, lo, j); quicksort(v, i, hi);
}
int main(void) {
  u32 x = 12345;
  for (int i = 0; i < 200; i++) { x = x * 1103515245u + 12345u; a[i] = (i32)x >> 7; }
  quicksort(a, 0, 199);
  u32 h = 0; int ok = 1;
  for (int i = 0; i < 200; i++) { h = h * 31 + (u32)a[i]; if (i && a[i - 1] > a[i]) ok = 0; }
  put_line("sorted", ok); put_line("hash", h); put_line("min", a[0]); put_line("max", a[199]); return 0;
}
