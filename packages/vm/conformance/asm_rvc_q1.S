# compressed quadrant 1: c.nop c.addi c.jal c.li c.addi16sp c.lui c.srli c.srai c.andi
# c.sub c.xor c.or c.and c.j c.beqz c.bnez
#include "asm.inc"
PROLOGUE
  c.nop
  c.li s1, -32
  SHOW s1
  c.li s1, 31
  c.addi s1, -1
  SHOW s1
  c.addi s1, 31
  SHOW s1
  mv s2, sp
  c.addi16sp sp, -64
  sub s3, s2, sp
  SHOW s3
  c.addi16sp sp, 496
  c.addi16sp sp, -432
  sub s3, s2, sp
  SHOW s3
  mv sp, s2
  c.lui s1, 1
  SHOW s1
  c.lui s1, 0xfffff
  SHOW s1
  c.lui s1, 31
  SHOW s1
  li s1, -256
  c.srli s1, 4
  SHOW s1
  li s1, -256
  c.srai s1, 4
  SHOW s1
  c.srai s1, 31
  SHOW s1
  li s1, 0x12345678
  c.andi s1, -16
  SHOW s1
  c.andi s1, 15
  SHOW s1
  li a0, 100
  li a1, 42
  c.sub a0, a1
  mv s1, a0
  SHOW s1
  li a2, 0xf0f0
  li a3, 0x0ff0
  c.xor a2, a3
  mv s1, a2
  SHOW s1
  c.or a2, a3
  mv s1, a2
  SHOW s1
  c.and a2, a3
  mv s1, a2
  SHOW s1
  li s1, 0
  c.j 1f
  li s1, 5
1:SHOW s1
  li a4, 0
  li s1, 1
  c.beqz a4, 2f
  li s1, 2
2:SHOW s1
  c.bnez a4, 3f
  li s1, 3
3:SHOW s1
  li a4, 9
  c.bnez a4, 4f
  li s1, 4
4:SHOW s1
  c.beqz a4, 5f
  li s1, 6
5:SHOW s1
  c.jal leaf
  SHOW a0
  # a loop of compressed instructions backwards
  li a5, 0
  li a4, 5
6:c.addi a5, 3
  c.addi a4, -1
  c.bnez a4, 6b
  mv s1, a5
  SHOW s1
EPILOGUE
leaf:
  c.li a0, 7
  ret
