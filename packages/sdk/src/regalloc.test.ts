import { describe, expect, it } from 'vitest';
import { compile } from './compile';
import { calleeSaved, callerSaved, isVirtual, type MInst, type MItem } from './mir';
import { allocateFunction } from './regalloc';
import { runMethod } from './run';

const op = (
  mnemonic: string,
  fields: Record<string, number> = {},
  extra: Record<string, unknown> = {},
): MItem => ({
  kind: 'inst',
  inst: { mnemonic, ...fields },
  line: 1,
  ...extra,
});
const insts = (items: readonly MItem[]) => items.filter((i): i is MInst => i.kind === 'inst');
const registers = (items: readonly MItem[]) =>
  insts(items).flatMap((i) =>
    [i.inst.rd, i.inst.rs1, i.inst.rs2].filter((r): r is number => r !== undefined),
  );

describe('register allocation', () => {
  it('leaves no virtual register and no copy between registers it could merge', () => {
    const { items, frameBytes } = allocateFunction({
      name: 'f',
      arraysBytes: 0,
      items: [
        op('entry', {}, { defs: [10, 11] }),
        op('addi', { rd: 32, rs1: 10, imm: 0 }),
        op('addi', { rd: 33, rs1: 11, imm: 0 }),
        op('add', { rd: 34, rs1: 32, rs2: 33 }),
        op('addi', { rd: 10, rs1: 34, imm: 0 }),
        op('ret', {}, { uses: [10] }),
      ],
    });
    expect(registers(items).some(isVirtual)).toBe(false);
    expect(insts(items).map((i) => i.inst.mnemonic)).toEqual(['add', 'jalr']);
    expect(frameBytes).toBe(0);
  });

  it('keeps a value live across a call in a callee-saved register, saved by the prologue', () => {
    const { items, frameBytes, hasCalls } = allocateFunction({
      name: 'f',
      arraysBytes: 0,
      items: [
        op('entry', {}, { defs: [10] }),
        op('addi', { rd: 32, rs1: 10, imm: 0 }),
        op('jal', { rd: 1, imm: 0 }, { target: 'g', uses: [], defs: [10, 11], clobbers: callerSaved }),
        op('add', { rd: 10, rs1: 10, rs2: 32 }),
        op('ret', {}, { uses: [10] }),
      ],
    });
    expect(hasCalls).toBe(true);
    const add = insts(items).find((i) => i.inst.mnemonic === 'add')!;
    expect(calleeSaved).toContain(add.inst.rs2);
    // ra and that register saved and restored; a 16-byte frame.
    expect(frameBytes).toBe(16);
    expect(
      insts(items)
        .filter((i) => i.inst.mnemonic === 'sw')
        .map((i) => i.inst.rs2),
    ).toEqual([1, add.inst.rs2]);
  });

  it('recomputes a constant it has no register for, and spills other values to frame slots', () => {
    // 40 values loaded from memory and a constant, all live at once: more than the registers.
    const loads = Array.from({ length: 40 }, (_, i) => op('lw', { rd: 100 + i, rs1: 2, imm: 4 * i }));
    const sums = Array.from({ length: 39 }, (_, i) =>
      op('add', { rd: 200 + i, rs1: i === 0 ? 100 : 199 + i, rs2: 101 + i }),
    );
    const { items, frameBytes } = allocateFunction({
      name: 'f',
      arraysBytes: 160,
      items: [
        op('entry'),
        op('li', { rd: 300, imm: 0x12345 }),
        ...loads,
        ...sums,
        op('add', { rd: 10, rs1: 238, rs2: 300 }),
        op('ret', {}, { uses: [10] }),
      ],
    });
    expect(registers(items).some(isVirtual)).toBe(false);
    const spills = insts(items).filter(
      (i) => i.inst.mnemonic === 'sw' && i.inst.rs1 === 2 && i.inst.imm! >= 160,
    );
    expect(spills.length).toBeGreaterThan(0);
    expect(frameBytes).toBeGreaterThan(160);
    // The constant is built where it is used (after the loads), not kept from the start.
    const list = insts(items);
    const lastLoad = list.findIndex(
      (i) => i.inst.mnemonic === 'lw' && i.inst.rs1 === 2 && i.inst.imm === 156,
    );
    expect(list.findIndex((i) => i.inst.mnemonic === 'lui')).toBeGreaterThan(lastLoad);
  });

  it('gets the right answer when a method keeps more values than there are registers', () => {
    // 30 locals all live until the end, across calls: callee-saved registers and frame slots.
    const names = Array.from({ length: 30 }, (_, i) => `v${i}`);
    const source = `class P {
  static int g(int x) { return x * 3 + 1; }
  static int run(int a, int b) {
    ${names.map((n, i) => `int ${n} = g(a + ${i}) ^ (b * ${i + 1});`).join('\n    ')}
    return ${names.map((n, i) => `${n} * ${i + 7}`).join(' + ')};
  }
}`;
    const model = (a: number, b: number) => {
      let sum = 0;
      for (let i = 0; i < 30; i++) {
        const v = (Math.imul(a + i, 3) + 1) ^ Math.imul(b, i + 1);
        sum = (sum + Math.imul(v, i + 7)) | 0;
      }
      return sum;
    };
    const code = compile(source, { call: { method: 'P.run', args: [0n, 0n] } }).image!.code;
    expect(code.length).toBeGreaterThan(0);
    for (const [a, b] of [
      [1, 2],
      [-7, 123456],
      [2147483647, -1],
    ] as const)
      for (const tier of ['interpreter', 'fast'] as const)
        expect(runMethod(source, 'P.run', [BigInt(a), BigInt(b)], { tier })).toMatchObject({
          ok: true,
          value: BigInt(model(a, b)),
        });
  });
});
