/**
 * The sandbox ABI: what a program sees when an engine runs it. Region map, entry registers, the
 * records the engine fills (PACKET, ENGINE) and reads back (ACTION, PATH, DATA), services (ECALL),
 * verdicts and trap reasons. docs/vm.md documents every field; the SDK's compiler and the engine
 * both build on these constants, so their names and values are stable.
 *
 * Every region starts on a 64 KiB boundary: region number = address >>> 16.
 * All multi-byte fields are little-endian (the byte order of RV32).
 */

/** Access rights of a region (bit set). */
export const Access = {
  READ: 1,
  WRITE: 2,
  EXECUTE: 4,
  /** LR/SC and AMO instructions are allowed (CONTRACT only). */
  ATOMIC: 8,
} as const;

/** One region of the sandbox address space. */
export interface RegionSpec {
  readonly name: RegionName;
  /** Virtual base address (a multiple of 0x10000). */
  readonly base: number;
  /** Largest size in bytes; PATH and DATA are accessible only over their current chunk length. */
  readonly maxSizeBytes: number;
  readonly access: number;
  /** What survives the execution: 'program', 'packet', 'flow', 'contract', 'engine' or 'execution'. */
  readonly lifetime: 'program' | 'packet' | 'travels' | 'flow' | 'contract' | 'engine' | 'execution';
}

/** Region names. */
export type RegionName =
  | 'CODE'
  | 'PACKET'
  | 'PATH'
  | 'DATA'
  | 'FLOW'
  | 'CONTRACT'
  | 'ENGINE'
  | 'ACTION'
  | 'STACK';

/** Region base addresses. */
export const CODE_BASE = 0x0001_0000;
export const PACKET_BASE = 0x0002_0000;
export const PATH_BASE = 0x0003_0000;
export const DATA_BASE = 0x0004_0000;
export const FLOW_BASE = 0x0005_0000;
export const CONTRACT_BASE = 0x0006_0000;
export const ENGINE_BASE = 0x0007_0000;
export const ACTION_BASE = 0x0008_0000;
export const STACK_BASE = 0x000f_0000;

/** Region sizes in bytes (maximum sizes for CODE, PATH, DATA and ENGINE). */
export const CODE_MAX_BYTES = 1024;
export const PACKET_BYTES = 256;
export const PATH_MAX_BYTES = 256;
export const DATA_MAX_BYTES = 256;
export const FLOW_BYTES = 256;
export const CONTRACT_BYTES = 4096;
export const ENGINE_MAX_BYTES = 4096;
export const ACTION_BYTES = 128;
export const STACK_BYTES = 4096;
/** Initial stack pointer: the top of STACK (16-byte aligned, as the psABI asks). */
export const STACK_TOP = STACK_BASE + STACK_BYTES;

/** The region map, in address order. Any address outside these regions traps. */
export const regionMap: readonly RegionSpec[] = [
  {
    name: 'CODE',
    base: CODE_BASE,
    maxSizeBytes: CODE_MAX_BYTES,
    access: Access.EXECUTE,
    lifetime: 'program',
  },
  { name: 'PACKET', base: PACKET_BASE, maxSizeBytes: PACKET_BYTES, access: Access.READ, lifetime: 'packet' },
  {
    name: 'PATH',
    base: PATH_BASE,
    maxSizeBytes: PATH_MAX_BYTES,
    access: Access.READ | Access.WRITE,
    lifetime: 'travels',
  },
  {
    name: 'DATA',
    base: DATA_BASE,
    maxSizeBytes: DATA_MAX_BYTES,
    access: Access.READ | Access.WRITE,
    lifetime: 'travels',
  },
  {
    name: 'FLOW',
    base: FLOW_BASE,
    maxSizeBytes: FLOW_BYTES,
    access: Access.READ | Access.WRITE,
    lifetime: 'flow',
  },
  {
    name: 'CONTRACT',
    base: CONTRACT_BASE,
    maxSizeBytes: CONTRACT_BYTES,
    access: Access.READ | Access.WRITE | Access.ATOMIC,
    lifetime: 'contract',
  },
  {
    name: 'ENGINE',
    base: ENGINE_BASE,
    maxSizeBytes: ENGINE_MAX_BYTES,
    access: Access.READ,
    lifetime: 'engine',
  },
  {
    name: 'ACTION',
    base: ACTION_BASE,
    maxSizeBytes: ACTION_BYTES,
    access: Access.READ | Access.WRITE,
    lifetime: 'execution',
  },
  {
    name: 'STACK',
    base: STACK_BASE,
    maxSizeBytes: STACK_BYTES,
    access: Access.READ | Access.WRITE,
    lifetime: 'execution',
  },
];

