/**
 * The fast tier's own shortcuts, each checked against the interpreter on the sandbox machine:
 * entry registers folded in as constants (and what happens when an instruction the translation
 * did not cover overwrites one), self-looping blocks running out of fuel at every budget, static
 * jumps outside the code, constant-address accesses against per-run PATH lengths, and the
 * per-run register restore that only undoes what the previous program could write.
 */
import { describe, expect, it } from 'vitest';
import { encodeInstruction, encodeProgram, type Instruction } from '../isa/codec';
import { ActionField, entryRegisters, PATH_BASE, Service, TrapReason } from '../sandbox-abi';
import {
  createSandboxMachine,
  type PreparedProgram,
  prepareProgram,
  type RunOptions,
  type SandboxHost,
  type SandboxMachine,
} from '../sandbox-machine';
import { findLeaders, generateFastTierSource } from './fast-tier';
import { predecode } from './program';

const T0 = 5;
const T1 = 6;
const A0 = 10;
const A1 = 11;
const A6 = 16;

const assemble = encodeProgram;

const host: SandboxHost = {
  emit: () => true,
  flowHash: (seed) => seed,
  timeMs: () => 0,
  random: () => 7,
  log: () => true,
};

/** Runs `code` on a fresh interpreter and a fresh fast machine; both results, registers and ACTION must agree. */
function runBoth(code: Uint8Array, options: RunOptions = {}) {
  const machines = {
    interpreter: createSandboxMachine({ tier: 'interpreter' }, { host }),
    fast: createSandboxMachine({ tier: 'fast' }, { host }),
  };
  const program = prepareProgram(code, { fast: true });
  const a = { ...machines.interpreter.run(program, options) };
  const b = { ...machines.fast.run(program, options) };
  expect(b).toEqual(a);
  expect(Array.from(machines.fast.registers)).toEqual(Array.from(machines.interpreter.registers));
  expect(Array.from(machines.fast.regions.action)).toEqual(Array.from(machines.interpreter.regions.action));
  return { result: a, machines, program };
}

function entryValue(register: number): number {
  return entryRegisters.find(([r]) => r === register)?.[1] ?? 0;
}

