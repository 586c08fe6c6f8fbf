/**
 * The microprograms of the engine tests: the library functions the SDK issue describes (route on
 * the controller's path, balance by flow hash, replicate to a tagged group, chain through a
 * waypoint) and the misbehaving programs of the adversarial tests. Written in RV32 assembly for
 * the test assembler (test/asm.ts) so the engine's tests do not depend on the compiler's progress;
 * `test/library.test.ts` also runs the SDK-compiled library from examples/programs when present.
 *
 * Entry registers: a0 PACKET, a1 ACTION, a2 DATA, a3 FLOW, a4 CONTRACT, a5 ENGINE, a6 PATH.
 * ACTION: 0 verdict, 4 flags (1 CACHE, 2 TRACE), 8 drop reason, 16 egress count, 20 egress links.
 * ENGINE: 8 link count, 16 + 24i: id, neighbor, kind, cost, up, tags.
 * PATH: 4 hop index, 5 hop count, 8 + 4i: hop i = engine id (big-endian u16), entry, flags.
 */
import { assemble } from './asm';

/** Shared tail: forward towards the next PATH hop (cached), deliver at the last one. */
const routeTailOf = (cache: boolean) => `
route:
  lbu t0, 4(a6)          # hop index
  lbu t1, 5(a6)          # hop count
  addi t2, t0, 1
  bge t2, t1, deliver
  slli t2, t2, 2
  add t2, t2, a6
  lbu t3, 8(t2)
  lbu t4, 9(t2)
  slli t3, t3, 8
  or t3, t3, t4          # engine id of the next hop
  lw t5, 8(a5)           # link count
  addi t6, a5, 16        # link table
scan:
  beq t5, zero, nolink
  lw t4, 4(t6)
  bne t4, t3, skip
  lw t4, 16(t6)
  beq t4, zero, skip
  lw t4, 0(t6)
  li s0, 1
  sw s0, 0(a1)           # FORWARD
  sw t4, 20(a1)
  sw s0, 16(a1)
${cache ? '  sw s0, 4(a1)           # CACHE' : ''}
  ebreak
skip:
  addi t6, t6, 24
  addi t5, t5, -1
  j scan
nolink:
  li t0, 4
  sw t0, 0(a1)
  li t0, 257
  sw t0, 8(a1)
  ebreak
deliver:
  li t0, 3
  sw t0, 0(a1)           # DELIVER
  li t0, ${cache ? 1 : 0}
  sw t0, 4(a1)           # CACHE when cached
  ebreak
`;
const routeTail = routeTailOf(true);

/** Point to point along the PATH: DATA word 0 counts hops, FLOW word 0 packets, CONTRACT word 0 all packets (AMO). */
export const route = program(`
entry:
  lw t0, 0(a2)
  addi t0, t0, 1
  sw t0, 0(a2)
  lw t0, 0(a3)
  addi t0, t0, 1
  sw t0, 0(a3)
  li t0, 1
  amoadd.w zero, t0, (a4)
  j route
${routeTail}`);

/** `route`, and FLOW word 0 counts this flow's runs at the engine, shown in DATA word 1 (the receiver reads it). */
export const routeShowingFlow = program(`
entry:
  lw t0, 0(a3)
  addi t0, t0, 1
  sw t0, 0(a3)
  sw t0, 4(a2)
  j route
${routeTail}`);

/** Point to point along the PATH, cached, reading no DATA (the agents' packets may carry none). */
export const routeWithoutData = program(`
entry:
  j route
${routeTail}`);

/** Load balancing: entry 0 picks one of the up links tagged 3 by flow hash (cached); entry 1 delivers. */
export const balance = program(
  `
entry:
  li a0, 0
  li a7, 2
  ecall                  # FLOW_HASH
  mv s2, a0
  li a0, 3               # tag 3
  li a1, 0xf0000         # STACK scratch
  li a2, 16
  li a7, 3
  ecall                  # LOOKUP_TAG: a0 = links found
  li s1, 0x80000         # ACTION
  beq a0, zero, none
  remu t0, s2, a0
  slli t0, t0, 2
  li t1, 0xf0000
  add t1, t1, t0
  lw t2, 0(t1)
  li t3, 1
  sw t3, 0(s1)
  sw t2, 20(s1)
  sw t3, 16(s1)
  sw t3, 4(s1)
  ebreak
none:
  li t0, 4
  sw t0, 0(s1)
  li t0, 258
  sw t0, 8(s1)
  ebreak
last:
  li t0, 3
  sw t0, 0(a1)
  ebreak
`,
  ['entry', 'last'],
);

