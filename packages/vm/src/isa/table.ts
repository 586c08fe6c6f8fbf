/**
 * The instruction table: every RV32I, M, A and C instruction (user level; no CSR, FENCE.I or
 * floating point), as data. Decode, encode, the disassembler's text, execution (through `op`,
 * the base operation an instruction performs) and docs/isa.md are all derived from this one table.
 *
 * Field positions follow the RISC-V Unprivileged ISA, version 20191213 (chapters 2, 7, 8, 16).
 * Immediates are described as pieces `[immHigh, immLow, instructionLow]`: bits immHigh..immLow of
 * the immediate live at instruction bits instructionLow + (immHigh - immLow) .. instructionLow.
 * The lowest immediate bit present gives the scale (a branch offset's bit 0 is implicit, so it
 * must be even).
 */

/** The four extensions of RV32IMAC. */
export type Extension = 'I' | 'M' | 'A' | 'C';

/** Encoding formats, named as in the ISA manual (AMO is R with aq/rl, FENCE is I with pred/succ). */
export type InstructionFormat =
  | 'R'
  | 'I'
  | 'S'
  | 'B'
  | 'U'
  | 'J'
  | 'SHIFT'
  | 'AMO'
  | 'FENCE'
  | 'SYSTEM'
  | 'CR'
  | 'CI'
  | 'CSS'
  | 'CIW'
  | 'CL'
  | 'CS'
  | 'CA'
  | 'CB'
  | 'CJ';

/** A register operand field: 5 bits wide, or 3 bits (x8..x15, the RVC "prime" registers). */
export interface RegisterField {
  readonly name: 'rd' | 'rs1' | 'rs2';
  /** Lowest instruction bit of the field. */
  readonly lowBit: number;
  /** 5 for a full register number; 3 for x8..x15. */
  readonly width: 5 | 3;
}

/** An immediate operand: where its bits live, whether it is sign-extended, and how wide it is. */
export interface ImmediateField {
  /** `[immHigh, immLow, instructionLow]` pieces. */
  readonly pieces: readonly (readonly [number, number, number])[];
  /** Sign-extended from its top bit (the highest immHigh). */
  readonly signed: boolean;
}

/** Operand values that the ISA reserves (decode rejects them, so does encode). */
export interface Reserved {
  readonly rd?: readonly number[];
  readonly rs1?: readonly number[];
  readonly rs2?: readonly number[];
  readonly imm?: readonly number[];
}

/**
 * How a compressed instruction expands to its 32-bit equivalent: each operand is taken from the
 * compressed instruction's operand of that name, or is a fixed register/immediate.
 */
export interface Expansion {
  readonly mnemonic: string;
  readonly rd?: 'rd' | 'rs1' | number;
  readonly rs1?: 'rd' | 'rs1' | number;
  readonly rs2?: 'rs2' | number;
  readonly imm?: 'imm' | number;
}

/** One row of the table. */
export interface InstructionSpec {
  readonly mnemonic: string;
  readonly extension: Extension;
  readonly format: InstructionFormat;
  /** Instruction size in bytes. */
  readonly size: 2 | 4;
  /** The bits that identify the instruction (`(word & mask) === match`). */
  readonly match: number;
  readonly mask: number;
  /** Register operand fields, in the order the assembler writes them. */
  readonly registers: readonly RegisterField[];
  readonly immediate?: ImmediateField;
  /** The aq/rl bits (26 and 25) of A-extension instructions. */
  readonly ordering?: boolean;
  /** Values the ISA reserves: the decoder treats them as illegal, the encoder refuses them. */
  readonly reserved?: Reserved;
  /** HINT encodings: the decoder accepts (they execute as their plain meaning), the encoder refuses. */
  readonly hint?: Reserved;
  /** Compressed instructions only: the 32-bit instruction this one stands for. */
  readonly expands?: Expansion;
  /** Assembly syntax of the operands (documentation). */
  readonly syntax: string;
  /** One-line meaning (documentation, docs/isa.md). */
  readonly meaning: string;
}

