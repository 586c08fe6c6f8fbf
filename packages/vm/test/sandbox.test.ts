/**
 * The sandbox machine through its ABI: entry registers, verdicts, services and their fuel, traps
 * as DROP verdicts, region rules (PATH/DATA lengths, atomics on CONTRACT only), the verifier and
 * the compressor — every case on both tiers (one shared suite).
 */
import { createNativeVmTier } from '@capsule/native';
import { describe, expect, it } from 'vitest';
import {
  ACTION_BASE,
  ActionField,
  CONTRACT_BASE,
  compressInstruction,
  createSandboxMachine,
  DATA_BASE,
  ENGINE_BASE,
  EngineField,
  EngineLinkField,
  encodeInstruction,
  encodeProgram,
  type Instruction,
  PACKET_BASE,
  PATH_BASE,
  prepareProgram,
  type SandboxHost,
  Service,
  STACK_TOP,
  services,
  TrapReason,
  Verdict,
  verifyProgram,
} from '../src/index';

const assemble = encodeProgram;
const li = (rd: number, imm: number): Instruction[] =>
  imm >= -2048 && imm < 2048
    ? [{ mnemonic: 'addi', rd, rs1: 0, imm }]
    : [
        { mnemonic: 'lui', rd, imm: ((imm + 0x800) >>> 12) & 0xfffff },
        { mnemonic: 'addi', rd, rs1: rd, imm: (imm << 20) >> 20 },
      ];
const sw = (rs2: number, rs1: number, imm: number): Instruction => ({ mnemonic: 'sw', rs1, rs2, imm });
const lw = (rd: number, rs1: number, imm: number): Instruction => ({ mnemonic: 'lw', rd, rs1, imm });
const ecall: Instruction = { mnemonic: 'ecall' };
const ret: Instruction = { mnemonic: 'jalr', rd: 0, rs1: 1, imm: 0 };
const A0 = 10;
const A1 = 11;
const A2 = 12;
const A7 = 17;
const T0 = 5;
const T1 = 6;
/** verdict FORWARD to link `link`: action.egress[0] = link, count = 1, verdict = 1. */
const forward = (link: number): Instruction[] => [
  ...li(T0, link),
  sw(T0, A1, ActionField.EGRESS_LINKS),
  ...li(T0, 1),
  sw(T0, A1, ActionField.EGRESS_COUNT),
  sw(T0, A1, ActionField.VERDICT),
];

function host(overrides: Partial<SandboxHost> = {}): SandboxHost & { logged: string[]; emitted: number } {
  const h = {
    logged: [] as string[],
    emitted: 0,
    emit: () => {
      h.emitted++;
      return true;
    },
    flowHash: (seed: number) => (seed * 3 + 1) | 0,
    timeMs: () => 0x1_2345_6789,
    random: () => 0xdeadbeef,
    log: (bytes: Uint8Array) => {
      h.logged.push(new TextDecoder().decode(bytes));
      return true;
    },
    ...overrides,
  };
  return h;
}

const nativeTier = createNativeVmTier();

