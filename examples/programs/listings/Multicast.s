# Multicast.java: 196 bytes of code, logic hash fb02248c31a8de28…
# entries: replicate @0
# DATA +0 int roleTag (4 bytes) = 05000000

	.text
	.globl replicate
replicate:
	# 9: @Entry
	addi sp, sp, -96
	sw ra, 92(sp)
	sw s0, 88(sp)
	sw s1, 84(sp)
	sw s2, 80(sp)
	# 11: int[] members = new int[16];
	mv t0, sp
	li a6, 16
	sw a6, 0(t0)
	addi a6, t0, 4
	addi a7, t0, 68
.L1a:
	sw zero, 0(a6)
	addi a6, a6, 4
	bne a6, a7, .L1a
	mv s1, t0
	# 12: int n = Services.lookupTag(roleTag, members);
	lui a7, 64
	lw t0, 0(a7)
	mv a0, t0
	lw a2, 0(s1)
	addi a1, s1, 4
	li a7, 3
	ecall
	mv t0, a0
	mv s2, t0
	# 13: for (int i = 0; i < n; i++)
	li s0, 0
	j .L92
.L44:
	# 14: if (members[i] != p.ingressLink()) a.replicate(members[i]);
	lw a6, 0(s1)
	bgeu s0, a6, $trap
	slli a6, s0, 2
	add a6, a6, s1
	lw t0, 4(a6)
	lui t1, 32
	lw t1, 44(t1)
	beq t0, t1, .L90
	lw a6, 0(s1)
	bgeu s0, a6, $trap
	slli a6, s0, 2
	add a6, a6, s1
	lw t1, 4(a6)
	lui a7, 128
	li a6, 2
	sw a6, 0(a7)
	lw a6, 16(a7)
	addi a6, a6, 1
	sw a6, 16(a7)
	slli a6, a6, 2
	add a7, a7, a6
	sw t1, 16(a7)
.L90:
	# 13: for (int i = 0; i < n; i++)
	addi s0, s0, 1
.L92:
	blt s0, s2, .L44
	# 15: if (a.linkCount() == 0) a.drop(NO_MEMBER);
	lui t1, 128
	lw t1, 16(t1)
	bnez t1, .Lb4
	li t1, 259
	lui a7, 128
	li a6, 4
	sw a6, 0(a7)
	sw t1, 8(a7)
.Lb4:
	# 9: @Entry
	lw ra, 92(sp)
	lw s0, 88(sp)
	lw s1, 84(sp)
	lw s2, 80(sp)
	addi sp, sp, 96
	ret
$trap:
	lw zero, 0(zero)