const rd: RegisterField = { name: 'rd', lowBit: 7, width: 5 };
const rs1: RegisterField = { name: 'rs1', lowBit: 15, width: 5 };
const rs2: RegisterField = { name: 'rs2', lowBit: 20, width: 5 };
const immI: ImmediateField = { pieces: [[11, 0, 20]], signed: true };
const immS: ImmediateField = {
  pieces: [
    [11, 5, 25],
    [4, 0, 7],
  ],
  signed: true,
};
const immB: ImmediateField = {
  pieces: [
    [12, 12, 31],
    [10, 5, 25],
    [4, 1, 8],
    [11, 11, 7],
  ],
  signed: true,
};
const immU: ImmediateField = { pieces: [[19, 0, 12]], signed: false };
const immJ: ImmediateField = {
  pieces: [
    [20, 20, 31],
    [10, 1, 21],
    [11, 11, 20],
    [19, 12, 12],
  ],
  signed: true,
};
const shamt: ImmediateField = { pieces: [[4, 0, 20]], signed: false };
const fenceBits: ImmediateField = { pieces: [[11, 0, 20]], signed: false };

function r(mnemonic: string, extension: Extension, funct7: number, funct3: number, meaning: string) {
  return {
    mnemonic,
    extension,
    format: 'R',
    size: 4,
    match: (funct7 << 25) | (funct3 << 12) | 0x33,
    mask: 0xfe00707f,
    registers: [rd, rs1, rs2],
    syntax: 'rd, rs1, rs2',
    meaning,
  } as const satisfies InstructionSpec;
}

function i(mnemonic: string, opcode: number, funct3: number, syntax: string, meaning: string) {
  return {
    mnemonic,
    extension: 'I',
    format: 'I',
    size: 4,
    match: (funct3 << 12) | opcode,
    mask: 0x707f,
    registers: [rd, rs1],
    immediate: immI,
    syntax,
    meaning,
  } as const satisfies InstructionSpec;
}

function shift(mnemonic: string, funct7: number, funct3: number, meaning: string) {
  return {
    mnemonic,
    extension: 'I',
    format: 'SHIFT',
    size: 4,
    match: (funct7 << 25) | (funct3 << 12) | 0x13,
    mask: 0xfe00707f,
    registers: [rd, rs1],
    immediate: shamt,
    syntax: 'rd, rs1, shamt',
    meaning,
  } as const satisfies InstructionSpec;
}

function b(mnemonic: string, funct3: number, meaning: string) {
  return {
    mnemonic,
    extension: 'I',
    format: 'B',
    size: 4,
    match: (funct3 << 12) | 0x63,
    mask: 0x707f,
    registers: [rs1, rs2],
    immediate: immB,
    syntax: 'rs1, rs2, offset',
    meaning,
  } as const satisfies InstructionSpec;
}

function s(mnemonic: string, funct3: number, meaning: string) {
  return {
    mnemonic,
    extension: 'I',
    format: 'S',
    size: 4,
    match: (funct3 << 12) | 0x23,
    mask: 0x707f,
    registers: [rs2, rs1],
    immediate: immS,
    syntax: 'rs2, offset(rs1)',
    meaning,
  } as const satisfies InstructionSpec;
}

function amo(mnemonic: string, funct5: number, meaning: string) {
  return {
    mnemonic,
    extension: 'A',
    format: 'AMO',
    size: 4,
    match: (funct5 << 27) | (2 << 12) | 0x2f,
    mask: 0xf800707f,
    registers: [rd, rs2, rs1],
    ordering: true,
    syntax: 'rd, rs2, (rs1)',
    meaning,
  } as const satisfies InstructionSpec;
}

// RVC register fields
const crd: RegisterField = { name: 'rd', lowBit: 7, width: 5 };
const crs2: RegisterField = { name: 'rs2', lowBit: 2, width: 5 };
const crs1Full: RegisterField = { name: 'rs1', lowBit: 7, width: 5 };
const crdP2: RegisterField = { name: 'rd', lowBit: 2, width: 3 };
const crdP7: RegisterField = { name: 'rd', lowBit: 7, width: 3 };
const crs1P7: RegisterField = { name: 'rs1', lowBit: 7, width: 3 };
const crs2P2: RegisterField = { name: 'rs2', lowBit: 2, width: 3 };
const cImm6: ImmediateField = {
  pieces: [
    [5, 5, 12],
    [4, 0, 2],
  ],
  signed: true,
};
const cShamt: ImmediateField = { pieces: [[4, 0, 2]], signed: false };
const cLwImm: ImmediateField = {
  pieces: [
    [5, 3, 10],
    [2, 2, 6],
    [6, 6, 5],
  ],
  signed: false,
};
const cJImm: ImmediateField = {
  pieces: [
    [11, 11, 12],
    [4, 4, 11],
    [9, 8, 9],
    [10, 10, 8],
    [6, 6, 7],
    [7, 7, 6],
    [3, 1, 3],
    [5, 5, 2],
  ],
  signed: true,
};
const cBImm: ImmediateField = {
  pieces: [
    [8, 8, 12],
    [4, 3, 10],
    [7, 6, 5],
    [2, 1, 3],
    [5, 5, 2],
  ],
  signed: true,
};

