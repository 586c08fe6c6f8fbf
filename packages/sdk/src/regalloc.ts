/**
 * Register allocation for locals and parameters. Expressions are evaluated into a pool of
 * temporaries by lowering (with spills when the pool runs short); variables get a fixed home for
 * their whole method: a register chosen by use weight (uses × 10^loop depth), or a frame slot.
 *
 * - A leaf method (no calls, no ECALLs) keeps parameters in their argument registers and puts
 *   other locals in free a-registers first: no saves needed, compressible encodings.
 * - Other methods use callee-saved s-registers (saved in the prologue), s0/s1 first (compressible).
 * - A long needs two registers; what does not fit lives in the frame.
 */
import type { VariableSymbol } from './ast';
import { argumentRegisters, calleeSaved, SCRATCH1, SCRATCH2 } from './mir';
import { isLong } from './types';

/** Where a variable lives. */
export type Home =
  | { readonly kind: 'reg'; readonly lo: number; readonly hi: number }
  | { readonly kind: 'frame'; readonly offset: number };

/** The allocation of one method. */
export interface Allocation {
  readonly homes: Map<VariableSymbol, Home>;
  /** Callee-saved registers the method must save. */
  readonly savedRegisters: number[];
  /** Argument registers free for temporaries (leaf methods only). */
  readonly spareArgumentRegisters: number[];
  /** Bytes of frame used by variables living in the frame (slots start at offset 0). */
  readonly frameBytes: number;
}

/**
 * Assigns homes. `params` arrive in argument registers in order (a long takes two);
 * `frameBase` is the first frame offset the allocator may use.
 */
export function allocateRegisters(
  params: readonly VariableSymbol[],
  locals: readonly VariableSymbol[],
  isLeaf: boolean,
  frameBase: number,
): Allocation {
  const homes = new Map<VariableSymbol, Home>();
  const saved: number[] = [];
  let frame = frameBase;
  const width = (s: VariableSymbol) => (isLong(s.type) ? 2 : 1);
  const available = isLeaf ? [...argumentRegisters.filter((r) => r !== SCRATCH1 && r !== SCRATCH2)] : [];
  const savedPool = [...calleeSaved];
  if (isLeaf) {
    let next = 0;
    for (const p of params) {
      const w = width(p);
      const lo = argumentRegisters[next];
      const hi = argumentRegisters[next + 1];
      if (
        lo !== undefined &&
        lo !== SCRATCH1 &&
        lo !== SCRATCH2 &&
        (w === 1 || (hi !== undefined && hi !== SCRATCH1 && hi !== SCRATCH2))
      ) {
        homes.set(p, { kind: 'reg', lo, hi: w === 2 ? hi! : -1 });
        available.splice(available.indexOf(lo), 1);
        if (w === 2) available.splice(available.indexOf(hi!), 1);
      }
      next += w;
    }
  }
  const rest = [...params.filter((p) => !homes.has(p)), ...locals].sort(
    (a, b) => b.weight - a.weight || a.id - b.id,
  );
  for (const v of rest) {
    const w = width(v);
    let regs: number[] | undefined;
    if (available.length >= w) regs = available.splice(0, w);
    else if (savedPool.length >= w) {
      regs = savedPool.splice(0, w);
      saved.push(...regs);
    }
    if (regs) homes.set(v, { kind: 'reg', lo: regs[0]!, hi: w === 2 ? regs[1]! : -1 });
    else {
      homes.set(v, { kind: 'frame', offset: frame });
      frame += w * 4;
    }
  }
  return { homes, savedRegisters: saved, spareArgumentRegisters: available, frameBytes: frame - frameBase };
}
