# system calls: write to stdout and stderr, a bad fd (-EBADF), unknown call (-ENOSYS), brk, exit code
#include "asm.inc"
.option norvc
PROLOGUE
  li a0, 1
  la a1, msg
  li a2, 6
  li a7, 64
  ecall
  mv s1, a0
  SHOW s1
  li a0, 7
  la a1, msg
  li a2, 6
  li a7, 64
  ecall
  mv s1, a0
  SHOW s1
  li a7, 999
  ecall
  mv s1, a0
  SHOW s1
  li a7, 500
  ecall
  mv s1, a0
  SHOW s1
  li a0, 0
  li a7, 214
  ecall
  mv s2, a0
  li t0, 4096
  add a0, s2, t0
  li a7, 214
  ecall
  sub s3, a0, s2
  SHOW s3
  li t1, 0x5a5a5a5a
  sw t1, 0(s2)
  li t2, 4092
  add t2, t2, s2
  sw t1, 0(t2)
  lw s4, 0(t2)
  SHOW s4
  li a0, 42
  li a7, 94
  ecall
  .data
msg: .ascii "hello\n"
