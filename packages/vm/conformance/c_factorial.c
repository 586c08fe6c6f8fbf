#include "lib.h"
int main(void) {
  unsigned char d[200]; int len = 1; d[0] = 1;
  for (int n = 2; n <= 60; n++) { int carry = 0; for (int i = 0; i < len; i++) { int v = d[i] * n + carry; d[i] = v % 10; carry = v / 10; } while (carry) { d[len++] = carry % 10; carry /= 10; } }
  for (int i = len - 1; i >= 0; i--) put_char('0' + d[i]); put_char('\n'); return 0;
}
