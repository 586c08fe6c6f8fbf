import { decodeInstruction } from '@capsule/vm';
import { describe, expect, it } from 'vitest';
import { assemble } from './assembler';
import { disassemble } from './disassembler';

describe('assembler diagnostics', () => {
  it('reports every bad line with a code and its line', () => {
    const r = assemble('  addx a0, a1, a2\n  addi a0, a1\n  lw a0, q(sp)\n  j nowhere\n  .bogus 1\n');
    expect(r.image).toBeUndefined();
    expect(r.diagnostics.map((d) => [d.code, d.span.start.line])).toEqual([
      ['ASM_UNKNOWN_MNEMONIC', 1],
      ['ASM_BAD_OPERAND', 2],
      ['ASM_UNKNOWN_SYMBOL', 3],
      ['ASM_UNKNOWN_SYMBOL', 4],
      ['ASM_UNKNOWN_MNEMONIC', 5],
    ]);
  });

  it('puts .data in the DATA layout and resolves la to its address', () => {
    const r = assemble(
      '.data\ntable: .word 1, 2\nflag: .byte 7\n.text\n.globl go\ngo:\n  la a0, table\n  lw a1, 4(a0)\n  ret\n',
    );
    expect(r.diagnostics).toEqual([]);
    expect(r.image!.data.map((d) => [d.name, d.offset, d.size, d.initial])).toEqual([
      ['table', 0, 8, '0100000002000000'],
      ['flag', 8, 1, '07'],
    ]);
    expect(disassemble(r.image!.code).map((l) => l.text)).toEqual(['lui\ta0, 64', 'lw\ta1, 4(a0)', 'ret']);
  });

  it('relaxes a branch out of reach, as GNU as does (llvm-mc 14 reports the fixup out of range)', () => {
    const source = ['.globl f', 'f:', '  beqz a0, far', ...Array(2100).fill('  nop'), 'far:', '  ret'].join(
      '\n',
    );
    const { image, diagnostics } = assemble(source, { compress: false });
    expect(diagnostics).toEqual([]);
    expect(decodeInstruction(image!.code, 0)).toMatchObject({
      ok: true,
      instruction: { mnemonic: 'bne', rs1: 10, rs2: 0, imm: 8 },
    });
    expect(decodeInstruction(image!.code, 4)).toMatchObject({
      ok: true,
      instruction: { mnemonic: 'jal', imm: 4 * 2100 + 4 },
    });
  });
});
