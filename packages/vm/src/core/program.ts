/**
 * Pre-decoding: a program's code is decoded once into typed arrays, one entry per 2-byte slot
 * (an RVC program may jump to any even address, so every slot is decoded on its own). Compressed
 * instructions are stored as the 32-bit operation they stand for, so the executors only know base
 * operations. Slots that do not hold a whole, legal instruction get `Op.ILLEGAL`.
 */
import { decodeWord, expandInstruction } from '../isa/codec';
import { ZERO_SINK } from './state';

/** Base operations the executors implement (compressed instructions map onto these). */
export const Op = {
  ILLEGAL: 0,
  LUI: 1,
  AUIPC: 2,
  JAL: 3,
  JALR: 4,
  BEQ: 5,
  BNE: 6,
  BLT: 7,
  BGE: 8,
  BLTU: 9,
  BGEU: 10,
  LB: 11,
  LH: 12,
  LW: 13,
  LBU: 14,
  LHU: 15,
  SB: 16,
  SH: 17,
  SW: 18,
  ADDI: 19,
  SLTI: 20,
  SLTIU: 21,
  XORI: 22,
  ORI: 23,
  ANDI: 24,
  SLLI: 25,
  SRLI: 26,
  SRAI: 27,
  ADD: 28,
  SUB: 29,
  SLL: 30,
  SLT: 31,
  SLTU: 32,
  XOR: 33,
  SRL: 34,
  SRA: 35,
  OR: 36,
  AND: 37,
  FENCE: 38,
  ECALL: 39,
  EBREAK: 40,
  MUL: 41,
  MULH: 42,
  MULHSU: 43,
  MULHU: 44,
  DIV: 45,
  DIVU: 46,
  REM: 47,
  REMU: 48,
  LR: 49,
  SC: 50,
  AMOSWAP: 51,
  AMOADD: 52,
  AMOXOR: 53,
  AMOAND: 54,
  AMOOR: 55,
  AMOMIN: 56,
  AMOMAX: 57,
  AMOMINU: 58,
  AMOMAXU: 59,
  /** Not an instruction: the slot just past the code, so falling off the end needs no bounds check. */
  END: 60,
} as const;

/** The base operation of each 32-bit mnemonic of the table. */
export const opOfMnemonic: Readonly<Record<string, number>> = {
  'fence.tso': Op.FENCE,
  'lr.w': Op.LR,
  'sc.w': Op.SC,
  ...Object.fromEntries(
    Object.entries(Op)
      .filter(([name]) => name !== 'ILLEGAL' && name !== 'END' && name !== 'LR' && name !== 'SC')
      .map(([name, op]) => [name.startsWith('AMO') ? `${name.toLowerCase()}.w` : name.toLowerCase(), op]),
  ),
};

/** Operations after which a basic block ends (control transfer or a trip to the host). */
export function endsBlock(op: number): boolean {
  return (op >= Op.JAL && op <= Op.BGEU) || op === Op.ECALL || op === Op.EBREAK || op === Op.ILLEGAL;
}

/** A pre-decoded program: typed arrays indexed by slot = (pc - base) / 2. */
export interface DecodedProgram {
  /** Address of the first byte of code. */
  readonly base: number;
  /** Code length in bytes. */
  readonly lengthBytes: number;
  readonly op: Uint8Array;
  readonly rd: Uint8Array;
  readonly rs1: Uint8Array;
  readonly rs2: Uint8Array;
  /** Immediates; LUI/AUIPC hold the value already shifted left by 12. */
  readonly imm: Int32Array;
  /** Instruction size in bytes (2 or 4; 2 for illegal slots). */
  readonly size: Uint8Array;
  /**
   * The interpreter's form: one word per slot plus an `Op.END` slot just past the code, each
   * `op | rd << 8 | rs1 << 14 | rs2 << 19 | sizeInSlots << 24` (see `packSlot`), where an rd of
   * x0 is stored as ZERO_SINK so that writes to x0 land in the scratch register.
   */
  readonly packed: Int32Array;
  /**
   * `packed` and `imm` interleaved — words[2s] = packed[s], words[2s + 1] = imm[s], and the END
   * word at 2 × slots — for the interpreter: V8 re-checks a typed array's map, length and data
   * pointer at every access inside the dispatch loop (TurboFan hoists nothing out of it), so one
   * array for both halves of a slot saves a check per instruction.
   */
  readonly words: Int32Array;
  /**
   * Where `words` sits in the code arena of the interpreter that last ran this program (see
   * interpreter.ts `createInterpreter`): valid while `owner` is that arena's current filling.
   */
  readonly arenaSlot: { owner: object | undefined; offset: number };
  /**
   * Registers (x1..x31, ascending) that running this program can change: the rd of every slot
   * whose operation writes one, and a0/a1 when there is an ECALL (services return there). A
   * machine that starts every run from the same registers only restores these afterwards.
   */
  readonly writtenRegisters: Uint8Array;
  /** The same registers as a bitmask (bit n = xn). */
  readonly writtenMask: number;
}