for (const tier of ['interpreter', 'fast', 'native'] as const) {
  describe(`sandbox machine (${tier})`, () => {
    it('starts with the entry registers of the ABI', () => {
      const machine = createSandboxMachine({ tier }, { host: host(), nativeTier });
      const result = machine.run(prepareProgram(assemble([{ mnemonic: 'ebreak' }])));
      const r = machine.registers;
      expect([r[1], r[2], r[10], r[11], r[12], r[13], r[14], r[15], r[16]]).toEqual([
        0,
        STACK_TOP,
        PACKET_BASE,
        ACTION_BASE,
        DATA_BASE,
        0x50000,
        CONTRACT_BASE,
        ENGINE_BASE,
        PATH_BASE,
      ]);
      expect(result.trap).toBe(TrapReason.NO_VERDICT);
      expect(result.verdict).toBe(Verdict.DROP);
    });

    it('forwards when the program sets FORWARD and returns to ra = 0 (compressed code too)', () => {
      for (const compress of [false, true]) {
        const machine = createSandboxMachine({ tier }, { host: host(), nativeTier });
        const program = prepareProgram(assemble([...forward(7), ret], compress));
        const result = machine.run(program);
        expect(result).toMatchObject({ verdict: Verdict.FORWARD, trap: TrapReason.NONE, egressCount: 1 });
        expect(new DataView(machine.regions.action.buffer).getUint32(ActionField.EGRESS_LINKS, true)).toBe(7);
        expect(result.fuelUsed).toBe(forward(7).length + 1);
      }
    });

    it('turns traps into DROP with a reason, never an exception', () => {
      const machine = createSandboxMachine({ tier }, { host: host(), nativeTier });
      const cases: [Instruction[], number][] = [
        [[lw(T0, 0, 16)], TrapReason.ACCESS_FAULT],
        [[sw(T0, A0, 0)], TrapReason.ACCESS_FAULT], // PACKET is read only
        [[lw(T0, A1, 128)], TrapReason.ACCESS_FAULT], // past ACTION's 128 bytes
        [[{ mnemonic: 'jal', rd: 0, imm: 2000 }], TrapReason.FETCH_FAULT],
        [[{ mnemonic: 'amoadd.w', rd: T0, rs1: A3(), rs2: 0 }], TrapReason.ATOMIC_FAULT], // FLOW: no atomics
        [
          [
            { mnemonic: 'addi', rd: T1, rs1: A2 + 2, imm: 2 },
            { mnemonic: 'lr.w', rd: T0, rs1: T1 },
          ],
          TrapReason.MISALIGNED_ATOMIC,
        ],
        [[...li(A7, 99), ecall], TrapReason.BAD_SERVICE],
        [[...li(T0, 9), sw(T0, A1, ActionField.VERDICT), ret], TrapReason.BAD_ACTION],
        [[...li(T0, 1), sw(T0, A1, ActionField.VERDICT), ret], TrapReason.BAD_ACTION], // FORWARD, no link
        [[{ mnemonic: 'jal', rd: 0, imm: 0 }], TrapReason.FUEL_EXHAUSTED],
      ];
      for (const [code, reason] of cases) {
        const result = machine.run(prepareProgram(assemble(code)));
        expect({ reason: result.trap, verdict: result.verdict }).toEqual({ reason, verdict: Verdict.DROP });
      }
      const illegal = machine.run(prepareProgram(new Uint8Array([0, 0, 0, 0])));
      expect(illegal.trap).toBe(TrapReason.ILLEGAL_INSTRUCTION);
      expect(machine.run(prepareProgram(assemble([ret])), { entryOffset: 3 }).trap).toBe(
        TrapReason.BAD_ENTRY,
      );
    });

    it('stops an endless loop exactly at its fuel budget', () => {
      const machine = createSandboxMachine({ tier, budgetInstructions: 1234 }, { host: host(), nativeTier });
      const loop = prepareProgram(
        assemble([
          { mnemonic: 'addi', rd: T0, rs1: T0, imm: 1 },
          { mnemonic: 'jal', rd: 0, imm: -4 },
        ]),
      );
      const result = machine.run(loop);
      expect(result).toMatchObject({ trap: TrapReason.FUEL_EXHAUSTED, fuelUsed: 1234 });
      expect(machine.registers[T0]).toBe(617);
    });

    it('maps PATH and DATA over their current length only', () => {
      const machine = createSandboxMachine({ tier }, { host: host(), nativeTier });
      const program = prepareProgram(assemble([lw(T0, A2, 12), sw(T0, A2 + 4, 0), { mnemonic: 'ebreak' }]));
      expect(machine.run(program, { dataLengthBytes: 16, pathLengthBytes: 4 }).trap).toBe(
        TrapReason.NO_VERDICT,
      );
      expect(machine.run(program, { dataLengthBytes: 15, pathLengthBytes: 4 }).trap).toBe(
        TrapReason.ACCESS_FAULT,
      );
      expect(machine.run(program, { dataLengthBytes: 16, pathLengthBytes: 3 }).trap).toBe(
        TrapReason.ACCESS_FAULT,
      );
    });

    it('allows AMOs and LR/SC on CONTRACT memory, which persists between runs', () => {
      const machine = createSandboxMachine({ tier }, { host: host(), nativeTier });
      const program = prepareProgram(
        assemble([
          ...li(T0, 5),
          { mnemonic: 'amoadd.w', rd: T1, rs1: A2 + 2, rs2: T0, aq: true },
          { mnemonic: 'lr.w', rd: T0, rs1: A2 + 2 },
          { mnemonic: 'addi', rd: T0, rs1: T0, imm: 1 },
          { mnemonic: 'sc.w', rd: A0 + 3, rs1: A2 + 2, rs2: T0 },
          ...forward(1),
          ret,
        ]),
      );
      machine.run(program);
      machine.run(program);
      expect(new DataView(machine.regions.contract.buffer).getInt32(0, true)).toBe(12);
      expect(machine.registers[A0 + 3]).toBe(0);
    });

    it('resets ACTION and STACK between runs', () => {
      const machine = createSandboxMachine({ tier }, { host: host(), nativeTier });
      const writer = prepareProgram(assemble([...li(T0, 77), sw(T0, 2, -4), ...forward(3), ret]));
      const reader = prepareProgram(
        assemble([lw(T0, 2, -4), lw(T1, A1, ActionField.VERDICT), { mnemonic: 'ebreak' }]),
      );
      machine.run(writer);
      machine.run(reader);
      expect([machine.registers[T0], machine.registers[T1]]).toEqual([0, 0]);
    });

    it('performs services and charges their fuel', () => {
      const h = host();
      const machine = createSandboxMachine({ tier }, { host: h, nativeTier });
      const engine = new DataView(machine.regions.engine.buffer);
      engine.setUint32(EngineField.LINK_COUNT, 3, true);
      for (let link = 0; link < 3; link++) {
        const at = EngineField.LINK_TABLE + link * 24;
        engine.setUint32(at + EngineLinkField.ID, 100 + link, true);
        engine.setUint32(at + EngineLinkField.UP, link === 1 ? 0 : 1, true);
        engine.setUint32(at + EngineLinkField.TAGS, 0b100, true);
      }
      machine.regions.data.set(new TextEncoder().encode('hello'));
      const cost = (name: string) => services.find((s) => s.name === name)!.fuelCost;
      const code = [
        ...li(A0, 10),
        ...li(A7, Service.FLOW_HASH),
        ecall,
        { mnemonic: 'addi', rd: 18, rs1: A0, imm: 0 },
        ...li(A7, Service.TIME),
        ecall,
        { mnemonic: 'addi', rd: 19, rs1: A0, imm: 0 },
        { mnemonic: 'addi', rd: 20, rs1: A1, imm: 0 },
        ...li(A7, Service.RANDOM),
        ecall,
        { mnemonic: 'addi', rd: 21, rs1: A0, imm: 0 },
        ...li(A0, 2),
        { mnemonic: 'addi', rd: A1, rs1: 2, imm: -64 },
        ...li(A2, 8),
        ...li(A7, Service.LOOKUP_TAG),
        ecall,
        { mnemonic: 'addi', rd: 22, rs1: A0, imm: 0 },
        lw(23, 2, -64),
        lw(24, 2, -60),
        ...li(A0, DATA_BASE),
        ...li(A1, 5),
        ...li(A7, Service.LOG),
        ecall,
        ...li(A1, ACTION_BASE),
        ...forward(4),
        ...li(A7, Service.EMIT),
        ecall,
        ret,
      ];
      const result = machine.run(prepareProgram(assemble(code)), { dataLengthBytes: 16 });
      expect(result.trap).toBe(TrapReason.NONE);
      const r = machine.registers;
      expect([r[18], r[19], r[20], r[21], r[22], r[23], r[24]]).toEqual([
        31,
        0x23456789,
        1,
        0xdeadbeef | 0,
        2,
        100,
        102,
      ]);
      expect(h.logged).toEqual(['hello']);
      expect(h.emitted).toBe(1);
      const expectedFuel =
        code.length +
        cost('FLOW_HASH') +
        cost('TIME') +
        cost('RANDOM') +
        cost('LOOKUP_TAG') +
        2 * 2 +
        cost('LOG') +
        2 +
        cost('EMIT');
      expect(result.fuelUsed).toBe(expectedFuel);
    });
  });
}

