# PointToPoint.java: 232 bytes of code, logic hash 46570d3f652e6e57…
# entries: route @0

	.text
	.globl route
route:
	# 14: @Entry
	addi sp, sp, -16
	sw ra, 12(sp)
	sw s0, 8(sp)
	sw s1, 4(sp)
	# 16: int hop = path.hopIndex() + 1;
	lui t0, 48
	lbu t0, 4(t0)
	addi t0, t0, 1
	mv s0, t0
	# 17: if (hop >= path.hopCount()) {
	lui t0, 48
	lbu t0, 5(t0)
	blt s0, t0, .L2c
	# 18: a.deliver();
	li a6, 3
	lui a7, 128
	sw a6, 0(a7)
	# 19: return;
	j .L8e
.L2c:
	# 21: int link = linkTo(e, path.hop(hop));
	mv t0, s0
	slli t0, t0, 2
	lui a6, 48
	add a6, a6, t0
	lbu t0, 8(a6)
	lbu a7, 9(a6)
	slli t0, t0, 8
	or t0, t0, a7
	mv a0, t0
	jal PointToPoint.linkTo.Engine.int
	mv t0, a0
	mv s1, t0
	# 22: if (link < 0) {
	bgez s1, .L64
	# 23: a.drop(NO_ROUTE);
	li t0, 257
	lui a7, 128
	li a6, 4
	sw a6, 0(a7)
	sw t0, 8(a7)
	# 24: return;
	j .L8e
.L64:
	# 26: path.setHopIndex(hop);
	lui a7, 48
	sb s0, 4(a7)
	# 27: a.forward(link);
	lui a7, 128
	li a6, 1
	sw a6, 0(a7)
	sw s1, 20(a7)
	sw a6, 16(a7)
	# 28: a.cache();
	lui a7, 128
	lw a6, 4(a7)
	ori a6, a6, 1
	sw a6, 4(a7)
.L8e:
	# 14: @Entry
	lw ra, 12(sp)
	lw s0, 8(sp)
	lw s1, 4(sp)
	addi sp, sp, 16
	ret
PointToPoint.linkTo.Engine.int:
	# 9: for (int i = 0; i < e.linkCount(); i++)
	li a1, 0
	j .Ld8
.L9c:
	# 10: if (e.linkNeighbor(i) == next && e.linkUp(i)) return e.linkId(i);
	mv a2, a1
	li a6, 24
	mul a2, a2, a6
	lui a6, 112
	add a2, a2, a6
	lw a2, 20(a2)
	bne a2, a0, .Ld6
	mv a2, a1
	li a6, 24
	mul a2, a2, a6
	lui a6, 112
	add a2, a2, a6
	lw a2, 32(a2)
	beqz a2, .Ld6
	mv a2, a1
	li a6, 24
	mul a2, a2, a6
	lui a6, 112
	add a2, a2, a6
	lw a2, 16(a2)
	mv a0, a2
	ret
.Ld6:
	# 9: for (int i = 0; i < e.linkCount(); i++)
	addi a1, a1, 1
.Ld8:
	lui a2, 112
	lw a2, 8(a2)
	blt a1, a2, .L9c
	# 11: return -1;
	li a2, -1
	mv a0, a2
	# 8: static int linkTo(Engine e, int next) {
	ret
