# every conditional branch, taken and not taken, signed and unsigned edges
#include "asm.inc"
.option norvc
.macro BR op, a, b
  li s1, \a
  li s2, \b
  li s3, 0
  \op s1, s2, 1f
  li s3, 1
1:SHOW s3
  li s3, 0
  \op s1, s2, 2f
  j 3f
2:li s3, 2
3:SHOW s3
.endm
PROLOGUE
.irp op, beq, bne, blt, bge, bltu, bgeu
.irp a, 0, 1, -1, 0x7fffffff, 0x80000000
.irp b, 0, -1, 0x80000000, 1
  BR \op, \a, \b
.endr
.endr
.endr
  # backward branch loop
  li s1, 10
  li s2, 0
4:add s2, s2, s1
  addi s1, s1, -1
  bnez s1, 4b
  SHOW s2
EPILOGUE