/** Register numbers (x0..x31) used by the entry convention. */
export const Reg = {
  ZERO: 0,
  RA: 1,
  SP: 2,
  A0: 10,
  A1: 11,
  A2: 12,
  A3: 13,
  A4: 14,
  A5: 15,
  A6: 16,
  A7: 17,
} as const;

/**
 * Registers at entry: ra = 0 (returning to 0 ends the program), sp = STACK_TOP, a0..a6 = the bases
 * of PACKET, ACTION, DATA, FLOW, CONTRACT, ENGINE, PATH; every other register is 0.
 */
export const entryRegisters: readonly (readonly [register: number, value: number])[] = [
  [Reg.RA, 0],
  [Reg.SP, STACK_TOP],
  [Reg.A0, PACKET_BASE],
  [Reg.A1, ACTION_BASE],
  [Reg.A2, DATA_BASE],
  [Reg.A3, FLOW_BASE],
  [Reg.A4, CONTRACT_BASE],
  [Reg.A5, ENGINE_BASE],
  [Reg.A6, PATH_BASE],
];

/**
 * PACKET record (256 bytes, read only; the engine fills it per packet). Byte offsets:
 *
 * ```
 *  0x00  src address      16 B   IPv6 source (the sender's CGA)
 *  0x10  dst address      16 B   IPv6 destination
 *  0x20  flow label       u32    20-bit IPv6 flow label
 *  0x24  packet length    u16    whole IPv6 packet, bytes
 *  0x26  payload length   u16    upper-layer payload, bytes
 *  0x28  hop limit        u8
 *  0x29  next header      u8     the sealed packet's protocol (6 TCP, 17 UDP, 58 ICMPv6, …): TRANSPORT chunk
 *  0x2a  traffic class    u8
 *  0x2b  packet type      u8     capsule packet type (1, 2, 3: first, code-carrying, cached)
 *  0x2c  ingress link     u32    link id the packet arrived on
 *  0x30  time low         u32    engine clock, milliseconds since the Unix epoch (low word)
 *  0x34  time high        u32    (high word)
 *  0x38  path length      u16    bytes in the PATH chunk (accessible size of PATH)
 *  0x3a  data length      u16    bytes in the DATA chunk (accessible size of DATA)
 *  0x3c  src port         u16    the sealed packet's TCP/UDP source port (TRANSPORT chunk), else 0
 *  0x3e  dst port         u16    the sealed packet's TCP/UDP destination port (TRANSPORT chunk), else 0
 *  0x40  entry            u32    entry offset this engine started the program at
 *  0x44  reserved         188 B  zero
 * ```
 */
export const PacketField = {
  SRC_ADDRESS: 0x00,
  DST_ADDRESS: 0x10,
  FLOW_LABEL: 0x20,
  PACKET_LENGTH: 0x24,
  PAYLOAD_LENGTH: 0x26,
  HOP_LIMIT: 0x28,
  NEXT_HEADER: 0x29,
  TRAFFIC_CLASS: 0x2a,
  PACKET_TYPE: 0x2b,
  INGRESS_LINK: 0x2c,
  TIME_LOW: 0x30,
  TIME_HIGH: 0x34,
  PATH_LENGTH: 0x38,
  DATA_LENGTH: 0x3a,
  SRC_PORT: 0x3c,
  DST_PORT: 0x3e,
  ENTRY: 0x40,
} as const;

/**
 * ACTION set (128 bytes, read/write, zeroed before every execution). Byte offsets:
 *
 * ```
 *  0x00  verdict        u32     Verdict code; 0 (none) at the end = DROP with reason NO_VERDICT
 *  0x04  flags          u32     ActionFlag bits: CACHE, TRACE
 *  0x08  drop reason    u32     program's own reason when verdict = DROP (≥ 0x100 by convention)
 *  0x0c  next entry     u32     CODE offset the next engine starts at (0 = the program's start)
 *  0x10  egress count   u32     number of valid entries in the egress list (≤ 16)
 *  0x14  egress links   u32[16] link ids: FORWARD uses entry 0; REPLICATE uses 1..count
 *  0x54  reserved       44 B
 * ```
 */
