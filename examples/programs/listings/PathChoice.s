# PathChoice.java: 146 bytes of code, logic hash 6dc0994644eebf2e…
# entries: choose @0
# DATA +0 int label (4 bytes) = 04000000

	.text
	.globl choose
choose:
	# 14: int best = -1;
	li t5, -1
	mv t4, t5
	# 15: int bestCost = Integer.MAX_VALUE;
	lui t0, 524288
	addi t0, t0, -1
	mv a5, t0
	# 18: for (int i = 0; i < e.linkCount(); i++) {
	li a0, 0
	# 19: if (!e.linkUp(i) || e.linkId(i) == p.ingressLink()) continue;
	li t1, 24
	lui a3, 112
	lui a1, 32
	lw t2, 44(a1)
	# 21: if ((e.linkTags(i) & (1 << label)) != 0) {
	li a4, 1
	lui a7, 64
	# 18: for (int i = 0; i < e.linkCount(); i++) {
	lw t3, 8(a3)
	j .L60
.L28:
	# 19: if (!e.linkUp(i) || e.linkId(i) == p.ingressLink()) continue;
	mul a1, a0, t1
	add a1, a1, a3
	lw a2, 32(a1)
	beqz a2, .L5e
	lw a2, 16(a1)
	bne a2, t2, .L3a
	j .L5e
.L3a:
	# 20: int cost = e.linkCost(i);
	lw a2, 28(a1)
	# 21: if ((e.linkTags(i) & (1 << label)) != 0) {
	lw a1, 36(a1)
	lw a6, 0(a7)
	sll a6, a4, a6
	and a1, a1, a6
	beqz a1, .L56
	# 22: if (cost < bestCost) {
	bge a2, a5, .L5e
	# 23: best = i;
	mv t4, a0
	# 24: bestCost = cost;
	mv a5, a2
	j .L5e
.L56:
	# 26: } else if (cost < backupCost) {
	bge a2, t0, .L5e
	# 27: backup = i;
	mv t5, a0
	# 28: backupCost = cost;
	mv t0, a2
.L5e:
	# 18: for (int i = 0; i < e.linkCount(); i++) {
	addi a0, a0, 1
.L60:
	blt a0, t3, .L28
	# 31: int pick = best >= 0 ? best : backup;
	bgez t4, .L6a
	mv t4, t5
.L6a:
	# 32: if (pick < 0) a.drop(NO_ROUTE);
	bgez t4, .L7e
	li a1, 257
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	ret
.L7e:
	# 33: else a.forward(e.linkId(pick));
	mul a0, t4, t1
	add a0, a0, a3
	lw a1, 16(a0)
	lui a0, 128
	sw a4, 0(a0)
	sw a1, 20(a0)
	sw a4, 16(a0)
	ret
