/**
 * The disassembler: bytes → text, with vm's decoder and formatter (the text llvm-objdump prints
 * for the same bytes). One line per instruction: address, the instruction bytes (little-endian
 * halfwords/words as objdump groups them), the instruction text.
 */
import { decodeInstruction, formatInstruction } from '@capsule/vm';

/** One disassembled instruction (or an undecodable halfword). */
export interface DisassembledLine {
  readonly address: number;
  readonly size: 2 | 4;
  readonly bytes: Uint8Array;
  /** Instruction text, or `<unknown>` when the bytes do not decode. */
  readonly text: string;
}

/** Disassembles `code` as if loaded at `baseAddress` (default 0). */
export function disassemble(code: Uint8Array, baseAddress = 0): DisassembledLine[] {
  const out: DisassembledLine[] = [];
  for (let offset = 0; offset + 1 < code.length; ) {
    const decoded = decodeInstruction(code, offset);
    const size = decoded.size;
    const text = decoded.ok ? formatInstruction(decoded.instruction, baseAddress + offset) : '<unknown>';
    out.push({ address: baseAddress + offset, size, bytes: code.slice(offset, offset + size), text });
    offset += size;
  }
  return out;
}

/** objdump-like listing text; `labels` (offset → name) are printed before their instruction. */
export function formatListing(
  lines: readonly DisassembledLine[],
  labels: ReadonlyMap<number, string> = new Map(),
): string {
  const rows: string[] = [];
  for (const line of lines) {
    const label = labels.get(line.address);
    if (label !== undefined) rows.push(`\n${line.address.toString(16).padStart(8, '0')} <${label}>:`);
    const hex = [...line.bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    rows.push(`${line.address.toString(16).padStart(8)}: ${hex.padEnd(12)}\t${line.text}`);
  }
  return `${rows.join('\n')}\n`;
}
