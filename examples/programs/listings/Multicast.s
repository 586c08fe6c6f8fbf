# Multicast.java: 112 bytes of code, logic hash 7aeaa14b42ffd1f6…
# entries: replicate @0
# DATA +0 int roleTag (4 bytes) = 05000000

	.text
	.globl replicate
replicate:
	# 9: @Entry
	addi sp, sp, -80
	# 11: int[] members = new int[16];
	mv t1, sp
	li t2, 16
	sw t2, 0(t1)
	# 12: int n = Services.lookupTag(roleTag, members);
	lui a0, 64
	lw a0, 0(a0)
	lw a2, 0(t1)
	addi a1, t1, 4
	li a7, 3
	ecall
	mv a6, a0
	# 13: for (int i = 0; i < n; i++)
	li a1, 0
	# 14: if (members[i] != p.ingressLink()) a.replicate(members[i]);
	lui a0, 32
	lw a4, 44(a0)
	lui a0, 128
	li a5, 2
	# 13: for (int i = 0; i < n; i++)
	j .L56
.L30:
	# 14: if (members[i] != p.ingressLink()) a.replicate(members[i]);
	bgeu a1, t2, $trap
	slli a2, a1, 2
	add a2, a2, t1
	lw a2, 4(a2)
	beq a2, a4, .L54
	sw a5, 0(a0)
	lw a3, 16(a0)
	addi t0, a3, 1
	sw t0, 16(a0)
	slli a3, a3, 2
	add a3, a0, a3
	sw a2, 20(a3)
.L54:
	# 13: for (int i = 0; i < n; i++)
	addi a1, a1, 1
.L56:
	blt a1, a6, .L30
	# 15: if (a.linkCount() == 0) a.drop(NO_MEMBER);
	lw a1, 16(a0)
	bnez a1, .L68
	li a1, 259
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
.L68:
	addi sp, sp, 80
	ret
$trap:
	lw zero, 0(zero)
