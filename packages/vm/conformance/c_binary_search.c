#include "lib.h"
static i32 table[500];
static int find(i32 key) { int lo = 0, hi = 499; while (lo <= hi) { int mid = (lo + hi) >> 1; if (table[mid] == key) return mid; if (table[mid] < key) lo = mid + 1; else hi = mid - 1; } return -1; }
int main(void) { for (int i = 0; i < 500; i++) table[i] = i * 3 - 700; i32 keys[] = {-700, -699, 0, 2, 797, 800, 5}; for (int i = 0; i < 7; i++) put_line("at", (u32)find(keys[i])); return 0; }
