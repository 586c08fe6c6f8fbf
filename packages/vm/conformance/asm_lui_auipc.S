# lui and auipc (auipc shown relative to a label so addresses need not match)
#include "asm.inc"
.option norvc
PROLOGUE
  lui s1, 0x12345
  SHOW s1
  lui s1, 0xfffff
  SHOW s1
  lui s1, 0
  SHOW s1
  lui s1, 0x80000
  SHOW s1
1:auipc s1, 0
  la s2, 1b
  sub s3, s1, s2
  SHOW s3
2:auipc s1, 0x10
  la s2, 2b
  sub s3, s1, s2
  SHOW s3
3:auipc s1, 0xfffff
  la s2, 3b
  sub s3, s1, s2
  SHOW s3
EPILOGUE
