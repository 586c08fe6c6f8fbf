#include "lib.h"
static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
int main(void) {
  const unsigned char in[] = "capsule: programs in packets!"; char out[64]; u32 n = sizeof in - 1, o = 0;
  for (u32 i = 0; i < n; i += 3) {
    u32 v = in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = tab[v >> 18]; out[o++] = tab[(v >> 12) & 63]; out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '='; out[o++] = i + 2 < n ? tab[v & 63] : '=';
  }
  out[o] = 0; put_str(out); put_char('\n'); return 0;
}
