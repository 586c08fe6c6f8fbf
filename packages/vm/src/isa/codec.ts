/**
 * Encode, decode and compress instructions, all driven by `instructionTable`. Results are values:
 * nothing here throws on bad input.
 */
import { type ImmediateField, type InstructionSpec, instructionTable } from './table';

/**
 * One instruction as plain data. Which fields are set depends on the mnemonic (see the table's
 * `syntax`): branch and jump immediates are byte offsets from the instruction's own address;
 * `lui`/`auipc`/`c.lui` immediates are the 20-bit upper value (0..0xfffff); `fence` carries
 * `fm << 8 | pred << 4 | succ` in `imm`; aq/rl only on A-extension instructions. Compressed forms
 * use their own mnemonics ('c.addi') and only their own operands (`c.addi` has rd and imm).
 */
export interface Instruction {
  mnemonic: string;
  rd?: number;
  rs1?: number;
  rs2?: number;
  imm?: number;
  aq?: boolean;
  rl?: boolean;
}

/** The outcome of encoding one instruction. */
export type EncodeResult = { ok: true; word: number; size: 2 | 4 } | { ok: false; error: string };

/** The outcome of decoding the instruction at an offset. */
export type InstructionDecodeResult =
  | { ok: true; instruction: Instruction; size: 2 | 4; spec: InstructionSpec }
  | { ok: false; error: 'truncated' | 'illegal'; size: 2 | 4 };

const specByMnemonic = new Map<string, InstructionSpec>(
  instructionTable.map((spec) => [spec.mnemonic, spec]),
);

/** The table row for a mnemonic, or undefined. */
export function findInstructionSpec(mnemonic: string): InstructionSpec | undefined {
  return specByMnemonic.get(mnemonic);
}

function popcount(value: number): number {
  let count = 0;
  for (let v = value >>> 0; v !== 0; v &= v - 1) count++;
  return count;
}

// Decode candidates: 32-bit rows indexed by opcode (bits 6..0); 16-bit rows by funct3 << 2 | op.
const byOpcode: InstructionSpec[][] = Array.from({ length: 128 }, () => []);
const byQuadrant: InstructionSpec[][] = Array.from({ length: 32 }, () => []);
{
  const ordered = [...instructionTable].sort((a, b) => popcount(b.mask) - popcount(a.mask));
  for (const spec of ordered) {
    if (spec.size === 4) byOpcode[spec.match & 0x7f]!.push(spec);
    else byQuadrant[((spec.match >>> 13) << 2) | (spec.match & 3)]!.push(spec);
  }
}

function immediateWidth(field: ImmediateField): { top: number; low: number } {
  let top = 0;
  let low = 31;
  for (const [high, lowBit] of field.pieces) {
    top = Math.max(top, high);
    low = Math.min(low, lowBit);
  }
  return { top, low };
}

/** Extracts an immediate (sign-extended when the field is signed). */
export function extractImmediate(field: ImmediateField, word: number): number {
  let value = 0;
  for (const [high, low, at] of field.pieces) {
    const width = high - low + 1;
    value |= ((word >>> at) & ((1 << width) - 1)) << low;
  }
  if (field.signed) {
    const { top } = immediateWidth(field);
    const shift = 31 - top;
    value = (value << shift) >> shift;
  }
  return value;
}

function placeImmediate(field: ImmediateField, value: number): number {
  let word = 0;
  for (const [high, low, at] of field.pieces) {
    const width = high - low + 1;
    word |= ((value >>> low) & ((1 << width) - 1)) << at;
  }
  return word;
}

function isListed(values: readonly number[] | undefined, value: number | undefined): boolean {
  return values !== undefined && value !== undefined && values.includes(value);
}

function isReserved(
  spec: InstructionSpec,
  instruction: Instruction,
  includeHints: boolean,
): string | undefined {
  for (const table of includeHints ? [spec.reserved, spec.hint] : [spec.reserved]) {
    if (table === undefined) continue;
    for (const key of ['rd', 'rs1', 'rs2', 'imm'] as const) {
      if (isListed(table[key], instruction[key]))
        return `${spec.mnemonic}: ${key} = ${instruction[key]} is ${table === spec.reserved ? 'reserved' : 'a HINT encoding'}`;
    }
  }
  return undefined;
}

