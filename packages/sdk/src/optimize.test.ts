import { describe, expect, it } from 'vitest';
import type { MItem } from './mir';
import { optimizeVirtual, peephole } from './optimize';

const label = (name: string): MItem => ({ kind: 'label', name });
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
const to = (target: string) => ({ target });
/** Instructions as `mnemonic rd,rs1,rs2,imm→target` strings, labels as `name:`. */
const show = (items: readonly MItem[]) =>
  items.map((i) =>
    i.kind === 'label'
      ? `${i.name}:`
      : i.kind === 'inst'
        ? `${i.inst.mnemonic} ${[i.inst.rd, i.inst.rs1, i.inst.rs2, i.inst.imm].map((x) => x ?? '_').join(',')}${i.target ? `→${i.target}` : ''}`
        : i.kind,
  );

/** `for (i = 0; i < n; i++) { body }` as lowering lays it out, with `body` in the loop. */
const loop = (body: MItem[], after: MItem[] = []): MItem[] => [
  op('entry', {}, { defs: [10] }),
  op('addi', { rd: 40, rs1: 10, imm: 0 }), // n
  op('addi', { rd: 41, rs1: 0, imm: 0 }), // i = 0
  op('jal', { rd: 0, imm: 0 }, to('cond')),
  label('top'),
  ...body,
  op('addi', { rd: 41, rs1: 41, imm: 1 }),
  label('cond'),
  op('blt', { rs1: 41, rs2: 40, imm: 0 }, to('top')),
  ...after,
  label('ret'),
  op('ret', {}, { uses: [10] }),
];

describe('optimize: loops', () => {
  it('moves constants, invariant computations and loads of read-only memory before the loop', () => {
    const out = optimizeVirtual(
      loop([
        op('li', { rd: 50, imm: 0x70000 }),
        op('lw', { rd: 51, rs1: 50, imm: 8 }, { invariant: true }), // a constant address in ENGINE
        op('andi', { rd: 52, rs1: 40, imm: 31 }), // n & 31: n is not written in the loop
        op('add', { rd: 53, rs1: 41, rs2: 51 }),
        op('add', { rd: 54, rs1: 53, rs2: 52 }),
        op('sw', { rs1: 2, rs2: 54, imm: 0 }),
      ]),
    );
    expect(show(out).slice(0, 8)).toEqual([
      'entry _,_,_,_',
      'addi 40,10,_,0',
      'addi 41,0,_,0',
      'li 50,_,_,458752',
      'lw 51,50,_,8',
      'andi 52,40,_,31',
      'jal 0,_,_,0→cond',
      'top:',
    ]);
    // What depends on i stays.
    expect(show(out).slice(8, 11)).toEqual(['add 53,41,51,_', 'add 54,53,52,_', 'sw _,2,54,0']);
  });

  it('leaves in place what is not invariant, and what only runs when leaving the loop', () => {
    const out = optimizeVirtual(
      loop([
        op('lw', { rd: 50, rs1: 2, imm: 0 }), // writable memory
        op('addi', { rd: 51, rs1: 41, imm: 3 }), // depends on i
        op('sw', { rs1: 2, rs2: 51, imm: 4 }),
        op('beq', { rs1: 50, rs2: 0, imm: 0 }, to('out')),
        label('out2'),
      ]).flatMap((i) =>
        i.kind === 'label' && i.name === 'ret'
          ? [label('out'), op('li', { rd: 60, imm: 99 }), op('sw', { rs1: 2, rs2: 60, imm: 8 }), i]
          : [i],
      ),
    );
    const text = show(out);
    expect(text.indexOf('lw 50,2,_,0')).toBeGreaterThan(text.indexOf('top:'));
    expect(text.indexOf('addi 51,41,_,3')).toBeGreaterThan(text.indexOf('top:'));
    expect(text.indexOf('li 60,_,_,99')).toBeGreaterThan(text.indexOf('out:'));
  });
});

