# LoadBalancer.java: 430 bytes of code, logic hash a9b71202056c28dd…
# entries: byFlowHash @0, leastLoaded @106, reply @286
# DATA +0 int roleTag (4 bytes) = 03000000
# CONTRACT +0 int[] flows (64 bytes)
# FLOW +0 int chosen (4 bytes)

	.text
	.globl byFlowHash
	.globl leastLoaded
	.globl reply
byFlowHash:
	# 18: @Entry
	addi sp, sp, -48
	# 20: int[] members = new int[8];
	mv a3, sp
	li a4, 8
	sw a4, 0(a3)
	# 21: int n = Services.lookupTag(roleTag, members);
	lui a0, 64
	lw a0, 0(a0)
	lw a2, 0(a3)
	addi a1, a3, 4
	li a7, 3
	ecall
	mv a2, a0
	# 22: if (n == 0) {
	bnez a2, .L30
	# 23: a.drop(NO_MEMBER);
	li a1, 259
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	# 24: return;
	addi sp, sp, 48
	ret
.L30:
	# 26: int h = Services.flowHash(0) & 0x7FFFFFFF;
	li a0, 0
	li a7, 2
	ecall
	lui a1, 524288
	addi a1, a1, -1
	and a0, a0, a1
	# 27: a.forward(members[h % n]);
	beqz a2, $trap
	rem a0, a0, a2
	bgeu a0, a4, $trap
	slli a0, a0, 2
	add a0, a0, a3
	lw a2, 4(a0)
	li a1, 1
	lui a0, 128
	sw a1, 0(a0)
	sw a2, 20(a0)
	sw a1, 16(a0)
	# 28: a.cache();
	lw a1, 4(a0)
	ori a1, a1, 1
	sw a1, 4(a0)
	addi sp, sp, 48
	ret
leastLoaded:
	# 33: if (chosen != 0) {
	lui t4, 80
	lw a0, 0(t4)
	beqz a0, .L86
	# 34: a.forward(chosen - 1);
	addi a2, a0, -1
	li a1, 1
	lui a0, 128
	sw a1, 0(a0)
	sw a2, 20(a0)
	sw a1, 16(a0)
	# 35: return;
	ret
.L86:
	# 37: int best = -1;
	li t3, -1
	# 38: int bestLoad = Integer.MAX_VALUE;
	lui a4, 524288
	addi a4, a4, -1
	# 39: for (int i = 0; i < e.linkCount() && i < flows.length; i++) {
	li a0, 0
	# 40: if (e.linkUp(i) && (e.linkTags(i) & (1 << roleTag)) != 0 && flows[i] < bestLoad) {
	li a5, 24
	lui a1, 112
	li a3, 1
	lui a6, 64
	lui t0, 96
	# 39: for (int i = 0; i < e.linkCount() && i < flows.length; i++) {
	lw a7, 8(a1)
	li t1, 16
	j .Ld8
.La8:
	# 40: if (e.linkUp(i) && (e.linkTags(i) & (1 << roleTag)) != 0 && flows[i] < bestLoad) {
	mul a2, a0, a5
	add a2, a2, a1
	lw t2, 32(a2)
	beqz t2, .Ld6
	lw a2, 36(a2)
	lw t2, 0(a6)
	sll t2, a3, t2
	and a2, a2, t2
	beqz a2, .Ld6
	slli a2, a0, 2
	add a2, a2, t0
	lw a2, 0(a2)
	bge a2, a4, .Ld6
	# 41: best = i;
	mv t3, a0
	# 42: bestLoad = flows[i];
	mv a4, a2
.Ld6:
	# 39: for (int i = 0; i < e.linkCount() && i < flows.length; i++) {
	addi a0, a0, 1
.Ld8:
	bge a0, a7, .Le0
	blt a0, t1, .La8
.Le0:
	# 45: if (best < 0) {
	bgez t3, .Lf4
	# 46: a.drop(NO_MEMBER);
	li a1, 259
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	# 47: return;
	ret
.Lf4:
	# 49: Services.fetchAdd(flows, best, 1);
	bgeu t3, t1, $trap
	slli a0, t3, 2
	add a0, a0, t0
	amoadd.w a0, a3, (a0)
	# 50: chosen = e.linkId(best) + 1;
	mul a0, t3, a5
	add a0, a0, a1
	lw a1, 16(a0)
	addi a0, a1, 1
	sw a0, 0(t4)
	# 51: a.forward(e.linkId(best));
	lui a0, 128
	sw a3, 0(a0)
	sw a1, 20(a0)
	sw a3, 16(a0)
	ret
reply:
	# 56: int hop = path.hopIndex() + 1;
	lui t1, 48
	lbu a0, 4(t1)
	addi t2, a0, 1
	# 57: if (hop >= path.hopCount()) {
	lbu a0, 5(t1)
	blt t2, a0, .L13c
	# 58: a.deliver();
	lui a0, 128
	li a1, 3
	sw a1, 0(a0)
	# 59: return;
	ret
.L13c:
	# 61: int link = -1;
	li a6, -1
	# 62: for (int i = 0; i < e.linkCount(); i++)
	li a0, 0
	# 63: if (e.linkNeighbor(i) == path.hop(hop) && e.linkUp(i)) link = e.linkId(i);
	li a3, 24
	lui a2, 112
	slli a1, t2, 2
	add a1, a1, t1
	lbu a4, 8(a1)
	lbu a1, 9(a1)
	slli a4, a4, 8
	or a5, a4, a1
	# 62: for (int i = 0; i < e.linkCount(); i++)
	lw t0, 8(a2)
	j .L176
.L160:
	# 63: if (e.linkNeighbor(i) == path.hop(hop) && e.linkUp(i)) link = e.linkId(i);
	mul a1, a0, a3
	add a1, a1, a2
	lw a4, 20(a1)
	bne a4, a5, .L174
	lw a4, 32(a1)
	beqz a4, .L174
	lw a1, 16(a1)
	mv a6, a1
.L174:
	# 62: for (int i = 0; i < e.linkCount(); i++)
	addi a0, a0, 1
.L176:
	blt a0, t0, .L160
	# 64: if (link < 0) {
	bgez a6, .L18e
	# 65: a.drop(NO_ROUTE);
	li a1, 257
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	# 66: return;
	ret
.L18e:
	# 68: path.setHopIndex(hop);
	sb t2, 4(t1)
	# 69: a.forward(link);
	li a1, 1
	lui a0, 128
	sw a1, 0(a0)
	sw a6, 20(a0)
	sw a1, 16(a0)
	# 70: a.cache();
	lw a1, 4(a0)
	ori a1, a1, 1
	sw a1, 4(a0)
	ret
$trap:
	lw zero, 0(zero)
