# LoadBalancer.java: 722 bytes of code, logic hash 140e98f8fbe89ca0…
# entries: byFlowHash @0, leastLoaded @194, reply @514
# DATA +0 int roleTag (4 bytes) = 03000000
# CONTRACT +0 int[] flows (64 bytes)
# FLOW +0 int chosen (4 bytes)

	.text
	.globl byFlowHash
	.globl leastLoaded
	.globl reply
byFlowHash:
	# 18: @Entry
	addi sp, sp, -64
	sw ra, 60(sp)
	sw s0, 56(sp)
	sw s1, 52(sp)
	sw s2, 48(sp)
	# 20: int[] members = new int[8];
	mv t0, sp
	li a6, 8
	sw a6, 0(t0)
	sw zero, 4(t0)
	sw zero, 8(t0)
	sw zero, 12(t0)
	sw zero, 16(t0)
	sw zero, 20(t0)
	sw zero, 24(t0)
	sw zero, 28(t0)
	sw zero, 32(t0)
	mv s0, t0
	# 21: int n = Services.lookupTag(roleTag, members);
	lui a7, 64
	lw t0, 0(a7)
	mv a0, t0
	lw a2, 0(s0)
	addi a1, s0, 4
	li a7, 3
	ecall
	mv t0, a0
	mv s1, t0
	# 22: if (n == 0) {
	bnez s1, .L64
	# 23: a.drop(NO_MEMBER);
	li t0, 259
	lui a7, 128
	li a6, 4
	sw a6, 0(a7)
	sw t0, 8(a7)
	# 24: return;
	j .Lb6
.L64:
	# 26: int h = Services.flowHash(0) & 0x7FFFFFFF;
	li a0, 0
	li a7, 2
	ecall
	mv t0, a0
	lui t1, 524288
	addi t1, t1, -1
	and t0, t0, t1
	mv s2, t0
	# 27: a.forward(members[h % n]);
	beqz s1, $trap
	rem t0, s2, s1
	lw a6, 0(s0)
	bgeu t0, a6, $trap
	slli a6, t0, 2
	add a6, a6, s0
	lw t0, 4(a6)
	lui a7, 128
	li a6, 1
	sw a6, 0(a7)
	sw t0, 20(a7)
	sw a6, 16(a7)
	# 28: a.cache();
	lui a7, 128
	lw a6, 4(a7)
	ori a6, a6, 1
	sw a6, 4(a7)
.Lb6:
	# 18: @Entry
	lw ra, 60(sp)
	lw s0, 56(sp)
	lw s1, 52(sp)
	lw s2, 48(sp)
	addi sp, sp, 64
	ret
leastLoaded:
	# 31: @Entry
	addi sp, sp, -16
	sw ra, 12(sp)
	sw s0, 8(sp)
	sw s1, 4(sp)
	sw s2, 0(sp)
	# 33: if (chosen != 0) {
	lui a7, 80
	lw t0, 0(a7)
	beqz t0, .Lf6
	# 34: a.forward(chosen - 1);
	lui a7, 80
	lw t0, 0(a7)
	addi t0, t0, -1
	lui a7, 128
	li a6, 1
	sw a6, 0(a7)
	sw t0, 20(a7)
	sw a6, 16(a7)
	# 35: return;
	j .L1f6
.Lf6:
	# 37: int best = -1;
	li t0, -1
	mv s2, t0
	# 38: int bestLoad = Integer.MAX_VALUE;
	lui t0, 524288
	addi t0, t0, -1
	mv s1, t0
	# 39: for (int i = 0; i < e.linkCount() && i < flows.length; i++) {
	li s0, 0
	j .L176
.L106:
	# 40: if (e.linkUp(i) && (e.linkTags(i) & (1 << roleTag)) != 0 && flows[i] < bestLoad) {
	mv t0, s0
	li a6, 24
	mul t0, t0, a6
	lui a6, 112
	add t0, t0, a6
	lw t0, 32(t0)
	beqz t0, .L174
	mv t0, s0
	li a6, 24
	mul t0, t0, a6
	lui a6, 112
	add t0, t0, a6
	lw t0, 36(t0)
	li t1, 1
	lui a7, 64
	lw t2, 0(a7)
	sll t1, t1, t2
	and t0, t0, t1
	beqz t0, .L174
	li a6, 16
	bgeu s0, a6, $trap
	slli a6, s0, 2
	lui a7, 96
	add a6, a6, a7
	lw t0, 0(a6)
	bge t0, s1, .L174
	# 41: best = i;
	mv s2, s0
	# 42: bestLoad = flows[i];
	li a6, 16
	bgeu s0, a6, $trap
	slli a6, s0, 2
	lui a7, 96
	add a6, a6, a7
	lw t0, 0(a6)
	mv s1, t0
