/**
 * A small two-pass RV32 assembler for the engine tests' microprograms, built on @capsule/vm's
 * instruction encoder: one instruction per line, `label:` lines, `#` comments, ABI register
 * names, `offset(reg)` memory operands, branch/jump targets by label, and the pseudo-instructions
 * `li` (lui + addi), `mv`, `j`. Every instruction is emitted uncompressed (4 bytes).
 */
import { encodeInstruction, registerNames } from '@capsule/vm';

const registers = new Map<string, number>(registerNames.map((name, index) => [name, index]));
registers.set('fp', 8);
for (let i = 0; i < 32; i++) registers.set(`x${i}`, i);

function reg(text: string): number {
  const n = registers.get(text.trim());
  if (n === undefined) throw new Error(`unknown register ${text}`);
  return n;
}

const branches = new Set(['beq', 'bne', 'blt', 'bge', 'bltu', 'bgeu']);
const loads = new Set(['lb', 'lh', 'lw', 'lbu', 'lhu']);
const stores = new Set(['sb', 'sh', 'sw']);

/** Assembles `source`; returns the machine code and the offset of each label. */
export function assemble(source: string): { code: Uint8Array; labels: Record<string, number> } {
  const lines = source
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
  const labels: Record<string, number> = {};
  // Pass 1: sizes (li is always 8 bytes, everything else 4).
  let at = 0;
  for (const line of lines) {
    if (line.endsWith(':')) labels[line.slice(0, -1)] = at;
    else at += line.startsWith('li ') ? 8 : 4;
  }
  const words: number[] = [];
  at = 0;
  const emit = (instruction: Parameters<typeof encodeInstruction>[0]) => {
    const result = encodeInstruction(instruction);
    if (!result.ok) throw new Error(`${instruction.mnemonic}: ${result.error}`);
    words.push(result.word);
    at += 4;
  };
  const target = (name: string) => {
    const offset = labels[name.trim()];
    if (offset === undefined) throw new Error(`unknown label ${name}`);
    return offset - at;
  };
  for (const line of lines) {
    if (line.endsWith(':')) continue;
    const space = line.indexOf(' ');
    const mnemonic = space < 0 ? line : line.slice(0, space);
    const ops =
      space < 0
        ? []
        : line
            .slice(space + 1)
            .split(',')
            .map((op) => op.trim());
    if (mnemonic === 'li') {
      const value = Number(ops[1]) | 0;
      const low = (value << 20) >> 20;
      const high = ((value - low) >>> 12) & 0xfffff;
      emit({ mnemonic: 'lui', rd: reg(ops[0]!), imm: high });
      emit({ mnemonic: 'addi', rd: reg(ops[0]!), rs1: reg(ops[0]!), imm: low });
    } else if (mnemonic === 'mv') emit({ mnemonic: 'addi', rd: reg(ops[0]!), rs1: reg(ops[1]!), imm: 0 });
    else if (mnemonic === 'j') emit({ mnemonic: 'jal', rd: 0, imm: target(ops[0]!) });
    else if (mnemonic === 'jal') emit({ mnemonic: 'jal', rd: reg(ops[0]!), imm: target(ops[1]!) });
    else if (branches.has(mnemonic))
      emit({ mnemonic, rs1: reg(ops[0]!), rs2: reg(ops[1]!), imm: target(ops[2]!) });
    else if (loads.has(mnemonic) || stores.has(mnemonic)) {
      const match = /^(-?\w+)\((\w+)\)$/.exec(ops[1]!);
      if (!match) throw new Error(`bad memory operand ${ops[1]}`);
      const imm = Number(match[1]);
      if (loads.has(mnemonic)) emit({ mnemonic, rd: reg(ops[0]!), rs1: reg(match[2]!), imm });
      else emit({ mnemonic, rs2: reg(ops[0]!), rs1: reg(match[2]!), imm });
    } else if (mnemonic.startsWith('amo')) {
      const match = /^\((\w+)\)$/.exec(ops[2]!);
      if (!match) throw new Error(`bad atomic operand ${ops[2]}`);
      emit({ mnemonic, rd: reg(ops[0]!), rs2: reg(ops[1]!), rs1: reg(match[1]!) });
    } else if (mnemonic === 'lui') emit({ mnemonic, rd: reg(ops[0]!), imm: Number(ops[1]) });
    else if (ops.length === 0) emit({ mnemonic });
    else if (ops.length === 3 && registers.has(ops[2]!))
      emit({ mnemonic, rd: reg(ops[0]!), rs1: reg(ops[1]!), rs2: reg(ops[2]!) });
    else if (ops.length === 3) emit({ mnemonic, rd: reg(ops[0]!), rs1: reg(ops[1]!), imm: Number(ops[2]) });
    else throw new Error(`cannot assemble: ${line}`);
  }
  const code = new Uint8Array(words.length * 4);
  const view = new DataView(code.buffer);
  words.forEach((word, index) => {
    view.setUint32(index * 4, word >>> 0, true);
  });
  return { code, labels };
}
