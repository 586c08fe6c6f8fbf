# lr.w / sc.w: success, failure without a reservation, failure after a used reservation
#include "asm.inc"
.option norvc
PROLOGUE
  la s0, word
  li s1, 100
  sw s1, 0(s0)
  lr.w s2, (s0)
  SHOW s2
  addi s2, s2, 1
  sc.w s3, s2, (s0)
  SHOW s3
  lw s4, 0(s0)
  SHOW s4
  li s2, 7
  sc.w s3, s2, (s0)
  SHOW s3
  lw s4, 0(s0)
  SHOW s4
  # an atomic increment loop
  li s5, 0
1:lr.w.aq s2, (s0)
  addi s2, s2, 3
  sc.w.rl s3, s2, (s0)
  bnez s3, 1b
  addi s5, s5, 1
  li s6, 10
  blt s5, s6, 1b
  lw s4, 0(s0)
  SHOW s4
  lr.w.aqrl s2, (s0)
  sc.w.aqrl s3, s2, (s0)
  SHOW s3
EPILOGUE
  .data
  .balign 4
word: .word 0