/** Whether `op` writes its rd. */
export function writesRd(op: number): boolean {
  return !(
    (op >= Op.BEQ && op <= Op.BGEU) ||
    (op >= Op.SB && op <= Op.SW) ||
    op === Op.FENCE ||
    op === Op.ECALL ||
    op === Op.EBREAK ||
    op === Op.ILLEGAL ||
    op === Op.END
  );
}

/** Bit positions of the fields of `DecodedProgram.packed`. */
export const Packed = { RD_SHIFT: 8, RS1_SHIFT: 14, RS2_SHIFT: 19, SIZE_SHIFT: 24 } as const;

/** The packed word of one slot. */
export function packSlot(op: number, rd: number, rs1: number, rs2: number, sizeBytes: number): number {
  return (
    op |
    ((rd === 0 ? ZERO_SINK : rd) << Packed.RD_SHIFT) |
    (rs1 << Packed.RS1_SHIFT) |
    (rs2 << Packed.RS2_SHIFT) |
    ((sizeBytes >>> 1) << Packed.SIZE_SHIFT)
  );
}

/** Decodes every 2-byte slot of `code`, which is loaded at address `base`. */
export function predecode(code: Uint8Array, base: number): DecodedProgram {
  const slots = code.length >>> 1;
  const program: DecodedProgram = {
    base,
    lengthBytes: slots * 2,
    op: new Uint8Array(slots),
    rd: new Uint8Array(slots),
    rs1: new Uint8Array(slots),
    rs2: new Uint8Array(slots),
    imm: new Int32Array(slots),
    size: new Uint8Array(slots).fill(2),
    packed: new Int32Array(slots + 1),
    words: new Int32Array(2 * slots + 2),
    arenaSlot: { owner: undefined, offset: 0 },
    writtenRegisters: new Uint8Array(0),
    writtenMask: 0,
  };
  program.packed[slots] = Op.END;
  for (let slot = 0; slot < slots; slot++) {
    const offset = slot * 2;
    const low = code[offset]! | (code[offset + 1]! << 8);
    let word = low;
    if ((low & 3) === 3) {
      if (offset + 4 > slots * 2) continue;
      word = (low | (code[offset + 2]! << 16) | (code[offset + 3]! << 24)) >>> 0;
    }
    const decoded = decodeWord(word);
    if (!decoded.ok) continue;
    const base32 = expandInstruction(decoded.instruction);
    const op = opOfMnemonic[base32.mnemonic];
    if (op === undefined) continue;
    program.op[slot] = op;
    program.rd[slot] = base32.rd ?? 0;
    program.rs1[slot] = base32.rs1 ?? 0;
    program.rs2[slot] = base32.rs2 ?? 0;
    const imm = base32.imm ?? 0;
    program.imm[slot] = op === Op.LUI || op === Op.AUIPC ? imm << 12 : imm;
    program.size[slot] = decoded.size;
  }
  for (let slot = 0; slot < slots; slot++)
    program.packed[slot] = packSlot(
      program.op[slot]!,
      program.rd[slot]!,
      program.rs1[slot]!,
      program.rs2[slot]!,
      program.size[slot]!,
    );
  for (let slot = 0; slot <= slots; slot++) {
    program.words[2 * slot] = program.packed[slot]!;
    program.words[2 * slot + 1] = slot < slots ? program.imm[slot]! : 0;
  }
  let written = 0;
  for (let slot = 0; slot < slots; slot++) {
    const op = program.op[slot]!;
    if (writesRd(op)) written |= 1 << program.rd[slot]!;
    if (op === Op.ECALL) written |= (1 << 10) | (1 << 11);
  }
  const registers: number[] = [];
  for (let register = 1; register < 32; register++) if ((written >>> register) & 1) registers.push(register);
  return { ...program, writtenRegisters: Uint8Array.from(registers), writtenMask: written & ~1 };
}
