#include "lib.h"
int main(void) {
  for (int y = -12; y <= 12; y += 2) {
    for (int x = -40; x <= 20; x += 2) {
      i32 cr = x * 1024 / 20, ci = y * 1024 / 10, zr = 0, zi = 0; int i = 0;
      while (i < 30 && zr * zr + zi * zi < 4 * 1024 * 1024) { i32 t = (zr * zr - zi * zi) / 1024 + cr; zi = 2 * zr * zi / 1024 + ci; zr = t; i++; }
      put_char(" .:-=+*#%@"[i % 10]);
    }
    put_char('\n');
  }
  return 0;
}
