# a load from an unmapped address: SIGSEGV
#include "asm.inc"
PROLOGUE
  li s1, 3
  SHOW s1
  li s2, 16
  lw s3, 0(s2)
  SHOW s3
EPILOGUE
