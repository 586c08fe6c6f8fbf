/**
 * Stage 6, the linker: machine IR → bytes. Lays out the functions in order, resolves label targets
 * to PC-relative offsets, relaxes conditional branches whose target is out of their ±4 KiB reach,
 * picks the compressed (RVC) form of every instruction that has one for its final operands (via
 * vm's `compressInstruction`), and encodes with vm's encoder.
 *
 * Two monotone phases, so each converges:
 *
 * 1. Relaxation, at full size (every instruction 4 bytes): a branch whose target is out of reach
 *    becomes the inverted branch over a `jal` (8 bytes: `beq a, b, far` → `bne a, b, +8; j far`,
 *    reaching ±1 MiB). Sizes only grow, so distances only grow, and a branch once long stays long.
 * 2. Compression: an instruction whose final form fits an RVC encoding shrinks from 4 to 2 bytes.
 *    Sizes only shrink, so distances only shrink, and every branch stays in reach.
 */
import { compressInstruction, encodeInstruction, type Instruction } from '@capsule/vm';
import type { DiagnosticBag } from './diagnostics';
import { noSpan } from './diagnostics';
import type { MFunction, MItem } from './mir';

/** Emitted code. */
export interface EmittedCode {
  readonly code: Uint8Array;
  /** Label → code offset. */
  readonly labels: Map<string, number>;
  /** (code offset, source line) for each instruction whose line differs from the previous one. */
  readonly sourceMap: { offset: number; line: number }[];
  /** The instructions as placed (for listings): offset, final instruction. */
  readonly listing: { offset: number; inst: Instruction; size: 2 | 4 }[];
  /** The laid-out size when it is over `maxCodeBytes` (then nothing is encoded). */
  readonly oversizeBytes?: number;
}

/** Emission options. */
export interface EmitOptions {
  /** Use compressed encodings where possible (default true). */
  readonly compress?: boolean;
  /**
   * The most code the target holds: a larger layout is reported as CHECK_LIMIT (before any
   * encoding, so never as an out-of-range link error). Default: no limit.
   */
  readonly maxCodeBytes?: number;
}

/** Conditional branches and their inversions. */
const invertedBranch: Record<string, string> = {
  beq: 'bne',
  bne: 'beq',
  blt: 'bge',
  bge: 'blt',
  bltu: 'bgeu',
  bgeu: 'bltu',
};
/** The reach of a conditional branch (B-type: 13-bit signed byte offset). */
const BRANCH_MIN = -4096;
const BRANCH_MAX = 4094;

type InstItem = Extract<MItem, { kind: 'inst' }>;

/** Lays out and encodes functions. */
export function emitCode(
  functions: readonly MFunction[],
  diagnostics: DiagnosticBag,
  options: EmitOptions = {},
): EmittedCode {
  const compress = options.compress ?? true;
  const items = functions.flatMap((f) => f.items);
  const insts = items.filter((i): i is InstItem => i.kind === 'inst');
  /** Bytes of each instruction: 2 or 4, or 6/8 for a relaxed branch (inverted branch + jal). */
  const sizes = new Map<InstItem, number>(insts.map((i) => [i, 4]));
  /** Relaxed branches, with the size of their inverted branch (2 or 4). */
  const relaxed = new Map<InstItem, 2 | 4>();
  const labels = new Map<string, number>();
  const offsets = new Map<MItem, number>();
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
  const resolve = (it: InstItem): Instruction | undefined => {
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
  /** The instructions a relaxed branch becomes: the inverted branch over a jal to the target. */
  const relaxedPair = (it: InstItem, branchSize: 2 | 4): [Instruction, Instruction] | undefined => {
    const target = labels.get(it.target ?? '');
    if (target === undefined) return undefined;
    const skip: Instruction = {
      ...it.inst,
      mnemonic: invertedBranch[it.inst.mnemonic]!,
      imm: branchSize + 4,
    };
    const jump: Instruction = { mnemonic: 'jal', rd: 0, imm: target - (offsets.get(it)! + branchSize) };
    return [skip, jump];
  };

  // Phase 1: relax out-of-reach branches (sizes only grow).
  for (let changed = true; changed; ) {
    layout();
    changed = false;
    for (const it of insts) {
      if (relaxed.has(it) || invertedBranch[it.inst.mnemonic] === undefined || it.target === undefined)
        continue;
      const resolved = resolve(it);
      if (resolved && (resolved.imm! < BRANCH_MIN || resolved.imm! > BRANCH_MAX)) {
        relaxed.set(it, 4);
        sizes.set(it, 8);
        changed = true;
      }
    }
  }
  // Phase 2: compress (sizes only shrink).
  if (compress)
    for (let changed = true; changed; ) {
      layout();
      changed = false;
      for (const it of insts) {
        if (it.reloc !== undefined) continue;
        const branchSize = relaxed.get(it);
        if (branchSize === 4) {
          const pair = relaxedPair(it, 2);
          if (pair && compressInstruction(pair[0])) {
            relaxed.set(it, 2);
            sizes.set(it, 6);
            changed = true;
          }
        } else if (branchSize === undefined && sizes.get(it) === 4) {
          const resolved = resolve(it);
          if (resolved && compressInstruction(resolved)) {
            sizes.set(it, 2);
            changed = true;
          }
        }
      }
    }
  const total = layout();
  if (options.maxCodeBytes !== undefined && total > options.maxCodeBytes) {
    diagnostics.error(
      'CHECK_LIMIT',
      `the program's code is ${total} bytes; the target holds at most ${options.maxCodeBytes}`,
      noSpan,
    );
    return {
      code: new Uint8Array(0),
      labels: new Map(labels),
      sourceMap: [],
      listing: [],
      oversizeBytes: total,
    };
  }
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
  const place = (offset: number, inst: Instruction, size: number): boolean => {
    const final = size === 2 ? compressInstruction(inst) : inst;
    const encoded = final ? encodeInstruction(final) : undefined;
    if (!final || !encoded?.ok || encoded.size !== size) {
      diagnostics.error(
        'LINK_ERROR',
        `cannot encode ${inst.mnemonic} at 0x${offset.toString(16)}${encoded && !encoded.ok ? `: ${encoded.error}` : ''}`,
        noSpan,
      );
      return false;
    }
    for (let b = 0; b < size; b++) code[offset + b] = (encoded.word >>> (8 * b)) & 0xff;
    listing.push({ offset, inst: final, size: size as 2 | 4 });
    return true;
  };
  for (const it of insts) {
    const offset = offsets.get(it)!;
    const branchSize = relaxed.get(it);
    const pair = branchSize === undefined ? undefined : relaxedPair(it, branchSize);
    const resolved = branchSize === undefined ? resolve(it) : pair?.[0];
    if (!resolved) {
      diagnostics.error('LINK_ERROR', `undefined label ${it.target}`, noSpan);
      continue;
    }
    if (pair && branchSize !== undefined) {
      if (!place(offset, pair[0], branchSize) || !place(offset + branchSize, pair[1], 4)) continue;
    } else if (!place(offset, resolved, sizes.get(it)!)) continue;
    if (it.line !== lastLine && it.line > 0) {
      sourceMap.push({ offset, line: it.line });
      lastLine = it.line;
    }
  }
  return { code, labels: new Map(labels), sourceMap, listing };
}
