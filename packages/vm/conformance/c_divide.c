#include "lib.h"
int main(void) {
  volatile i32 v[] = {7, -7, 0, 1, -1, (i32)0x80000000, 0x7fffffff, 3};
  for (int i = 0; i < 8; i++) for (int j = 0; j < 8; j++) {
    i32 a = v[i], b = v[j], q, r; u32 uq, ur;
    __asm__ volatile("div %0, %1, %2" : "=r"(q) : "r"(a), "r"(b));
    __asm__ volatile("rem %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    __asm__ volatile("divu %0, %1, %2" : "=r"(uq) : "r"(a), "r"(b));
    __asm__ volatile("remu %0, %1, %2" : "=r"(ur) : "r"(a), "r"(b));
    put_hex((u32)q); put_char(' '); put_hex((u32)r); put_char(' '); put_hex(uq); put_char(' '); put_hex(ur); put_char('\n');
  }
  return 0;
}
