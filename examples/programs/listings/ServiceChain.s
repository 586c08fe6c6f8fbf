# ServiceChain.java: 206 bytes of code, logic hash 058c9df4d5455116…
# entries: chain @0
# DATA +0 boolean visited (1 bytes)

	.text
	.globl chain
chain:
	# 21: @Entry
	addi sp, sp, -16
	sw ra, 12(sp)
	sw s0, 8(sp)
	# 23: if (!visited && (e.tags() & (1 << WAYPOINT)) != 0) visited = true;
	lui a7, 64
	lbu t0, 0(a7)
	bnez t0, .L2c
	lui t0, 112
	lw t0, 4(t0)
	andi t0, t0, 2
	beqz t0, .L2c
	li t0, 1
	lui a7, 64
	sb t0, 0(a7)
.L2c:
	# 24: int link = firstLinkWith(e, visited ? DESTINATION : WAYPOINT);
	lui a7, 64
	lbu t0, 0(a7)
	beqz t0, .L3c
	li t0, 2
	j .L3e
.L3c:
	li t0, 1
.L3e:
	mv a0, t0
	jal ServiceChain.firstLinkWith.Engine.int
	mv t0, a0
	mv s0, t0
	# 25: if (link < 0) a.drop(NO_ROUTE);
	bgez s0, .L5e
	li t0, 257
	lui a7, 128
	li a6, 4
	sw a6, 0(a7)
	sw t0, 8(a7)
	j .L70
.L5e:
	# 26: else a.forward(link);
	lui a7, 128
	li a6, 1
	sw a6, 0(a7)
	sw s0, 20(a7)
	sw a6, 16(a7)
.L70:
	# 21: @Entry
	lw ra, 12(sp)
	lw s0, 8(sp)
	addi sp, sp, 16
	ret
ServiceChain.firstLinkWith.Engine.int:
	# 16: for (int i = 0; i < e.linkCount(); i++)
	li a1, 0
	j .Lbe
.L7c:
	# 17: if (e.linkUp(i) && (e.linkTags(i) & (1 << tag)) != 0) return e.linkId(i);
	mv a2, a1
	li a6, 24
	mul a2, a2, a6
	lui a6, 112
	add a2, a2, a6
	lw a2, 32(a2)
	beqz a2, .Lbc
	mv a2, a1
	li a6, 24
	mul a2, a2, a6
	lui a6, 112
	add a2, a2, a6
	lw a2, 36(a2)
	li a3, 1
	sll a3, a3, a0
	and a2, a2, a3
	beqz a2, .Lbc
	mv a2, a1
	li a6, 24
	mul a2, a2, a6
	lui a6, 112
	add a2, a2, a6
	lw a2, 16(a2)
	mv a0, a2
	ret
.Lbc:
	# 16: for (int i = 0; i < e.linkCount(); i++)
	addi a1, a1, 1
.Lbe:
	lui a2, 112
	lw a2, 8(a2)
	blt a1, a2, .L7c
	# 18: return -1;
	li a2, -1
	mv a0, a2
	# 15: static int firstLinkWith(Engine e, int tag) {
	ret
