# compressed quadrants 0 and 2: c.addi4spn c.lw c.sw c.slli c.lwsp c.swsp c.mv c.add c.jr c.jalr
#include "asm.inc"
PROLOGUE
  addi sp, sp, -32
  c.addi4spn s1, sp, 8
  sub s2, s1, sp
  SHOW s2
  c.addi4spn a5, sp, 1020
  sub s2, a5, sp
  SHOW s2
  li a2, 0x1234
  la s1, buf
  c.sw a2, 0(s1)
  c.sw a2, 124(s1)
  c.lw a3, 124(s1)
  SHOW a3
  c.lw a4, 0(s1)
  SHOW a4
  li s2, 0x0f0f
  c.slli s2, 4
  SHOW s2
  c.slli s2, 31
  SHOW s2
  li t0, 77
  c.swsp t0, 4(sp)
  c.swsp t0, 252(sp)
  c.lwsp s3, 4(sp)
  SHOW s3
  c.lwsp s4, 252(sp)
  SHOW s4
  c.mv s5, s3
  c.add s5, s4
  c.add s5, s5
  SHOW s5
  la t1, 1f
  c.jr t1
  li s5, 0
1:SHOW s5
  la t1, leaf
  c.jalr t1
  SHOW a0
  addi sp, sp, 32
EPILOGUE
leaf:
  c.li a0, 21
  c.add a0, a0
  c.jr ra
  .data
  .balign 4
buf: .space 128
