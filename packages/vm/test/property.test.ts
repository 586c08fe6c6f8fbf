/**
 * Property tests on random programs (fast-check, fixed seed): random code never throws out of the
 * VM, never writes outside its writable regions, always stops within its fuel, and the
 * interpreter and the fast tier agree on verdict, trap, fuel, pc, registers and memory.
 * Programs are random instruction words from the table (plus some raw random halfwords), made by
 * a seeded PRNG per fast-check run: cheap to generate, so the counts stay large.
 */
import { createNativeVmTier } from '@capsule/native';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createSandboxMachine,
  encodeInstruction,
  encodeProgram,
  type Instruction,
  instructionTable,
  prepareProgram,
  type SandboxHost,
  type SandboxMachine,
  TrapReason,
} from '../src/index';
import { randomOperands, seededRandom } from './generate';

const programsPerBatch = 12_500;
const batches = 4; // 4 × 12,500 programs, each run on the three tiers: 150,000 executions

function createHost(): SandboxHost & { reset(): void } {
  let counter = 0;
  return {
    reset: () => void (counter = 0),
    emit: () => true,
    flowHash: (seed) => Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b),
    timeMs: () => 1_700_000_000_123,
    random: () => Math.imul(++counter, 0x27d4eb2d),
    log: () => true,
  };
}

const controlMnemonics = new Set([
  'beq',
  'bne',
  'blt',
  'bge',
  'bltu',
  'bgeu',
  'jal',
  'c.j',
  'c.jal',
  'c.beqz',
  'c.bnez',
]);

/** A random program of up to 25 instructions: mostly legal instructions, short branches, some raw noise. */
function randomProgram(random: () => number): Uint8Array {
  const length = 2 + (random() % 24);
  const bytes = new Uint8Array(length * 4);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (let index = 0; index < length; index++) {
    if ((random() & 15) === 0) {
      view.setUint16(at, random() & 0xffff, true);
      at += 2;
      continue;
    }
    const spec = instructionTable[random() % instructionTable.length]!;
    const instruction = randomOperands(spec, random);
    if (controlMnemonics.has(spec.mnemonic) && (random() & 3) !== 0)
      instruction.imm = ((random() % 64) - 32) * 2;
    // bias memory offsets small so that accesses from the region bases in a0..a6 land inside
    if (/^(c\.)?(l|s)[bhw]u?$/.test(spec.mnemonic) && (random() & 1) === 0 && instruction.imm !== undefined)
      instruction.imm = instruction.imm & 0x3c;
    const encoded = encodeInstruction(instruction);
    if (!encoded.ok) continue;
    if (encoded.size === 4) view.setUint32(at, encoded.word, true);
    else view.setUint16(at, encoded.word, true);
    at += encoded.size;
  }
  return bytes.slice(0, Math.min(at, 1024));
}

function fillRegions(machine: SandboxMachine, seed: number) {
  const random = seededRandom(seed);
  for (const region of [
    machine.regions.packet,
    machine.regions.engine,
    machine.regions.path,
    machine.regions.data,
  ])
    for (let i = 0; i < region.length; i++) region[i] = random() & 0xff;
  machine.regions.flow.fill(0);
  machine.regions.contract.fill(0);
}

const writable = ['path', 'data', 'flow', 'contract', 'action', 'stack'] as const;