describe('optimize: reuse', () => {
  it('shares a constant along dominators and removes a recomputation', () => {
    const out = optimizeVirtual([
      op('entry', {}, { defs: [10] }),
      op('addi', { rd: 40, rs1: 10, imm: 0 }),
      op('li', { rd: 32, imm: 24 }),
      op('mul', { rd: 33, rs1: 40, rs2: 32 }),
      op('sw', { rs1: 2, rs2: 33, imm: 0 }),
      op('li', { rd: 34, imm: 24 }),
      op('mul', { rd: 35, rs1: 34, rs2: 40 }), // the same product, operands swapped
      op('sw', { rs1: 2, rs2: 35, imm: 4 }),
      op('ret'),
    ]);
    expect(show(out)).toEqual([
      'entry _,_,_,_',
      'addi 40,10,_,0',
      'li 32,_,_,24',
      'mul 33,40,32,_',
      'sw _,2,33,0',
      'sw _,2,33,4',
      'ret _,_,_,_',
    ]);
  });

  it('does not reuse a value whose operand was written since, nor a load after a store', () => {
    const out = optimizeVirtual([
      op('entry', {}, { defs: [10] }),
      op('addi', { rd: 40, rs1: 10, imm: 0 }),
      op('slli', { rd: 33, rs1: 40, imm: 2 }),
      op('sw', { rs1: 2, rs2: 33, imm: 0 }),
      op('addi', { rd: 40, rs1: 40, imm: 1 }),
      op('slli', { rd: 34, rs1: 40, imm: 2 }),
      op('lw', { rd: 35, rs1: 2, imm: 0 }),
      op('sw', { rs1: 2, rs2: 34, imm: 0 }),
      op('lw', { rd: 36, rs1: 2, imm: 0 }),
      op('add', { rd: 37, rs1: 35, rs2: 36 }),
      op('sw', { rs1: 2, rs2: 37, imm: 8 }),
      op('ret'),
    ]);
    expect(show(out).filter((x) => x.startsWith('slli') || x.startsWith('lw'))).toEqual([
      'slli 33,40,_,2',
      'slli 34,40,_,2',
      'lw 35,2,_,0',
      'lw 36,2,_,0',
    ]);
  });

  it('removes a bounds check that an earlier one with the same operands already passed', () => {
    const out = optimizeVirtual([
      op('entry', {}, { defs: [10, 11] }),
      op('addi', { rd: 40, rs1: 10, imm: 0 }),
      op('addi', { rd: 41, rs1: 11, imm: 0 }),
      op('bgeu', { rs1: 40, rs2: 41, imm: 0 }, to('$trap')),
      op('sw', { rs1: 2, rs2: 40, imm: 0 }),
      op('bgeu', { rs1: 40, rs2: 41, imm: 0 }, to('$trap')),
      op('addi', { rd: 40, rs1: 40, imm: 1 }),
      op('bgeu', { rs1: 40, rs2: 41, imm: 0 }, to('$trap')),
      op('ret'),
    ]);
    expect(show(out).filter((x) => x.startsWith('bgeu'))).toHaveLength(2);
  });

  it('removes computations nobody reads', () => {
    const out = optimizeVirtual([
      op('entry', {}, { defs: [10] }),
      op('li', { rd: 32, imm: 5 }),
      op('add', { rd: 33, rs1: 32, rs2: 10 }),
      op('ret'),
    ]);
    expect(show(out)).toEqual(['entry _,_,_,_', 'ret _,_,_,_']);
  });
});

describe('peephole', () => {
  const ret = op('jalr', { rd: 0, rs1: 1, imm: 0 });
  it('inverts a branch over a jump, and drops a jump to the next instruction', () => {
    const out = peephole([
      op('beq', { rs1: 10, rs2: 11, imm: 0 }, to('a')),
      op('jal', { rd: 0, imm: 0 }, to('b')),
      label('x'),
      label('a'),
      op('addi', { rd: 10, rs1: 10, imm: 1 }),
      op('jal', { rd: 0, imm: 0 }, to('b')),
      label('b'),
      op('sw', { rs1: 2, rs2: 10, imm: 0 }),
      ret,
    ]);
    expect(show(out)).toEqual([
      'bne _,10,11,0→b',
      'x:',
      'a:',
      'addi 10,10,_,1',
      'b:',
      'sw _,2,10,0',
      'jalr 0,1,_,0',
    ]);
  });

  it('threads a jump to a jump, copies a short epilogue, drops code nothing reaches', () => {
    const out = peephole([
      op('beq', { rs1: 10, rs2: 0, imm: 0 }, to('hop')),
      op('jal', { rd: 0, imm: 0 }, to('end')),
      op('addi', { rd: 10, rs1: 10, imm: 1 }), // unreachable
      label('hop'),
      op('jal', { rd: 0, imm: 0 }, to('far')),
      label('far'),
      op('sw', { rs1: 2, rs2: 10, imm: 0 }),
      label('end'),
      op('lw', { rd: 8, rs1: 2, imm: 12 }),
      op('addi', { rd: 2, rs1: 2, imm: 16 }),
      ret,
    ]);
    expect(show(out)).toEqual([
      'beq _,10,0,0→far',
      'lw 8,2,_,12',
      'addi 2,2,_,16',
      'jalr 0,1,_,0',
      'far:',
      'sw _,2,10,0',
      'end:',
      'lw 8,2,_,12',
      'addi 2,2,_,16',
      'jalr 0,1,_,0',
    ]);
  });

  it('forwards a stored value to the load of the same slot', () => {
    const out = peephole([
      op('sw', { rs1: 2, rs2: 10, imm: 8 }),
      op('lw', { rd: 11, rs1: 2, imm: 8 }),
      op('sw', { rs1: 2, rs2: 12, imm: 4 }),
      op('lw', { rd: 12, rs1: 2, imm: 4 }),
      ret,
    ]);
    expect(show(out)).toEqual(['sw _,2,10,8', 'addi 11,10,_,0', 'sw _,2,12,4', 'jalr 0,1,_,0']);
  });
});
