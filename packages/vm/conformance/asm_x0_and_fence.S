# writes to x0 are discarded; fence / fence.tso are no-ops; hints
#include "asm.inc"
.option norvc
PROLOGUE
  li s1, 5
  add x0, s1, s1
  addi x0, s1, 1
  lui x0, 0x12345
  lw x0, 0(sp)
  mv s2, x0
  SHOW s2
  fence
  fence rw, rw
  fence.tso
  fence r, w
  fence i, o
  add s3, x0, s1
  SHOW s3
  jal x0, 1f
  li s3, 0
1:SHOW s3
EPILOGUE