/** Multicast: REPLICATE to every up link tagged 5 (LOOKUP_TAG straight into the egress list). */
export const replicate = program(`
entry:
  li s1, 0x80000
  li a0, 5
  addi a1, s1, 20
  li a2, 16
  li a7, 3
  ecall
  beq a0, zero, leaf
  sw a0, 16(s1)
  li t0, 2
  sw t0, 0(s1)           # REPLICATE
  ebreak
leaf:
  li t0, 3
  sw t0, 0(s1)           # no group links here: deliver to the destination host
  ebreak
`);

/** Service chaining: entry 0 routes, entry 1 (waypoint) marks DATA word 1 with its engine id, entry 2 (egress) drops unmarked packets. */
export const chain = program(
  `
entry:
  j route
waypoint:
  lw t0, 0(a5)           # engine id
  sw t0, 4(a2)
  j route
egress:
  lw t0, 4(a2)
  bne t0, zero, route
  li t0, 4
  sw t0, 0(a1)
  li t0, 259             # bypassed the waypoint
  sw t0, 8(a1)
  ebreak
${routeTail}`,
  ['entry', 'waypoint', 'egress'],
);

/** Route, after LOG of the int 257 (4 bytes little-endian, what the SDK's Services.log(257) passes). */
export const logThenRoute = program(`
entry:
  li t0, 257
  sw t0, 8(a2)
  mv s1, a1
  addi a0, a2, 8
  li a1, 4
  li a7, 6               # LOG
  ecall
  mv a1, s1
  j route
${routeTail}`);

/** logThenRoute without the CACHE flag: every packet logs (the fast path leaves LOG to JavaScript). */
export const logThenRouteUncached = program(`
entry:
  li t0, 257
  sw t0, 8(a2)
  mv s1, a1
  addi a0, a2, 8
  li a1, 4
  li a7, 6               # LOG
  ecall
  mv a1, s1
  j route
${routeTailOf(false)}`);

/** Never ends: fuel runs out. */
export const loop = program(`
entry:
  j entry
`);

/** Writes past its DATA chunk: ACCESS_FAULT. */
export const outOfBounds = program(`
entry:
  li t0, 1
  sw t0, 252(a2)
  ebreak
`);

/** Forwards to a link id the engine does not have: NO_ROUTE. */
export const forwardNowhere = program(`
entry:
  li t0, 1
  sw t0, 0(a1)           # FORWARD
  sw t0, 16(a1)          # one link
  li t0, 0x7777
  sw t0, 20(a1)          # not a link of this engine
  ebreak
`);

/** Asks for a service that does not exist: BAD_SERVICE. */
export const badService = program(`
entry:
  li a7, 99
  ecall
  ebreak
`);

/** Route without the CACHE flag: every packet runs the program (benchmarks: type III per packet). */
export const routeUncached = program(`
entry:
  lw t0, 0(a2)
  addi t0, t0, 1
  sw t0, 0(a2)
  j route
${routeTailOf(false)}`);

/** DELIVER, cached only when the packet is type I (PACKET record 0x2b): type II and III runs clear the cache. */
export const deliverCachingTypeI = program(`
entry:
  li t0, 3
  sw t0, 0(a1)           # DELIVER
  lbu t0, 0x2b(a0)
  addi t0, t0, -1
  sltiu t0, t0, 1
  sw t0, 4(a1)           # CACHE on a type I packet
  ebreak
`);

/** routeUncached that also writes its PACKET record's packet type (0x2b) into DATA byte 4. */
export const routeStampingType = program(`
entry:
  lbu t0, 0x2b(a0)
  sb t0, 4(a2)
  lw t0, 0(a2)
  addi t0, t0, 1
  sw t0, 0(a2)
  j route
${routeTailOf(false)}`);

/** routeUncached that numbers its contract's runs: CONTRACT word 0 counts them (AMO), DATA word 1 gets the count before this one. */
export const routeNumberingContract = program(`
entry:
  li t1, 1
  amoadd.w t0, t1, (a4)
  sw t0, 4(a2)
  j route
${routeTailOf(false)}`);

/** A test program: machine code and its CODE chunk entry table. */
export interface AsmProgram {
  readonly machineCode: Uint8Array;
  readonly entryOffsets: number[];
}

function program(source: string, entries: readonly string[] = ['entry']): AsmProgram {
  const { code, labels } = assemble(source);
  return { machineCode: code, entryOffsets: entries.map((name) => labels[name]!) };
}
