#include "lib.h"
static i32 counter; static u32 flags;
int main(void) {
  for (int i = 0; i < 10; i++) __atomic_fetch_add(&counter, i, __ATOMIC_SEQ_CST);
  put_line("add", (u32)counter);
  put_line("or", __atomic_fetch_or(&flags, 0x0f, __ATOMIC_ACQUIRE));
  put_line("and", __atomic_fetch_and(&flags, 0x3c, __ATOMIC_RELEASE));
  put_line("xor", __atomic_fetch_xor(&flags, 0xff, __ATOMIC_ACQ_REL));
  put_line("xchg", __atomic_exchange_n(&flags, 5u, __ATOMIC_SEQ_CST));
  i32 expected = 45; int ok = __atomic_compare_exchange_n(&counter, &expected, -3, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  put_line("cas", ok); put_line("counter", (u32)counter);
  expected = 1; ok = __atomic_compare_exchange_n(&counter, &expected, 9, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  put_line("cas2", ok); put_line("expected", (u32)expected);
  put_line("load", __atomic_load_n(&flags, __ATOMIC_SEQ_CST));
  return 0;
}
