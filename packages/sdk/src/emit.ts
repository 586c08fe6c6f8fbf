/**
 * Stage 6: machine IR → bytes. Lays out the functions in order, resolves label targets to
 * PC-relative offsets, picks the compressed (RVC) form of every instruction that has one for its
 * final operands (via vm's `compressInstruction`), and encodes with vm's encoder. Sizes only ever
 * shrink from 4 to 2 bytes, so every distance only shrinks and the iteration converges.
 */
import { compressInstruction, encodeInstruction, type Instruction } from '@capsule/vm';
import type { DiagnosticBag } from './diagnostics';
import { noSpan } from './diagnostics';
import type { MFunction } from './mir';

/** Emitted code. */
export interface EmittedCode {
  readonly code: Uint8Array;
  /** Label → code offset. */
  readonly labels: Map<string, number>;
  /** (code offset, source line) for each instruction whose line differs from the previous one. */
  readonly sourceMap: { offset: number; line: number }[];
  /** The instructions as placed (for listings): offset, final instruction. */
  readonly listing: { offset: number; inst: Instruction; size: 2 | 4 }[];
}

/** Emission options. */
export interface EmitOptions {
  /** Use compressed encodings where possible (default true). */
  readonly compress?: boolean;
}

/** Lays out and encodes functions. */
export function emitCode(
  functions: readonly MFunction[],
  diagnostics: DiagnosticBag,
  options: EmitOptions = {},
): EmittedCode {
  const compress = options.compress ?? true;
  const items = functions.flatMap((f) => f.items);
  const insts = items.filter((i) => i.kind === 'inst');
  const sizes = new Map(insts.map((i) => [i, 4 as 2 | 4]));
  const labels = new Map<string, number>();
  const offsets = new Map<(typeof items)[number], number>();
  const layout = () => {
    labels.clear();
    let pc = 0;
    for (const it of items) {
      offsets.set(it, pc);
      if (it.kind === 'label') labels.set(it.name, pc);
      else if (it.kind === 'bytes') pc += it.bytes.length;
      else if (it.kind === 'align') pc += (it.bytes - (pc % it.bytes)) % it.bytes;
      else pc += sizes.get(it)!;
    }
    return pc;
  };
  const resolve = (it: (typeof insts)[number]): Instruction | undefined => {
    if (it.kind !== 'inst') return undefined;
    if (it.target === undefined) return it.inst;
    const target = labels.get(it.target);
    if (target === undefined) return undefined;
    if (it.reloc !== undefined) {
      const from = it.reloc === 'pcrel_hi' ? offsets.get(it)! : labels.get(it.anchor ?? '');
      if (from === undefined) return undefined;
      const delta = target - from;
      const lo = ((delta & 0xfff) << 20) >> 20;
      return { ...it.inst, imm: it.reloc === 'pcrel_hi' ? ((delta - lo) >>> 12) & 0xfffff : lo };
    }
    return { ...it.inst, imm: target - offsets.get(it)! };
  };
  for (let round = 0; round < 20; round++) {
    layout();
    let changed = false;
    if (compress)
      for (const it of insts) {
        if (sizes.get(it) === 2 || (it.kind === 'inst' && it.reloc !== undefined)) continue;
        const resolved = resolve(it);
        if (resolved && compressInstruction(resolved)) {
          sizes.set(it, 2);
          changed = true;
        }
      }
    if (!changed) break;
  }
  const total = layout();
  const code = new Uint8Array(total);
  const sourceMap: { offset: number; line: number }[] = [];
  const listing: EmittedCode['listing'] = [];
  let lastLine = -1;
  for (const it of items) {
    if (it.kind === 'bytes') code.set(it.bytes, offsets.get(it)!);
    else if (it.kind === 'align') {
      // Pad code with c.nop (0x0001) where the gap is even, zeros otherwise.
      const at = offsets.get(it)!;
      const gap = (it.bytes - (at % it.bytes)) % it.bytes;
      if (gap % 2 === 0) for (let b = 0; b < gap; b += 2) code[at + b] = 0x01;
    }
  }
  for (const it of insts) {
    if (it.kind !== 'inst') continue;
    const offset = offsets.get(it)!;
    const resolved = resolve(it);
    if (!resolved) {
      diagnostics.error('LINK_ERROR', `undefined label ${it.target}`, noSpan);
      continue;
    }
    const size = sizes.get(it)!;
    const final = size === 2 ? compressInstruction(resolved) : resolved;
    const encoded = final ? encodeInstruction(final) : undefined;
    if (!final || !encoded?.ok || encoded.size !== size) {
      diagnostics.error(
        'LINK_ERROR',
        `cannot encode ${resolved.mnemonic} at 0x${offset.toString(16)}${encoded && !encoded.ok ? `: ${encoded.error}` : ''}`,
        noSpan,
      );
      continue;
    }
    for (let b = 0; b < size; b++) code[offset + b] = (encoded.word >>> (8 * b)) & 0xff;
    listing.push({ offset, inst: final, size });
    if (it.line !== lastLine && it.line > 0) {
      sourceMap.push({ offset, line: it.line });
      lastLine = it.line;
    }
  }
  return { code, labels: new Map(labels), sourceMap, listing };
}
