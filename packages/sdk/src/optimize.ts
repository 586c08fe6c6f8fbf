/**
 * Clean-up passes on the machine IR.
 *
 * Before register allocation (virtual registers):
 * - constants: a `li` of a value already held by a `li` that dominates it is replaced by that
 *   register (region bases, masks and other constants are computed once per path; lowering has
 *   already hoisted the ones used in loops to the loop's entry);
 * - dead code: an instruction without effects whose result nobody reads is removed.
 *
 * After allocation (physical registers): jumps to the next instruction, jumps to jumps, a branch
 * over a jump (inverted instead), code after a jump that no label reaches, a load of the slot just
 * stored.
 */
import { controlFlow, dominators, naturalLoops } from './cfg';
import { branchMnemonics, isVirtual, type MInst, type MItem, R, registersOf, TRAP_LABEL } from './mir';

/** Instructions that only compute their rd (no memory, no control, no trap). */
const pure = new Set([
  'li',
  'lui',
  'auipc',
  'addi',
  'slti',
  'sltiu',
  'xori',
  'ori',
  'andi',
  'slli',
  'srli',
  'srai',
  'add',
  'sub',
  'sll',
  'slt',
  'sltu',
  'xor',
  'srl',
  'sra',
  'or',
  'and',
  'mul',
  'mulh',
  'mulhsu',
  'mulhu',
  'div',
  'divu',
  'rem',
  'remu',
]);

/** Renames uses of virtual registers (rs1, rs2) through `map`. */
function renameUses(item: MInst, map: ReadonlyMap<number, number>): MInst {
  const { rs1, rs2 } = item.inst;
  const a = rs1 === undefined ? undefined : map.get(rs1);
  const b = rs2 === undefined ? undefined : map.get(rs2);
  if (a === undefined && b === undefined) return item;
  return {
    ...item,
    inst: { ...item.inst, ...(a === undefined ? {} : { rs1: a }), ...(b === undefined ? {} : { rs2: b }) },
  };
}

/**
 * Loop-invariant code motion: in each natural loop (innermost first, then again for the loops
 * around), constants, pure computations of values defined outside the loop and loads of memory the
 * program never writes move to the loop's preheader — where the loop is entered, once. Only the
 * loop's body moves (blocks on a cycle through the header), not code that leaves it; what moves
 * cannot trap, so running it when the loop body would not have is harmless.
 */
function hoistInvariants(input: MItem[]): MItem[] {
  let items = input;
  for (let round = 0; round < 8; round++) {
    const flow = controlFlow(items);
    const successors = flow.blocks.map((b) => b.successors);
    const loops = naturalLoops(successors, dominators(successors));
    if (loops.length === 0) return items;
    const predecessors: number[][] = successors.map(() => []);
    successors.forEach((list, b) => {
      for (const x of list) predecessors[x]!.push(b);
    });
    const definitions = new Map<number, number[]>();
    flow.insts.forEach((item, i) => {
      for (const d of registersOf(item).defs) definitions.set(d, [...(definitions.get(d) ?? []), i]);
    });
    const moved = new Set<number>();
    const inserts = new Map<number, MInst[]>();
    for (const loop of loops) {
      const at = preheaderPosition(items, flow, loop.header, loop.body, predecessors);
      if (at === undefined) continue;
      const inLoop = (i: number) => loop.body.has(flow.blockOf[i]!);
      const chosen = new Set<number>();
      const isInvariant = (r: number | undefined) =>
        r === undefined ||
        !isVirtual(r) ||
        (definitions.get(r) ?? []).every((d) => !inLoop(d) || chosen.has(d));
      for (let changed = true; changed; ) {
        changed = false;
        flow.insts.forEach((item, i) => {
          if (chosen.has(i) || moved.has(i) || !inLoop(i)) return;
          const { mnemonic, rd, rs1, rs2 } = item.inst;
          if (rd === undefined || !isVirtual(rd) || definitions.get(rd)?.length !== 1) return;
          if (item.uses || item.defs || item.clobbers) return;
          const movable = mnemonic === 'li' || pure.has(mnemonic) || item.invariant === true;
          if (!movable || !isInvariant(rs1) || !isInvariant(rs2)) return;
          if (
            !isVirtual(rs1 ?? R.zero) &&
            rs1 !== undefined &&
            rs1 !== R.zero &&
            rs1 !== R.sp &&
            rs1 !== R.gp
          )
            return;
          if (
            !isVirtual(rs2 ?? R.zero) &&
            rs2 !== undefined &&
            rs2 !== R.zero &&
            rs2 !== R.sp &&
            rs2 !== R.gp
          )
            return;
          chosen.add(i);
          changed = true;
        });
      }
      if (chosen.size === 0) continue;
      const list = [...chosen].sort((a, b) => a - b);
      for (const i of list) moved.add(i);
      inserts.set(at, [...(inserts.get(at) ?? []), ...list.map((i) => flow.insts[i]!)]);
    }
    if (moved.size === 0) return items;
    const removed = new Set([...moved].map((i) => flow.insts[i]!));
    const out: MItem[] = [];
    items.forEach((item, index) => {
      out.push(...(inserts.get(index) ?? []));
      if (item.kind !== 'inst' || !removed.has(item)) out.push(item);
    });
    out.push(...(inserts.get(items.length) ?? []));
    items = out;
  }
  return items;
}

