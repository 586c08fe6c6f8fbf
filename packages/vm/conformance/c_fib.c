#include "lib.h"
static u32 fib(u32 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
int main(void) { for (u32 i = 0; i < 25; i += 3) put_line("fib", fib(i)); return 0; }
