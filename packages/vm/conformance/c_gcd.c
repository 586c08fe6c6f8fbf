#include "lib.h"
static u32 gcd(u32 a, u32 b) { while (b) { u32 t = a % b; a = b; b = t; } return a; }
int main(void) {
  u32 pairs[][2] = {{48, 18}, {17, 5}, {0, 9}, {1071, 462}, {0xfffffffe, 6}, {123456789, 987654321}};
  for (int i = 0; i < 6; i++) { u32 g = gcd(pairs[i][0], pairs[i][1]); put_line("gcd", g); put_line("lcm", g ? pairs[i][0] / g * pairs[i][1] : 0); }
  return 0;
}
