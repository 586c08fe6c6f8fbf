# MicroSegmentation.java: 328 bytes of code, logic hash 414a6d148eb9d019…
# entries: filter @0
# DATA +0 int[] allowFrom (12 bytes) = 010000000100000002000000
# DATA +12 int[] allowTo (12 bytes) = 020000000300000003000000

	.text
	.globl filter
filter:
	# 17: int from = p.srcAddress(3) & 0xFFFF;
	li a4, 3
	andi a4, a4, 3
	slli a4, a4, 2
	lui a6, 32
	add a6, a6, a4
	lbu a4, 0(a6)
	slli a4, a4, 8
	lbu a7, 1(a6)
	or a4, a4, a7
	slli a4, a4, 8
	lbu a7, 2(a6)
	or a4, a4, a7
	slli a4, a4, 8
	lbu a7, 3(a6)
	or a4, a4, a7
	lui a5, 16
	addi a5, a5, -1
	and a4, a4, a5
	mv a3, a4
	# 18: int to = p.dstAddress(3) & 0xFFFF;
	li a4, 3
	andi a4, a4, 3
	slli a4, a4, 2
	lui a6, 32
	add a6, a6, a4
	lbu a4, 16(a6)
	slli a4, a4, 8
	lbu a7, 17(a6)
	or a4, a4, a7
	slli a4, a4, 8
	lbu a7, 18(a6)
	or a4, a4, a7
	slli a4, a4, 8
	lbu a7, 19(a6)
	or a4, a4, a7
	lui a5, 16
	addi a5, a5, -1
	and a4, a4, a5
	mv a1, a4
	# 19: for (int i = 0; i < allowFrom.length; i++) {
	li a2, 0
	j .L12a
.L70:
	# 20: if (allowFrom[i] == from && allowTo[i] == to) {
	li a6, 3
	bgeu a2, a6, $trap
	slli a6, a2, 2
	lui a7, 64
	add a6, a6, a7
	lw a4, 0(a6)
	bne a4, a3, .L128
	li a6, 3
	bgeu a2, a6, $trap
	slli a6, a2, 2
	lui a7, 64
	add a6, a6, a7
	lw a4, 12(a6)
	bne a4, a1, .L128
	# 21: for (int k = 0; k < e.linkCount(); k++) {
	li a0, 0
	j .L10a
.La4:
	# 22: if (e.linkUp(k) && (e.linkTags(k) & (1 << (to & 31))) != 0) {
	mv a4, a0
	li a6, 24
	mul a4, a4, a6
	lui a6, 112
	add a4, a4, a6
	lw a4, 32(a4)
	beqz a4, .L108
	mv a4, a0
	li a6, 24
	mul a4, a4, a6
	lui a6, 112
	add a4, a4, a6
	lw a4, 36(a4)
	li a5, 1
	andi t0, a1, 31
	sll a5, a5, t0
	and a4, a4, a5
	beqz a4, .L108
	# 23: a.forward(e.linkId(k));
	mv a4, a0
	li a6, 24
	mul a4, a4, a6
	lui a6, 112
	add a4, a4, a6
	lw a4, 16(a4)
	lui a7, 128
	li a6, 1
	sw a6, 0(a7)
	sw a4, 20(a7)
	sw a6, 16(a7)
	# 24: a.cache();
	lui a7, 128
	lw a6, 4(a7)
	ori a6, a6, 1
	sw a6, 4(a7)
	# 25: return;
	ret
.L108:
	# 21: for (int k = 0; k < e.linkCount(); k++) {
	addi a0, a0, 1
.L10a:
	lui a4, 112
	lw a4, 8(a4)
	blt a0, a4, .La4
	# 28: a.drop(NO_ROUTE);
	li a4, 257
	lui a7, 128
	li a6, 4
	sw a6, 0(a7)
	sw a4, 8(a7)
	# 29: return;
	ret
.L128:
	# 19: for (int i = 0; i < allowFrom.length; i++) {
	addi a2, a2, 1
.L12a:
	li a4, 3
	blt a2, a4, .L70
	# 32: a.drop(DENIED);
	li a4, 258
	lui a7, 128
	li a6, 4
	sw a6, 0(a7)
	sw a4, 8(a7)
	# 15: @Entry
	ret
$trap:
	lw zero, 0(zero)