function A3(): number {
  return 13;
}

describe('verifier', () => {
  it('accepts a good program and reports problems with codes', () => {
    expect(verifyProgram(assemble([...forward(1), ret])).ok).toBe(true);
    const codes = (bytes: Uint8Array, entryOffsets?: number[]) =>
      verifyProgram(bytes, { entryOffsets }).diagnostics.map((d) => d.code);
    expect(codes(new Uint8Array(0))).toEqual(['VM_CODE_EMPTY']);
    expect(codes(new Uint8Array(1026))).toContain('VM_CODE_TOO_LARGE');
    expect(codes(new Uint8Array([0x73, 0x25, 0x00, 0xc0]))[0]).toBe('VM_FORBIDDEN_CSR'); // rdcycle
    expect(codes(new Uint8Array([0x0f, 0x10, 0x00, 0x00]))[0]).toBe('VM_FORBIDDEN_FENCE_I');
    expect(codes(new Uint8Array([0x53, 0x00, 0x00, 0x00]))[0]).toBe('VM_FORBIDDEN_FLOAT');
    expect(codes(assemble([{ mnemonic: 'beq', rs1: 0, rs2: 0, imm: 64 }]))).toEqual([
      'VM_TARGET_OUTSIDE_CODE',
    ]);
    expect(codes(assemble([{ mnemonic: 'jal', rd: 0, imm: 2 }, ret]))).toEqual(['VM_TARGET_NOT_INSTRUCTION']);
    expect(codes(assemble([ret, ret]), [0, 2, 4])).toEqual(['VM_BAD_ENTRY']);
    expect(codes(new Uint8Array([0x13, 0x05]))[0]).toBe('VM_TRUNCATED_INSTRUCTION');
    // A good program and one byte more: refused for its length, before any instruction is read.
    const good = assemble([...forward(1), ret]);
    const odd = new Uint8Array(good.length + 1);
    odd.set(good);
    expect(codes(odd)).toEqual(['VM_CODE_ODD_LENGTH']);
  });
});

