#include "lib.h"
int main(void) {
  const char *words[] = {"capsule", "engine", "agent", "controller", "", "a"};
  for (int i = 0; i < 6; i++) { u32 h = 2166136261u; for (const char *p = words[i]; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u; put_line(words[i], h); }
  return 0;
}
