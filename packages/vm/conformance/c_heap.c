#include "lib.h"
static u32 top;
static void *alloc(u32 n) { if (!top) top = sys_brk(0); u32 p = top; u32 next = sys_brk(top + ((n + 7) & ~7u)); if (next == top) return 0; top = next; return (void *)p; }
struct node { struct node *next; u32 value; };
int main(void) {
  struct node *head = 0;
  for (u32 i = 0; i < 1000; i++) { struct node *n = alloc(sizeof *n); n->value = i * i; n->next = head; head = n; }
  u32 sum = 0, count = 0; for (struct node *n = head; n; n = n->next) { sum += n->value; count++; }
  put_line("count", count); put_line("sum", sum);
  unsigned char *big = alloc(100000); memset(big, 0xab, 100000); put_line("big", big[99999]);
  return 0;
}
