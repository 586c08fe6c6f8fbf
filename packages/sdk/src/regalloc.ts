/**
 * Register allocation: a function's machine IR on virtual registers → physical registers, its
 * frame, prologue and epilogue.
 *
 * 1. Liveness over the control-flow graph (blocks end at branches, jumps and returns), then the
 *    live ranges of every register as lists of instruction slots (slot 2i reads instruction i's
 *    operands, 2i + 1 writes its results), with holes. Physical registers get ranges too: where
 *    the ABI fixes them (arguments at a call, results after it) and a point at every call for each
 *    caller-saved register it clobbers — so a value live across a call cannot sit in one.
 * 2. Colouring by priority: virtual registers in order of weight (uses and definitions, ×10 per
 *    loop level), each into the first register its ranges do not overlap — a register it is copied
 *    to or from first (so the copy disappears), then caller-saved ones (compressible a0–a5 first),
 *    then callee-saved ones (s0, s1 first; saved in the prologue).
 * 3. What gets no register is spilled: a constant or an address is recomputed before each use
 *    (rematerialized); anything else lives in a frame slot, loaded before each use and stored
 *    after each definition through short-lived registers. Then allocation runs again.
 *
 * Frame: [0, arraysBytes) the arrays lowering placed, then spill slots, then the saved registers
 * (ra first when the function calls) at the top; 16-byte aligned.
 */
import { type ControlFlow, controlFlow } from './cfg';
import {
  calleeSaved,
  FIRST_VIRTUAL,
  isVirtual,
  type MInst,
  type MItem,
  R,
  registersOf,
  splitConstant,
} from './mir';

/** A function as lowering leaves it. */
export interface VirtualFunction {
  readonly name: string;
  /** `entry` first; `ret` pseudo-instructions where it returns. */
  readonly items: readonly MItem[];
  /** Bytes at the bottom of the frame holding arrays (placed by lowering, sp-relative). */
  readonly arraysBytes: number;
}

/** The allocated function. */
export interface AllocatedFunction {
  readonly items: MItem[];
  readonly frameBytes: number;
  /** Whether it calls another function (and so saves ra). */
  readonly hasCalls: boolean;
}

/** Registers a virtual register may get, in order of preference. */
const allocatable: readonly number[] = [
  R.a0,
  R.a1,
  R.a2,
  R.a3,
  R.a4,
  R.a5,
  R.t0,
  R.t1,
  R.t2,
  R.a6,
  R.a7,
  R.t3,
  R.t4,
  R.t5,
  R.t6,
  ...calleeSaved,
];
const allocatableSet = new Set(allocatable);
const calleeSavedSet = new Set(calleeSaved);

/** Ranges of slots, sorted, disjoint, inclusive: [start0, end0, start1, end1, …]. */
type Ranges = number[];

/** Whether any range of `mine` meets one of `occupied` (binary search: occupied can be long). */
function overlaps(occupied: Ranges, mine: Ranges): boolean {
  const count = occupied.length / 2;
  for (let j = 0; j < mine.length; j += 2) {
    const start = mine[j]!;
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (occupied[2 * mid + 1]! < start) lo = mid + 1;
      else hi = mid;
    }
    if (lo < count && occupied[2 * lo]! <= mine[j + 1]!) return true;
  }
  return false;
}

/** Inserts the ranges of `mine` (which meet none of them) into `occupied`, keeping it sorted. */
function occupy(occupied: Ranges, mine: Ranges): void {
  for (let j = 0; j < mine.length; j += 2) {
    let lo = 0;
    let hi = occupied.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (occupied[2 * mid]! < mine[j]!) lo = mid + 1;
      else hi = mid;
    }
    occupied.splice(2 * lo, 0, mine[j]!, mine[j + 1]!);
  }
}

/** Merges `add` into `into` (both sorted); returns the result. */
function union(into: Ranges, add: Ranges): Ranges {
  const out: Ranges = [];
  let i = 0;
  let j = 0;
  const push = (s: number, e: number) => {
    if (out.length > 0 && s <= out[out.length - 1]! + 1)
      out[out.length - 1] = Math.max(out[out.length - 1]!, e);
    else out.push(s, e);
  };
  while (i < into.length || j < add.length) {
    if (j >= add.length || (i < into.length && into[i]! <= add[j]!)) {
      push(into[i]!, into[i + 1]!);
      i += 2;
    } else {
      push(add[j]!, add[j + 1]!);
      j += 2;
    }
  }
  return out;
}

