# jal and jalr: link values (relative), offsets, rd = rs1, jump tables
#include "asm.inc"
.option norvc
PROLOGUE
  jal s1, 1f
0:li s2, 99
1:la s3, 0b
  sub s4, s1, s3
  SHOW s4
  la s5, 2f
  jalr s6, 4(s5)
2:li s2, 1
  li s2, 2
  SHOW s2
  la s3, 2b
  sub s4, s6, s3
  SHOW s4
  la s5, 3f
  jalr s5, 0(s5)
3:la s3, 3b
  sub s4, s5, s3
  SHOW s4
  # jump table
  li s7, 0
  li s8, 0
5:la s5, table
  slli s9, s8, 2
  add s5, s5, s9
  lw s5, 0(s5)
  jalr ra, 0(s5)
  addi s8, s8, 1
  li s9, 4
  blt s8, s9, 5b
  SHOW s7
  # jalr with negative offset
  la s5, 6f
  addi s5, s5, 8
  jalr x0, -8(s5)
  li s7, 0
6:SHOW s7
EPILOGUE
f0: addi s7, s7, 1
  ret
f1: addi s7, s7, 10
  ret
f2: addi s7, s7, 100
  jr ra
f3: slli s7, s7, 1
  jalr x0, 0(ra)
  .data
  .balign 4
table: .word f0, f1, f2, f3
