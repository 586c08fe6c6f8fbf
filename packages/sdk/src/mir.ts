/**
 * The machine IR between lowering and emission: RV32 instructions (vm's `Instruction` values)
 * whose branch and jump targets are still labels, plus label definitions. Each item carries the
 * source line it came from (for the source map).
 *
 * Lowering writes it on virtual registers (numbers from FIRST_VIRTUAL up, each standing for a
 * value or a variable) next to the physical registers the ABI fixes (sp, gp, zero, the argument
 * registers around calls); regalloc.ts replaces every virtual register by a physical one. Before
 * that, three pseudo-instructions exist: `li rd, value` (any 32-bit constant), `entry` (the
 * function's start: defines the argument registers) and `ret` (its end: reads the results).
 */
import { findInstructionSpec, type Instruction } from '@capsule/vm';

/** An instruction item. */
export interface MInst {
  readonly kind: 'inst';
  readonly inst: Instruction;
  /** Label whose PC-relative offset goes into imm (branches, jumps). */
  readonly target?: string;
  /** With `target`: the %pcrel_hi / %pcrel_lo halves of (target - anchor) for auipc/addi pairs. */
  readonly reloc?: 'pcrel_hi' | 'pcrel_lo';
  /** For pcrel_lo: the label of the auipc the offset is measured from. */
  readonly anchor?: string;
  readonly line: number;
  /** Registers read besides rs1/rs2 (a call's arguments, ECALL's, the results at `ret`). */
  readonly uses?: readonly number[];
  /** Registers written besides rd (a call's or ECALL's results, the arguments at `entry`). */
  readonly defs?: readonly number[];
  /** Registers whose values do not survive it (a call clobbers every caller-saved one). */
  readonly clobbers?: readonly number[];
  /** A spill slot: its frame offset is added to imm when the frame is laid out. */
  readonly slot?: number;
  /** Loop nesting depth where lowering put it (weights for register allocation). */
  readonly depth?: number;
  /** A load of memory the program never writes (PACKET, ENGINE): the same wherever it runs. */
  readonly invariant?: boolean;
}

/** One item of a function's or stub's code. */
export type MItem =
  | MInst
  | { readonly kind: 'label'; readonly name: string }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array; readonly line: number }
  | { readonly kind: 'align'; readonly bytes: number };

/** A unit of code placed contiguously by the linker. */
export interface MFunction {
  readonly name: string;
  readonly items: MItem[];
}

/** Register numbers by ABI name. */
export const R = {
  zero: 0,
  ra: 1,
  sp: 2,
  gp: 3,
  tp: 4,
  t0: 5,
  t1: 6,
  t2: 7,
  s0: 8,
  s1: 9,
  a0: 10,
  a1: 11,
  a2: 12,
  a3: 13,
  a4: 14,
  a5: 15,
  a6: 16,
  a7: 17,
  s2: 18,
  s3: 19,
  s4: 20,
  s5: 21,
  s6: 22,
  s7: 23,
  s8: 24,
  s9: 25,
  s10: 26,
  s11: 27,
  t3: 28,
  t4: 29,
  t5: 30,
  t6: 31,
} as const;

/** Label of the shared trap sequence (a load from address 0: the sandbox's ACCESS_FAULT). */
export const TRAP_LABEL = '$trap';

/** The first virtual register number (0..31 are x0..x31). */
export const FIRST_VIRTUAL = 32;

/** Whether `r` is a virtual register. */
export function isVirtual(r: number): boolean {
  return r >= FIRST_VIRTUAL;
}

/** Callee-saved registers, compressible (x8, x9) first. */
export const calleeSaved: readonly number[] = [
  R.s0,
  R.s1,
  R.s2,
  R.s3,
  R.s4,
  R.s5,
  R.s6,
  R.s7,
  R.s8,
  R.s9,
  R.s10,
  R.s11,
];
/** Argument registers, in order. */
export const argumentRegisters: readonly number[] = [R.a0, R.a1, R.a2, R.a3, R.a4, R.a5, R.a6, R.a7];
/** Registers a call may change: ra, the temporaries and the argument registers. */
export const callerSaved: readonly number[] = [
  R.ra,
  R.t0,
  R.t1,
  R.t2,
  R.a0,
  R.a1,
  R.a2,
  R.a3,
  R.a4,
  R.a5,
  R.a6,
  R.a7,
  R.t3,
  R.t4,
  R.t5,
  R.t6,
];

/** Splits a 32-bit constant into `lui` upper (20 bits) and `addi` lower (signed 12 bits) parts. */
export function splitConstant(value: number): { upper: number; lower: number } {
  const v = value | 0;
  const lower = ((v & 0xfff) << 20) >> 20;
  const upper = ((v - lower) >>> 12) & 0xfffff;
  return { upper, lower };
}

/** The registers an instruction writes and reads (pseudo-instructions and extras included). */
export function registersOf(item: MInst): { defs: number[]; uses: number[] } {
  const { inst } = item;
  const defs: number[] = [];
  const uses: number[] = [];
  switch (inst.mnemonic) {
    case 'li':
      defs.push(inst.rd!);
      break;
    case 'entry':
    case 'ret':
      break;
    default: {
      const spec = findInstructionSpec(inst.mnemonic);
      if (!spec) throw new Error(`internal: unknown mnemonic ${inst.mnemonic}`);
      for (const field of spec.registers) {
        const r = inst[field.name];
        if (r === undefined) continue;
        if (field.name === 'rd') defs.push(r);
        else uses.push(r);
      }
    }
  }
  if (item.uses) uses.push(...item.uses);
  if (item.defs) defs.push(...item.defs);
  return { defs: defs.filter((r) => r !== R.zero), uses: uses.filter((r) => r !== R.zero) };
}

/** Conditional branch mnemonics. */
export const branchMnemonics: ReadonlySet<string> = new Set(['beq', 'bne', 'blt', 'bge', 'bltu', 'bgeu']);

/** Whether an item ends a basic block: a branch, a jump, a return. */
export function endsBlock(item: MItem): boolean {
  if (item.kind !== 'inst') return false;
  const m = item.inst.mnemonic;
  return (
    branchMnemonics.has(m) ||
    (m === 'jal' && item.inst.rd === R.zero) ||
    (m === 'jalr' && item.inst.rd === R.zero) ||
    m === 'ret'
  );
}

/** Whether control can go on to the next item after `item` (not after a jump or a return). */
export function fallsThrough(item: MItem): boolean {
  if (item.kind !== 'inst') return true;
  const m = item.inst.mnemonic;
  return !(
    (m === 'jal' && item.inst.rd === R.zero) ||
    (m === 'jalr' && item.inst.rd === R.zero) ||
    m === 'ret'
  );
}
