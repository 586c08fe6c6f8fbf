# exit status from exit(93) through main's return value path
  .text
  .globl main
main:
  li a0, 200
  ret
