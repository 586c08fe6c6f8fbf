# an all-zero halfword is illegal: SIGILL
#include "asm.inc"
PROLOGUE
  li s1, 2
  SHOW s1
  .2byte 0
EPILOGUE
