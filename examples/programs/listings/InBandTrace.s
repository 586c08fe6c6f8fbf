# InBandTrace.java: 346 bytes of code, logic hash ed506329d55d589c…
# entries: trace @0
# DATA +0 int count (4 bytes)
# DATA +4 short[] engines (16 bytes)
# DATA +20 byte[] ingress (8 bytes)
# DATA +28 byte[] hopLimits (8 bytes)

	.text
	.globl trace
trace:
	# 17: if (count < engines.length) {
	lui a7, 64
	lw a3, 0(a7)
	li a4, 8
	bge a3, a4, .L92
	# 18: engines[count] = (short) e.id();
	lui a7, 64
	lw a4, 0(a7)
	lui a3, 112
	lw a3, 0(a3)
	slli a3, a3, 16
	srai a3, a3, 16
	li a6, 8
	bgeu a4, a6, $trap
	slli a6, a4, 1
	lui a7, 64
	add a6, a6, a7
	sh a3, 4(a6)
	# 19: ingress[count] = (byte) p.ingressLink();
	lui a7, 64
	lw a3, 0(a7)
	lui a4, 32
	lw a4, 44(a4)
	slli a4, a4, 24
	srai a4, a4, 24
	li a6, 8
	bgeu a3, a6, $trap
	mv a6, a3
	lui a7, 64
	add a6, a6, a7
	sb a4, 20(a6)
	# 20: hopLimits[count] = (byte) p.hopLimit();
	lui a7, 64
	lw a4, 0(a7)
	lui a3, 32
	lbu a3, 40(a3)
	slli a3, a3, 24
	srai a3, a3, 24
	li a6, 8
	bgeu a4, a6, $trap
	mv a6, a4
	lui a7, 64
	add a6, a6, a7
	sb a3, 28(a6)
	# 21: count++;
	lui a7, 64
	lw a3, 0(a7)
	addi a4, a3, 1
	lui a7, 64
	sw a4, 0(a7)
.L92:
	# 23: a.trace();
	lui a7, 128
	lw a6, 4(a7)
	ori a6, a6, 2
	sw a6, 4(a7)
	# 24: int hop = path.hopIndex() + 1;
	lui a3, 48
	lbu a3, 4(a3)
	addi a3, a3, 1
	mv a1, a3
	# 25: if (hop >= path.hopCount()) {
	lui a3, 48
	lbu a3, 5(a3)
	blt a1, a3, .Lc6
	# 26: a.deliver();
	li a6, 3
	lui a7, 128
	sw a6, 0(a7)
	# 27: return;
	ret
.Lc6:
	# 29: int next = path.hop(hop);
	mv a3, a1
	slli a3, a3, 2
	lui a6, 48
	add a6, a6, a3
	lbu a3, 8(a6)
	lbu a7, 9(a6)
	slli a3, a3, 8
	or a3, a3, a7
	mv a2, a3
	# 30: for (int i = 0; i < e.linkCount(); i++) {
	li a0, 0
	j .L138
.Le4:
	# 31: if (e.linkNeighbor(i) == next && e.linkUp(i)) {
	mv a3, a0
	li a6, 24
	mul a3, a3, a6
	lui a6, 112
	add a3, a3, a6
	lw a3, 20(a3)
	bne a3, a2, .L136
	mv a3, a0
	li a6, 24
	mul a3, a3, a6
	lui a6, 112
	add a3, a3, a6
	lw a3, 32(a3)
	beqz a3, .L136
	# 32: path.setHopIndex(hop);
	lui a7, 48
	sb a1, 4(a7)
	# 33: a.forward(e.linkId(i));
	mv a3, a0
	li a6, 24
	mul a3, a3, a6
	lui a6, 112
	add a3, a3, a6
	lw a3, 16(a3)
	lui a7, 128
	li a6, 1
	sw a6, 0(a7)
	sw a3, 20(a7)
	sw a6, 16(a7)
	# 34: return;
	ret
.L136:
	# 30: for (int i = 0; i < e.linkCount(); i++) {
	addi a0, a0, 1
.L138:
	lui a3, 112
	lw a3, 8(a3)
	blt a0, a3, .Le4
	# 37: a.drop(NO_ROUTE);
	li a3, 257
	lui a7, 128
	li a6, 4
	sw a6, 0(a7)
	sw a3, 8(a7)
	# 15: @Entry
	ret
$trap:
	lw zero, 0(zero)
