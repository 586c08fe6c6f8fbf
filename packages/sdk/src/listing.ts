/**
 * The listing of a compiled program: its code as GNU assembly that our assembler (and llvm-mc)
 * turns back into the same bytes — one label per function and per branch target, the source line
 * each run of instructions came from as a comment, the data layout in a header. The library's
 * listings are checked in (examples/programs/listings) so that a change of code generation shows
 * in review.
 */
import { decodeInstruction, formatInstruction } from '@capsule/vm';
import { type CompileOptions, compileProgram } from './compile';
import type { Diagnostic } from './diagnostics';

/** A listing, or the diagnostics that prevented one. */
export type ListingResult =
  | { readonly ok: true; readonly text: string; readonly code: Uint8Array }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

/** Mnemonics whose last operand is a code address (as formatInstruction prints them). */
const pcRelative = new Set([
  'j',
  'jal',
  'beq',
  'bne',
  'blt',
  'bge',
  'bltu',
  'bgeu',
  'beqz',
  'bnez',
  'bltz',
  'bgez',
  'bgtz',
  'blez',
]);

/** A function label as an assembler symbol: `A.f(int,long[])` → `A.f.int.long_array`. */
function symbolOf(name: string): string {
  return name.replace(/\[\]/g, '_array').replace(/[(,]/g, '.').replace(/\)/g, '').replace(/\.$/, '');
}

/** Compiles `source` and prints its listing. `title` heads it (usually the file name). */
export function listProgram(source: string, title: string, options: CompileOptions = {}): ListingResult {
  const { result, lowered, emitted } = compileProgram(source, options);
  if (!result.image || !lowered || !emitted) return { ok: false, diagnostics: result.diagnostics };
  const image = result.image;
  const code = image.code;
  // Names at offsets: entries (global), then functions, then branch targets.
  const names = new Map<number, string>();
  const globals = new Set<string>();
  for (const e of image.entries) {
    names.set(e.offset, e.name);
    globals.add(e.name);
  }
  for (const f of lowered.functions) {
    const offset = emitted.labels.get(f.name);
    if (offset !== undefined && !names.has(offset)) names.set(offset, symbolOf(f.name));
  }
  // Pass 1: decode, and name every branch target; pass 2 prints (a back edge's label comes first).
  const decoded: { offset: number; text: string; target?: { index: number; at: number } }[] = [];
  for (let offset = 0; offset < code.length; ) {
    const d = decodeInstruction(code, offset);
    if (!d.ok) {
      decoded.push({ offset, text: `.half 0x${(code[offset]! | (code[offset + 1]! << 8)).toString(16)}` });
      offset += 2;
      continue;
    }
    const text = formatInstruction(d.instruction, offset);
    const target = /(0x[0-9a-f]+)$/.exec(text);
    if (pcRelative.has(text.split(/\s/)[0]!) && target) {
      const at = Number.parseInt(target[1]!, 16);
      if (!names.has(at)) names.set(at, `.L${at.toString(16)}`);
      decoded.push({ offset, text, target: { index: target.index, at } });
    } else decoded.push({ offset, text });
    offset += d.size;
  }
  const lines = decoded.map(({ offset, text, target }) => ({
    offset,
    text: target ? `${text.slice(0, target.index)}${names.get(target.at)!}` : text,
  }));
  const sourceLines = source.split('\n');
  const lineAt = new Map(emitted.sourceMap.map((m) => [m.offset, m.line]));
  const out: string[] = [
    `# ${title}: ${code.length} bytes of code, logic hash ${image.logicHash.slice(0, 16)}…`,
    `# entries: ${image.entries.map((e) => `${e.name} @${e.offset}`).join(', ') || 'none'}`,
  ];
  for (const d of image.data)
    out.push(
      `# ${d.region} +${d.offset} ${d.type} ${d.name} (${d.size} bytes)${d.initial && /[^0]/.test(d.initial) ? ` = ${d.initial}` : ''}`,
    );
  out.push('', '\t.text');
  for (const name of globals) out.push(`\t.globl ${name}`);
  for (const { offset, text } of lines) {
    const name = names.get(offset);
    if (name !== undefined) out.push(`${name}:`);
    const line = lineAt.get(offset);
    if (line !== undefined) out.push(`\t# ${line}: ${sourceLines[line - 1]?.trim() ?? ''}`);
    out.push(`\t${text.replace(/\t/, ' ')}`);
  }
  return { ok: true, text: `${out.join('\n')}\n`, code };
}