export const ActionField = {
  VERDICT: 0x00,
  FLAGS: 0x04,
  DROP_REASON: 0x08,
  NEXT_ENTRY: 0x0c,
  EGRESS_COUNT: 0x10,
  EGRESS_LINKS: 0x14,
} as const;
/** Capacity of the ACTION egress link list. */
export const EGRESS_MAX_LINKS = 16;

/** ACTION flags. */
export const ActionFlag = {
  /** Apply this action to the flow's later type III packets without running the program. */
  CACHE: 1,
  /** Record this execution in the engine's trace. */
  TRACE: 2,
} as const;

/** Verdict codes (ACTION.verdict). */
export const Verdict = {
  NONE: 0,
  FORWARD: 1,
  REPLICATE: 2,
  DELIVER: 3,
  DROP: 4,
} as const;
/** A verdict code value. */
export type VerdictCode = (typeof Verdict)[keyof typeof Verdict];

/**
 * ENGINE record (≤ 4 KiB, read only; the engine fills it when its configuration changes):
 *
 * ```
 *  0x00  engine id   u32
 *  0x04  tags        u32   bit set of the engine's tags
 *  0x08  link count  u32   entries in the link table (≤ ENGINE_MAX_LINKS)
 *  0x0c  reserved    u32
 *  0x10  link table  count × 24 B, each:
 *          +0x00 id u32, +0x04 neighbor u32 (engine id, or 0 for a host), +0x08 kind u32 (LinkKind),
 *          +0x0c cost u32, +0x10 up u32 (1 up, 0 down), +0x14 tags u32 (bit set)
 * ```
 */
export const EngineField = {
  ENGINE_ID: 0x00,
  TAGS: 0x04,
  LINK_COUNT: 0x08,
  LINK_TABLE: 0x10,
} as const;
/** Size of one link table entry and the offsets within it. */
export const ENGINE_LINK_BYTES = 24;
export const EngineLinkField = {
  ID: 0x00,
  NEIGHBOR: 0x04,
  KIND: 0x08,
  COST: 0x0c,
  UP: 0x10,
  TAGS: 0x14,
} as const;
/** Most links the ENGINE record can hold. */
export const ENGINE_MAX_LINKS = Math.floor((ENGINE_MAX_BYTES - EngineField.LINK_TABLE) / ENGINE_LINK_BYTES);
/** Link kinds (ENGINE link table). */
export const LinkKind = { ENGINE: 0, HOST: 1, LOCAL: 2 } as const;

/**
 * PATH and DATA rules: each chunk is mapped at its region base, read/write, over exactly its
 * current length (PACKET.path length / data length, ≤ 256 bytes); an access past the length traps
 * (ACCESS_FAULT). After a non-DROP verdict the engine writes both chunks back into the packet, so
 * what a program stores there travels to the next engine. FLOW and CONTRACT memory persist on the
 * engine (per flow, per contract); ACTION and STACK start zeroed; nothing else survives.
 */
export const travellingRegions: readonly RegionName[] = ['PATH', 'DATA'];

/** Service numbers (ECALL, number in a7). */
export const Service = {
  EMIT: 1,
  FLOW_HASH: 2,
  LOOKUP_TAG: 3,
  TIME: 4,
  RANDOM: 5,
  LOG: 6,
} as const;
/** A service number value. */
export type ServiceNumber = (typeof Service)[keyof typeof Service];

/** One service: its arguments, results and fuel cost (instructions charged on top of the ECALL). */
export interface ServiceSpec {
  readonly name: keyof typeof Service;
  readonly number: ServiceNumber;
  readonly arguments: string;
  readonly results: string;
  /** Fixed fuel cost. */
  readonly fuelCost: number;
  /** Extra fuel per unit (per link found for LOOKUP_TAG, per 4 bytes for LOG). */
  readonly fuelPerUnit: number;
  readonly meaning: string;
}

