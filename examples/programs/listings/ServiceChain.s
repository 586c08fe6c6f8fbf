# ServiceChain.java: 122 bytes of code, logic hash 1f290c8f48d22536…
# entries: chain @0
# DATA +0 boolean visited (1 bytes)

	.text
	.globl chain
chain:
	# 23: if (!visited && (e.tags() & (1 << WAYPOINT)) != 0) visited = true;
	lui a0, 64
	lbu a1, 0(a0)
	bnez a1, .L1a
	lui a1, 112
	lw a1, 4(a1)
	andi a1, a1, 2
	beqz a1, .L1a
	li a1, 1
	sb a1, 0(a0)
.L1a:
	# 24: int link = firstLinkWith(e, visited ? DESTINATION : WAYPOINT);
	lbu a0, 0(a0)
	beqz a0, .L24
	li a1, 2
	j .L26
.L24:
	li a1, 1
.L26:
	# 16: for (int i = 0; i < e.linkCount(); i++)
	li a0, 0
	# 17: if (e.linkUp(i) && (e.linkTags(i) & (1 << tag)) != 0) return e.linkId(i);
	li a4, 24
	lui a2, 112
	li a3, 1
	sll t0, a3, a1
	# 16: for (int i = 0; i < e.linkCount(); i++)
	lw t1, 8(a2)
	j .L52
.L3a:
	# 17: if (e.linkUp(i) && (e.linkTags(i) & (1 << tag)) != 0) return e.linkId(i);
	mul a1, a0, a4
	add a1, a1, a2
	lw a5, 32(a1)
	beqz a5, .L50
	lw a5, 36(a1)
	and a5, a5, t0
	beqz a5, .L50
	lw a0, 16(a1)
	j .L58
.L50:
	# 16: for (int i = 0; i < e.linkCount(); i++)
	addi a0, a0, 1
.L52:
	blt a0, t1, .L3a
	# 18: return -1;
	li a0, -1
.L58:
	# 24: int link = firstLinkWith(e, visited ? DESTINATION : WAYPOINT);
	mv a1, a0
	# 25: if (link < 0) a.drop(NO_ROUTE);
	bgez a1, .L6e
	li a1, 257
	lui a0, 128
	li a2, 4
	sw a2, 0(a0)
	sw a1, 8(a0)
	ret
.L6e:
	# 26: else a.forward(link);
	lui a0, 128
	sw a3, 0(a0)
	sw a1, 20(a0)
	sw a3, 16(a0)
	ret
