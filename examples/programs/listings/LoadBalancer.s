# LoadBalancer.java: 510 bytes of code, logic hash 349614bdb7df2ae7…
# entries: byFlowHash @0, leastLoaded @168, reply @366
# DATA +0 int roleTag (4 bytes) = 03000000
# CONTRACT +0 int[] flows (64 bytes)
# FLOW +0 int chosen (4 bytes)

	.text
	.globl byFlowHash
	.globl leastLoaded
	.globl reply
byFlowHash:
	# 20: @Entry
	addi sp, sp, -80
	# 22: int[] found = new int[8];
	mv t1, sp
	li a4, 8
	sw a4, 0(t1)
	# 23: int[] members = new int[8];
	addi t2, sp, 36
	sw a4, 0(t2)
	# 24: int m = Services.lookupTag(roleTag, found);
	lui a0, 64
	lw a0, 0(a0)
	lw a2, 0(t1)
	addi a1, t1, 4
	li a7, 3
	ecall
	mv a6, a0
	# 25: int n = 0;
	li a2, 0
	# 26: for (int i = 0; i < m; i++)
	li a0, 0
	# 27: if (found[i] != p.ingressLink()) members[n++] = found[i];
	lui a1, 32
	lw a5, 44(a1)
	mv t0, t2
	# 26: for (int i = 0; i < m; i++)
	j .L56
.L36:
	# 27: if (found[i] != p.ingressLink()) members[n++] = found[i];
	bgeu a0, a4, $trap
	slli a1, a0, 2
	add a1, a1, t1
	lw a1, 4(a1)
	beq a1, a5, .L54
	mv a3, a2
	addi a2, a2, 1
	bgeu a3, a4, $trap
	slli a3, a3, 2
	add a3, a3, t0
	sw a1, 4(a3)
.L54:
	# 26: for (int i = 0; i < m; i++)
	addi a0, a0, 1
.L56:
	blt a0, a6, .L36
	# 28: if (n == 0) {
	bnez a2, .L6e
	# 29: a.drop(NO_MEMBER);
	li a1, 259
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	# 30: return;
	addi sp, sp, 80
	ret
.L6e:
	# 32: int h = Services.flowHash(0) & 0x7FFFFFFF;
	li a0, 0
	li a7, 2
	ecall
	lui a1, 524288
	addi a1, a1, -1
	and a0, a0, a1
	# 33: a.forward(members[h % n]);
	beqz a2, $trap
	rem a0, a0, a2
	bgeu a0, a4, $trap
	slli a0, a0, 2
	add a0, a0, t2
	lw a2, 4(a0)
	li a1, 1
	lui a0, 128
	sw a1, 0(a0)
	sw a2, 20(a0)
	sw a1, 16(a0)
	# 34: a.cache();
	lw a1, 4(a0)
	ori a1, a1, 1
	sw a1, 4(a0)
	addi sp, sp, 80
	ret
leastLoaded:
	# 39: if (chosen != 0) {
	lui t6, 80
	lw a0, 0(t6)
	beqz a0, .Lc4
	# 40: a.forward(chosen - 1);
	addi a2, a0, -1
	li a1, 1
	lui a0, 128
	sw a1, 0(a0)
	sw a2, 20(a0)
	sw a1, 16(a0)
	# 41: return;
	ret
.Lc4:
	# 43: int best = -1;
	li t5, -1
	# 44: int bestLoad = Integer.MAX_VALUE;
	lui a4, 524288
	addi a4, a4, -1
	# 45: for (int i = 0; i < e.linkCount() && i < flows.length; i++) {
	li a0, 0
	# 46: if (e.linkUp(i) && (e.linkTags(i) & (1 << roleTag)) != 0 && e.linkId(i) != p.ingressLink() && flows[i] < bestLoad) {
	li a5, 24
	lui a2, 112
	li a3, 1
	lui a7, 64
	lui a1, 32
	lw t3, 44(a1)
	lui t0, 96
	# 45: for (int i = 0; i < e.linkCount() && i < flows.length; i++) {
	lw t4, 8(a2)
	li t1, 16
	j .L128
