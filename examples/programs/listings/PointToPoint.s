# PointToPoint.java: 138 bytes of code, logic hash be9444cabdba8fa7…
# entries: route @0

	.text
	.globl route
route:
	# 16: int hop = path.hopIndex() + 1;
	lui t1, 48
	lbu a0, 4(t1)
	addi t2, a0, 1
	# 17: if (hop >= path.hopCount()) {
	lbu a0, 5(t1)
	blt t2, a0, .L1e
	# 18: a.deliver();
	lui a0, 128
	li a1, 3
	sw a1, 0(a0)
	# 19: return;
	ret
.L1e:
	# 21: int link = linkTo(e, path.hop(hop));
	slli a0, t2, 2
	add a0, a0, t1
	lbu a1, 8(a0)
	lbu a0, 9(a0)
	slli a1, a1, 8
	or t0, a1, a0
	# 9: for (int i = 0; i < e.linkCount(); i++)
	li a0, 0
	# 10: if (e.linkNeighbor(i) == next && e.linkUp(i)) return e.linkId(i);
	li a3, 24
	lui a2, 112
	# 9: for (int i = 0; i < e.linkCount(); i++)
	lw a5, 8(a2)
	j .L54
.L3e:
	# 10: if (e.linkNeighbor(i) == next && e.linkUp(i)) return e.linkId(i);
	mul a1, a0, a3
	add a1, a1, a2
	lw a4, 20(a1)
	bne a4, t0, .L52
	lw a4, 32(a1)
	beqz a4, .L52
	lw a0, 16(a1)
	j .L5a
.L52:
	# 9: for (int i = 0; i < e.linkCount(); i++)
	addi a0, a0, 1
.L54:
	blt a0, a5, .L3e
	# 11: return -1;
	li a0, -1
.L5a:
	# 21: int link = linkTo(e, path.hop(hop));
	mv a1, a0
	# 22: if (link < 0) {
	bgez a1, .L70
	# 23: a.drop(NO_ROUTE);
	li a1, 257
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	# 24: return;
	ret
.L70:
	# 26: path.setHopIndex(hop);
	sb t2, 4(t1)
	# 27: a.forward(link);
	li a2, 1
	lui a0, 128
	sw a2, 0(a0)
	sw a1, 20(a0)
	sw a2, 16(a0)
	# 28: a.cache();
	lw a1, 4(a0)
	ori a1, a1, 1
	sw a1, 4(a0)
	ret
