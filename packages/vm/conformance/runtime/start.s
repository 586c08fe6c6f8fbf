# Tiny runtime: _start calls main(argc, argv) and exits with its result; sys_write / sys_exit.
  .text
  .globl _start
_start:
  lw a0, 0(sp)
  addi a1, sp, 4
  call main
  li a7, 93
  ecall
  .globl sys_write
sys_write:            # sys_write(fd, buf, len) -> bytes written
  li a7, 64
  ecall
  ret
  .globl sys_exit
sys_exit:             # sys_exit(code)
  li a7, 93
  ecall
  .globl sys_brk
sys_brk:              # sys_brk(addr) -> new break
  li a7, 214
  ecall
  ret
