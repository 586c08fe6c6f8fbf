/**
 * The assembler against llvm-mc (same bytes for the same source, compressed the same way) and
 * the disassembler against llvm-objdump (same text for the same bytes).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canRun } from '@capsule/testkit';
import { describe, expect, it } from 'vitest';
import { assemble } from '../src/assembler';
import { disassemble } from '../src/disassembler';

const program = `
.text
.globl main
.equ COUNT, 10
main:
  li a0, COUNT
  li a1, 0x12345
  li a2, -2048
  li a3, 2048
  mv a2, a0
  add a3, a1, a2
loop:
  addi a0, a0, -1
  bnez a0, loop
  beq a1, a2, done
  blt a1, a2, loop
  bgt a1, a2, done
  bleu a1, a2, done
  beqz s0, done
  lw s0, 8(sp)
  sw s1, 12(a0)
  lbu t0, -1(a1)
  sh t1, 2(a2)
  amoadd.w a0, a1, (a2)
  amoswap.w.aq a0, a1, (a2)
  lr.w t0, (a3)
  sc.w.aqrl t1, t2, (a3)
  slli a4, a4, 3
  srai s0, s0, 2
  srli t0, t1, 31
  mul a0, a1, a2
  mulhu a0, a1, a2
  divu t3, t4, t5
  rem s1, s2, s3
  not a5, a6
  neg a7, s2
  seqz s3, s4
  snez s5, s6
  andi a0, a0, 15
  xori a1, a1, -1
  lui a2, 0x80
  auipc a3, 1
  addi sp, sp, -16
  addi a0, sp, 8
  j done
  jal loop
  jalr t0
  jr ra
  ecall
  ebreak
  fence
  nop
done:
  ret
`;

describe.skipIf(!canRun({ tools: ['llvm-mc', 'llvm-objcopy', 'llvm-objdump'] }))(
  'assembler and disassembler against LLVM',
  () => {
    it('assembles to the bytes llvm-mc produces, and disassembles to llvm-objdump text', () => {
      const ours = assemble(program);
      expect(ours.diagnostics).toEqual([]);
      const dir = mkdtempSync(join(tmpdir(), 'capsule-asm-'));
      try {
        writeFileSync(join(dir, 'a.s'), program);
        execFileSync('llvm-mc', [
          '-triple=riscv32',
          '-mattr=+m,+a,+c,-relax',
          '-filetype=obj',
          join(dir, 'a.s'),
          '-o',
          join(dir, 'a.o'),
        ]);
        execFileSync('llvm-objcopy', [
          '-O',
          'binary',
          '--only-section=.text',
          join(dir, 'a.o'),
          join(dir, 'a.bin'),
        ]);
        const theirs = new Uint8Array(readFileSync(join(dir, 'a.bin')));
        expect(Buffer.from(ours.image!.code).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
        const dump = execFileSync(
          'llvm-objdump',
          ['-d', '--mattr=+m,+a,+c', '--no-show-raw-insn', join(dir, 'a.o')],
          { encoding: 'utf8' },
        );
        const objdumpText = dump
          .split('\n')
          .filter((l) => /^\s+[0-9a-f]+:\s+\t/.test(l))
          .map((l) =>
            l
              .replace(/^\s+[0-9a-f]+:\s+\t/, '')
              .replace(/ <[^>]+>$/, '')
              .trim(),
          );
        const ourText = disassemble(ours.image!.code).map((l) => l.text.trim());
        expect(ourText).toEqual(objdumpText);
        expect(ours.image!.entries).toEqual([{ name: 'main', offset: 0 }]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
