# Nearest.java: 234 bytes of code, logic hash 1fb209a83856fdc3…
# entries: nearest @0, reply @94
# DATA +0 int nearestTag (4 bytes) = 05000000

	.text
	.globl nearest
	.globl reply
nearest:
	# 21: for (int i = 0; i < e.linkCount(); i++) {
	li a0, 0
	# 22: if (e.linkUp(i) && (e.linkTags(i) & (1 << nearestTag)) != 0 && e.linkId(i) != p.ingressLink()) {
	li a4, 24
	lui a3, 112
	li a2, 1
	lui t1, 64
	lui a1, 32
	lw t2, 44(a1)
	# 21: for (int i = 0; i < e.linkCount(); i++) {
	lw a6, 8(a3)
	j .L4a
.L1c:
	# 22: if (e.linkUp(i) && (e.linkTags(i) & (1 << nearestTag)) != 0 && e.linkId(i) != p.ingressLink()) {
	mul a1, a0, a4
	add a1, a1, a3
	lw a5, 32(a1)
	beqz a5, .L48
	lw a5, 36(a1)
	lw t0, 0(t1)
	sll t0, a2, t0
	and a5, a5, t0
	beqz a5, .L48
	lw a1, 16(a1)
	beq a1, t2, .L48
	# 23: a.forward(e.linkId(i));
	lui a0, 128
	sw a2, 0(a0)
	sw a1, 20(a0)
	sw a2, 16(a0)
	# 24: return;
	ret
.L48:
	# 21: for (int i = 0; i < e.linkCount(); i++) {
	addi a0, a0, 1
.L4a:
	blt a0, a6, .L1c
	# 27: a.drop(NO_MEMBER);
	li a1, 259
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	ret
reply:
	# 32: int hop = path.hopIndex() + 1;
	lui t1, 48
	lbu a0, 4(t1)
	addi t2, a0, 1
	# 33: if (hop >= path.hopCount()) {
	lbu a0, 5(t1)
	blt t2, a0, .L7c
	# 34: a.deliver();
	lui a0, 128
	li a1, 3
	sw a1, 0(a0)
	# 35: return;
	ret
.L7c:
	# 37: int link = -1;
	li a6, -1
	# 38: for (int i = 0; i < e.linkCount(); i++)
	li a0, 0
	# 39: if (e.linkNeighbor(i) == path.hop(hop) && e.linkUp(i)) link = e.linkId(i);
	li a3, 24
	lui a2, 112
	slli a1, t2, 2
	add a1, a1, t1
	lbu a4, 8(a1)
	lbu a1, 9(a1)
	slli a4, a4, 8
	or a5, a4, a1
	# 38: for (int i = 0; i < e.linkCount(); i++)
	lw t0, 8(a2)
	j .Lb6
.La0:
	# 39: if (e.linkNeighbor(i) == path.hop(hop) && e.linkUp(i)) link = e.linkId(i);
	mul a1, a0, a3
	add a1, a1, a2
	lw a4, 20(a1)
	bne a4, a5, .Lb4
	lw a4, 32(a1)
	beqz a4, .Lb4
	lw a1, 16(a1)
	mv a6, a1
.Lb4:
	# 38: for (int i = 0; i < e.linkCount(); i++)
	addi a0, a0, 1
.Lb6:
	blt a0, t0, .La0
	# 40: if (link < 0) {
	bgez a6, .Lce
	# 41: a.drop(NO_ROUTE);
	li a1, 257
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	# 42: return;
	ret
.Lce:
	# 44: path.setHopIndex(hop);
	sb t2, 4(t1)
	# 45: a.forward(link);
	li a1, 1
	lui a0, 128
	sw a1, 0(a0)
	sw a6, 20(a0)
	sw a1, 16(a0)
	# 46: a.cache();
	lw a1, 4(a0)
	ori a1, a1, 1
	sw a1, 4(a0)
	ret