/** Whether register `r` takes part in allocation (virtual or allocatable physical). */
function isTracked(r: number): boolean {
  return isVirtual(r) || allocatableSet.has(r);
}

interface Liveness {
  readonly ranges: Map<number, Ranges>;
  readonly weights: Map<number, number>;
  /** Copy partners: a virtual register → registers it is moved to or from. */
  readonly hints: Map<number, number[]>;
}

function liveness(flow: ControlFlow): Liveness {
  const { insts, blocks } = flow;
  const regs = insts.map((i) => registersOf(i));
  const gen = blocks.map(() => new Set<number>());
  const kill = blocks.map(() => new Set<number>());
  blocks.forEach((b, k) => {
    for (let i = b.first; i <= b.last; i++) {
      for (const u of regs[i]!.uses) if (isTracked(u) && !kill[k]!.has(u)) gen[k]!.add(u);
      for (const d of regs[i]!.defs) if (isTracked(d)) kill[k]!.add(d);
    }
  });
  const liveIn = blocks.map(() => new Set<number>());
  const liveOut = blocks.map(() => new Set<number>());
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = blocks.length - 1; k >= 0; k--) {
      const out = liveOut[k]!;
      for (const s of blocks[k]!.successors) for (const r of liveIn[s]!) out.add(r);
      const inn = liveIn[k]!;
      const before = inn.size;
      for (const r of gen[k]!) inn.add(r);
      for (const r of out) if (!kill[k]!.has(r)) inn.add(r);
      if (inn.size !== before) changed = true;
    }
  }
  const pieces = new Map<number, number[]>();
  const addRange = (r: number, s: number, e: number) => {
    let list = pieces.get(r);
    if (!list) pieces.set(r, (list = []));
    list.push(s, e);
  };
  blocks.forEach((b, k) => {
    if (b.last < b.first) return;
    const blockStart = 2 * b.first;
    const openEnd = new Map<number, number>();
    for (const r of liveOut[k]!) openEnd.set(r, 2 * b.last + 1);
    for (let i = b.last; i >= b.first; i--) {
      const { defs, uses } = regs[i]!;
      const defSlot = 2 * i + 1;
      for (const d of defs) {
        if (!isTracked(d)) continue;
        const end = openEnd.get(d);
        if (end !== undefined) {
          addRange(d, defSlot, end);
          openEnd.delete(d);
        } else addRange(d, defSlot, defSlot);
      }
      for (const c of insts[i]!.clobbers ?? []) if (allocatableSet.has(c)) addRange(c, defSlot, defSlot);
      for (const u of uses) if (isTracked(u) && !openEnd.has(u)) openEnd.set(u, 2 * i);
    }
    for (const [r, end] of openEnd) addRange(r, blockStart, end);
  });
  const ranges = new Map<number, Ranges>();
  for (const [r, list] of pieces) {
    const pairs: [number, number][] = [];
    for (let i = 0; i < list.length; i += 2) pairs.push([list[i]!, list[i + 1]!]);
    pairs.sort((a, b) => a[0] - b[0]);
    ranges.set(r, union([], pairs.flat()));
  }
  const weights = new Map<number, number>();
  const hints = new Map<number, number[]>();
  insts.forEach((item, i) => {
    const w = 10 ** Math.min(item.depth ?? 0, 4);
    for (const r of [...regs[i]!.defs, ...regs[i]!.uses])
      if (isVirtual(r)) weights.set(r, (weights.get(r) ?? 0) + w);
    const { inst } = item;
    if (inst.mnemonic === 'addi' && inst.imm === 0 && inst.rd !== undefined && inst.rs1 !== undefined) {
      const [a, b] = [inst.rd, inst.rs1];
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const)
        if (isVirtual(x) && (isVirtual(y) || allocatableSet.has(y))) {
          let list = hints.get(x);
          if (!list) hints.set(x, (list = []));
          list.push(y);
        }
    }
  });
  return { ranges, weights, hints };
}

/** A rematerializable definition: `li v, K` or `addi v, sp|gp, K`, the only one of v. */
function rematerializable(defs: MInst[]): MInst | undefined {
  if (defs.length !== 1) return undefined;
  const d = defs[0]!;
  if (d.inst.mnemonic === 'li') return d;
  if (d.inst.mnemonic === 'addi' && (d.inst.rs1 === R.sp || d.inst.rs1 === R.gp) && d.slot === undefined)
    return d;
  return undefined;
}

