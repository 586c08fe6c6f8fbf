#include "lib.h"
static u32 moves, check;
static void hanoi(int n, int from, int to, int via) { if (!n) return; hanoi(n - 1, from, via, to); moves++; check = check * 3 + (u32)(from * 4 + to); hanoi(n - 1, via, to, from); }
int main(void) { hanoi(12, 0, 2, 1); put_line("moves", moves); put_line("check", check); return 0; }