/** Most EMITs one execution may make; more trap with EMIT_LIMIT. */
export const EMIT_MAX_PER_EXECUTION = 16;
/** Longest LOG message in bytes; longer traps with SERVICE_FAULT. */
export const LOG_MAX_BYTES = 128;

/** The services, with their register use and cost. */
export const services: readonly ServiceSpec[] = [
  {
    name: 'EMIT',
    number: Service.EMIT,
    arguments: 'none (uses the current ACTION set)',
    results: 'a0 = 0 sent, 1 refused by the engine',
    fuelCost: 50,
    fuelPerUnit: 0,
    meaning: 'send a copy of the packet now with the current action set (replication loops)',
  },
  {
    name: 'FLOW_HASH',
    number: Service.FLOW_HASH,
    arguments: 'a0 = seed',
    results: 'a0 = 32-bit hash of the flow (src, dst, flow label) mixed with the seed',
    fuelCost: 10,
    fuelPerUnit: 0,
    meaning: 'stable per-flow hash for load balancing',
  },
  {
    name: 'LOOKUP_TAG',
    number: Service.LOOKUP_TAG,
    arguments: 'a0 = tag, a1 = address of a u32 array (writable region), a2 = capacity (entries)',
    results: 'a0 = number of link ids written (links whose tags include the tag, up only)',
    fuelCost: 20,
    fuelPerUnit: 2,
    meaning: 'links carrying a tag',
  },
  {
    name: 'TIME',
    number: Service.TIME,
    arguments: 'none',
    results: 'a0 = milliseconds since the Unix epoch (low word), a1 = high word',
    fuelCost: 5,
    fuelPerUnit: 0,
    meaning: "the engine's clock",
  },
  {
    name: 'RANDOM',
    number: Service.RANDOM,
    arguments: 'none',
    results: 'a0 = 32 random bits',
    fuelCost: 5,
    fuelPerUnit: 0,
    meaning: "the engine's random source",
  },
  {
    name: 'LOG',
    number: Service.LOG,
    arguments: 'a0 = address of the message (readable region), a1 = length (≤ 128 bytes)',
    results: 'a0 = 0 logged, 1 dropped by the rate limit',
    fuelCost: 20,
    fuelPerUnit: 1,
    meaning: "a line for the trace and the engine's log (rate-limited by the engine)",
  },
];

/**
 * Why an execution ended in DROP without the program choosing it (a trap), or that the program
 * set no verdict. Program-chosen drop reasons live in ACTION.drop reason (≥ 0x100 by convention).
 */
export const TrapReason = {
  NONE: 0,
  /** An instruction that does not decode or is not allowed. */
  ILLEGAL_INSTRUCTION: 1,
  /** A load or store outside the regions it may touch (or across a region's end). */
  ACCESS_FAULT: 2,
  /** A jump or branch to an address outside CODE (other than the return to 0). */
  FETCH_FAULT: 3,
  /** An LR/SC/AMO on an address that is not 4-byte aligned. */
  MISALIGNED_ATOMIC: 4,
  /** An LR/SC/AMO outside CONTRACT memory. */
  ATOMIC_FAULT: 5,
  /** The fuel budget ran out. */
  FUEL_EXHAUSTED: 6,
  /** ECALL with an unknown service number. */
  BAD_SERVICE: 7,
  /** ECALL with bad arguments (pointer outside a region, length too long). */
  SERVICE_FAULT: 8,
  /** More than EMIT_MAX_PER_EXECUTION EMITs. */
  EMIT_LIMIT: 9,
  /** The program ended without setting a verdict. */
  NO_VERDICT: 10,
  /** The ACTION set is invalid (unknown verdict, egress count > 16, FORWARD without a link). */
  BAD_ACTION: 11,
  /** The entry offset is not a valid instruction start inside CODE. */
  BAD_ENTRY: 12,
} as const;
/** A trap reason value. */
export type TrapReasonCode = (typeof TrapReason)[keyof typeof TrapReason];

/** Name of a trap reason code (for logs and the CLI). */
export function trapReasonName(code: number): string {
  for (const [name, value] of Object.entries(TrapReason)) if (value === code) return name;
  return `UNKNOWN_${code}`;
}

/** Fuel: default and maximum instructions per execution. */
export const FUEL_DEFAULT = 10_000;
export const FUEL_MAX = 1_000_000;