describe('fast tier shortcuts agree with the interpreter', () => {
  it('folds never-written entry registers into constant addresses', () => {
    const code = assemble([
      { mnemonic: 'lw', rd: T0, rs1: A0, imm: 0x28 },
      { mnemonic: 'sw', rs1: A1, rs2: T0, imm: ActionField.DROP_REASON },
      { mnemonic: 'addi', rd: T0, rs1: 0, imm: 4 },
      { mnemonic: 'sw', rs1: A1, rs2: T0, imm: ActionField.VERDICT },
      { mnemonic: 'jalr', rd: 0, rs1: 1, imm: 0 },
    ]);
    const source = generateFastTierSource(predecode(code, 0x1_0000), {
      constantRegisters: entryRegisters,
    });
    // a0 (PACKET) and a1 (ACTION) became constant pages; ra = 0 became a direct exit.
    expect(source).toContain('V2.getInt32(40, true)');
    expect(source).toContain('V8.setInt32(8, x5, true)');
    expect(source).not.toMatch(/\bx1\b|\bx10\b|\bx11\b/);
    const { machines } = runBoth(code);
    machines.interpreter.regions.packet[0x28] = 0x34;
    expect(machines.interpreter.run(prepareProgram(code)).dropReason).toBe(0x34);
  });

  it('goes interpreter-only when an untranslated instruction half overwrites a folded register', () => {
    // 0: auipc t0,0; 4: addi t0,t0,14; 8: jalr x0,0(t0) jumps to 14, the upper half of the word at
    // 12, which is `c.li a0, 5`; 16: j 20 (stepped by the interpreter); 20, a translated block:
    // lw t1,0(a0) must then fault at address 5, not read PACKET.
    const cli = encodeInstruction({ mnemonic: 'c.li', rd: A0, imm: 5 });
    if (!cli.ok) throw new Error(cli.error);
    const word = ((cli.word << 16) | 0x0003) >>> 0; // low half 0x0003: a 4-byte LOAD
    const head = assemble([
      { mnemonic: 'auipc', rd: T0, imm: 0 },
      { mnemonic: 'addi', rd: T0, rs1: T0, imm: 14 },
      { mnemonic: 'jalr', rd: 0, rs1: T0, imm: 0 },
    ]);
    const tail = assemble([
      { mnemonic: 'jal', rd: 0, imm: 4 },
      { mnemonic: 'lw', rd: T1, rs1: A0, imm: 0 },
      { mnemonic: 'ebreak' },
    ]);
    const code = new Uint8Array([
      ...head,
      word & 0xff,
      (word >>> 8) & 0xff,
      (word >>> 16) & 0xff,
      word >>> 24,
      ...tail,
    ]);
    // slot 7 (offset 14) is not translated: only a computed jump reaches it
    const leaders = findLeaders(predecode(code, 0x1_0000));
    expect([leaders[7], leaders[10]]).toEqual([0, 1]);
    const { result, machines, program } = runBoth(code);
    expect(result.trap).toBe(TrapReason.ACCESS_FAULT);
    expect(result.faultAddress).toBe(5);
    // the next run starts from the entry registers again, on the translation
    const again = machines.fast.run(program);
    expect(again.faultAddress).toBe(5);
    const plain = assemble([{ mnemonic: 'lbu', rd: T0, rs1: A0, imm: 0 }, { mnemonic: 'ebreak' }]);
    expect(machines.fast.run(prepareProgram(plain, { fast: true })).trap).toBe(TrapReason.NO_VERDICT);
    expect(machines.fast.registers[A0]).toBe(entryValue(A0));
  });

  it('runs out of fuel inside a self-looping block exactly where the interpreter does', () => {
    const code = assemble([
      { mnemonic: 'addi', rd: T0, rs1: T0, imm: 1 },
      { mnemonic: 'xor', rd: T1, rs1: T1, rs2: T0 },
      { mnemonic: 'bne', rs1: T0, rs2: 0, imm: -8 },
    ]);
    for (let budget = 1; budget <= 40; budget++) {
      const { result } = runBoth(code, { budgetInstructions: budget });
      expect(result.trap).toBe(TrapReason.FUEL_EXHAUSTED);
      expect(result.fuelUsed).toBe(budget);
    }
  });

  it('ends at a static jump outside the code without using fuel for the fetch', () => {
    const code = assemble([
      { mnemonic: 'addi', rd: T0, rs1: 0, imm: 1 },
      { mnemonic: 'jal', rd: 1, imm: 2048 },
    ]);
    const { result, machines } = runBoth(code);
    expect(result.trap).toBe(TrapReason.FETCH_FAULT);
    expect(result.fuelUsed).toBe(2);
    expect(result.pc).toBe(0x1_0004 + 2048);
    expect(machines.fast.registers[1]).toBe(0x1_0008);
  });

  it('checks constant-address PATH accesses against each run’s length', () => {
    const code = assemble([
      { mnemonic: 'sw', rs1: A6, rs2: A6, imm: 8 },
      { mnemonic: 'lw', rd: T0, rs1: A6, imm: 8 },
      { mnemonic: 'ebreak' },
    ]);
    const machines = [
      createSandboxMachine({ tier: 'interpreter' }, { host }),
      createSandboxMachine({ tier: 'fast' }, { host }),
    ];
    const program: PreparedProgram = prepareProgram(code, { fast: true });
    for (const pathLengthBytes of [0, 11, 12, 64, 3, 12])
      for (const machine of machines) {
        const result = machine.run(program, { pathLengthBytes });
        if (pathLengthBytes < 12) {
          expect(result.trap).toBe(TrapReason.ACCESS_FAULT);
          expect(result.faultAddress).toBe(PATH_BASE + 8);
        } else {
          expect(result.trap).toBe(TrapReason.NO_VERDICT);
          expect(machine.registers[T0]).toBe(PATH_BASE);
        }
      }
  });

  it('restores every register the previous program could write before the next run', () => {
    const writer = prepareProgram(
      assemble([
        ...Array.from(
          { length: 31 },
          (_, i): Instruction => ({ mnemonic: 'addi', rd: i + 1, rs1: 0, imm: -1 - i }),
        ),
        { mnemonic: 'ebreak' },
      ]),
    );
    const reader = prepareProgram(assemble([{ mnemonic: 'ebreak' }]));
    for (const tier of ['interpreter', 'fast'] as const) {
      const machine: SandboxMachine = createSandboxMachine({ tier }, { host });
      machine.run(writer);
      expect(machine.registers[A0]).toBe(-10);
      machine.run(reader);
      expect(Array.from(machine.registers)).toEqual(Array.from({ length: 32 }, (_, r) => entryValue(r)));
    }
  });

  it('keeps the registers exact when programs, entries and tiers alternate (fast runs skip part of the restore)', () => {
    const A7 = 17;
    const programs = [
      // writes t0 and t1 (translated: set from entry values and written back)
      [
        { mnemonic: 'addi', rd: T0, rs1: 0, imm: 5 },
        { mnemonic: 'addi', rd: T1, rs1: 0, imm: 7 },
        { mnemonic: 'ebreak' },
      ],
      // reads t0 and t1 (must see the entry values), writes t0 only
      [{ mnemonic: 'add', rd: T0, rs1: T0, rs2: T1 }, { mnemonic: 'ebreak' }],
      // a service writes a0; the run resumes after the ECALL
      [
        { mnemonic: 'addi', rd: A7, rs1: 0, imm: Service.RANDOM },
        { mnemonic: 'ecall' },
        { mnemonic: 'add', rd: T1, rs1: A0, rs2: T1 },
        { mnemonic: 'ebreak' },
      ],
    ].map((instructions) => prepareProgram(assemble(instructions as Instruction[]), { fast: true }));
    const runs: [number, RunOptions | undefined][] = [
      [0, undefined],
      [1, undefined],
      [0, undefined],
      [0, { entryOffset: 3 }], // BAD_ENTRY: nothing runs
      [1, undefined],
      [2, undefined],
      [1, undefined],
      [0, { entryOffset: 4 }], // not a leader: the interpreter steps first
      [1, undefined],
      [0, { tier: 'interpreter' }],
      [1, undefined],
      [2, { tier: 'interpreter' }],
      [0, undefined],
      [2, undefined],
      [2, undefined],
      [1, undefined],
    ];
    const interpreter = createSandboxMachine({ tier: 'interpreter' }, { host });
    const fast = createSandboxMachine({ tier: 'fast' }, { host });
    for (const [index, options] of runs) {
      const program = programs[index]!;
      const a = { ...interpreter.run(program, { ...options, tier: 'interpreter' }) };
      const b = { ...fast.run(program, options) };
      expect(b).toEqual(a);
      expect(Array.from(fast.registers)).toEqual(Array.from(interpreter.registers));
    }
    expect(fast.registers[T0]).toBe(0);
  });
});