/** Element-wise equality of two typed arrays (cheap; `expect` only runs on a difference). */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe('property: random programs on all three tiers', () => {
  const hostA = createHost();
  const hostB = createHost();
  const hostC = createHost();
  const interpreter = createSandboxMachine({ tier: 'interpreter' }, { host: hostA });
  const fast = createSandboxMachine({ tier: 'fast' }, { host: hostB });
  const native = createSandboxMachine({ tier: 'native' }, { host: hostC, nativeTier: createNativeVmTier() });
  const traps = new Map<number, number>();

  for (let batch = 0; batch < batches; batch++) {
    it(`batch ${batch + 1}/${batches}: ${programsPerBatch} programs agree, stay in bounds and within fuel`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 0x7fffffff }), (seed) => {
          const random = seededRandom(seed);
          const code = randomProgram(random);
          if (code.length === 0) return;
          const budget = 1 + (random() % 400);
          const pathLength = random() % 257;
          const dataLength = random() % 257;
          const packetSnapshot = (() => {
            fillRegions(interpreter, seed);
            fillRegions(fast, seed);
            fillRegions(native, seed);
            return interpreter.regions.packet.slice();
          })();
          const engineSnapshot = interpreter.regions.engine.slice();
          const pathSnapshot = interpreter.regions.path.slice();
          const dataSnapshot = interpreter.regions.data.slice();
          hostA.reset();
          hostB.reset();
          hostC.reset();
          const program = prepareProgram(code);
          const options = {
            budgetInstructions: budget,
            pathLengthBytes: pathLength,
            dataLengthBytes: dataLength,
          };
          const a = { ...interpreter.run(program, options) };
          const b = { ...fast.run(program, options) };
          const c = { ...native.run(program, options) };
          expect(b).toEqual(a);
          expect(c).toEqual(a);
          for (const other of [fast, native]) {
            if (!same(other.registers, interpreter.registers))
              expect(Array.from(other.registers)).toEqual(Array.from(interpreter.registers));
            for (const name of writable)
              if (!same(other.regions[name], interpreter.regions[name]))
                expect(Array.from(other.regions[name])).toEqual(Array.from(interpreter.regions[name]));
          }
          // within fuel; read-only regions untouched; PATH/DATA untouched past their length
          expect(a.fuelUsed).toBeLessThanOrEqual(budget);
          expect(same(interpreter.regions.packet, packetSnapshot), 'PACKET unchanged').toBe(true);
          expect(same(interpreter.regions.engine, engineSnapshot), 'ENGINE unchanged').toBe(true);
          expect(same(interpreter.regions.path.subarray(pathLength), pathSnapshot.subarray(pathLength))).toBe(
            true,
          );
          expect(same(interpreter.regions.data.subarray(dataLength), dataSnapshot.subarray(dataLength))).toBe(
            true,
          );
          traps.set(a.trap, (traps.get(a.trap) ?? 0) + 1);
        }),
        { seed: testSeed + batch, numRuns: programsPerBatch },
      );
    }, 120_000);
  }

  it('exercised every kind of ending', () => {
    for (const reason of [
      TrapReason.ILLEGAL_INSTRUCTION,
      TrapReason.ACCESS_FAULT,
      TrapReason.FETCH_FAULT,
      TrapReason.FUEL_EXHAUSTED,
      TrapReason.ATOMIC_FAULT,
      TrapReason.BAD_SERVICE,
      TrapReason.NO_VERDICT,
    ])
      expect(traps.get(reason) ?? 0, `trap ${reason}`).toBeGreaterThan(0);
  });
});

/**
 * Random programs rarely feed an operation the operand values where implementations differ (sign
 * bits, INT_MIN / -1, shift amounts ≥ 32 in a register): here every ALU and M operation gets
 * random and edge-case operands loaded with lui/addi, on all three tiers.
 */
describe('property: ALU and M operations on random operands, all three tiers', () => {
  const registerOps = ['add', 'sub', 'sll', 'slt', 'sltu', 'xor', 'srl', 'sra', 'or', 'and']
    .concat(['mul', 'mulh', 'mulhsu', 'mulhu', 'div', 'divu', 'rem', 'remu'])
    .map((mnemonic) => ({ mnemonic, immediate: false }));
  const immediateOps = ['addi', 'slti', 'sltiu', 'xori', 'ori', 'andi', 'slli', 'srli', 'srai'].map(
    (mnemonic) => ({ mnemonic, immediate: true }),
  );
  const operations = [...registerOps, ...immediateOps];
  const edge = [0, 1, -1, 0x7fffffff, -0x80000000, 31, 32, 33, -32];
  const host = createHost();
  const tiers = [
    createSandboxMachine({ tier: 'interpreter' }, { host }),
    createSandboxMachine({ tier: 'fast' }, { host }),
    createSandboxMachine({ tier: 'native' }, { host, nativeTier: createNativeVmTier() }),
  ];
  const loadImmediate = (rd: number, value: number) => {
    const low = (value << 20) >> 20;
    const high = ((value - low) >> 12) & 0xfffff;
    return [
      { mnemonic: 'lui', rd, imm: high },
      { mnemonic: 'addi', rd, rs1: rd, imm: low },
    ];
  };
  it('2,000 programs of 8 operations each agree on every register', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), (seed) => {
        const random = seededRandom(seed);
        const value = () => ((random() & 3) === 0 ? edge[random() % edge.length]! : random() | 0);
        const instructions: Instruction[] = [];
        for (let k = 0; k < 8; k++) {
          const rd = 5 + k;
          const operation = operations[random() % operations.length]!;
          instructions.push(...(loadImmediate(28, value()) as Instruction[]));
          if (operation.immediate) {
            const shift = /^s(l|r)[la]i$/.test(operation.mnemonic);
            const imm = shift ? random() % 32 : ((random() % 4096) - 2048) | 0;
            instructions.push({ mnemonic: operation.mnemonic, rd, rs1: 28, imm } as Instruction);
          } else {
            instructions.push(...(loadImmediate(29, value()) as Instruction[]));
            instructions.push({ mnemonic: operation.mnemonic, rd, rs1: 28, rs2: 29 } as Instruction);
          }
        }
        instructions.push({ mnemonic: 'ebreak' } as Instruction);
        const program = prepareProgram(encodeProgram(instructions));
        const results = tiers.map((machine) => {
          const result = { ...machine.run(program) };
          return { result, registers: Array.from(machine.registers) };
        });
        expect(results[1]).toEqual(results[0]);
        expect(results[2]).toEqual(results[0]);
      }),
      { seed: testSeed, numRuns: 2000 },
    );
  });
});