/**
 * Where code run once before a loop goes: at the end of the one block that enters the header
 * from outside (before its jump) when that block goes nowhere else; or just before the header's
 * labels when it is entered from outside only by falling into it. Undefined otherwise.
 */
function preheaderPosition(
  items: readonly MItem[],
  flow: ReturnType<typeof controlFlow>,
  header: number,
  body: ReadonlySet<number>,
  predecessors: readonly number[][],
): number | undefined {
  const outside = predecessors[header]!.filter((p) => !body.has(p));
  if (outside.length !== 1) return undefined;
  const p = outside[0]!;
  const block = flow.blocks[p]!;
  const h = flow.blocks[header]!;
  if (block.last < block.first || h.last < h.first) return undefined;
  const last = flow.insts[block.last]!;
  const lastIndex = flow.itemIndex[block.last]!;
  if (block.successors.length === 1) {
    const isJump = last.inst.mnemonic === 'jal' && last.inst.rd === R.zero;
    if (isJump) return lastIndex;
    if (!branchMnemonics.has(last.inst.mnemonic) && last.inst.mnemonic !== 'ret') return lastIndex + 1;
  }
  // Entered by falling through from p (which may also branch elsewhere, but not to the header).
  if (p !== header - 1) return undefined;
  if (last.inst.mnemonic === 'jal' && last.inst.rd === R.zero) return undefined;
  if (last.target !== undefined && labelsBefore(items, flow.itemIndex[h.first]!).includes(last.target))
    return undefined;
  let index = flow.itemIndex[h.first]!;
  while (index > 0 && items[index - 1]!.kind === 'label') index--;
  return index;
}

/** The labels right before item `index`. */
function labelsBefore(items: readonly MItem[], index: number): string[] {
  const names: string[] = [];
  for (let i = index - 1; i >= 0 && items[i]!.kind === 'label'; i--)
    names.push((items[i] as { name: string }).name);
  return names;
}

/** Loop-invariant code motion, constant reuse along dominators, common subexpressions, dead code. */
export function optimizeVirtual(items: readonly MItem[]): MItem[] {
  let out = hoistInvariants([...items]);
  // Registers defined more than once are variables: only single-definition constants are shared.
  const definitions = new Map<number, number>();
  for (const item of out)
    if (item.kind === 'inst')
      for (const d of registersOf(item).defs) definitions.set(d, (definitions.get(d) ?? 0) + 1);
  const flow = controlFlow(out);
  const idom = dominators(flow.blocks.map((b) => b.successors));
  const children = flow.blocks.map(() => [] as number[]);
  idom.forEach((d, b) => {
    if (b !== 0 && d >= 0) children[d]!.push(b);
  });
  const replace = new Map<number, number>();
  const removed = new Set<MInst>();
  const walk = (root: number) => {
    // Iterative preorder with scoped tables of value → register.
    const stack: { block: number; scope: Map<number, number> }[] = [{ block: root, scope: new Map() }];
    while (stack.length > 0) {
      const { block, scope } = stack.pop()!;
      const b = flow.blocks[block]!;
      const mine = new Map(scope);
      for (let i = b.first; i <= b.last; i++) {
        const item = flow.insts[i]!;
        const { inst } = item;
        if (inst.mnemonic !== 'li' || !isVirtual(inst.rd!) || definitions.get(inst.rd!) !== 1) continue;
        const value = (inst.imm ?? 0) | 0;
        const held = mine.get(value);
        if (held !== undefined) {
          replace.set(inst.rd!, held);
          removed.add(item);
        } else mine.set(value, inst.rd!);
      }
      for (const c of children[block]!) stack.push({ block: c, scope: mine });
    }
  };
  if (flow.blocks.length > 0) walk(0);
  out = out.filter((item) => item.kind !== 'inst' || !removed.has(item));
  if (replace.size > 0) out = out.map((item) => (item.kind === 'inst' ? renameUses(item, replace) : item));
  return removeDeadCode(reuseAvailable(out));
}

