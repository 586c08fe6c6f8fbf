#include "lib.h"
typedef i32 (*op_t)(i32, i32);
static i32 add(i32 a, i32 b) { return a + b; }
static i32 sub(i32 a, i32 b) { return a - b; }
static i32 mul(i32 a, i32 b) { return a * b; }
static i32 shl(i32 a, i32 b) { return a << (b & 31); }
static op_t ops[] = {add, sub, mul, shl};
int main(void) { i32 acc = 1; for (int i = 0; i < 20; i++) { acc = ops[i % 4](acc, i + 1); put_line("acc", (u32)acc); } return 0; }
