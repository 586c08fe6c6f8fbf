# PortFilter.java: 250 bytes of code, logic hash cf38f411d3959878…
# entries: toPort @0, fromPort @60
# DATA +0 int protocol (4 bytes) = 06000000
# DATA +4 int port (4 bytes) = 901f0000

	.text
	.globl toPort
	.globl fromPort
toPort:
	# 43: @Entry
	addi sp, sp, -16
	sw ra, 12(sp)
	# 45: if (p.nextHeader() != protocol || p.dstPort() != port) a.drop(DENIED);
	lui a0, 32
	lbu a2, 41(a0)
	lui a1, 64
	lw a3, 0(a1)
	bne a2, a3, .L20
	lhu a0, 62(a0)
	lw a1, 4(a1)
	beq a0, a1, .L34
.L20:
	li a1, 258
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	lw ra, 12(sp)
	addi sp, sp, 16
	ret
.L34:
	# 46: else route(path, e, a);
	jal PortFilter.route.Path.Engine.Action
	lw ra, 12(sp)
	addi sp, sp, 16
	ret
fromPort:
	# 49: @Entry
	addi sp, sp, -16
	sw ra, 12(sp)
	# 51: if (p.nextHeader() != protocol || p.srcPort() != port) a.drop(DENIED);
	lui a0, 32
	lbu a2, 41(a0)
	lui a1, 64
	lw a3, 0(a1)
	bne a2, a3, .L5c
	lhu a0, 60(a0)
	lw a1, 4(a1)
	beq a0, a1, .L70
.L5c:
	li a1, 258
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	lw ra, 12(sp)
	addi sp, sp, 16
	ret
.L70:
	# 52: else route(path, e, a);
	jal PortFilter.route.Path.Engine.Action
	lw ra, 12(sp)
	addi sp, sp, 16
	ret
PortFilter.route.Path.Engine.Action:
	# 29: int hop = path.hopIndex() + 1;
	lui t1, 48
	lbu a0, 4(t1)
	addi t2, a0, 1
	# 30: if (hop >= path.hopCount()) {
	lbu a0, 5(t1)
	blt t2, a0, .L96
	# 31: a.deliver();
	lui a0, 128
	li a1, 3
	sw a1, 0(a0)
	# 32: return;
	ret
.L96:
	# 34: int link = linkTo(e, path.hop(hop));
	slli a0, t2, 2
	add a0, a0, t1
	lbu a1, 8(a0)
	lbu a0, 9(a0)
	slli a1, a1, 8
	or t0, a1, a0
	# 22: for (int i = 0; i < e.linkCount(); i++)
	li a0, 0
	# 23: if (e.linkNeighbor(i) == next && e.linkUp(i)) return e.linkId(i);
	li a3, 24
	lui a2, 112
	# 22: for (int i = 0; i < e.linkCount(); i++)
	lw a5, 8(a2)
	j .Lcc
.Lb6:
	# 23: if (e.linkNeighbor(i) == next && e.linkUp(i)) return e.linkId(i);
	mul a1, a0, a3
	add a1, a1, a2
	lw a4, 20(a1)
	bne a4, t0, .Lca
	lw a4, 32(a1)
	beqz a4, .Lca
	lw a0, 16(a1)
	j .Ld2
.Lca:
	# 22: for (int i = 0; i < e.linkCount(); i++)
	addi a0, a0, 1
.Lcc:
	blt a0, a5, .Lb6
	# 24: return -1;
	li a0, -1
.Ld2:
	# 34: int link = linkTo(e, path.hop(hop));
	mv a1, a0
	# 35: if (link < 0) {
	bgez a1, .Le8
	# 36: a.drop(NO_ROUTE);
	li a1, 257
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	# 37: return;
	ret
.Le8:
	# 39: path.setHopIndex(hop);
	sb t2, 4(t1)
	# 40: a.forward(link);
	li a2, 1
	lui a0, 128
	sw a2, 0(a0)
	sw a1, 20(a0)
	sw a2, 16(a0)
	ret