.Lee:
	# 46: if (e.linkUp(i) && (e.linkTags(i) & (1 << roleTag)) != 0 && e.linkId(i) != p.ingressLink() && flows[i] < bestLoad) {
	mul a1, a0, a5
	add a1, a1, a2
	lw t2, 32(a1)
	beqz t2, .L126
	lw t2, 36(a1)
	lw a6, 0(a7)
	sll a6, a3, a6
	and t2, t2, a6
	beqz t2, .L126
	lw a1, 16(a1)
	beq a1, t3, .L126
	slli a1, a0, 2
	add a1, a1, t0
	lw a1, 0(a1)
	bge a1, a4, .L126
	# 47: best = i;
	mv t5, a0
	# 48: bestLoad = flows[i];
	mv a4, a1
.L126:
	# 45: for (int i = 0; i < e.linkCount() && i < flows.length; i++) {
	addi a0, a0, 1
.L128:
	bge a0, t4, .L130
	blt a0, t1, .Lee
.L130:
	# 51: if (best < 0) {
	bgez t5, .L144
	# 52: a.drop(NO_MEMBER);
	li a1, 259
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	# 53: return;
	ret
.L144:
	# 55: Services.fetchAdd(flows, best, 1);
	bgeu t5, t1, $trap
	slli a0, t5, 2
	add a0, a0, t0
	amoadd.w a0, a3, (a0)
	# 56: chosen = e.linkId(best) + 1;
	mul a0, t5, a5
	add a0, a0, a2
	lw a1, 16(a0)
	addi a0, a1, 1
	sw a0, 0(t6)
	# 57: a.forward(e.linkId(best));
	lui a0, 128
	sw a3, 0(a0)
	sw a1, 20(a0)
	sw a3, 16(a0)
	ret
reply:
	# 62: int hop = path.hopIndex() + 1;
	lui t1, 48
	lbu a0, 4(t1)
	addi t2, a0, 1
	# 63: if (hop >= path.hopCount()) {
	lbu a0, 5(t1)
	blt t2, a0, .L18c
	# 64: a.deliver();
	lui a0, 128
	li a1, 3
	sw a1, 0(a0)
	# 65: return;
	ret
.L18c:
	# 67: int link = -1;
	li a6, -1
	# 68: for (int i = 0; i < e.linkCount(); i++)
	li a0, 0
	# 69: if (e.linkNeighbor(i) == path.hop(hop) && e.linkUp(i)) link = e.linkId(i);
	li a3, 24
	lui a2, 112
	slli a1, t2, 2
	add a1, a1, t1
	lbu a4, 8(a1)
	lbu a1, 9(a1)
	slli a4, a4, 8
	or a5, a4, a1
	# 68: for (int i = 0; i < e.linkCount(); i++)
	lw t0, 8(a2)
	j .L1c6
.L1b0:
	# 69: if (e.linkNeighbor(i) == path.hop(hop) && e.linkUp(i)) link = e.linkId(i);
	mul a1, a0, a3
	add a1, a1, a2
	lw a4, 20(a1)
	bne a4, a5, .L1c4
	lw a4, 32(a1)
	beqz a4, .L1c4
	lw a1, 16(a1)
	mv a6, a1
.L1c4:
	# 68: for (int i = 0; i < e.linkCount(); i++)
	addi a0, a0, 1
.L1c6:
	blt a0, t0, .L1b0
	# 70: if (link < 0) {
	bgez a6, .L1de
	# 71: a.drop(NO_ROUTE);
	li a1, 257
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	# 72: return;
	ret
.L1de:
	# 74: path.setHopIndex(hop);
	sb t2, 4(t1)
	# 75: a.forward(link);
	li a1, 1
	lui a0, 128
	sw a1, 0(a0)
	sw a6, 20(a0)
	sw a1, 16(a0)
	# 76: a.cache();
	lw a1, 4(a0)
	ori a1, a1, 1
	sw a1, 4(a0)
	ret
$trap:
	lw zero, 0(zero)
