# MicroSegmentation.java: 218 bytes of code, logic hash 9466b32b27317d28…
# entries: filter @0
# DATA +0 int[] allowFrom (12 bytes) = 010000000100000002000000
# DATA +12 int[] allowTo (12 bytes) = 020000000300000003000000

	.text
	.globl filter
filter:
	# 17: int from = p.srcAddress(3) & 0xFFFF;
	lui a0, 32
	lbu a1, 12(a0)
	slli a1, a1, 8
	lbu a2, 13(a0)
	or a1, a1, a2
	slli a1, a1, 8
	lbu a2, 14(a0)
	or a1, a1, a2
	slli a1, a1, 8
	lbu a2, 15(a0)
	or a2, a1, a2
	lui a1, 16
	addi a1, a1, -1
	and t0, a2, a1
	# 18: int to = p.dstAddress(3) & 0xFFFF;
	lbu a2, 28(a0)
	slli a2, a2, 8
	lbu a3, 29(a0)
	or a2, a2, a3
	slli a2, a2, 8
	lbu a3, 30(a0)
	or a2, a2, a3
	slli a2, a2, 8
	lbu a0, 31(a0)
	or a0, a2, a0
	and a1, a0, a1
	# 19: for (int i = 0; i < allowFrom.length; i++) {
	li a0, 0
	# 20: if (allowFrom[i] == from && allowTo[i] == to) {
	lui a4, 64
	li a3, 3
	# 19: for (int i = 0; i < allowFrom.length; i++) {
	j .Lc2
.L56:
	# 20: if (allowFrom[i] == from && allowTo[i] == to) {
	slli a2, a0, 2
	add a2, a2, a4
	lw a5, 0(a2)
	bne a5, t0, .Lc0
	bgeu a0, a3, $trap
	lw a2, 12(a2)
	bne a2, a1, .Lc0
	# 21: for (int k = 0; k < e.linkCount(); k++) {
	li a0, 0
	# 22: if (e.linkUp(k) && (e.linkTags(k) & (1 << (to & 31))) != 0) {
	li a4, 24
	lui a3, 112
	li a2, 1
	andi a1, a1, 31
	sll t0, a2, a1
	# 21: for (int k = 0; k < e.linkCount(); k++) {
	lw t1, 8(a3)
	j .Lac
.L82:
	# 22: if (e.linkUp(k) && (e.linkTags(k) & (1 << (to & 31))) != 0) {
	mul a1, a0, a4
	add a1, a1, a3
	lw a5, 32(a1)
	beqz a5, .Laa
	lw a5, 36(a1)
	and a5, a5, t0
	beqz a5, .Laa
	# 23: a.forward(e.linkId(k));
	lw a1, 16(a1)
	lui a0, 128
	sw a2, 0(a0)
	sw a1, 20(a0)
	sw a2, 16(a0)
	# 24: a.cache();
	lw a1, 4(a0)
	ori a1, a1, 1
	sw a1, 4(a0)
	# 25: return;
	ret
.Laa:
	# 21: for (int k = 0; k < e.linkCount(); k++) {
	addi a0, a0, 1
.Lac:
	blt a0, t1, .L82
	# 28: a.drop(NO_ROUTE);
	li a1, 257
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	# 29: return;
	ret
.Lc0:
	# 19: for (int i = 0; i < allowFrom.length; i++) {
	addi a0, a0, 1
.Lc2:
	blt a0, a3, .L56
	# 32: a.drop(DENIED);
	li a1, 258
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	ret
$trap:
	lw zero, 0(zero)
