#include "lib.h"
static u32 len(const char *s) { u32 n = 0; while (s[n]) n++; return n; }
static void reverse(char *s) { u32 n = len(s); for (u32 i = 0; i < n / 2; i++) { char t = s[i]; s[i] = s[n - 1 - i]; s[n - 1 - i] = t; } }
static int cmp(const char *a, const char *b) { while (*a && *a == *b) { a++; b++; } return (unsigned char)*a - (unsigned char)*b; }
int main(void) {
  char buf[64]; const char *src = "Network microservices in packets";
  memcpy(buf, src, len(src) + 1); reverse(buf); put_str(buf); put_char('\n');
  for (char *p = buf; *p; p++) if (*p >= 'a' && *p <= 'z') *p -= 32;
  put_str(buf); put_char('\n');
  put_dec(cmp("abc", "abd")); put_char(' '); put_dec(cmp("b", "a")); put_char(' '); put_dec(cmp("x", "x")); put_char('\n');
  return 0;
}