/** c.lui's immediate is stored as the 20-bit LUI value; its field holds a 6-bit signed number. */
function cluiFieldValue(imm: number): number | undefined {
  if (imm >= 1 && imm <= 31) return imm;
  if (imm >= 0xfffe0 && imm <= 0xfffff) return imm - 0x100000;
  if (imm >= -32 && imm <= -1) return imm;
  return undefined;
}

/**
 * Encodes instructions into little-endian code bytes, each compressed first when `compress` and
 * it has a compressed form. Throws on an instruction that does not encode (a program written by
 * hand in a test or benchmark, where that is a bug).
 */
export function encodeProgram(instructions: readonly Instruction[], compress = false): Uint8Array {
  const bytes: number[] = [];
  for (const instruction of instructions) {
    const chosen = (compress && compressInstruction(instruction)) || instruction;
    const encoded = encodeInstruction(chosen);
    if (!encoded.ok) throw new Error(encoded.error);
    for (let i = 0; i < encoded.size; i++) bytes.push((encoded.word >>> (8 * i)) & 0xff);
  }
  return new Uint8Array(bytes);
}

/** Encodes one instruction; an error value names the bad operand. */
export function encodeInstruction(instruction: Instruction): EncodeResult {
  const spec = specByMnemonic.get(instruction.mnemonic);
  if (spec === undefined) return { ok: false, error: `unknown mnemonic '${instruction.mnemonic}'` };
  let word = spec.match;
  for (const field of spec.registers) {
    const value = instruction[field.name];
    if (value === undefined) return { ok: false, error: `${spec.mnemonic}: missing ${field.name}` };
    if (!Number.isInteger(value) || value < 0 || value > 31)
      return { ok: false, error: `${spec.mnemonic}: ${field.name} must be a register x0..x31` };
    if (field.width === 3) {
      if (value < 8 || value > 15)
        return {
          ok: false,
          error: `${spec.mnemonic}: ${field.name} must be one of x8..x15 (s0, s1, a0..a5)`,
        };
      word |= (value - 8) << field.lowBit;
    } else word |= value << field.lowBit;
  }
  const immediate = 'immediate' in spec ? spec.immediate : undefined;
  if (immediate !== undefined) {
    let value = instruction.imm;
    if (value === undefined || !Number.isInteger(value))
      return { ok: false, error: `${spec.mnemonic}: missing immediate` };
    if (spec.mnemonic === 'c.lui') {
      const field = cluiFieldValue(value);
      if (field === undefined)
        return { ok: false, error: 'c.lui: immediate must be 1..31 or 0xfffe0..0xfffff' };
      value = field;
    }
    const { top, low } = immediateWidth(immediate);
    const min = immediate.signed ? -(2 ** top) : 0;
    const max = immediate.signed ? 2 ** top - 1 : 2 ** (top + 1) - 1;
    if (value < min || value > max)
      return {
        ok: false,
        error: `${spec.mnemonic}: immediate ${instruction.imm} out of range ${min}..${max}`,
      };
    if (low > 0 && value % 2 ** low !== 0)
      return {
        ok: false,
        error: `${spec.mnemonic}: immediate ${instruction.imm} must be a multiple of ${2 ** low}`,
      };
    word |= placeImmediate(immediate, value);
  }
  if ('ordering' in spec && spec.ordering) {
    if (instruction.aq) word |= 1 << 26;
    if (instruction.rl) word |= 1 << 25;
  }
  const problem = isReserved(spec, instruction, true);
  if (problem !== undefined) return { ok: false, error: problem };
  return { ok: true, word: word >>> 0, size: spec.size };
}

/** Decodes the 16-bit or 32-bit word `word` (its low 16 bits only, when they are compressed). */
export function decodeWord(word: number): InstructionDecodeResult {
  if ((word & 3) !== 3) {
    const half = word & 0xffff;
    for (const spec of byQuadrant[((half >>> 13) << 2) | (half & 3)]!) {
      if ((half & spec.mask) !== spec.match) continue;
      const instruction = extract(spec, half);
      if (isReserved(spec, instruction, false) === undefined) return { ok: true, instruction, size: 2, spec };
    }
    return { ok: false, error: 'illegal', size: 2 };
  }
  if ((word & 0x1c) === 0x1c) return { ok: false, error: 'illegal', size: 4 }; // ≥ 48-bit encodings
  for (const spec of byOpcode[word & 0x7f]!) {
    if ((word & spec.mask) >>> 0 !== spec.match >>> 0) continue;
    return { ok: true, instruction: extract(spec, word), size: 4, spec };
  }
  return { ok: false, error: 'illegal', size: 4 };
}