/** The item with its rd/rs1/rs2 renamed (rd is the only register an instruction writes). */
function renameRegisters(item: MInst, map: (r: number, role: 'use' | 'def') => number): MInst {
  const inst = { ...item.inst };
  if (inst.rs1 !== undefined) inst.rs1 = map(inst.rs1, 'use');
  if (inst.rs2 !== undefined) inst.rs2 = map(inst.rs2, 'use');
  if (inst.rd !== undefined) inst.rd = map(inst.rd, 'def');
  return { ...item, inst };
}

/** Allocates registers of one function and lays out its frame. */
export function allocateFunction(fn: VirtualFunction): AllocatedFunction {
  let items = [...fn.items];
  let nextVirtual = FIRST_VIRTUAL;
  for (const item of items)
    if (item.kind === 'inst')
      for (const r of [item.inst.rd, item.inst.rs1, item.inst.rs2])
        if (r !== undefined && r >= nextVirtual) nextVirtual = r + 1;
  const unspillable = new Set<number>();
  let slots = 0;
  let assignment = new Map<number, number>();
  for (let round = 0; ; round++) {
    if (round > 20) throw new Error(`internal: register allocation of ${fn.name} does not converge`);
    const flow = controlFlow(items);
    const { ranges, weights, hints } = liveness(flow);
    const occupied = new Map<number, Ranges>();
    for (const r of allocatable) occupied.set(r, [...(ranges.get(r) ?? [])]);
    const virtuals = [...ranges.keys()].filter(isVirtual);
    virtuals.sort(
      (a, b) =>
        Number(unspillable.has(b)) - Number(unspillable.has(a)) ||
        (weights.get(b) ?? 0) - (weights.get(a) ?? 0) ||
        a - b,
    );
    // A constant or an address used at most twice outside loops is cheaper to recompute than to
    // keep in a callee-saved register (saved and restored at every call of the function).
    const cheap = new Set<number>();
    {
      const defs = new Map<number, MInst[]>();
      for (const item of items)
        if (item.kind === 'inst')
          for (const d of registersOf(item).defs)
            if (isVirtual(d)) defs.set(d, [...(defs.get(d) ?? []), item]);
      for (const [v, list] of defs) if (rematerializable(list) && (weights.get(v) ?? 0) <= 3) cheap.add(v);
    }
    assignment = new Map();
    const spilled: number[] = [];
    for (const v of virtuals) {
      const mine = ranges.get(v)!;
      const candidates: number[] = [];
      for (const h of hints.get(v) ?? []) {
        const phys = isVirtual(h) ? assignment.get(h) : h;
        if (phys !== undefined && allocatableSet.has(phys)) candidates.push(phys);
      }
      candidates.push(...allocatable);
      if (cheap.has(v))
        candidates.splice(0, candidates.length, ...candidates.filter((r) => !calleeSavedSet.has(r)));
      const chosen = candidates.find((r) => !overlaps(occupied.get(r)!, mine));
      if (chosen === undefined) {
        if (unspillable.has(v)) throw new Error(`internal: no register for a spill temporary in ${fn.name}`);
        spilled.push(v);
        continue;
      }
      assignment.set(v, chosen);
      occupy(occupied.get(chosen)!, mine);
    }
    if (spilled.length === 0) break;
    // Rewrite the spilled registers and allocate again.
    const spilledSet = new Set(spilled);
    const definitions = new Map<number, MInst[]>();
    for (const item of items)
      if (item.kind === 'inst')
        for (const d of registersOf(item).defs)
          if (spilledSet.has(d)) definitions.set(d, [...(definitions.get(d) ?? []), item]);
    const remat = new Map<number, MInst>();
    const slotOf = new Map<number, number>();
    for (const v of spilled) {
      const r = rematerializable(definitions.get(v) ?? []);
      if (r) remat.set(v, r);
      else slotOf.set(v, slots++);
    }
    const out: MItem[] = [];
    for (const item of items) {
      if (item.kind !== 'inst') {
        out.push(item);
        continue;
      }
      const { defs, uses } = registersOf(item);
      if (defs.some((d) => remat.has(d))) continue; // recomputed at each use instead
      const fresh = new Map<number, number>();
      const temp = () => {
        const t = nextVirtual++;
        unspillable.add(t);
        return t;
      };
      for (const u of uses) {
        if (fresh.has(u) || !(remat.has(u) || slotOf.has(u))) continue;
        const t = temp();
        fresh.set(u, t);
        const source = remat.get(u);
        if (source) out.push({ ...source, inst: { ...source.inst, rd: t }, line: item.line });
        else
          out.push({
            kind: 'inst',
            inst: { mnemonic: 'lw', rd: t, rs1: R.sp, imm: 0 },
            slot: slotOf.get(u)!,
            line: item.line,
            ...(item.depth === undefined ? {} : { depth: item.depth }),
          });
      }
      const stores: MItem[] = [];
      const renamed = renameRegisters(item, (r, role) => {
        if (role === 'use') return fresh.get(r) ?? r;
        const s = slotOf.get(r);
        if (s === undefined) return r;
        const t = temp();
        stores.push({
          kind: 'inst',
          inst: { mnemonic: 'sw', rs1: R.sp, rs2: t, imm: 0 },
          slot: s,
          line: item.line,
          ...(item.depth === undefined ? {} : { depth: item.depth }),
        });
        return t;
      });
      out.push(renamed, ...stores);
    }
    items = out;
  }

  // Rewrite to physical registers, expand `li`, lay out the frame.
  const physical = (r: number) => (isVirtual(r) ? (assignment.get(r) ?? R.zero) : r);
  const used = new Set<number>();
  const body: MItem[] = [];
  let hasCalls = false;
  for (const item of items) {
    if (item.kind !== 'inst') {
      body.push(item);
      continue;
    }
    if (item.clobbers) hasCalls = true;
    const renamed = renameRegisters(item, (r) => physical(r));
    const { inst } = renamed;
    for (const r of [inst.rd, inst.rs1, inst.rs2]) if (r !== undefined && calleeSavedSet.has(r)) used.add(r);
    if (inst.mnemonic === 'li') {
      body.push(...expandLoadImmediate(inst.rd!, inst.imm ?? 0, renamed));
      continue;
    }
    if (inst.mnemonic === 'addi' && inst.imm === 0 && inst.rd === inst.rs1 && renamed.slot === undefined)
      continue;
    body.push(renamed);
  }
  const saves = [...(hasCalls ? [R.ra] : []), ...calleeSaved.filter((r) => used.has(r))];
  const spillBase = fn.arraysBytes;
  const frameBytes = Math.ceil((spillBase + 4 * slots + 4 * saves.length) / 16) * 16;
  const result: MItem[] = [];
  for (const item of body) {
    if (item.kind !== 'inst') {
      result.push(item);
      continue;
    }
    const { inst } = item;
    if (inst.mnemonic === 'entry') {
      if (frameBytes > 0) result.push(at(item, 'addi', { rd: R.sp, rs1: R.sp, imm: -frameBytes }));
      saves.forEach((r, i) => {
        result.push(at(item, 'sw', { rs1: R.sp, rs2: r, imm: frameBytes - 4 * (i + 1) }));
      });
      continue;
    }
    if (inst.mnemonic === 'ret') {
      saves.forEach((r, i) => {
        result.push(at(item, 'lw', { rd: r, rs1: R.sp, imm: frameBytes - 4 * (i + 1) }));
      });
      if (frameBytes > 0) result.push(at(item, 'addi', { rd: R.sp, rs1: R.sp, imm: frameBytes }));
      result.push(at(item, 'jalr', { rd: R.zero, rs1: R.ra, imm: 0 }));
      continue;
    }
    if (item.slot !== undefined) {
      const { slot, ...rest } = item;
      result.push({ ...rest, inst: { ...inst, imm: (inst.imm ?? 0) + spillBase + 4 * slot } });
      continue;
    }
    const { uses: _u, defs: _d, clobbers: _c, depth: _depth, ...plain } = item;
    result.push(plain);
  }
  return { items: result, frameBytes, hasCalls };
}

function at(item: MInst, mnemonic: string, fields: Omit<MInst['inst'], 'mnemonic'>): MInst {
  return { kind: 'inst', inst: { mnemonic, ...fields }, line: item.line };
}

/** `li rd, value` as `addi`, `lui` or `lui` + `addi`. */
export function expandLoadImmediate(rd: number, value: number, item: MInst): MInst[] {
  const v = value | 0;
  if (v >= -2048 && v < 2048) return [at(item, 'addi', { rd, rs1: R.zero, imm: v })];
  const { upper, lower } = splitConstant(v);
  const out = [at(item, 'lui', { rd, imm: upper })];
  if (lower !== 0) out.push(at(item, 'addi', { rd, rs1: rd, imm: lower }));
  return out;
}
