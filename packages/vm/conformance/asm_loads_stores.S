# every load and store width, sign and zero extension, offsets, misaligned data
#include "asm.inc"
.option norvc
PROLOGUE
  la s0, data
  lb s1, 0(s0)
  SHOW s1
  lb s1, 1(s0)
  SHOW s1
  lbu s1, 1(s0)
  SHOW s1
  lh s1, 2(s0)
  SHOW s1
  lhu s1, 2(s0)
  SHOW s1
  lh s1, 0(s0)
  SHOW s1
  lw s1, 0(s0)
  SHOW s1
  lw s1, 4(s0)
  SHOW s1
  addi s2, s0, 8
  lw s1, -4(s2)
  SHOW s1
  lw s1, 1(s0)
  SHOW s1
  lh s1, 3(s0)
  SHOW s1
  li s3, 0x89abcdef
  sw s3, 8(s0)
  sb s3, 12(s0)
  sh s3, 14(s0)
  sb s3, 17(s0)
  sh s3, 19(s0)
  lw s1, 8(s0)
  SHOW s1
  lw s1, 12(s0)
  SHOW s1
  lw s1, 16(s0)
  SHOW s1
  lw s1, 20(s0)
  SHOW s1
  sw s3, 2047(s0)
  lw s1, 2047(s0)
  SHOW s1
  addi s2, s0, 2047
  addi s2, s2, 2047
  sw s3, -2048(s2)
  lw s1, -2048(s2)
  SHOW s1
  lbu s1, -2048(s2)
  SHOW s1
EPILOGUE
  .data
  .balign 4
data: .byte 0x11, 0x82, 0x33, 0xf4, 0x55, 0x66, 0x77, 0x88
  .space 4200
