#include "lib.h"
static unsigned char composite[2000];
int main(void) {
  u32 count = 0, sum = 0;
  for (u32 i = 2; i < 2000; i++) {
    if (composite[i]) continue;
    count++; sum += i;
    for (u32 j = i * i; j < 2000; j += i) composite[j] = 1;
  }
  put_line("primes", count); put_line("sum", sum); return 0;
}
