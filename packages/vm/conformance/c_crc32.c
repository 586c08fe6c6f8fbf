#include "lib.h"
static u32 crc32(const unsigned char *p, u32 n) {
  u32 c = 0xffffffffu;
  while (n--) { c ^= *p++; for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & -(c & 1)); }
  return ~c;
}
int main(void) { const char *s = "The quick brown fox jumps over the lazy dog"; u32 n = 0; while (s[n]) n++; put_line("crc32", crc32((const unsigned char *)s, n)); return 0; }
