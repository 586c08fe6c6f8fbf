# PathChoice.java: 248 bytes of code, logic hash 2dc3313e953f1bc9…
# entries: choose @0
# DATA +0 int label (4 bytes) = 04000000

	.text
	.globl choose
choose:
	# 19: @Entry
	addi sp, sp, -16
	sw s0, 12(sp)
	# 21: a.trace();
	lui s0, 128
	lw a0, 4(s0)
	ori a0, a0, 2
	sw a0, 4(s0)
	# 22: int destination = path.hop(path.hopCount() - 1);
	lui a0, 48
	lbu a1, 5(a0)
	addi a1, a1, -1
	slli a1, a1, 2
	add a0, a1, a0
	lbu a1, 8(a0)
	lbu a0, 9(a0)
	slli a1, a1, 8
	or t5, a1, a0
	# 23: if (e.id() == destination) {
	lui a3, 112
	lw a0, 0(a3)
	bne a0, t5, .L42
	# 24: a.deliver();
	li a0, 3
	sw a0, 0(s0)
	# 25: return;
	lw s0, 12(sp)
	addi sp, sp, 16
	ret
.L42:
	# 27: int best = -1;
	li t6, -1
	mv t4, t6
	# 28: int bestCost = Integer.MAX_VALUE;
	lui a6, 524288
	addi a6, a6, -1
	# 30: for (int i = 0; i < e.linkCount(); i++) {
	li a1, 0
	# 31: if (!e.linkUp(i) || e.linkId(i) == p.ingressLink()) continue;
	li a4, 24
	lui a0, 32
	lw a5, 44(a0)
	# 32: if ((e.linkTags(i) & (1 << label)) != 0 && e.linkCost(i) < bestCost) {
	li t2, 1
	lui t3, 64
	# 30: for (int i = 0; i < e.linkCount(); i++) {
	lw t1, 8(a3)
	j .L9e
.L62:
	# 31: if (!e.linkUp(i) || e.linkId(i) == p.ingressLink()) continue;
	mul a0, a1, a4
	add a0, a0, a3
	lw a2, 32(a0)
	beqz a2, .L9c
	lw a2, 16(a0)
	bne a2, a5, .L74
	j .L9c
.L74:
	# 32: if ((e.linkTags(i) & (1 << label)) != 0 && e.linkCost(i) < bestCost) {
	lw t0, 36(a0)
	lw a7, 0(t3)
	sll a7, t2, a7
	and t0, t0, a7
	beqz t0, .L94
	lw t0, 28(a0)
	bge t0, a6, .L94
	# 33: best = e.linkId(i);
	mv t4, a2
	# 34: bestCost = e.linkCost(i);
	mv a6, t0
.L94:
	# 36: if (e.linkNeighbor(i) == destination) direct = e.linkId(i);
	lw a0, 20(a0)
	bne a0, t5, .L9c
	mv t6, a2
.L9c:
	# 30: for (int i = 0; i < e.linkCount(); i++) {
	addi a1, a1, 1
.L9e:
	blt a1, t1, .L62
	# 38: int link = best >= 0 ? best : direct;
	bgez t4, .La8
	mv t4, t6
.La8:
	mv a6, t4
	# 39: if (link < 0) {
	bgez a6, .Ld2
	# 40: for (int i = 0; i < e.linkCount(); i++)
	li a0, 0
	j .Lce
.Lb2:
	# 41: if (e.linkId(i) == p.ingressLink() && e.linkUp(i) && e.linkKind(i) == 0) link = e.linkId(i);
	mul a1, a0, a4
	add a1, a1, a3
	lw a2, 16(a1)
	bne a2, a5, .Lcc
	lw t0, 32(a1)
	beqz t0, .Lcc
	lw a1, 24(a1)
	bnez a1, .Lcc
	mv a6, a2
.Lcc:
	# 40: for (int i = 0; i < e.linkCount(); i++)
	addi a0, a0, 1
.Lce:
	blt a0, t1, .Lb2
.Ld2:
	# 43: if (link < 0) {
	bgez a6, .Le6
	# 44: a.drop(NO_ROUTE);
	li a0, 257
	li a1, 4
	sw a1, 0(s0)
	sw a0, 8(s0)
	# 45: return;
	lw s0, 12(sp)
	addi sp, sp, 16
	ret
.Le6:
	# 47: a.forward(link);
	sw t2, 0(s0)
	sw a6, 20(s0)
	sw t2, 16(s0)
	lw s0, 12(sp)
	addi sp, sp, 16
	ret
