/**
 * The machine IR between lowering and emission: RV32 instructions (vm's `Instruction` values)
 * whose branch and jump targets are still labels, plus label definitions. Each item carries the
 * source line it came from (for the source map).
 */
import type { Instruction } from '@capsule/vm';

/** One item of a function's or stub's code. */
export type MItem =
  | {
      readonly kind: 'inst';
      readonly inst: Instruction;
      /** Label whose PC-relative offset goes into imm (branches, jumps). */
      readonly target?: string;
      /** With `target`: the %pcrel_hi / %pcrel_lo halves of (target - anchor) for auipc/addi pairs. */
      readonly reloc?: 'pcrel_hi' | 'pcrel_lo';
      /** For pcrel_lo: the label of the auipc the offset is measured from. */
      readonly anchor?: string;
      readonly line: number;
    }
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

/** Callee-saved registers usable as homes of locals, compressible (x8, x9) first. */
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
/** Temporaries (caller-saved, never homes). */
export const temporaries: readonly number[] = [R.t0, R.t1, R.t2, R.t3, R.t4, R.t5, R.t6];
/** Two scratch registers lowering uses inside one operation's sequence (never live across). */
export const SCRATCH1 = R.a6;
export const SCRATCH2 = R.a7;

/** Splits a 32-bit constant into `lui` upper (20 bits) and `addi` lower (signed 12 bits) parts. */
export function splitConstant(value: number): { upper: number; lower: number } {
  const v = value | 0;
  const lower = ((v & 0xfff) << 20) >> 20;
  const upper = ((v - lower) >>> 12) & 0xfffff;
  return { upper, lower };
}
