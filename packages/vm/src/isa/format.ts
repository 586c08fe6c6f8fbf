/**
 * Instruction text exactly as `llvm-objdump -d --mattr=+m,+a,+c` (LLVM 14) prints it: ABI register
 * names, its default aliases (li, mv, nop, not, neg, seqz, snez, sltz, sgtz, beqz, bnez, blez,
 * bgez, bltz, bgtz, j, jal, jr, jalr, ret), compressed instructions shown as the 32-bit
 * instruction they stand for, and branch/jump targets as absolute hexadecimal addresses. The
 * mnemonic and the operands are separated by a tab, as objdump does; objdump's ` <symbol+off>`
 * suffix after a target is not produced (it depends on the object's symbols).
 */
import { expandInstruction, type Instruction } from './codec';

/** ABI register names, x0..x31. */
export const registerNames = [
  'zero',
  'ra',
  'sp',
  'gp',
  'tp',
  't0',
  't1',
  't2',
  's0',
  's1',
  'a0',
  'a1',
  'a2',
  'a3',
  'a4',
  'a5',
  'a6',
  'a7',
  's2',
  's3',
  's4',
  's5',
  's6',
  's7',
  's8',
  's9',
  's10',
  's11',
  't3',
  't4',
  't5',
  't6',
] as const;

const reg = (n: number | undefined): string => registerNames[(n ?? 0) & 31]!;
const hex = (value: number): string => `0x${(value >>> 0).toString(16)}`;
const line = (mnemonic: string, operands: string): string =>
  operands === '' ? mnemonic : `${mnemonic}\t${operands}`;

function fenceSet(bits: number): string {
  if (bits === 0) return 'unknown'; // LLVM 14's spelling of the empty set
  return `${bits & 8 ? 'i' : ''}${bits & 4 ? 'o' : ''}${bits & 2 ? 'r' : ''}${bits & 1 ? 'w' : ''}`;
}

function ordering(i: Instruction): string {
  return i.aq && i.rl ? '.aqrl' : i.aq ? '.aq' : i.rl ? '.rl' : '';
}

/** The text of one instruction at address `pc` (used for branch and jump targets). */
export function formatInstruction(instruction: Instruction, pc: number): string {
  if (instruction.mnemonic === 'c.mv') return line('mv', `${reg(instruction.rd)}, ${reg(instruction.rs2)}`);
  const i = expandInstruction(instruction);
  const { mnemonic } = i;
  const rd = i.rd ?? 0;
  const rs1 = i.rs1 ?? 0;
  const rs2 = i.rs2 ?? 0;
  const imm = i.imm ?? 0;
  switch (mnemonic) {
    case 'lui':
    case 'auipc':
      return line(mnemonic, `${reg(rd)}, ${imm >>> 0}`);
    case 'jal':
      if (rd === 0) return line('j', hex(pc + imm));
      if (rd === 1) return line('jal', hex(pc + imm));
      return line('jal', `${reg(rd)}, ${hex(pc + imm)}`);
    case 'jalr':
      if (imm === 0 && rd === 0 && rs1 === 1) return 'ret';
      if (imm === 0 && rd === 0) return line('jr', reg(rs1));
      if (imm === 0 && rd === 1) return line('jalr', reg(rs1));
      if (imm === 0) return line('jalr', `${reg(rd)}, ${reg(rs1)}`);
      return line('jalr', `${reg(rd)}, ${imm}(${reg(rs1)})`);
    case 'beq':
    case 'bne':
    case 'blt':
    case 'bge':
    case 'bltu':
    case 'bgeu': {
      const target = hex(pc + imm);
      if (
        rs2 === 0 &&
        (mnemonic === 'beq' || mnemonic === 'bne' || mnemonic === 'blt' || mnemonic === 'bge')
      ) {
        const alias = { beq: 'beqz', bne: 'bnez', blt: 'bltz', bge: 'bgez' }[mnemonic];
        return line(alias, `${reg(rs1)}, ${target}`);
      }
      if (rs1 === 0 && mnemonic === 'blt') return line('bgtz', `${reg(rs2)}, ${target}`);
      if (rs1 === 0 && mnemonic === 'bge') return line('blez', `${reg(rs2)}, ${target}`);
      return line(mnemonic, `${reg(rs1)}, ${reg(rs2)}, ${target}`);
    }
    case 'lb':
    case 'lh':
    case 'lw':
    case 'lbu':
    case 'lhu':
      return line(mnemonic, `${reg(rd)}, ${imm}(${reg(rs1)})`);
    case 'sb':
    case 'sh':
    case 'sw':
      return line(mnemonic, `${reg(rs2)}, ${imm}(${reg(rs1)})`);
    case 'addi':
      if (rd === 0 && rs1 === 0 && imm === 0) return 'nop';
      if (rs1 === 0) return line('li', `${reg(rd)}, ${imm}`);
      if (imm === 0) return line('mv', `${reg(rd)}, ${reg(rs1)}`);
      return line(mnemonic, `${reg(rd)}, ${reg(rs1)}, ${imm}`);
    case 'xori':
      if (imm === -1) return line('not', `${reg(rd)}, ${reg(rs1)}`);
      return line(mnemonic, `${reg(rd)}, ${reg(rs1)}, ${imm}`);
    case 'sltiu':
      if (imm === 1) return line('seqz', `${reg(rd)}, ${reg(rs1)}`);
      return line(mnemonic, `${reg(rd)}, ${reg(rs1)}, ${imm}`);
    case 'sub':
      if (rs1 === 0) return line('neg', `${reg(rd)}, ${reg(rs2)}`);
      return line(mnemonic, `${reg(rd)}, ${reg(rs1)}, ${reg(rs2)}`);
    case 'sltu':
      if (rs1 === 0) return line('snez', `${reg(rd)}, ${reg(rs2)}`);
      return line(mnemonic, `${reg(rd)}, ${reg(rs1)}, ${reg(rs2)}`);
    case 'slt':
      if (rs2 === 0) return line('sltz', `${reg(rd)}, ${reg(rs1)}`);
      if (rs1 === 0) return line('sgtz', `${reg(rd)}, ${reg(rs2)}`);
      return line(mnemonic, `${reg(rd)}, ${reg(rs1)}, ${reg(rs2)}`);
    case 'slti':
    case 'ori':
    case 'andi':
    case 'slli':
    case 'srli':
    case 'srai':
      return line(mnemonic, `${reg(rd)}, ${reg(rs1)}, ${imm}`);
    case 'fence': {
      const pred = (imm >>> 4) & 15;
      const succ = imm & 15;
      if (pred === 15 && succ === 15) return 'fence';
      return line('fence', `${fenceSet(pred)}, ${fenceSet(succ)}`);
    }
    case 'fence.tso':
    case 'ecall':
    case 'ebreak':
      return mnemonic;
    case 'lr.w':
      return line(`${mnemonic}${ordering(i)}`, `${reg(rd)}, (${reg(rs1)})`);
    default:
      if (mnemonic.startsWith('amo') || mnemonic === 'sc.w')
        return line(`${mnemonic}${ordering(instruction)}`, `${reg(rd)}, ${reg(rs2)}, (${reg(rs1)})`);
      return line(mnemonic, `${reg(rd)}, ${reg(rs1)}, ${reg(rs2)}`);
  }
}