.L174:
	# 39: for (int i = 0; i < e.linkCount() && i < flows.length; i++) {
	addi s0, s0, 1
.L176:
	lui t0, 112
	lw t0, 8(t0)
	bge s0, t0, .L188
	li t0, 16
	blt s0, t0, .L106
.L188:
	# 45: if (best < 0) {
	bgez s2, .L1a0
	# 46: a.drop(NO_MEMBER);
	li t0, 259
	lui a7, 128
	li a6, 4
	sw a6, 0(a7)
	sw t0, 8(a7)
	# 47: return;
	j .L1f6
.L1a0:
	# 49: Services.fetchAdd(flows, best, 1);
	mv t0, s2
	li t1, 1
	li a6, 16
	bgeu t0, a6, $trap
	slli t0, t0, 2
	lui a6, 96
	add t0, t0, a6
	amoadd.w t0, t1, (t0)
	# 50: chosen = e.linkId(best) + 1;
	mv t0, s2
	li a6, 24
	mul t0, t0, a6
	lui a6, 112
	add t0, t0, a6
	lw t0, 16(t0)
	addi t0, t0, 1
	lui a7, 80
	sw t0, 0(a7)
	# 51: a.forward(e.linkId(best));
	mv t0, s2
	li a6, 24
	mul t0, t0, a6
	lui a6, 112
	add t0, t0, a6
	lw t0, 16(t0)
	lui a7, 128
	li a6, 1
	sw a6, 0(a7)
	sw t0, 20(a7)
	sw a6, 16(a7)
.L1f6:
	# 31: @Entry
	lw ra, 12(sp)
	lw s0, 8(sp)
	lw s1, 4(sp)
	lw s2, 0(sp)
	addi sp, sp, 16
	ret
reply:
	# 56: int hop = path.hopIndex() + 1;
	lui a3, 48
	lbu a3, 4(a3)
	addi a3, a3, 1
	mv a1, a3
	# 57: if (hop >= path.hopCount()) {
	lui a3, 48
	lbu a3, 5(a3)
	blt a1, a3, .L226
	# 58: a.deliver();
	li a6, 3
	lui a7, 128
	sw a6, 0(a7)
	# 59: return;
	ret
.L226:
	# 61: int link = -1;
	li a3, -1
	mv a2, a3
	# 62: for (int i = 0; i < e.linkCount(); i++)
	li a0, 0
	j .L280
.L22e:
	# 63: if (e.linkNeighbor(i) == path.hop(hop) && e.linkUp(i)) link = e.linkId(i);
	mv a3, a0
	li a6, 24
	mul a3, a3, a6
	lui a6, 112
	add a3, a3, a6
	lw a3, 20(a3)
	mv a4, a1
	slli a4, a4, 2
	lui a6, 48
	add a6, a6, a4
	lbu a4, 8(a6)
	lbu a7, 9(a6)
	slli a4, a4, 8
	or a4, a4, a7
	bne a3, a4, .L27e
	mv a4, a0
	li a6, 24
	mul a4, a4, a6
	lui a6, 112
	add a4, a4, a6
	lw a4, 32(a4)
	beqz a4, .L27e
	mv a4, a0
	li a6, 24
	mul a4, a4, a6
	lui a6, 112
	add a4, a4, a6
	lw a4, 16(a4)
	mv a2, a4
.L27e:
	# 62: for (int i = 0; i < e.linkCount(); i++)
	addi a0, a0, 1
.L280:
	lui a4, 112
	lw a4, 8(a4)
	blt a0, a4, .L22e
	# 64: if (link < 0) {
	bgez a2, .L2a2
	# 65: a.drop(NO_ROUTE);
	li a4, 257
	lui a7, 128
	li a6, 4
	sw a6, 0(a7)
	sw a4, 8(a7)
	# 66: return;
	ret
.L2a2:
	# 68: path.setHopIndex(hop);
	lui a7, 48
	sb a1, 4(a7)
	# 69: a.forward(link);
	lui a7, 128
	li a6, 1
	sw a6, 0(a7)
	sw a2, 20(a7)
	sw a6, 16(a7)
	# 70: a.cache();
	lui a7, 128
	lw a6, 4(a7)
	ori a6, a6, 1
	sw a6, 4(a7)
	# 54: @Entry
	ret
$trap:
	lw zero, 0(zero)
