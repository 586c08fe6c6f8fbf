#include "lib.h"
#define N 8
static i32 a[N][N], b[N][N], c[N][N];
int main(void) {
  for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { a[i][j] = i - j * 3; b[i][j] = (i * j) % 7 - 3; }
  for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { i32 s = 0; for (int k = 0; k < N; k++) s += a[i][k] * b[k][j]; c[i][j] = s; }
  for (int i = 0; i < N; i++) { put_dec(c[i][i]); put_char(' '); put_dec(c[i][N - 1 - i]); put_char('\n'); }
  return 0;
}
