# ebreak ends the program with SIGTRAP (after output)
#include "asm.inc"
PROLOGUE
  li s1, 1
  SHOW s1
  ebreak
EPILOGUE
