/**
 * docs/isa.md, generated from the instruction table (`capsule vm isa-doc` writes it; a test
 * checks that the committed file is current).
 */
import { instructionTable } from './isa/table';

const hex = (value: number, digits: number) => `0x${(value >>> 0).toString(16).padStart(digits, '0')}`;

/** The Markdown text of docs/isa.md. */
export function renderIsaDoc(): string {
  const lines: string[] = [
    '# Instruction set (generated)',
    '',
    '<!-- Generated from packages/vm/src/isa/table.ts by `capsule vm isa-doc`; do not edit. -->',
    '',
    'Capsule programs are RV32IMAC machine code, user level: the base integer set (I), multiply and',
    'divide (M), atomics (A: only on CONTRACT memory in the sandbox) and compressed 16-bit forms (C).',
    'No CSR instructions, no FENCE.I, no floating point. ECALL asks the engine for a service (see',
    '[vm.md](vm.md)); EBREAK ends the program. One table drives decoding, encoding, the',
    "disassembler's text (identical to llvm-objdump's), execution and this page.",
    '',
    'An instruction matches a row when `word & mask == match`. Compressed rows show the 32-bit',
    'instruction they stand for. Immediates: branch and jump offsets are relative to the',
    'instruction; `lui`/`auipc` take the 20-bit upper value.',
    '',
  ];
  for (const extension of ['I', 'M', 'A', 'C'] as const) {
    const rows = instructionTable.filter((spec) => spec.extension === extension);
    const title = {
      I: 'RV32I — base integer',
      M: 'M — multiply and divide',
      A: 'A — atomics',
      C: 'C — compressed (16-bit)',
    }[extension];
    lines.push(`## ${title} (${rows.length} instructions)`, '');
    lines.push(
      '| mnemonic | operands | format | match | mask | meaning |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const spec of rows) {
      const digits = spec.size === 2 ? 4 : 8;
      const syntax = spec.syntax === '' ? '—' : `\`${spec.syntax}\``;
      lines.push(
        `| \`${spec.mnemonic}\` | ${syntax} | ${spec.format} | \`${hex(spec.match, digits)}\` | \`${hex(spec.mask, digits)}\` | ${spec.meaning.replaceAll('|', '\\|')} |`,
      );
    }
    lines.push('');
  }
  lines.push(
    `Total: ${instructionTable.length} instructions. Reserved encodings (for example \`c.addi4spn\``,
    'with a zero immediate, `c.lwsp` to x0, `c.jr x0`) decode as illegal; HINT encodings (for',
    'example `c.addi x0, n`, `c.li x0, n`) decode and execute as their plain meaning, but the encoder',
    'refuses to produce them.',
    '',
  );
  return lines.join('\n');
}
