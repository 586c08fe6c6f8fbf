/**
 * The control-flow graph of a function's machine IR: basic blocks (ending at branches, jumps and
 * returns), their successors, dominators and natural loops. Used by optimize.ts and regalloc.ts.
 */
import { endsBlock, fallsThrough, type MInst, type MItem, R } from './mir';

/** Basic blocks of a function's items: instruction indexes, successors. */
export interface ControlFlow {
  readonly insts: MInst[];
  /** For each block: first and last instruction index (last < first for an empty block). */
  readonly blocks: { first: number; last: number; successors: number[] }[];
  /** The block each instruction is in. */
  readonly blockOf: number[];
  /** Where each instruction is in the items. */
  readonly itemIndex: number[];
}

/** Splits items into basic blocks and links them. Labels outside the function have no block. */
export function controlFlow(items: readonly MItem[]): ControlFlow {
  const insts: MInst[] = [];
  const blocks: { first: number; last: number; successors: number[] }[] = [];
  const blockOfLabel = new Map<string, number>();
  const blockOf: number[] = [];
  const itemIndex: number[] = [];
  let open = false;
  const start = () => {
    blocks.push({ first: insts.length, last: insts.length - 1, successors: [] });
    open = true;
  };
  items.forEach((item, index) => {
    if (item.kind === 'label') {
      if (!open || blocks[blocks.length - 1]!.last >= blocks[blocks.length - 1]!.first) start();
      blockOfLabel.set(item.name, blocks.length - 1);
      return;
    }
    if (item.kind !== 'inst') return;
    if (!open) start();
    blockOf.push(blocks.length - 1);
    itemIndex.push(index);
    insts.push(item);
    blocks[blocks.length - 1]!.last = insts.length - 1;
    if (endsBlock(item)) open = false;
  });
  blocks.forEach((b, index) => {
    const last = b.last >= b.first ? insts[b.last] : undefined;
    if (last?.target !== undefined && (last.inst.mnemonic !== 'jal' || last.inst.rd === R.zero)) {
      const t = blockOfLabel.get(last.target);
      if (t !== undefined) b.successors.push(t);
    }
    if ((!last || fallsThrough(last)) && index + 1 < blocks.length) b.successors.push(index + 1);
  });
  return { insts, blocks, blockOf, itemIndex };
}

/** Immediate dominators of the blocks (Cooper, Harvey, Kennedy); block 0 is the entry. */
export function dominators(successors: readonly number[][]): number[] {
  const n = successors.length;
  const predecessors: number[][] = successors.map(() => []);
  successors.forEach((list, b) => {
    for (const s of list) predecessors[s]!.push(b);
  });
  // Reverse postorder from the entry.
  const order: number[] = [];
  const seen = new Set<number>();
  const visit = (b: number) => {
    const stack: [number, number][] = [[b, 0]];
    seen.add(b);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const next = successors[top[0]]![top[1]++];
      if (next === undefined) {
        order.push(top[0]);
        stack.pop();
      } else if (!seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    }
  };
  if (n > 0) visit(0);
  order.reverse();
  const rank = new Map(order.map((b, i) => [b, i]));
  const idom = new Array<number>(n).fill(-1);
  if (n > 0) idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (rank.get(a)! > rank.get(b)!) a = idom[a]!;
      while (rank.get(b)! > rank.get(a)!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const b of order) {
      if (b === 0) continue;
      let d = -1;
      for (const p of predecessors[b]!) if (idom[p] !== -1) d = d === -1 ? p : intersect(p, d);
      if (d !== -1 && idom[b] !== d) {
        idom[b] = d;
        changed = true;
      }
    }
  }
  return idom;
}

/** A natural loop: its header block and the blocks of its body (the header included). */
export interface NaturalLoop {
  readonly header: number;
  readonly body: ReadonlySet<number>;
}

/**
 * The natural loops (a back edge t → h, h dominating t: h and every block that reaches t without
 * passing h), loops with the same header merged; innermost (smallest) first.
 */
export function naturalLoops(successors: readonly number[][], idom: readonly number[]): NaturalLoop[] {
  const predecessors: number[][] = successors.map(() => []);
  successors.forEach((list, b) => {
    for (const s of list) predecessors[s]!.push(b);
  });
  const dominates = (a: number, b: number) => {
    for (let x = b; ; x = idom[x]!) {
      if (x === a) return true;
      if (x === 0 || idom[x] === -1 || idom[x] === x) return x === a;
    }
  };
  const byHeader = new Map<number, Set<number>>();
  successors.forEach((list, t) => {
    if (idom[t] === -1 && t !== 0) return; // unreachable
    for (const h of list) {
      if (!dominates(h, t)) continue;
      let body = byHeader.get(h);
      if (!body) byHeader.set(h, (body = new Set([h])));
      const stack = [t];
      while (stack.length > 0) {
        const b = stack.pop()!;
        if (body.has(b)) continue;
        body.add(b);
        stack.push(...predecessors[b]!);
      }
    }
  });
  return [...byHeader].map(([header, body]) => ({ header, body })).sort((a, b) => a.body.size - b.body.size);
}
