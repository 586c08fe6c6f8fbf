# InBandTrace.java: 210 bytes of code, logic hash bec8c14ded851b5f…
# entries: trace @0
# DATA +0 int count (4 bytes)
# DATA +4 short[] engines (16 bytes)
# DATA +20 byte[] ingress (8 bytes)
# DATA +28 byte[] hopLimits (8 bytes)

	.text
	.globl trace
trace:
	# 17: if (count < engines.length) {
	lui a0, 64
	lw a2, 0(a0)
	li a1, 8
	bge a2, a1, .L54
	# 18: engines[count] = (short) e.id();
	lui a3, 112
	lw a3, 0(a3)
	slli a3, a3, 16
	srai a3, a3, 16
	bgeu a2, a1, $trap
	slli a2, a2, 1
	add a2, a2, a0
	sh a3, 4(a2)
	# 19: ingress[count] = (byte) p.ingressLink();
	lw a3, 0(a0)
	lui a4, 32
	lw a2, 44(a4)
	slli a2, a2, 24
	srai a2, a2, 24
	bgeu a3, a1, $trap
	add a3, a3, a0
	sb a2, 20(a3)
	# 20: hopLimits[count] = (byte) p.hopLimit();
	lw a3, 0(a0)
	lbu a2, 40(a4)
	slli a2, a2, 24
	srai a2, a2, 24
	bgeu a3, a1, $trap
	add a1, a3, a0
	sb a2, 28(a1)
	# 21: count++;
	lw a1, 0(a0)
	addi a1, a1, 1
	sw a1, 0(a0)
.L54:
	# 23: a.trace();
	lui a2, 128
	lw a0, 4(a2)
	ori a0, a0, 2
	sw a0, 4(a2)
	# 24: int hop = path.hopIndex() + 1;
	lui t1, 48
	lbu a0, 4(t1)
	addi t2, a0, 1
	# 25: if (hop >= path.hopCount()) {
	lbu a0, 5(t1)
	blt t2, a0, .L7a
	# 26: a.deliver();
	li a0, 3
	sw a0, 0(a2)
	# 27: return;
	ret
.L7a:
	# 29: int next = path.hop(hop);
	slli a0, t2, 2
	add a0, a0, t1
	lbu a1, 8(a0)
	lbu a0, 9(a0)
	slli a1, a1, 8
	or a6, a1, a0
	# 30: for (int i = 0; i < e.linkCount(); i++) {
	li a0, 0
	# 31: if (e.linkNeighbor(i) == next && e.linkUp(i)) {
	li a4, 24
	lui a3, 112
	# 30: for (int i = 0; i < e.linkCount(); i++) {
	lw t0, 8(a3)
	j .Lbe
.L9c:
	# 31: if (e.linkNeighbor(i) == next && e.linkUp(i)) {
	mul a1, a0, a4
	add a1, a1, a3
	lw a5, 20(a1)
	bne a5, a6, .Lbc
	lw a5, 32(a1)
	beqz a5, .Lbc
	# 32: path.setHopIndex(hop);
	sb t2, 4(t1)
	# 33: a.forward(e.linkId(i));
	lw a1, 16(a1)
	li a0, 1
	sw a0, 0(a2)
	sw a1, 20(a2)
	sw a0, 16(a2)
	# 34: return;
	ret
.Lbc:
	# 30: for (int i = 0; i < e.linkCount(); i++) {
	addi a0, a0, 1
.Lbe:
	blt a0, t0, .L9c
	# 37: a.drop(NO_ROUTE);
	li a0, 257
	li a1, 4
	sw a1, 0(a2)
	sw a0, 8(a2)
	ret
$trap:
	lw zero, 0(zero)
