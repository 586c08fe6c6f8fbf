#include "lib.h"
static char buf[256];
static u32 used;
static void flush(void) { if (used) { sys_write(1, buf, used); used = 0; } }
void put_char(char c) { buf[used++] = c; if (used == sizeof buf || c == '\n') flush(); }
void put_str(const char *s) { while (*s) put_char(*s++); }
void put_hex(u32 v) { put_str("0x"); for (int i = 28; i >= 0; i -= 4) put_char("0123456789abcdef"[(v >> i) & 15]); }
void put_udec(u32 v) { char t[12]; int n = 0; do { t[n++] = '0' + v % 10; v /= 10; } while (v); while (n) put_char(t[--n]); }
void put_dec(i32 v) { if (v < 0) { put_char('-'); put_udec(-(u32)v); } else put_udec(v); }
void put_line(const char *label, u32 v) { put_str(label); put_char(' '); put_hex(v); put_char('\n'); }
void *memcpy(void *d, const void *s, u32 n) { char *a = d; const char *b = s; while (n--) *a++ = *b++; return d; }
void *memset(void *d, int c, u32 n) { char *a = d; while (n--) *a++ = (char)c; return d; }
void show(u32 v) { put_hex(v); put_char('\n'); }
