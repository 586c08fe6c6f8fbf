/**
 * The assembler: GNU assembler syntax → a ProgramImage. Instructions are parsed against vm's
 * instruction table (operand order from each row's `syntax`) into `Instruction` values and
 * encoded by vm's encoder, through the same layout and compression stage as the compiler
 * (emit.ts): base instructions are compressed where an RVC form exists, as `as -march=rv32imac`
 * does.
 *
 * Supported: labels (`name:`), comments (`#`, `//`, `;` separates nothing), directives `.text`,
 * `.data`, `.word`, `.half`, `.byte`, `.align`/`.p2align` (power of two), `.globl`/`.global`,
 * `.equ`/`.set`; pseudo-instructions li, la, mv, not, neg, j, jr, jal label, jalr rs, ret, call,
 * tail, nop, beqz, bnez, blez, bgez, bltz, bgtz, bgt, ble, bgtu, bleu, seqz, snez, sltz, sgtz;
 * immediates as numbers, `.equ` symbols, `%hi(x)`/`%lo(x)`, `+`/`-`.
 * `.text` labels are code offsets; `.data` labels are DATA-region addresses (the .data bytes become
 * the image's DATA layout and initial values). `.globl` text labels form the entry table.
 */
import { DATA_BASE, findInstructionSpec, type Instruction, registerNames } from '@capsule/vm';
import { createProgramImage, type LayoutEntry, type ProgramImage } from '@capsule/wire';
import { type Diagnostic, DiagnosticBag, type SourceSpan } from './diagnostics';
import { emitCode } from './emit';
import type { MItem } from './mir';
import { splitConstant } from './mir';

/** Assembler options. */
export interface AssembleOptions {
  /** Compress where possible (default true). */
  readonly compress?: boolean;
  /** Image name. */
  readonly name?: string;
}

/** The outcome of assembling: an image when there were no errors. */
export interface AssembleResult {
  readonly diagnostics: readonly Diagnostic[];
  readonly image: ProgramImage | undefined;
}

const registerByName = new Map<string, number>();
registerNames.forEach((n, i) => {
  registerByName.set(n, i);
});
for (let i = 0; i < 32; i++) registerByName.set(`x${i}`, i);
registerByName.set('fp', 8);

const lineSpan = (line: number, column = 1): SourceSpan => ({
  start: { line, column, offset: 0 },
  end: { line, column: column + 1, offset: 0 },
});

