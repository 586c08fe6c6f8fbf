#include "lib.h"
int main(int argc, char **argv) {
  put_line("argc", (u32)argc);
  for (int i = 1; i < argc; i++) { put_str(argv[i]); put_char('\n'); }
  char **envp = argv + argc + 1; while (*envp) envp++;
  u32 *aux = (u32 *)(envp + 1); u32 pagesz = 0, hasrandom = 0;
  for (; aux[0]; aux += 2) { if (aux[0] == 6) pagesz = aux[1]; if (aux[0] == 25) hasrandom = aux[1] != 0; }
  put_line("pagesz", pagesz); put_line("random", hasrandom); return 0;
}
