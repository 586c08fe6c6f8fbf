# PathChoice.java: 256 bytes of code, logic hash ece93f1a2376452a…
# entries: choose @0
# DATA +0 int label (4 bytes) = 04000000

	.text
	.globl choose
choose:
	# 12: @Entry
	addi sp, sp, -16
	sw s0, 12(sp)
	# 14: int best = -1;
	li t0, -1
	mv a4, t0
	# 15: int bestCost = Integer.MAX_VALUE;
	lui t0, 524288
	addi t0, t0, -1
	mv a2, t0
	# 16: int backup = -1;
	li t0, -1
	mv a5, t0
	# 17: int backupCost = Integer.MAX_VALUE;
	lui t0, 524288
	addi t0, t0, -1
	mv a3, t0
	# 18: for (int i = 0; i < e.linkCount(); i++) {
	li a0, 0
	j .La6
.L20:
	# 19: if (!e.linkUp(i) || e.linkId(i) == p.ingressLink()) continue;
	mv t0, a0
	li a6, 24
	mul t0, t0, a6
	lui a6, 112
	add t0, t0, a6
	lw t0, 32(t0)
	beqz t0, .L54
	mv t0, a0
	li a6, 24
	mul t0, t0, a6
	lui a6, 112
	add t0, t0, a6
	lw t0, 16(t0)
	lui t1, 32
	lw t1, 44(t1)
	bne t0, t1, .L56
.L54:
	j .La4
.L56:
	# 20: int cost = e.linkCost(i);
	mv t1, a0
	li a6, 24
	mul t1, t1, a6
	lui a6, 112
	add t1, t1, a6
	lw t1, 28(t1)
	mv a1, t1
	# 21: if ((e.linkTags(i) & (1 << label)) != 0) {
	mv t1, a0
	li a6, 24
	mul t1, t1, a6
	lui a6, 112
	add t1, t1, a6
	lw t1, 36(t1)
	li t0, 1
	lui a7, 64
	lw t2, 0(a7)
	sll t0, t0, t2
	and t1, t1, t0
	beqz t1, .L9c
	# 22: if (cost < bestCost) {
	bge a1, a2, .L9a
	# 23: best = i;
	mv a4, a0
	# 24: bestCost = cost;
	mv a2, a1
.L9a:
	j .La4
.L9c:
	# 26: } else if (cost < backupCost) {
	bge a1, a3, .La4
	# 27: backup = i;
	mv a5, a0
	# 28: backupCost = cost;
	mv a3, a1
.La4:
	# 18: for (int i = 0; i < e.linkCount(); i++) {
	addi a0, a0, 1
.La6:
	lui t1, 112
	lw t1, 8(t1)
	blt a0, t1, .L20
	# 31: int pick = best >= 0 ? best : backup;
	bltz a4, .Lba
	mv t1, a4
	j .Lbc
.Lba:
	mv t1, a5
.Lbc:
	mv s0, t1
	# 32: if (pick < 0) a.drop(NO_ROUTE);
	bgez s0, .Ld6
	li t1, 257
	lui a7, 128
	li a6, 4
	sw a6, 0(a7)
	sw t1, 8(a7)
	j .Lfa
.Ld6:
	# 33: else a.forward(e.linkId(pick));
	mv t1, s0
	li a6, 24
	mul t1, t1, a6
	lui a6, 112
	add t1, t1, a6
	lw t1, 16(t1)
	lui a7, 128
	li a6, 1
	sw a6, 0(a7)
	sw t1, 20(a7)
	sw a6, 16(a7)
.Lfa:
	# 12: @Entry
	lw s0, 12(sp)
	addi sp, sp, 16
	ret