/** Decodes the instruction at `offset` in `code` (little-endian). */
export function decodeInstruction(code: Uint8Array, offset: number): InstructionDecodeResult {
  if (offset < 0 || offset + 2 > code.length) return { ok: false, error: 'truncated', size: 2 };
  const low = code[offset]! | (code[offset + 1]! << 8);
  if ((low & 3) !== 3) return decodeWord(low);
  if (offset + 4 > code.length) return { ok: false, error: 'truncated', size: 4 };
  return decodeWord((low | (code[offset + 2]! << 16) | (code[offset + 3]! << 24)) >>> 0);
}

function extract(spec: InstructionSpec, word: number): Instruction {
  const instruction: Instruction = { mnemonic: spec.mnemonic };
  for (const field of spec.registers) {
    const bits = (word >>> field.lowBit) & (field.width === 3 ? 7 : 31);
    instruction[field.name] = field.width === 3 ? bits + 8 : bits;
  }
  if ('immediate' in spec && spec.immediate !== undefined) {
    let imm = extractImmediate(spec.immediate, word);
    if (spec.mnemonic === 'c.lui') imm = imm & 0xfffff;
    instruction.imm = imm;
  }
  if ('ordering' in spec && spec.ordering) {
    instruction.aq = ((word >>> 26) & 1) === 1;
    instruction.rl = ((word >>> 25) & 1) === 1;
  }
  return instruction;
}

/** The 32-bit instruction a compressed one stands for (a 32-bit instruction is returned as it is). */
export function expandInstruction(instruction: Instruction): Instruction {
  const spec = specByMnemonic.get(instruction.mnemonic);
  if (spec === undefined || !('expands' in spec) || spec.expands === undefined) return instruction;
  const expansion = spec.expands;
  const out: Instruction = { mnemonic: expansion.mnemonic };
  const pick = (from: string | number | undefined): number | undefined =>
    typeof from === 'number'
      ? from
      : from === undefined
        ? undefined
        : instruction[from as 'rd' | 'rs1' | 'rs2' | 'imm'];
  if ('rd' in expansion) out.rd = pick(expansion.rd);
  if ('rs1' in expansion) out.rs1 = pick(expansion.rs1);
  if ('rs2' in expansion) out.rs2 = pick(expansion.rs2);
  if ('imm' in expansion) out.imm = pick(expansion.imm);
  return out;
}

const compressedSpecs = instructionTable.filter((spec) => spec.size === 2);

/**
 * The equivalent compressed instruction, when one exists for these operands (what an assembler
 * emits for "compressed where possible"); undefined otherwise.
 */
export function compressInstruction(instruction: Instruction): Instruction | undefined {
  if (instruction.mnemonic.startsWith('c.')) return undefined;
  // `mv rd, rs` is spelled addi rd, rs, 0; RVC spells it c.mv (add rd, x0, rs).
  if (instruction.mnemonic === 'addi' && instruction.imm === 0 && instruction.rs1 !== 0) {
    const mv: Instruction = { mnemonic: 'c.mv', rd: instruction.rd, rs2: instruction.rs1 };
    if (encodeInstruction(mv).ok) return mv;
  }
  for (const spec of compressedSpecs) {
    if (!('expands' in spec) || spec.expands.mnemonic !== instruction.mnemonic) continue;
    const expansion = spec.expands as Record<string, string | number | undefined>;
    const candidate: Instruction = { mnemonic: spec.mnemonic };
    let fits = true;
    for (const key of ['rd', 'rs1', 'rs2', 'imm'] as const) {
      if (!(key in expansion)) continue;
      const from = expansion[key];
      const actual = instruction[key] ?? (key === 'imm' ? 0 : undefined);
      if (typeof from === 'number') {
        if (actual !== from) fits = false;
      } else if (from !== undefined) {
        const name = from as 'rd' | 'rs1' | 'rs2' | 'imm';
        if (candidate[name] !== undefined && candidate[name] !== actual) fits = false;
        candidate[name] = actual;
      }
    }
    if (fits && encodeInstruction(candidate).ok) return candidate;
  }
  return undefined;
}
