#include "lib.h"
struct point { i32 x, y; short tag; char name[6]; };
static struct point make(i32 x, i32 y, short tag) { struct point p = {x, y, tag, "pt"}; p.name[2] = (char)('0' + tag % 10); return p; }
int main(void) {
  struct point ps[5]; for (int i = 0; i < 5; i++) ps[i] = make(i * 10, -i, (short)(i * 1000 - 2000));
  struct point copy = ps[3]; copy.x += 1;
  for (int i = 0; i < 5; i++) { put_dec(ps[i].x); put_char(' '); put_dec(ps[i].y); put_char(' '); put_dec(ps[i].tag); put_char(' '); put_str(ps[i].name); put_char('\n'); }
  put_dec(copy.x); put_char('\n'); return 0;
}
