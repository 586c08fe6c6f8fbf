/**
 * The disassembler's text against llvm-objdump: many encodings of every instruction in the table
 * are assembled into one object (as raw .4byte/.2byte data), llvm-objdump runs once, and every
 * line must match formatInstruction's text.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canRun } from '@capsule/testkit';
import { describe, expect, it } from 'vitest';
import {
  decodeInstruction,
  encodeInstruction,
  formatInstruction,
  type Instruction,
  instructionTable,
} from '../src/index';
import { randomOperands, seededRandom } from './generate';

const encodingsPerInstruction = 40;

describe.skipIf(!canRun({ tools: ['llvm-mc', 'llvm-objdump'] }))(
  'disassembly agrees with llvm-objdump',
  () => {
    it(`prints ${encodingsPerInstruction} encodings of every table row as llvm-objdump does`, () => {
      const random = seededRandom(7);
      const items: { word: number; size: number; instruction: Instruction; pc: number }[] = [];
      let pc = 0;
      for (const spec of instructionTable) {
        let made = 0;
        for (let attempt = 0; made < encodingsPerInstruction && attempt < 1000; attempt++) {
          const instruction = randomOperands(spec, random);
          const encoded = encodeInstruction(instruction);
          if (!encoded.ok) continue;
          items.push({ word: encoded.word, size: encoded.size, instruction, pc });
          pc += encoded.size;
          made++;
        }
        expect(made, spec.mnemonic).toBe(encodingsPerInstruction);
      }
      const dir = mkdtempSync(join(tmpdir(), 'capsule-vm-objdump-'));
      try {
        const source = items
          .map((item) =>
            item.size === 4 ? `.4byte 0x${item.word.toString(16)}` : `.2byte 0x${item.word.toString(16)}`,
          )
          .join('\n');
        writeFileSync(join(dir, 'all.s'), `.text\n${source}\n`);
        execFileSync('llvm-mc', [
          '--triple=riscv32',
          '-mattr=+m,+a,+c',
          '-filetype=obj',
          join(dir, 'all.s'),
          '-o',
          join(dir, 'all.o'),
        ]);
        const dump = execFileSync(
          'llvm-objdump',
          ['-d', '--triple=riscv32', '--mattr=+m,+a,+c', join(dir, 'all.o')],
          {
            encoding: 'utf8',
            maxBuffer: 64 << 20,
          },
        );
        const lines = dump
          .split('\n')
          .filter((line) => /^\s+[0-9a-f]+: /.test(line))
          .map((line) =>
            line
              .split('\t')
              .slice(1)
              .join('\t')
              .replace(/ <[^>]*>$/, '')
              .trimEnd(),
          );
        expect(lines.length).toBe(items.length);
        const bytes = new Uint8Array(pc + 4);
        const view = new DataView(bytes.buffer);
        for (const item of items)
          item.size === 4
            ? view.setUint32(item.pc, item.word, true)
            : view.setUint16(item.pc, item.word, true);
        const mismatches: string[] = [];
        items.forEach((item, index) => {
          const decoded = decodeInstruction(bytes, item.pc);
          const ours = decoded.ok ? formatInstruction(decoded.instruction, item.pc) : `<${decoded.error}>`;
          if (ours !== lines[index])
            mismatches.push(
              `${item.instruction.mnemonic} 0x${item.word.toString(16)}: ours '${ours}' objdump '${lines[index]}'`,
            );
          if (decoded.ok)
            expect(decoded.instruction).toEqual(normalize(item.instruction, decoded.instruction));
        });
        expect(mismatches.slice(0, 20)).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);

/** The instruction as decode returns it (aq/rl present exactly when the row has them). */
function normalize(instruction: Instruction, decoded: Instruction): Instruction {
  const out: Instruction = { ...instruction };
  if ('aq' in decoded) {
    out.aq = Boolean(instruction.aq);
    out.rl = Boolean(instruction.rl);
  }
  return out;
}
