import { decodeInstruction, type Instruction } from '@capsule/vm';
import { describe, expect, it } from 'vitest';
import { DiagnosticBag } from './diagnostics';
import { emitCode } from './emit';
import type { MItem } from './mir';

const branch = (mnemonic: string, rs1: number, rs2: number, target: string): MItem => ({
  kind: 'inst',
  inst: { mnemonic, rs1, rs2, imm: 0 },
  target,
  line: 1,
});
const label = (name: string): MItem => ({ kind: 'label', name });
const padding = (bytes: number): MItem => ({
  kind: 'bytes',
  bytes: new Uint8Array(bytes).fill(0x01),
  line: 1,
});
const decodeAt = (code: Uint8Array, offset: number): Instruction & { size: number } => {
  const d = decodeInstruction(code, offset);
  if (!d.ok) throw new Error(`no instruction at ${offset}`);
  return { ...d.instruction, size: d.size };
};

describe('emit: branch relaxation', () => {
  it('keeps a branch within ±4 KiB as one instruction', () => {
    const bag = new DiagnosticBag();
    const out = emitCode(
      [{ name: 'f', items: [branch('blt', 10, 11, 'far'), padding(4000), label('far')] }],
      bag,
    );
    expect(bag.items).toEqual([]);
    expect(decodeAt(out.code, 0)).toMatchObject({ mnemonic: 'blt', rs1: 10, rs2: 11, imm: 4004, size: 4 });
  });

  it('turns a forward branch out of reach into the inverted branch over a jal, for each condition', () => {
    const inverse = { beq: 'bne', bne: 'beq', blt: 'bge', bge: 'blt', bltu: 'bgeu', bgeu: 'bltu' };
    for (const [mnemonic, inverted] of Object.entries(inverse)) {
      const bag = new DiagnosticBag();
      const out = emitCode(
        [{ name: 'f', items: [branch(mnemonic, 5, 6, 'far'), padding(5000), label('far'), padding(2)] }],
        bag,
      );
      expect(bag.items).toEqual([]);
      expect(decodeAt(out.code, 0)).toMatchObject({ mnemonic: inverted, rs1: 5, rs2: 6, imm: 8, size: 4 });
      // The jal sits at 4 and lands on `far` (8 + 5000).
      expect(decodeAt(out.code, 4)).toMatchObject({ mnemonic: 'jal', rd: 0, imm: 5004, size: 4 });
      expect(out.labels.get('far')).toBe(5008);
    }
  });

  it('relaxes a backward branch, and compresses the inverted branch when it can', () => {
    const bag = new DiagnosticBag();
    const out = emitCode(
      [{ name: 'f', items: [label('top'), padding(6000), branch('beq', 8, 0, 'top'), padding(2)] }],
      bag,
    );
    expect(bag.items).toEqual([]);
    // beq s0, zero, top → c.bnez s0, +6; j top
    expect(decodeAt(out.code, 6000)).toMatchObject({ mnemonic: 'c.bnez', rs1: 8, imm: 6, size: 2 });
    expect(decodeAt(out.code, 6002)).toMatchObject({ mnemonic: 'jal', rd: 0, imm: -6002, size: 4 });
  });

  it('converges when relaxing one branch pushes another out of reach', () => {
    // The first branch reaches `mid` (4094 ahead) until the second, between them, grows by 4 bytes.
    const bag = new DiagnosticBag();
    const out = emitCode(
      [
        {
          name: 'f',
          items: [
            branch('bne', 7, 6, 'mid'),
            branch('bne', 5, 6, 'end'),
            padding(4086),
            label('mid'),
            padding(2000),
            label('end'),
            padding(2),
          ],
        },
      ],
      bag,
      { compress: false },
    );
    expect(bag.items).toEqual([]);
    expect(decodeAt(out.code, 0)).toMatchObject({ mnemonic: 'beq', rs1: 7, imm: 8 });
    expect(decodeAt(out.code, 4)).toMatchObject({ mnemonic: 'jal', imm: 4102 - 4 });
    expect(decodeAt(out.code, 8)).toMatchObject({ mnemonic: 'beq', rs1: 5, imm: 8 });
    expect(out.labels.get('mid')).toBe(16 + 4086);
  });

  it('reports code over the target limit as CHECK_LIMIT, not as a link error', () => {
    const bag = new DiagnosticBag();
    emitCode([{ name: 'f', items: [branch('beq', 5, 6, 'end'), padding(1100), label('end')] }], bag, {
      maxCodeBytes: 1024,
    });
    expect(bag.items.map((d) => d.code)).toEqual(['CHECK_LIMIT']);
  });
});