const commutative = new Set(['add', 'mul', 'mulhu', 'mulh', 'and', 'or', 'xor']);
const loads = new Set(['lw', 'lh', 'lhu', 'lb', 'lbu']);
/** Stands for memory among the operands of a load (stores, calls and services change it). */
const MEMORY = -1;

/** Whether an instruction may change memory. */
function writesMemory(item: MInst): boolean {
  const m = item.inst.mnemonic;
  return (
    m === 'sw' ||
    m === 'sh' ||
    m === 'sb' ||
    m.startsWith('amo') ||
    m.startsWith('sc.') ||
    m === 'ecall' ||
    item.clobbers !== undefined
  );
}

/**
 * Common subexpressions: an instruction computing what an earlier one computed — on every path
 * to it, with no operand written since (available expressions, a forward data-flow problem over
 * the blocks) — becomes a copy of that one's result.
 */
function reuseAvailable(items: MItem[]): MItem[] {
  const definitions = new Map<number, number>();
  for (const item of items)
    if (item.kind === 'inst')
      for (const d of registersOf(item).defs) definitions.set(d, (definitions.get(d) ?? 0) + 1);
  const operandOk = (r: number | undefined) =>
    r === undefined || isVirtual(r) || r === R.zero || r === R.sp || r === R.gp;
  const keyOf = (item: MInst): string | undefined => {
    const { mnemonic, rd, rs1, rs2, imm } = item.inst;
    // A check that traps (a bounds check, a zero divisor) passed once holds while its operands do.
    if (item.target === TRAP_LABEL && branchMnemonics.has(mnemonic))
      return operandOk(rs1) && operandOk(rs2) ? `${mnemonic} ${rs1} ${rs2} trap` : undefined;
    if (
      mnemonic === 'li' ||
      !(pure.has(mnemonic) || loads.has(mnemonic)) ||
      rd === undefined ||
      !isVirtual(rd) ||
      definitions.get(rd) !== 1
    )
      return undefined;
    if (item.uses || item.defs || !operandOk(rs1) || !operandOk(rs2)) return undefined;
    if (mnemonic === 'addi' && imm === 0) return undefined; // a copy
    const [a, b] =
      commutative.has(mnemonic) && rs1 !== undefined && rs2 !== undefined && rs2 < rs1
        ? [rs2, rs1]
        : [rs1, rs2];
    return `${mnemonic} ${a} ${b} ${imm ?? ''}`;
  };
  const flow = controlFlow(items);
  const { insts, blocks } = flow;
  // Only a computation that occurs twice can be reused.
  const allKeys = insts.map(keyOf);
  const occurrences = new Map<string, number>();
  for (const k of allKeys) if (k !== undefined) occurrences.set(k, (occurrences.get(k) ?? 0) + 1);
  const keys = allKeys.map((k) => (k !== undefined && occurrences.get(k)! > 1 ? k : undefined));
  /**
   * The facts (instruction indexes) available at a point, indexed by operand register (for kills)
   * and by key (for reuse).
   */
  class Facts {
    readonly all = new Set<number>();
    private readonly byOperand = new Map<number, Set<number>>();
    readonly byKey = new Map<string, number>();
    constructor(from?: Iterable<number>) {
      for (const f of from ?? []) this.add(f);
    }
    add(f: number): void {
      this.all.add(f);
      this.byKey.set(keys[f]!, f);
      // A load of writable memory also depends on memory: any store, call or service ends it.
      const memory = loads.has(insts[f]!.inst.mnemonic) && !insts[f]!.invariant ? [MEMORY] : [];
      for (const r of [insts[f]!.inst.rs1, insts[f]!.inst.rs2, ...memory])
        if (r !== undefined && (isVirtual(r) || r === MEMORY)) {
          let set = this.byOperand.get(r);
          if (!set) this.byOperand.set(r, (set = new Set()));
          set.add(f);
        }
    }
    kill(r: number): void {
      const set = this.byOperand.get(r);
      if (!set) return;
      for (const f of set) {
        this.all.delete(f);
        if (this.byKey.get(keys[f]!) === f) this.byKey.delete(keys[f]!);
      }
      this.byOperand.delete(r);
    }
    step(i: number): void {
      for (const d of registersOf(insts[i]!).defs) this.kill(d);
      if (writesMemory(insts[i]!)) this.kill(MEMORY);
      if (keys[i] !== undefined) this.add(i);
    }
  }
  const predecessors: number[][] = blocks.map(() => []);
  blocks.forEach((b, k) => {
    for (const s of b.successors) predecessors[s]!.push(k);
  });
  const all = keys.flatMap((k, i) => (k === undefined ? [] : [i]));
  if (all.length === 0) return items;
  const outs = blocks.map((_, k) => new Set<number>(k === 0 ? [] : all));
  const inOf = (k: number): Set<number> => {
    if (k === 0 || predecessors[k]!.length === 0) return new Set();
    const [first, ...rest] = predecessors[k]!;
    const result = new Set(outs[first!]!);
    for (const p of rest) for (const f of result) if (!outs[p]!.has(f)) result.delete(f);
    return result;
  };
  for (let changed = true; changed; ) {
    changed = false;
    blocks.forEach((b, k) => {
      const facts = new Facts(inOf(k));
      for (let i = b.first; i <= b.last; i++) facts.step(i);
      const old = outs[k]!;
      if (facts.all.size !== old.size || [...facts.all].some((f) => !old.has(f))) {
        outs[k] = facts.all;
        changed = true;
      }
    });
  }
  // The recomputation goes; its (single-definition) result is renamed to the earlier one, which
  // holds the value wherever the recomputation's result was read.
  const removed = new Set<MInst>();
  const rename = new Map<number, number>();
  blocks.forEach((b, k) => {
    const facts = new Facts(inOf(k));
    for (let i = b.first; i <= b.last; i++) {
      const key = keys[i];
      const f = key === undefined ? undefined : facts.byKey.get(key);
      if (f !== undefined && f !== i) {
        removed.add(insts[i]!);
        if (insts[i]!.inst.rd !== undefined) rename.set(insts[i]!.inst.rd!, insts[f]!.inst.rd!);
      }
      facts.step(i);
    }
  });
  if (removed.size === 0) return items;
  const final = (r: number): number => {
    let x = r;
    while (rename.has(x)) x = rename.get(x)!;
    return x;
  };
  const map = new Map([...rename.keys()].map((r) => [r, final(r)]));
  const next = items.flatMap((item): MItem[] =>
    item.kind !== 'inst' ? [item] : removed.has(item) ? [] : [renameUses(item, map)],
  );
  // Renamed operands can make more instructions equal: again, until nothing changes.
  return reuseAvailable(next);
}

