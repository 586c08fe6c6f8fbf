/** Seeded generators shared by the VM's tests (random operands, random programs). */
import type { Instruction, InstructionSpec } from '../src/index';

/** A small, fast, seeded PRNG (mulberry32): returns uint32 values. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Random operands for one table row (may be rejected by the encoder: reserved values, hints). */
export function randomOperands(spec: InstructionSpec, random: () => number): Instruction {
  const instruction: Instruction = { mnemonic: spec.mnemonic };
  for (const field of spec.registers)
    instruction[field.name] = field.width === 3 ? 8 + (random() & 7) : random() & 31;
  if (spec.immediate !== undefined) {
    let top = 0;
    let low = 31;
    for (const [high, lowBit] of spec.immediate.pieces) {
      top = Math.max(top, high);
      low = Math.min(low, lowBit);
    }
    const bits = top + 1;
    let value = bits >= 32 ? random() | 0 : random() & ((2 ** bits - 1) >>> 0);
    if (spec.immediate.signed && bits < 32) value = (value << (32 - bits)) >> (32 - bits);
    value = low > 0 ? value - (((value % 2 ** low) + 2 ** low) % 2 ** low) : value;
    // small values are the interesting ones (aliases): pick one a quarter of the time
    if ((random() & 3) === 0) value = ((random() % 5) - 2) * 2 ** low;
    if (spec.mnemonic === 'c.lui') value = value & 0xfffff;
    if (spec.mnemonic === 'fence') value = value & 0xff; // fm = 0 (fence.tso is its own row)
    instruction.imm = value;
  }
  if (spec.ordering) {
    instruction.aq = (random() & 1) === 1;
    instruction.rl = (random() & 1) === 1;
  }
  return instruction;
}