/** Assembles GNU-syntax RV32IMAC source. */
export function assemble(source: string, options: AssembleOptions = {}): AssembleResult {
  const diagnostics = new DiagnosticBag();
  const text: MItem[] = [];
  const data: number[] = [];
  const dataLabels: { name: string; offset: number }[] = [];
  const symbols = new Map<string, number>();
  const textLabels = new Set<string>();
  const globals: string[] = [];
  let section: 'text' | 'data' = 'text';
  let anchorCount = 0;

  // Pass 1: collect labels and .equ (data label addresses are known from .data sizes in order).
  const lines = source.split('\n');
  {
    let dataOffset = 0;
    let sec: 'text' | 'data' = 'text';
    for (const raw of lines) {
      let line = stripComment(raw).trim();
      for (let m = /^([A-Za-z_.$][\w.$]*):/.exec(line); m; m = /^([A-Za-z_.$][\w.$]*):/.exec(line)) {
        if (sec === 'text') textLabels.add(m[1]!);
        else symbols.set(m[1]!, DATA_BASE + dataOffset);
        line = line.slice(m[0].length).trim();
      }
      const [word, rest] = splitFirst(line);
      if (word === '.text') sec = 'text';
      else if (word === '.data') sec = 'data';
      else if (sec === 'data') {
        const count = rest.split(',').filter((s) => s.trim() !== '').length;
        if (word === '.word') dataOffset = align(dataOffset, 4) + 4 * count;
        else if (word === '.half') dataOffset = align(dataOffset, 2) + 2 * count;
        else if (word === '.byte') dataOffset += count;
        else if (word === '.align' || word === '.p2align')
          dataOffset = align(dataOffset, 2 ** Number(rest.trim()));
      }
    }
  }

  const evaluate = (expr: string, lineNo: number): number | undefined => {
    const e = expr.trim();
    const hiLo = /^%(hi|lo)\((.*)\)$/.exec(e);
    if (hiLo) {
      const v = evaluate(hiLo[2]!, lineNo);
      if (v === undefined) return undefined;
      const { upper, lower } = splitConstant(v);
      return hiLo[1] === 'hi' ? upper : lower;
    }
    const terms = e.replace(/\s+/g, '').match(/[+-]?[^+-]+/g);
    if (!terms || terms.join('') !== e.replace(/\s+/g, '')) {
      diagnostics.error('ASM_BAD_OPERAND', `cannot read the expression '${e}'`, lineSpan(lineNo));
      return undefined;
    }
    let total = 0;
    for (const t of terms) {
      const sign = t.startsWith('-') ? -1 : 1;
      const body = t.replace(/^[+-]/, '');
      let v: number | undefined;
      if (/^(0x[0-9a-f]+|0b[01]+|[0-9]+)$/i.test(body)) v = Number(body);
      else if (/^'.'$/.test(body)) v = body.charCodeAt(1);
      else v = symbols.get(body);
      if (v === undefined) {
        diagnostics.error('ASM_UNKNOWN_SYMBOL', `unknown symbol '${body}'`, lineSpan(lineNo));
        return undefined;
      }
      total += sign * v;
    }
    return total | 0;
  };

  const reg = (operand: string | undefined, lineNo: number): number => {
    const r = operand === undefined ? undefined : registerByName.get(operand.trim());
    if (r === undefined) {
      diagnostics.error(
        'ASM_BAD_OPERAND',
        `expected a register but found '${operand ?? ''}'`,
        lineSpan(lineNo),
      );
      return 0;
    }
    return r;
  };

  const push = (mnemonic: string, fields: Omit<Instruction, 'mnemonic'>, lineNo: number, target?: string) => {
    text.push(
      target === undefined
        ? { kind: 'inst', inst: { mnemonic, ...fields }, line: lineNo }
        : { kind: 'inst', inst: { mnemonic, ...fields }, target, line: lineNo },
    );
  };
  const li = (rd: number, value: number, lineNo: number) => {
    if (value >= -2048 && value < 2048) return push('addi', { rd, rs1: 0, imm: value }, lineNo);
    const { upper, lower } = splitConstant(value);
    push('lui', { rd, imm: upper }, lineNo);
    if (lower !== 0) push('addi', { rd, rs1: rd, imm: lower }, lineNo);
  };
  /** A branch/jump target: a text label (PC-relative, resolved at layout) or an absolute offset. */
  const target = (operand: string, lineNo: number): { label?: string; imm?: number } => {
    const o = operand.trim();
    if (textLabels.has(o)) return { label: o };
    const v = evaluate(o, lineNo);
    return { imm: v ?? 0 };
  };
  const branchTo = (mnemonic: string, rs1: number, rs2: number, operand: string, lineNo: number) => {
    const t = target(operand, lineNo);
    push(mnemonic, { rs1, rs2, imm: t.imm ?? 0 }, lineNo, t.label);
  };
  const jumpTo = (rd: number, operand: string, lineNo: number) => {
    const t = target(operand, lineNo);
    push('jal', { rd, imm: t.imm ?? 0 }, lineNo, t.label);
  };

  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    let line = stripComment(raw).trim();
    for (let m = /^([A-Za-z_.$][\w.$]*):/.exec(line); m; m = /^([A-Za-z_.$][\w.$]*):/.exec(line)) {
      if (section === 'text') text.push({ kind: 'label', name: m[1]! });
      else {
        if (dataLabels.some((l) => l.name === m![1]))
          diagnostics.error('ASM_DUPLICATE_SYMBOL', `label '${m[1]}' defined twice`, lineSpan(lineNo));
        dataLabels.push({ name: m[1]!, offset: data.length });
      }
      line = line.slice(m[0].length).trim();
    }
    if (line === '') return;
    const [word, rest] = splitFirst(line);
    const ops = splitOperands(rest);
    if (word.startsWith('.')) {
      switch (word) {
        case '.text':
          section = 'text';
          return;
        case '.data':
          section = 'data';
          return;
        case '.globl':
        case '.global':
          globals.push(...ops.map((o) => o.trim()));
          return;
        case '.equ':
        case '.set': {
          const v = evaluate(ops[1] ?? '', lineNo);
          if (v !== undefined) symbols.set((ops[0] ?? '').trim(), v);
          return;
        }
        case '.align':
        case '.p2align': {
          const bytes = 2 ** Number(ops[0] ?? 0);
          if (section === 'data') while (data.length % bytes !== 0) data.push(0);
          else text.push({ kind: 'align', bytes });
          return;
        }
        case '.word':
        case '.half':
        case '.byte': {
          const size = word === '.word' ? 4 : word === '.half' ? 2 : 1;
          const bytes: number[] = [];
          for (const o of ops) {
            const v = evaluate(o, lineNo) ?? 0;
            for (let b = 0; b < size; b++) bytes.push((v >>> (8 * b)) & 0xff);
          }
          if (section === 'data') {
            while (data.length % size !== 0) data.push(0);
            data.push(...bytes);
          } else text.push({ kind: 'bytes', bytes: new Uint8Array(bytes), line: lineNo });
          return;
        }
        case '.section':
          section = (ops[0] ?? '').includes('data') ? 'data' : 'text';
          return;
        case '.option':
        case '.file':
        case '.type':
        case '.size':
          return;
        default:
          diagnostics.error('ASM_UNKNOWN_MNEMONIC', `unknown directive '${word}'`, lineSpan(lineNo));
          return;
      }
    }
    if (section === 'data') {
      diagnostics.error('ASM_BAD_OPERAND', 'instructions belong in .text', lineSpan(lineNo));
      return;
    }
    const m = word.toLowerCase();
    const need = (n: number) => {
      if (ops.length !== n)
        diagnostics.error(
          'ASM_BAD_OPERAND',
          `'${m}' takes ${n} operand(s), found ${ops.length}`,
          lineSpan(lineNo),
        );
      return ops.length === n;
    };
    switch (m) {
      case 'nop':
        push('addi', { rd: 0, rs1: 0, imm: 0 }, lineNo);
        return;
      case 'ret':
        push('jalr', { rd: 0, rs1: 1, imm: 0 }, lineNo);
        return;
      case 'li':
        if (need(2)) li(reg(ops[0], lineNo), evaluate(ops[1]!, lineNo) ?? 0, lineNo);
        return;
      case 'la': {
        if (!need(2)) return;
        const rd = reg(ops[0], lineNo);
        const sym = ops[1]!.trim();
        if (textLabels.has(sym)) {
          const anchor = `$pcrel${anchorCount++}`;
          text.push({ kind: 'label', name: anchor });
          text.push({
            kind: 'inst',
            inst: { mnemonic: 'auipc', rd, imm: 0 },
            target: sym,
            reloc: 'pcrel_hi',
            line: lineNo,
          });
          text.push({
            kind: 'inst',
            inst: { mnemonic: 'addi', rd, rs1: rd, imm: 0 },
            target: sym,
            reloc: 'pcrel_lo',
            anchor,
            line: lineNo,
          });
        } else li(rd, evaluate(sym, lineNo) ?? 0, lineNo);
        return;
      }
      case 'mv':
        if (need(2)) push('addi', { rd: reg(ops[0], lineNo), rs1: reg(ops[1], lineNo), imm: 0 }, lineNo);
        return;
      case 'not':
        if (need(2)) push('xori', { rd: reg(ops[0], lineNo), rs1: reg(ops[1], lineNo), imm: -1 }, lineNo);
        return;
      case 'neg':
        if (need(2)) push('sub', { rd: reg(ops[0], lineNo), rs1: 0, rs2: reg(ops[1], lineNo) }, lineNo);
        return;
      case 'seqz':
        if (need(2)) push('sltiu', { rd: reg(ops[0], lineNo), rs1: reg(ops[1], lineNo), imm: 1 }, lineNo);
        return;
      case 'snez':
        if (need(2)) push('sltu', { rd: reg(ops[0], lineNo), rs1: 0, rs2: reg(ops[1], lineNo) }, lineNo);
        return;
      case 'sltz':
        if (need(2)) push('slt', { rd: reg(ops[0], lineNo), rs1: reg(ops[1], lineNo), rs2: 0 }, lineNo);
        return;
      case 'sgtz':
        if (need(2)) push('slt', { rd: reg(ops[0], lineNo), rs1: 0, rs2: reg(ops[1], lineNo) }, lineNo);
        return;
      case 'j':
        if (need(1)) jumpTo(0, ops[0]!, lineNo);
        return;
      case 'call':
        if (need(1)) jumpTo(1, ops[0]!, lineNo);
        return;
      case 'tail':
        if (need(1)) jumpTo(0, ops[0]!, lineNo);
        return;
      case 'jr':
        if (need(1)) push('jalr', { rd: 0, rs1: reg(ops[0], lineNo), imm: 0 }, lineNo);
        return;
      case 'jal':
        if (ops.length === 1) {
          jumpTo(1, ops[0]!, lineNo);
          return;
        }
        break;
      case 'jalr':
        if (ops.length === 1) {
          push('jalr', { rd: 1, rs1: reg(ops[0], lineNo), imm: 0 }, lineNo);
          return;
        }
        break;
      case 'beqz':
        if (need(2)) branchTo('beq', reg(ops[0], lineNo), 0, ops[1]!, lineNo);
        return;
      case 'bnez':
        if (need(2)) branchTo('bne', reg(ops[0], lineNo), 0, ops[1]!, lineNo);
        return;
      case 'blez':
        if (need(2)) branchTo('bge', 0, reg(ops[0], lineNo), ops[1]!, lineNo);
        return;
      case 'bgez':
        if (need(2)) branchTo('bge', reg(ops[0], lineNo), 0, ops[1]!, lineNo);
        return;
      case 'bltz':
        if (need(2)) branchTo('blt', reg(ops[0], lineNo), 0, ops[1]!, lineNo);
        return;
      case 'bgtz':
        if (need(2)) branchTo('blt', 0, reg(ops[0], lineNo), ops[1]!, lineNo);
        return;
      case 'bgt':
        if (need(3)) branchTo('blt', reg(ops[1], lineNo), reg(ops[0], lineNo), ops[2]!, lineNo);
        return;
      case 'ble':
        if (need(3)) branchTo('bge', reg(ops[1], lineNo), reg(ops[0], lineNo), ops[2]!, lineNo);
        return;
      case 'bgtu':
        if (need(3)) branchTo('bltu', reg(ops[1], lineNo), reg(ops[0], lineNo), ops[2]!, lineNo);
        return;
      case 'bleu':
        if (need(3)) branchTo('bgeu', reg(ops[1], lineNo), reg(ops[0], lineNo), ops[2]!, lineNo);
        return;
      default:
        break;
    }
    // A table instruction: operands in the order its syntax gives.
    const ordering = /^(.*?)(\.aqrl|\.aq|\.rl)?$/.exec(m)!;
    const spec = findInstructionSpec(m) ?? findInstructionSpec(ordering[1]!);
    if (!spec) {
      diagnostics.error('ASM_UNKNOWN_MNEMONIC', `unknown instruction '${word}'`, lineSpan(lineNo));
      return;
    }
    const fields: Omit<Instruction, 'mnemonic'> = {};
    if (spec.ordering) {
      fields.aq = ordering[2] === '.aq' || ordering[2] === '.aqrl';
      fields.rl = ordering[2] === '.rl' || ordering[2] === '.aqrl';
    }
    const template =
      spec.syntax === ''
        ? []
        : spec.syntax
            .replace(/'/g, '')
            .split(',')
            .map((s) => s.trim());
    if (spec.mnemonic === 'fence' && ops.length === 0) {
      push('fence', { imm: 0xff }, lineNo);
      return;
    }
    if (!need(template.length)) return;
    let label: string | undefined;
    template.forEach((slot, i) => {
      const operand = ops[i]!.trim();
      const memory = /^(\w*)\((\w+)\)$/.exec(slot);
      if (slot === 'rd' || slot === 'rs1' || slot === 'rs2') fields[slot] = reg(operand, lineNo);
      else if (slot === 'sp') {
        if (reg(operand, lineNo) !== 2)
          diagnostics.error('ASM_BAD_OPERAND', `'${m}' works on sp only`, lineSpan(lineNo));
      } else if (slot === 'pred' || slot === 'succ') {
        const bits = [...operand].reduce((n, ch) => n | ({ i: 8, o: 4, r: 2, w: 1 }[ch] ?? 0), 0);
        fields.imm =
          ((fields.imm ?? 0) & (slot === 'pred' ? 0x0f : 0xf0)) | (slot === 'pred' ? bits << 4 : bits);
      } else if (memory) {
        const om = /^(.*)\((\w+)\)$/.exec(operand);
        if (!om) {
          diagnostics.error(
            'ASM_BAD_OPERAND',
            `expected offset(register) but found '${operand}'`,
            lineSpan(lineNo),
          );
          return;
        }
        const base = reg(om[2], lineNo);
        if (memory[2] === 'sp') {
          if (base !== 2) diagnostics.error('ASM_BAD_OPERAND', `'${m}' addresses sp only`, lineSpan(lineNo));
        } else fields[memory[2] as 'rs1'] = base;
        if (memory[1] !== '') fields.imm = om[1]!.trim() === '' ? 0 : (evaluate(om[1]!, lineNo) ?? 0);
        else if (om[1]!.trim() !== '' && evaluate(om[1]!, lineNo) !== 0)
          diagnostics.error('ASM_BAD_OPERAND', `'${m}' takes no offset`, lineSpan(lineNo));
      } else if (slot === 'offset' && textLabels.has(operand)) label = operand;
      else fields.imm = evaluate(operand, lineNo) ?? 0;
    });
    if (label !== undefined && fields.imm === undefined) fields.imm = 0;
    push(spec.mnemonic, fields, lineNo, label);
  });

  if (diagnostics.hasErrors) return { diagnostics: diagnostics.items, image: undefined };
  const emitted = emitCode([{ name: 'text', items: text }], diagnostics, {
    compress: options.compress ?? true,
  });
  if (diagnostics.hasErrors) return { diagnostics: diagnostics.items, image: undefined };
  const bytes = new Uint8Array(data);
  const layout: LayoutEntry[] = dataLabels.map((l, i) => {
    const end = dataLabels[i + 1]?.offset ?? bytes.length;
    return {
      name: l.name,
      region: 'DATA',
      offset: l.offset,
      size: end - l.offset,
      type: 'bytes',
      initial: Buffer.from(bytes.slice(l.offset, end)).toString('hex'),
    };
  });
  const entryNames = globals.filter((g) => emitted.labels.has(g));
  const image = createProgramImage({
    name: options.name ?? '',
    code: emitted.code,
    entries: (entryNames.length > 0 ? entryNames : []).map((name) => ({
      name,
      offset: emitted.labels.get(name)!,
    })),
    data: layout,
    regions: { dataBytes: bytes.length, flowBytes: 0, contractBytes: 0, staticsBytes: 0 },
    sourceMap: emitted.sourceMap,
  });
  return { diagnostics: diagnostics.items, image };
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function stripComment(line: string): string {
  let out = line;
  const hash = out.indexOf('#');
  if (hash >= 0) out = out.slice(0, hash);
  const slashes = out.indexOf('//');
  if (slashes >= 0) out = out.slice(0, slashes);
  return out;
}

function splitFirst(line: string): [string, string] {
  const m = /^(\S+)\s*(.*)$/.exec(line);
  return m ? [m[1]!, m[2]!] : ['', ''];
}

function splitOperands(rest: string): string[] {
  if (rest.trim() === '') return [];
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of rest) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  out.push(current);
  return out.map((s) => s.trim());
}
