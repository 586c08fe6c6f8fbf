import { describe, expect, it } from 'vitest';
import { encodeProgram } from '../isa/codec';
import { createInterpreter } from './interpreter';
import { predecode } from './program';
import { createMachineState, Exit } from './state';

const CODE_BASE = 0x1_0000;

const assemble = encodeProgram;

/** `a0 = k` then a jump to address 0 (ra = 0): each program leaves its own number in a0. */
function programReturning(k: number) {
  return predecode(
    assemble([
      { mnemonic: 'addi', rd: 10, rs1: 0, imm: k },
      { mnemonic: 'jalr', rd: 0, rs1: 1, imm: 0 },
    ]),
    CODE_BASE,
  );
}

describe('the interpreter code arena', () => {
  it('copies programs in on first run, starts over when full, and never runs a stale copy', () => {
    const state = createMachineState();
    // Each program is 2 × 4 bytes = 4 slots = 10 words with the END slot: room for 3.
    const interpret = createInterpreter(state, 30);
    const programs = [1, 2, 3, 4, 5].map(programReturning);
    const runs: number[] = [];
    // 1 2 3 fill the arena; 4 starts it over (1–3 are no longer in it); 1 is copied again, and so on.
    for (const index of [0, 1, 2, 3, 0, 4, 1, 1, 2, 3, 4, 0]) {
      state.pc = CODE_BASE;
      state.fuel = 100;
      state.regFile[10] = 0;
      expect(interpret(programs[index]!)).toBe(Exit.FETCH);
      expect(state.pc).toBe(0);
      runs.push(state.regFile[10]!);
    }
    expect(runs).toEqual([1, 2, 3, 4, 1, 5, 2, 2, 3, 4, 5, 1]);
  });

  it('keeps a program shared by two machine states correct in both (each its own arena)', () => {
    const [a, b] = [createMachineState(), createMachineState()];
    const [runA, runB] = [createInterpreter(a, 30), createInterpreter(b, 30)];
    const [one, two] = [programReturning(1), programReturning(2)];
    for (const [state, run, program, want] of [
      [a, runA, one, 1],
      [b, runB, two, 2],
      [b, runB, one, 1],
      [a, runA, one, 1],
      [a, runA, two, 2],
    ] as const) {
      state.pc = CODE_BASE;
      state.fuel = 100;
      run(program);
      expect(state.regFile[10]).toBe(want);
    }
  });
});