describe('compressInstruction', () => {
  it('finds the RVC form when one exists, and it encodes to the same meaning', () => {
    expect(compressInstruction({ mnemonic: 'addi', rd: 10, rs1: 10, imm: 1 })).toEqual({
      mnemonic: 'c.addi',
      rd: 10,
      imm: 1,
    });
    expect(compressInstruction({ mnemonic: 'addi', rd: 10, rs1: 11, imm: 0 })).toEqual({
      mnemonic: 'c.mv',
      rd: 10,
      rs2: 11,
    });
    expect(compressInstruction({ mnemonic: 'jalr', rd: 0, rs1: 1, imm: 0 })).toEqual({
      mnemonic: 'c.jr',
      rs1: 1,
    });
    expect(compressInstruction({ mnemonic: 'lw', rd: 8, rs1: 9, imm: 4 })).toEqual({
      mnemonic: 'c.lw',
      rd: 8,
      rs1: 9,
      imm: 4,
    });
    expect(compressInstruction({ mnemonic: 'lw', rd: 5, rs1: 9, imm: 4 })).toBeUndefined();
    expect(compressInstruction({ mnemonic: 'lui', rd: 10, imm: 0xfffff })).toEqual({
      mnemonic: 'c.lui',
      rd: 10,
      imm: 0xfffff,
    });
    expect(compressInstruction({ mnemonic: 'addi', rd: 2, rs1: 2, imm: -64 })).toEqual({
      mnemonic: 'c.addi16sp',
      imm: -64,
    });
    expect(compressInstruction({ mnemonic: 'ebreak' })).toEqual({ mnemonic: 'c.ebreak' });
    expect(encodeInstruction({ mnemonic: 'c.addi4spn', rd: 8, imm: 0 })).toMatchObject({ ok: false });
    expect(encodeInstruction({ mnemonic: 'c.lw', rd: 5, rs1: 8, imm: 0 })).toMatchObject({ ok: false });
    expect(encodeInstruction({ mnemonic: 'addi', rd: 1, rs1: 1, imm: 2048 })).toMatchObject({ ok: false });
  });
});
