#include "lib.h"
static int solve(int n, int row, u32 cols, u32 d1, u32 d2) {
  if (row == n) return 1; int count = 0;
  for (int c = 0; c < n; c++) { if ((cols >> c) & 1 || (d1 >> (row + c)) & 1 || (d2 >> (row - c + n)) & 1) continue; count += solve(n, row + 1, cols | 1u << c, d1 | 1u << (row + c), d2 | 1u << (row - c + n)); }
  return count;
}
int main(void) { for (int n = 1; n <= 8; n++) put_line("queens", solve(n, 0, 0, 0, 0)); return 0; }