/** Removes pure instructions whose virtual result is never read, until none is left. */
function removeDeadCode(items: MItem[]): MItem[] {
  let out = items;
  for (;;) {
    const read = new Set<number>();
    for (const item of out) if (item.kind === 'inst') for (const u of registersOf(item).uses) read.add(u);
    const next = out.filter(
      (item) =>
        item.kind !== 'inst' ||
        !pure.has(item.inst.mnemonic) ||
        item.inst.rd === undefined ||
        !isVirtual(item.inst.rd) ||
        read.has(item.inst.rd),
    );
    if (next.length === out.length) return out;
    out = next;
  }
}

const inverse: Record<string, string> = {
  beq: 'bne',
  bne: 'beq',
  blt: 'bge',
  bge: 'blt',
  bltu: 'bgeu',
  bgeu: 'bltu',
};

const isJump = (item: MItem): item is MInst =>
  item.kind === 'inst' && item.inst.mnemonic === 'jal' && item.inst.rd === R.zero;
const isReturn = (item: MItem): item is MInst =>
  item.kind === 'inst' && item.inst.mnemonic === 'jalr' && item.inst.rd === R.zero;

/** The labels right after item `index`. */
function labelsAfter(items: readonly MItem[], index: number): string[] {
  const names: string[] = [];
  for (let i = index + 1; i < items.length && items[i]!.kind === 'label'; i++)
    names.push((items[i] as { name: string }).name);
  return names;
}

/** At most this many instructions of an epilogue are copied to a jump to it (each saves the jump). */
const EPILOGUE_COPY_MAX = 4;

/**
 * The instructions at `label` when they are a short epilogue: loads of saved registers from sp,
 * the frame's release, `ret` — nothing else.
 */
