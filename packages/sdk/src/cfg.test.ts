import { describe, expect, it } from 'vitest';
import { controlFlow, dominators, naturalLoops } from './cfg';
import type { MItem } from './mir';

const label = (name: string): MItem => ({ kind: 'label', name });
const op = (mnemonic: string, fields: Record<string, number> = {}, target?: string): MItem => ({
  kind: 'inst',
  inst: { mnemonic, ...fields },
  ...(target === undefined ? {} : { target }),
  line: 1,
});
const jump = (target: string) => op('jal', { rd: 0, imm: 0 }, target);
const branch = (mnemonic: string, target: string) => op(mnemonic, { rs1: 32, rs2: 33, imm: 0 }, target);

/** The shape lowering gives `for (…; cond; …) body`: j cond; top: body; cont: update; cond: test. */
const forLoop: MItem[] = [
  op('li', { rd: 32, imm: 0 }), // 0: preheader
  jump('cond'),
  label('top'),
  op('addi', { rd: 34, rs1: 34, imm: 1 }), // 1: body
  branch('beq', 'exit'),
  op('addi', { rd: 35, rs1: 35, imm: 1 }), // 2: rest of body
  label('cont'),
  op('addi', { rd: 32, rs1: 32, imm: 1 }), // 3: update
  label('cond'),
  branch('blt', 'top'), // 4: test
  op('li', { rd: 36, imm: 7 }), // 5: after the loop
  label('exit'),
  op('ret'), // 6
];

describe('control flow', () => {
  it('splits blocks at labels and after branches and jumps, and links them', () => {
    const flow = controlFlow(forLoop);
    // preheader; top (branches to exit); rest of body; cont; cond (back to top); after; exit.
    expect(flow.blocks.map((b) => [b.first, b.last, b.successors])).toEqual([
      [0, 1, [4]],
      [2, 3, [6, 2]],
      [4, 4, [3]],
      [5, 5, [4]],
      [6, 6, [1, 5]],
      [7, 7, [6]],
      [8, 8, []],
    ]);
    expect(flow.itemIndex.slice(0, 3)).toEqual([0, 1, 3]);
  });

  it('a branch to a label outside the function has no successor there', () => {
    const flow = controlFlow([op('li', { rd: 32, imm: 1 }), branch('beq', '$trap'), op('ret')]);
    expect(flow.blocks.map((b) => b.successors)).toEqual([[1], []]);
  });

  it('finds dominators and the natural loop of a back edge, without the code that leaves it', () => {
    const flow = controlFlow(forLoop);
    const successors = flow.blocks.map((b) => b.successors);
    const idom = dominators(successors);
    expect(idom).toEqual([0, 4, 1, 2, 0, 4, 4]);
    const loops = naturalLoops(successors, idom);
    expect(loops.map((l) => [l.header, [...l.body].sort()])).toEqual([[4, [1, 2, 3, 4]]]);
  });

  it('orders nested loops innermost first', () => {
    const items: MItem[] = [
      op('li', { rd: 32, imm: 0 }),
      label('outer'),
      op('li', { rd: 33, imm: 0 }),
      label('inner'),
      op('addi', { rd: 33, rs1: 33, imm: 1 }),
      branch('blt', 'inner'),
      op('addi', { rd: 32, rs1: 32, imm: 1 }),
      branch('blt', 'outer'),
      op('ret'),
    ];
    const flow = controlFlow(items);
    const successors = flow.blocks.map((b) => b.successors);
    const loops = naturalLoops(successors, dominators(successors));
    expect(loops.map((l) => [l.header, l.body.size])).toEqual([
      [2, 1],
      [1, 3],
    ]);
  });
});
