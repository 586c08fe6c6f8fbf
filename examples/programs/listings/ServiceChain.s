# ServiceChain.java: 266 bytes of code, logic hash 3782ede15e7900f8…
# entries: chain @0
# DATA +0 boolean visited (1 bytes)

	.text
	.globl chain
chain:
	# 33: @Entry
	addi sp, sp, -16
	sw ra, 12(sp)
	sw s0, 8(sp)
	sw s1, 4(sp)
	# 35: a.trace();
	lui s0, 128
	lw a0, 4(s0)
	ori a0, a0, 2
	sw a0, 4(s0)
	# 36: if (!visited && (e.tags() & (1 << WAYPOINT)) != 0) visited = true;
	lui s1, 64
	lbu a0, 0(s1)
	bnez a0, .L2e
	lui a0, 112
	lw a0, 4(a0)
	andi a0, a0, 2
	beqz a0, .L2e
	li a0, 1
	sb a0, 0(s1)
.L2e:
	# 37: int destination = path.hop(path.hopCount() - 1);
	lui a0, 48
	lbu a1, 5(a0)
	addi a1, a1, -1
	slli a1, a1, 2
	add a0, a1, a0
	lbu a1, 8(a0)
	lbu a0, 9(a0)
	slli a1, a1, 8
	or t0, a1, a0
	# 38: if (visited && e.id() == destination) {
	lbu a0, 0(s1)
	beqz a0, .L62
	lui a1, 112
	lw a1, 0(a1)
	bne a1, t0, .L62
	# 39: a.deliver();
	li a0, 3
	sw a0, 0(s0)
	# 40: return;
	j .Lc4
.L62:
	# 42: int link = visited ? linkTo(e, destination) : linkWith(e, WAYPOINT, p.ingressLink());
	beqz a0, .L8e
	# 21: for (int i = 0; i < e.linkCount(); i++)
	li a0, 0
	# 22: if (e.linkNeighbor(i) == id && e.linkUp(i)) return e.linkId(i);
	li a3, 24
	lui a2, 112
	# 21: for (int i = 0; i < e.linkCount(); i++)
	lw a5, 8(a2)
	j .L86
.L70:
	# 22: if (e.linkNeighbor(i) == id && e.linkUp(i)) return e.linkId(i);
	mul a1, a0, a3
	add a1, a1, a2
	lw a4, 20(a1)
	bne a4, t0, .L84
	lw a4, 32(a1)
	beqz a4, .L84
	lw a0, 16(a1)
	j .L98
.L84:
	# 21: for (int i = 0; i < e.linkCount(); i++)
	addi a0, a0, 1
.L86:
	blt a0, a5, .L70
	# 23: return -1;
	li a0, -1
	j .L98
.L8e:
	# 42: int link = visited ? linkTo(e, destination) : linkWith(e, WAYPOINT, p.ingressLink());
	li a0, 1
	lui a1, 32
	lw a1, 44(a1)
	jal ServiceChain.linkWith.Engine.int.int
.L98:
	# 43: if (link < 0 && visited) link = linkWith(e, DESTINATION, p.ingressLink());
	bgez a0, .Lac
	lbu a1, 0(s1)
	beqz a1, .Lac
	li a0, 2
	lui a1, 32
	lw a1, 44(a1)
	jal ServiceChain.linkWith.Engine.int.int
.Lac:
	# 44: if (link < 0) a.drop(NO_ROUTE);
	bgez a0, .Lbc
	li a0, 257
	li a1, 4
	sw a1, 0(s0)
	sw a0, 8(s0)
	j .Lc4
.Lbc:
	# 45: else a.forward(link);
	li a1, 1
	sw a1, 0(s0)
	sw a0, 20(s0)
	sw a1, 16(s0)
.Lc4:
	lw ra, 12(sp)
	lw s0, 8(sp)
	lw s1, 4(sp)
	addi sp, sp, 16
	ret
ServiceChain.linkWith.Engine.int.int:
	# 27: static int linkWith(Engine e, int tag, int ingress) {
	mv a4, a0
	mv t1, a1
	# 28: for (int i = 0; i < e.linkCount(); i++)
	li a0, 0
	# 29: if (e.linkUp(i) && (e.linkTags(i) & (1 << tag)) != 0 && e.linkId(i) != ingress) return e.linkId(i);
	li a3, 24
	lui a2, 112
	li a1, 1
	sll a5, a1, a4
	# 28: for (int i = 0; i < e.linkCount(); i++)
	lw t0, 8(a2)
	j .L102
.Le6:
	# 29: if (e.linkUp(i) && (e.linkTags(i) & (1 << tag)) != 0 && e.linkId(i) != ingress) return e.linkId(i);
	mul a1, a0, a3
	add a1, a1, a2
	lw a4, 32(a1)
	beqz a4, .L100
	lw a4, 36(a1)
	and a4, a4, a5
	beqz a4, .L100
	lw a1, 16(a1)
	beq a1, t1, .L100
	mv a0, a1
	ret
.L100:
	# 28: for (int i = 0; i < e.linkCount(); i++)
	addi a0, a0, 1
.L102:
	blt a0, t0, .Le6
	# 30: return -1;
	li a0, -1
	ret