function epilogueAt(items: readonly MItem[], label: string): MInst[] | undefined {
  let i = items.findIndex((x) => x.kind === 'label' && x.name === label);
  if (i < 0) return undefined;
  while (i < items.length && items[i]!.kind === 'label') i++;
  const tail: MInst[] = [];
  for (; i < items.length && tail.length < EPILOGUE_COPY_MAX; i++) {
    const x = items[i]!;
    if (x.kind !== 'inst') return undefined;
    const { mnemonic, rd, rs1 } = x.inst;
    if (isReturn(x)) return [...tail, x];
    const restores = mnemonic === 'lw' && rs1 === R.sp;
    const releases = mnemonic === 'addi' && rd === R.sp && rs1 === R.sp;
    if (!restores && !releases) return undefined;
    tail.push(x);
  }
  return undefined;
}

/** Control-flow clean-up on physical registers (see the module comment). */
export function peephole(items: readonly MItem[]): MItem[] {
  let out = [...items];
  // (Bounded: threading jumps that only jump to each other would not settle.)
  for (let changed = true, round = 0; changed && round < 50; round++) {
    changed = false;
    // Where each label leads: the first instruction after it (skipping labels).
    const firstAfter = new Map<string, MInst | undefined>();
    out.forEach((item, i) => {
      if (item.kind !== 'label') return;
      let j = i + 1;
      while (j < out.length && out[j]!.kind === 'label') j++;
      const next = out[j];
      firstAfter.set(item.name, next?.kind === 'inst' ? next : undefined);
    });
    const referenced = new Set<string>();
    for (const item of out)
      if (item.kind === 'inst' && item.target !== undefined) referenced.add(item.target);
    const result: MItem[] = [];
    for (let i = 0; i < out.length; i++) {
      const item = out[i]!;
      if (
        item.kind === 'inst' &&
        item.target !== undefined &&
        (branchMnemonics.has(item.inst.mnemonic) || isJump(item))
      ) {
        // Thread through a label that leads straight to a jump.
        const to = firstAfter.get(item.target);
        if (to && isJump(to) && to.target !== undefined && to.target !== item.target) {
          result.push({ ...item, target: to.target });
          changed = true;
          continue;
        }
        // A jump or branch to the next instruction.
        let j = i + 1;
        let reachesNext = false;
        while (j < out.length && out[j]!.kind === 'label') {
          if ((out[j] as { name: string }).name === item.target) reachesNext = true;
          j++;
        }
        if (reachesNext) {
          changed = true;
          continue;
        }
        // bcc L1; j L2; L1: → b!cc L2; L1:
        const next = out[i + 1];
        if (
          branchMnemonics.has(item.inst.mnemonic) &&
          next &&
          isJump(next) &&
          labelsAfter(out, i + 1).includes(item.target)
        ) {
          result.push({
            ...item,
            inst: { ...item.inst, mnemonic: inverse[item.inst.mnemonic]! },
            target: next.target!,
          });
          i++;
          changed = true;
          continue;
        }
      }
      // A jump to a short epilogue (or a bare return): the epilogue itself.
      if (isJump(item) && item.target !== undefined) {
        const tail = epilogueAt(out, item.target);
        if (tail) {
          result.push(...tail.map((t) => ({ ...t, line: item.line })));
          changed = true;
          continue;
        }
      }
      result.push(item);
      // Nothing after a jump or return runs until a label someone jumps to.
      if (isJump(item) || isReturn(item)) {
        let j = i + 1;
        while (
          j < out.length &&
          !(out[j]!.kind === 'label' && referenced.has((out[j] as { name: string }).name))
        ) {
          if (out[j]!.kind === 'inst') changed = true;
          j++;
        }
        i = j - 1;
      }
    }
    out = result;
  }
  // sw r, k(sp); lw q, k(sp) → sw r, k(sp); mv q, r (nothing when q is r)
  return out.flatMap((item, i): MItem[] => {
    const prev = out[i - 1];
    if (
      item.kind === 'inst' &&
      item.inst.mnemonic === 'lw' &&
      item.inst.rs1 === R.sp &&
      prev?.kind === 'inst' &&
      prev.inst.mnemonic === 'sw' &&
      prev.inst.rs1 === R.sp &&
      prev.inst.imm === item.inst.imm
    )
      return item.inst.rd === prev.inst.rs2
        ? []
        : [{ ...item, inst: { mnemonic: 'addi', rd: item.inst.rd!, rs1: prev.inst.rs2!, imm: 0 } }];
    return [item];
  });
}
