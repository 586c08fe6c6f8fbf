# every AMO: old value returned, new value stored, signed/unsigned min/max, aq/rl forms
#include "asm.inc"
.option norvc
.macro AMO op, init, operand
  la s0, word
  li s1, \init
  sw s1, 0(s0)
  li s2, \operand
  \op s3, s2, (s0)
  SHOW s3
  lw s4, 0(s0)
  SHOW s4
.endm
PROLOGUE
.irp op, amoswap.w, amoadd.w, amoxor.w, amoand.w, amoor.w, amomin.w, amomax.w, amominu.w, amomaxu.w
.irp init, 5, -5, 0x80000000
.irp operand, 3, -3, 0x7fffffff
  AMO \op, \init, \operand
.endr
.endr
.endr
  AMO amoadd.w.aq, 1, 2
  AMO amoadd.w.rl, 1, 2
  AMO amoadd.w.aqrl, 1, 2
  AMO amoswap.w.aqrl, 7, 9
  AMO amomaxu.w.aq, 7, -9
  # rd = x0 and rd = rs2
  la s0, word
  li s1, 40
  sw s1, 0(s0)
  li s2, 2
  amoadd.w x0, s2, (s0)
  amoadd.w s2, s2, (s0)
  SHOW s2
  lw s4, 0(s0)
  SHOW s4
EPILOGUE
  .data
  .balign 4
word: .word 0