function ca(mnemonic: string, funct2: number, base: string) {
  return {
    mnemonic,
    extension: 'C',
    format: 'CA',
    size: 2,
    match: 0x8c01 | (funct2 << 5),
    mask: 0xfc63,
    registers: [crdP7, crs2P2],
    expands: { mnemonic: base, rd: 'rd', rs1: 'rd', rs2: 'rs2' },
    syntax: "rd', rs2'",
    meaning: `${base} rd', rd', rs2'`,
  } as const satisfies InstructionSpec;
}

/** Every instruction of RV32IMAC. Decode tries rows with more mask bits first. */
export const instructionTable = [
  // ---- RV32I ----
  {
    mnemonic: 'lui',
    extension: 'I',
    format: 'U',
    size: 4,
    match: 0x37,
    mask: 0x7f,
    registers: [rd],
    immediate: immU,
    syntax: 'rd, imm20',
    meaning: 'rd = imm20 << 12',
  },
  {
    mnemonic: 'auipc',
    extension: 'I',
    format: 'U',
    size: 4,
    match: 0x17,
    mask: 0x7f,
    registers: [rd],
    immediate: immU,
    syntax: 'rd, imm20',
    meaning: 'rd = pc + (imm20 << 12)',
  },
  {
    mnemonic: 'jal',
    extension: 'I',
    format: 'J',
    size: 4,
    match: 0x6f,
    mask: 0x7f,
    registers: [rd],
    immediate: immJ,
    syntax: 'rd, offset',
    meaning: 'rd = pc + 4; pc += offset',
  },
  {
    mnemonic: 'jalr',
    extension: 'I',
    format: 'I',
    size: 4,
    match: 0x67,
    mask: 0x707f,
    registers: [rd, rs1],
    immediate: immI,
    syntax: 'rd, offset(rs1)',
    meaning: 'rd = pc + 4; pc = (rs1 + offset) & ~1',
  },
  b('beq', 0, 'if rs1 == rs2: pc += offset'),
  b('bne', 1, 'if rs1 != rs2: pc += offset'),
  b('blt', 4, 'if rs1 < rs2 (signed): pc += offset'),
  b('bge', 5, 'if rs1 >= rs2 (signed): pc += offset'),
  b('bltu', 6, 'if rs1 < rs2 (unsigned): pc += offset'),
  b('bgeu', 7, 'if rs1 >= rs2 (unsigned): pc += offset'),
  i('lb', 0x03, 0, 'rd, offset(rs1)', 'rd = sign-extended byte at rs1 + offset'),
  i('lh', 0x03, 1, 'rd, offset(rs1)', 'rd = sign-extended halfword at rs1 + offset'),
  i('lw', 0x03, 2, 'rd, offset(rs1)', 'rd = word at rs1 + offset'),
  i('lbu', 0x03, 4, 'rd, offset(rs1)', 'rd = zero-extended byte at rs1 + offset'),
  i('lhu', 0x03, 5, 'rd, offset(rs1)', 'rd = zero-extended halfword at rs1 + offset'),
  s('sb', 0, 'byte at rs1 + offset = rs2'),
  s('sh', 1, 'halfword at rs1 + offset = rs2'),
  s('sw', 2, 'word at rs1 + offset = rs2'),
  i('addi', 0x13, 0, 'rd, rs1, imm', 'rd = rs1 + imm'),
  i('slti', 0x13, 2, 'rd, rs1, imm', 'rd = rs1 < imm (signed) ? 1 : 0'),
  i('sltiu', 0x13, 3, 'rd, rs1, imm', 'rd = rs1 < imm (unsigned) ? 1 : 0'),
  i('xori', 0x13, 4, 'rd, rs1, imm', 'rd = rs1 ^ imm'),
  i('ori', 0x13, 6, 'rd, rs1, imm', 'rd = rs1 | imm'),
  i('andi', 0x13, 7, 'rd, rs1, imm', 'rd = rs1 & imm'),
  shift('slli', 0x00, 1, 'rd = rs1 << shamt'),
  shift('srli', 0x00, 5, 'rd = rs1 >>> shamt (logical)'),
  shift('srai', 0x20, 5, 'rd = rs1 >> shamt (arithmetic)'),
  r('add', 'I', 0x00, 0, 'rd = rs1 + rs2'),
  r('sub', 'I', 0x20, 0, 'rd = rs1 - rs2'),
  r('sll', 'I', 0x00, 1, 'rd = rs1 << (rs2 & 31)'),
  r('slt', 'I', 0x00, 2, 'rd = rs1 < rs2 (signed) ? 1 : 0'),
  r('sltu', 'I', 0x00, 3, 'rd = rs1 < rs2 (unsigned) ? 1 : 0'),
  r('xor', 'I', 0x00, 4, 'rd = rs1 ^ rs2'),
  r('srl', 'I', 0x00, 5, 'rd = rs1 >>> (rs2 & 31)'),
  r('sra', 'I', 0x20, 5, 'rd = rs1 >> (rs2 & 31)'),
  r('or', 'I', 0x00, 6, 'rd = rs1 | rs2'),
  r('and', 'I', 0x00, 7, 'rd = rs1 & rs2'),
  {
    mnemonic: 'fence.tso',
    extension: 'I',
    format: 'FENCE',
    size: 4,
    match: 0x8330000f,
    mask: 0xffffffff,
    registers: [],
    syntax: '',
    meaning: 'memory ordering (a no-op on this single-hart machine)',
  },
  {
    mnemonic: 'fence',
    extension: 'I',
    format: 'FENCE',
    size: 4,
    match: 0x0000000f,
    mask: 0x000fffff,
    registers: [],
    immediate: fenceBits,
    syntax: 'pred, succ',
    meaning: 'memory ordering (a no-op on this single-hart machine); imm = fm << 8 | pred << 4 | succ',
  },
  {
    mnemonic: 'ecall',
    extension: 'I',
    format: 'SYSTEM',
    size: 4,
    match: 0x00000073,
    mask: 0xffffffff,
    registers: [],
    syntax: '',
    meaning: 'service call: number in a7, arguments in a0..a5, results in a0 (a1)',
  },
  {
    mnemonic: 'ebreak',
    extension: 'I',
    format: 'SYSTEM',
    size: 4,
    match: 0x00100073,
    mask: 0xffffffff,
    registers: [],
    syntax: '',
    meaning: 'ends the program (sandbox); a breakpoint trap (conformance machine)',
  },
  // ---- M ----
  r('mul', 'M', 0x01, 0, 'rd = low 32 bits of rs1 * rs2'),
  r('mulh', 'M', 0x01, 1, 'rd = high 32 bits of signed rs1 * signed rs2'),
  r('mulhsu', 'M', 0x01, 2, 'rd = high 32 bits of signed rs1 * unsigned rs2'),
  r('mulhu', 'M', 0x01, 3, 'rd = high 32 bits of unsigned rs1 * unsigned rs2'),
  r('div', 'M', 0x01, 4, 'rd = rs1 / rs2 (signed; / 0 = -1; INT_MIN / -1 = INT_MIN)'),
  r('divu', 'M', 0x01, 5, 'rd = rs1 / rs2 (unsigned; / 0 = 2^32 - 1)'),
  r('rem', 'M', 0x01, 6, 'rd = rs1 % rs2 (signed; % 0 = rs1; INT_MIN % -1 = 0)'),
  r('remu', 'M', 0x01, 7, 'rd = rs1 % rs2 (unsigned; % 0 = rs1)'),
  // ---- A ----
  {
    mnemonic: 'lr.w',
    extension: 'A',
    format: 'AMO',
    size: 4,
    match: (0x02 << 27) | (2 << 12) | 0x2f,
    mask: 0xf9f0707f,
    registers: [rd, rs1],
    ordering: true,
    syntax: 'rd, (rs1)',
    meaning: 'rd = word at rs1; reserve rs1',
  },
  {
    mnemonic: 'sc.w',
    extension: 'A',
    format: 'AMO',
    size: 4,
    match: (0x03 << 27) | (2 << 12) | 0x2f,
    mask: 0xf800707f,
    registers: [rd, rs2, rs1],
    ordering: true,
    syntax: 'rd, rs2, (rs1)',
    meaning: 'if reserved: word at rs1 = rs2, rd = 0; else rd = 1; the reservation ends',
  },
  amo('amoswap.w', 0x01, 'rd = word at rs1; word at rs1 = rs2'),
  amo('amoadd.w', 0x00, 'rd = word at rs1; word at rs1 += rs2'),
  amo('amoxor.w', 0x04, 'rd = word at rs1; word at rs1 ^= rs2'),
  amo('amoand.w', 0x0c, 'rd = word at rs1; word at rs1 &= rs2'),
  amo('amoor.w', 0x08, 'rd = word at rs1; word at rs1 |= rs2'),
  amo('amomin.w', 0x10, 'rd = word at rs1; word at rs1 = min(signed)'),
  amo('amomax.w', 0x14, 'rd = word at rs1; word at rs1 = max(signed)'),
  amo('amominu.w', 0x18, 'rd = word at rs1; word at rs1 = min(unsigned)'),
  amo('amomaxu.w', 0x1c, 'rd = word at rs1; word at rs1 = max(unsigned)'),
  // ---- C, quadrant 0 ----
  {
    mnemonic: 'c.addi4spn',
    extension: 'C',
    format: 'CIW',
    size: 2,
    match: 0x0000,
    mask: 0xe003,
    registers: [crdP2],
    immediate: {
      pieces: [
        [5, 4, 11],
        [9, 6, 7],
        [2, 2, 6],
        [3, 3, 5],
      ],
      signed: false,
    },
    reserved: { imm: [0] },
    expands: { mnemonic: 'addi', rd: 'rd', rs1: 2, imm: 'imm' },
    syntax: "rd', sp, nzuimm",
    meaning: "addi rd', sp, nzuimm",
  },
  {
    mnemonic: 'c.lw',
    extension: 'C',
    format: 'CL',
    size: 2,
    match: 0x4000,
    mask: 0xe003,
    registers: [crdP2, crs1P7],
    immediate: cLwImm,
    expands: { mnemonic: 'lw', rd: 'rd', rs1: 'rs1', imm: 'imm' },
    syntax: "rd', uimm(rs1')",
    meaning: "lw rd', uimm(rs1')",
  },
  {
    mnemonic: 'c.sw',
    extension: 'C',
    format: 'CS',
    size: 2,
    match: 0xc000,
    mask: 0xe003,
    registers: [crs2P2, crs1P7],
    immediate: cLwImm,
    expands: { mnemonic: 'sw', rs1: 'rs1', rs2: 'rs2', imm: 'imm' },
    syntax: "rs2', uimm(rs1')",
    meaning: "sw rs2', uimm(rs1')",
  },
  // ---- C, quadrant 1 ----
  {
    mnemonic: 'c.nop',
    extension: 'C',
    format: 'CI',
    size: 2,
    match: 0x0001,
    mask: 0xffff,
    registers: [],
    expands: { mnemonic: 'addi', rd: 0, rs1: 0, imm: 0 },
    syntax: '',
    meaning: 'addi x0, x0, 0',
  },
  {
    mnemonic: 'c.addi',
    extension: 'C',
    format: 'CI',
    size: 2,
    match: 0x0001,
    mask: 0xe003,
    registers: [crd],
    immediate: cImm6,
    hint: { rd: [0], imm: [0] },
    expands: { mnemonic: 'addi', rd: 'rd', rs1: 'rd', imm: 'imm' },
    syntax: 'rd, nzimm',
    meaning: 'addi rd, rd, nzimm',
  },
  {
    mnemonic: 'c.jal',
    extension: 'C',
    format: 'CJ',
    size: 2,
    match: 0x2001,
    mask: 0xe003,
    registers: [],
    immediate: cJImm,
    expands: { mnemonic: 'jal', rd: 1, imm: 'imm' },
    syntax: 'offset',
    meaning: 'jal ra, offset',
  },
  {
    mnemonic: 'c.li',
    extension: 'C',
    format: 'CI',
    size: 2,
    match: 0x4001,
    mask: 0xe003,
    registers: [crd],
    immediate: cImm6,
    hint: { rd: [0] },
    expands: { mnemonic: 'addi', rd: 'rd', rs1: 0, imm: 'imm' },
    syntax: 'rd, imm',
    meaning: 'addi rd, x0, imm',
  },
  {
    mnemonic: 'c.addi16sp',
    extension: 'C',
    format: 'CI',
    size: 2,
    match: 0x6101,
    mask: 0xef83,
    registers: [],
    immediate: {
      pieces: [
        [9, 9, 12],
        [4, 4, 6],
        [6, 6, 5],
        [8, 7, 3],
        [5, 5, 2],
      ],
      signed: true,
    },
    reserved: { imm: [0] },
    expands: { mnemonic: 'addi', rd: 2, rs1: 2, imm: 'imm' },
    syntax: 'sp, nzimm',
    meaning: 'addi sp, sp, nzimm',
  },
  {
    // imm is the 20-bit LUI value (as for lui), from a 6-bit signed field: 1..31 or 0xfffe0..0xfffff
    mnemonic: 'c.lui',
    extension: 'C',
    format: 'CI',
    size: 2,
    match: 0x6001,
    mask: 0xe003,
    registers: [crd],
    immediate: cImm6,
    reserved: { rd: [2], imm: [0] },
    hint: { rd: [0] },
    expands: { mnemonic: 'lui', rd: 'rd', imm: 'imm' },
    syntax: 'rd, nzimm20',
    meaning: 'lui rd, nzimm20',
  },
  {
    mnemonic: 'c.srli',
    extension: 'C',
    format: 'CB',
    size: 2,
    match: 0x8001,
    mask: 0xfc03,
    registers: [crdP7],
    immediate: cShamt,
    hint: { imm: [0] },
    expands: { mnemonic: 'srli', rd: 'rd', rs1: 'rd', imm: 'imm' },
    syntax: "rd', shamt",
    meaning: "srli rd', rd', shamt",
  },
  {
    mnemonic: 'c.srai',
    extension: 'C',
    format: 'CB',
    size: 2,
    match: 0x8401,
    mask: 0xfc03,
    registers: [crdP7],
    immediate: cShamt,
    hint: { imm: [0] },
    expands: { mnemonic: 'srai', rd: 'rd', rs1: 'rd', imm: 'imm' },
    syntax: "rd', shamt",
    meaning: "srai rd', rd', shamt",
  },
  {
    mnemonic: 'c.andi',
    extension: 'C',
    format: 'CB',
    size: 2,
    match: 0x8801,
    mask: 0xec03,
    registers: [crdP7],
    immediate: cImm6,
    expands: { mnemonic: 'andi', rd: 'rd', rs1: 'rd', imm: 'imm' },
    syntax: "rd', imm",
    meaning: "andi rd', rd', imm",
  },
  ca('c.sub', 0, 'sub'),
  ca('c.xor', 1, 'xor'),
  ca('c.or', 2, 'or'),
  ca('c.and', 3, 'and'),
  {
    mnemonic: 'c.j',
    extension: 'C',
    format: 'CJ',
    size: 2,
    match: 0xa001,
    mask: 0xe003,
    registers: [],
    immediate: cJImm,
    expands: { mnemonic: 'jal', rd: 0, imm: 'imm' },
    syntax: 'offset',
    meaning: 'jal x0, offset',
  },
  {
    mnemonic: 'c.beqz',
    extension: 'C',
    format: 'CB',
    size: 2,
    match: 0xc001,
    mask: 0xe003,
    registers: [crs1P7],
    immediate: cBImm,
    expands: { mnemonic: 'beq', rs1: 'rs1', rs2: 0, imm: 'imm' },
    syntax: "rs1', offset",
    meaning: "beq rs1', x0, offset",
  },
  {
    mnemonic: 'c.bnez',
    extension: 'C',
    format: 'CB',
    size: 2,
    match: 0xe001,
    mask: 0xe003,
    registers: [crs1P7],
    immediate: cBImm,
    expands: { mnemonic: 'bne', rs1: 'rs1', rs2: 0, imm: 'imm' },
    syntax: "rs1', offset",
    meaning: "bne rs1', x0, offset",
  },
  // ---- C, quadrant 2 ----
  {
    mnemonic: 'c.slli',
    extension: 'C',
    format: 'CI',
    size: 2,
    match: 0x0002,
    mask: 0xf003,
    registers: [crd],
    immediate: cShamt,
    hint: { rd: [0], imm: [0] },
    expands: { mnemonic: 'slli', rd: 'rd', rs1: 'rd', imm: 'imm' },
    syntax: 'rd, shamt',
    meaning: 'slli rd, rd, shamt',
  },
  {
    mnemonic: 'c.lwsp',
    extension: 'C',
    format: 'CI',
    size: 2,
    match: 0x4002,
    mask: 0xe003,
    registers: [crd],
    immediate: {
      pieces: [
        [5, 5, 12],
        [4, 2, 4],
        [7, 6, 2],
      ],
      signed: false,
    },
    reserved: { rd: [0] },
    expands: { mnemonic: 'lw', rd: 'rd', rs1: 2, imm: 'imm' },
    syntax: 'rd, uimm(sp)',
    meaning: 'lw rd, uimm(sp)',
  },
  {
    mnemonic: 'c.ebreak',
    extension: 'C',
    format: 'CR',
    size: 2,
    match: 0x9002,
    mask: 0xffff,
    registers: [],
    expands: { mnemonic: 'ebreak' },
    syntax: '',
    meaning: 'ebreak',
  },
  {
    mnemonic: 'c.jr',
    extension: 'C',
    format: 'CR',
    size: 2,
    match: 0x8002,
    mask: 0xf07f,
    registers: [crs1Full],
    reserved: { rs1: [0] },
    expands: { mnemonic: 'jalr', rd: 0, rs1: 'rs1', imm: 0 },
    syntax: 'rs1',
    meaning: 'jalr x0, 0(rs1)',
  },
  {
    mnemonic: 'c.jalr',
    extension: 'C',
    format: 'CR',
    size: 2,
    match: 0x9002,
    mask: 0xf07f,
    registers: [crs1Full],
    reserved: { rs1: [0] },
    expands: { mnemonic: 'jalr', rd: 1, rs1: 'rs1', imm: 0 },
    syntax: 'rs1',
    meaning: 'jalr ra, 0(rs1)',
  },
  {
    mnemonic: 'c.mv',
    extension: 'C',
    format: 'CR',
    size: 2,
    match: 0x8002,
    mask: 0xf003,
    registers: [crd, crs2],
    reserved: { rs2: [0] },
    hint: { rd: [0] },
    expands: { mnemonic: 'add', rd: 'rd', rs1: 0, rs2: 'rs2' },
    syntax: 'rd, rs2',
    meaning: 'add rd, x0, rs2',
  },
  {
    mnemonic: 'c.add',
    extension: 'C',
    format: 'CR',
    size: 2,
    match: 0x9002,
    mask: 0xf003,
    registers: [crd, crs2],
    reserved: { rs2: [0] },
    hint: { rd: [0] },
    expands: { mnemonic: 'add', rd: 'rd', rs1: 'rd', rs2: 'rs2' },
    syntax: 'rd, rs2',
    meaning: 'add rd, rd, rs2',
  },
  {
    mnemonic: 'c.swsp',
    extension: 'C',
    format: 'CSS',
    size: 2,
    match: 0xc002,
    mask: 0xe003,
    registers: [crs2],
    immediate: {
      pieces: [
        [5, 2, 9],
        [7, 6, 7],
      ],
      signed: false,
    },
    expands: { mnemonic: 'sw', rs1: 2, rs2: 'rs2', imm: 'imm' },
    syntax: 'rs2, uimm(sp)',
    meaning: 'sw rs2, uimm(sp)',
  },
] as const satisfies readonly InstructionSpec[];

/** A mnemonic of the table ('add', 'c.addi', …). */
export type Mnemonic = (typeof instructionTable)[number]['mnemonic'];
