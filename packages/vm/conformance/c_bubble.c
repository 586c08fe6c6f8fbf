#include "lib.h"
int main(void) {
  unsigned short v[64];
  for (int i = 0; i < 64; i++) v[i] = (unsigned short)((i * 7919) % 1000);
  for (int i = 0; i < 64; i++) for (int j = 0; j + 1 < 64 - i; j++) if (v[j] > v[j + 1]) { unsigned short t = v[j]; v[j] = v[j + 1]; v[j + 1] = t; }
  for (int i = 0; i < 64; i += 8) put_line("v", v[i]);
  return 0;
}
