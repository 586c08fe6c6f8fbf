/**
 * Stage 4: the checked tree → machine IR on virtual registers, one function per method that is
 * called (not lowered in place) plus entry stubs; then, per function, optimize.ts (constants
 * shared along dominators, dead code), regalloc.ts (registers, frame) and the peephole pass.
 *
 * Every value is a fresh virtual register and every variable has its own (two for a long); the
 * allocator maps them onto the machine's. Constants used in a loop are computed once before the
 * outermost loop. A method called from one place, or a small one, is lowered in place of its call
 * (no recursion). Java semantics: 32-bit wrap-around is the machine's; byte/short/char values are
 * kept sign/zero-extended in registers and re-narrowed after every store; `/` and `%` check for a
 * zero divisor (trap); shifts use the machine's 5-bit masking; long is a register pair (lo, hi)
 * with carries, and long division and variable long shifts call runtime helpers written in the
 * language itself (runtime.ts).
 *
 * A trap (division by zero, index out of bounds) is a load from address 0, which the sandbox turns
 * into a DROP with reason ACCESS_FAULT (Java would throw an exception).
 */
import {
  ACTION_BASE,
  ActionField,
  ActionFlag,
  CONTRACT_BASE,
  CONTRACT_BYTES,
  DATA_BASE,
  DATA_MAX_BYTES,
  ENGINE_BASE,
  ENGINE_LINK_BYTES,
  EngineField,
  EngineLinkField,
  FLOW_BASE,
  FLOW_BYTES,
  type Instruction,
  PACKET_BASE,
  PATH_BASE,
  PacketField,
  Service,
  STACK_BYTES,
  Verdict,
} from '@capsule/vm';
import { PathOffset } from '@capsule/wire';
import type { Expr, ForEach, MethodDecl, MethodSymbol, StaticInit, Stmt, VariableSymbol } from './ast';
import type { CheckedProgram } from './checker';
import { type DiagnosticBag, noSpan, type SourceSpan } from './diagnostics';
import { foldJavaLang, javaLangMethod } from './java-lang';
import {
  argumentRegisters,
  callerSaved,
  FIRST_VIRTUAL,
  type MFunction,
  type MInst,
  type MItem,
  R,
  splitConstant,
  TRAP_LABEL,
} from './mir';
import { optimizeVirtual, peephole } from './optimize';
import { allocateFunction, type VirtualFunction } from './regalloc';
import { elementSize, INT, isBoolean, isLong, primName, type Type, wrapTo } from './types';

/**
 * The statics area: at most half the STACK region (the other half is for frames), addressed from
 * gp with 12-bit displacements.
 */
export const STATICS_MAX_BYTES = STACK_BYTES / 2;
/**
 * The largest frame of one method: sp-relative slots are 12-bit displacements and `addi sp, sp,
 * ±frame` must encode both ways, so 2048 - 16 (frames are 16-byte aligned).
 */
export const FRAME_MAX_BYTES = 2032;

/** A method whose body has at most this many statements and expressions is lowered in place. */
const INLINE_MAX_NODES = 24;

/** Region of a field's storage. */
export type FieldRegion = 'STACK' | 'DATA' | 'FLOW' | 'CONTRACT';

/** Where a field lives. */
export interface FieldLayout {
  readonly symbol: VariableSymbol;
  readonly region: FieldRegion;
  /** Offset from the region base (DATA/FLOW/CONTRACT) or from gp (statics, STACK region). */
  readonly offset: number;
  readonly size: number;
  /** For arrays: the element count (region arrays have no length header). */
  readonly length?: number;
  /** Initial bytes (region fields) — statics are initialized by code. */
  readonly initial: Uint8Array;
}

/** The machine IR of a whole program. */
export interface LoweredProgram {
  readonly functions: MFunction[];
  /** Entry name → label. */
  readonly entries: { readonly name: string; readonly label: string }[];
  readonly fields: FieldLayout[];
  /** Bytes of per-execution statics (below the initial stack pointer). */
  readonly staticsBytes: number;
}

/** What to lower. */
export interface LowerOptions {
  /** Lower a driver that calls this method with these argument words and then EBREAKs. */
  readonly call?: { readonly method: MethodSymbol; readonly args: readonly bigint[] };
  /**
   * Lower small methods in place of every call (default true; methods called from one place
   * always are). compile() turns it off when the code would not fit its target otherwise.
   */
  readonly inlineSmall?: boolean;
}

const regionBase: Record<FieldRegion, number> = {
  STACK: 0,
  DATA: DATA_BASE,
  FLOW: FLOW_BASE,
  CONTRACT: CONTRACT_BASE,
};
const kindRegion = { data: 'DATA', flow: 'FLOW', shared: 'CONTRACT', static: 'STACK' } as const;

const methodLabel = (m: MethodSymbol) => `${m.className}.${m.name}(${m.params.map(sig).join(',')})`;
function sig(t: Type): string {
  return t.kind === 'primitive'
    ? t.name
    : t.kind === 'array'
      ? `${sig(t.element)}[]`
      : t.kind === 'class'
        ? t.name
        : 'void';
}

/** Lowers a checked program (and the runtime helpers it uses) to machine IR. */
export function lowerProgram(
  program: CheckedProgram,
  runtime: CheckedProgram,
  diagnostics: DiagnosticBag,
  options: LowerOptions = {},
): LoweredProgram {
  const fields = layoutFields(program, diagnostics);
  const fieldMap = new Map(fields.map((f) => [f.symbol, f]));
  const staticsBytes = align(
    fields.filter((f) => f.region === 'STACK').reduce((n, f) => Math.max(n, f.offset + f.size), 0),
    16,
  );
  const functions: MFunction[] = [];
  const queued = new Set<MethodSymbol>();
  const queue: MethodSymbol[] = [];
  const runtimeMethods = new Map(runtime.methods.map((m) => [m.name, m]));
  const need = (m: MethodSymbol) => {
    if (!queued.has(m)) {
      queued.add(m);
      queue.push(m);
    }
    return methodLabel(m);
  };
  const ctx: ProgramContext = {
    fieldMap,
    diagnostics,
    constants: (e) => program.constants.get(e) ?? runtime.constants.get(e),
    callMethod: need,
    callRuntime: (name) => {
      const m = runtimeMethods.get(name);
      if (!m) throw new Error(`runtime helper ${name} missing`);
      return need(m);
    },
    isInlined: inlinable(program, options.inlineSmall ?? true),
    arrayLengths: knownLengths(program),
    hasClinit: false,
    usesTrap: false,
  };
  const statics = fields.filter((f) => f.region === 'STACK');
  const staticInits = program.mainClass?.staticInits ?? [];
  const needsClinit = statics.some((f) => f.symbol.field?.init !== undefined) || staticInits.length > 0;
  (ctx as { hasClinit: boolean }).hasClinit = needsClinit;
  const entries: { name: string; label: string }[] = [];
  const stubs: MFunction[] = [];
  const prelude = (items: MItem[]) => {
    if (staticsBytes > 0) {
      items.push(inst('addi', { rd: R.sp, rs1: R.sp, imm: -staticsBytes }, 0));
      items.push(inst('addi', { rd: R.gp, rs1: R.sp, imm: 0 }, 0));
    }
    if (needsClinit) items.push(inst('jal', { rd: R.ra, imm: 0 }, 0, '$clinit'));
  };
  if (options.call) {
    const { method, args } = options.call;
    const items: MItem[] = [{ kind: 'label', name: '$call' }];
    prelude(items);
    let next = 0;
    for (const [i, p] of method.params.entries()) {
      const v = args[i] ?? 0n;
      const words = isLong(p)
        ? [Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n))]
        : [Number(BigInt.asIntN(32, v))];
      for (const w of words) {
        const reg = argumentRegisters[next++];
        if (reg !== undefined) items.push(...liItems(reg, w, 0));
      }
    }
    items.push(inst('jal', { rd: R.ra, imm: 0 }, 0, need(method)));
    items.push(inst('ebreak', {}, 0));
    stubs.push({ name: '$call', items });
    entries.push({ name: '$call', label: '$call' });
  } else {
    const entryMethods = program.methods.filter((m) => m.isEntry);
    const roots = entryMethods.length > 0 ? entryMethods : program.methods;
    for (const m of roots) {
      const label = need(m);
      if (!m.isEntry) continue;
      if (staticsBytes === 0) entries.push({ name: m.name, label });
      else {
        const name = `$entry.${m.name}`;
        const items: MItem[] = [{ kind: 'label', name }];
        prelude(items);
        if (needsClinit) items.push(inst('addi', { rd: R.ra, rs1: R.zero, imm: 0 }, 0));
        items.push(inst('jal', { rd: R.zero, imm: 0 }, 0, label));
        stubs.push({ name, items });
        entries.push({ name: m.name, label: name });
      }
    }
  }
  const frames = new Map<string, { frameBytes: number; callees: ReadonlySet<string> }>();
  /** Optimizes, allocates and cleans up one lowered function. */
  const complete = (lowering: FunctionLowering, fn: VirtualFunction) => {
    const allocated = allocateFunction({ ...fn, items: optimizeVirtual(fn.items) });
    lowering.checkFrame(allocated.frameBytes, fn.name);
    functions.push({ name: fn.name, items: peephole(allocated.items) });
    frames.set(fn.name, lowering);
  };
  if (needsClinit) {
    const clinit = new FunctionLowering(ctx, undefined, statics);
    complete(clinit, clinit.lowerClinit(staticInits));
  }
  while (queue.length > 0) {
    const m = queue.shift()!;
    const lowering = new FunctionLowering(ctx, m, statics);
    complete(lowering, lowering.lowerMethod());
  }
  checkStackDepth(
    options.call ? [options.call.method] : program.methods.filter((m) => m.isEntry),
    frames,
    staticsBytes,
    needsClinit,
    diagnostics,
  );
  const all = [...stubs, ...functions];
  if (ctx.usesTrap)
    all.push({
      name: TRAP_LABEL,
      items: [{ kind: 'label', name: TRAP_LABEL }, inst('lw', { rd: R.zero, rs1: R.zero, imm: 0 }, 0)],
    });
  return { functions: all, entries, fields, staticsBytes };
}

/** What bounds a loop counter: below a constant, or below an array's length. */
interface CounterBound {
  readonly below?: number;
  readonly array?: VariableSymbol;
}

/**
 * A counted loop `for (int i = c; i < B && …; i++) body` (c ≥ 0; B a constant or `a.length`; nothing
 * but the update writes i, nothing writes a): in its body 0 ≤ i < B, so `a[i]` needs no bounds check.
 */
function countedLoop(
  s: Extract<Stmt, { kind: 'for' }>,
  constants: (e: Expr) => bigint | undefined,
): { variable: VariableSymbol; bounds: CounterBound[] } | undefined {
  const init = s.init.length === 1 ? s.init[0] : undefined;
  const d = init?.kind === 'local' && init.declarators.length === 1 ? init.declarators[0] : undefined;
  const i = d?.symbol;
  if (!d?.init || !i || primName(i.type) !== 'int') return undefined;
  const start = constants(d.init);
  if (start === undefined || start < 0n) return undefined;
  const update = s.update.length === 1 ? s.update[0] : undefined;
  const isStep =
    (update?.kind === 'incdec' &&
      update.op === '++' &&
      update.operand.kind === 'name' &&
      update.operand.symbol === i) ||
    (update?.kind === 'assign' &&
      update.op === '+=' &&
      update.target.kind === 'name' &&
      update.target.symbol === i &&
      constants(update.value) === 1n);
  if (!isStep || !s.cond) return undefined;
  // Nothing in the body or the condition writes the counter (or the arrays it is compared with).
  const written = new Set<VariableSymbol>();
  const visitExpr = (e: Expr) => {
    if (e.kind === 'assign' || e.kind === 'incdec') {
      const t = e.kind === 'assign' ? e.target : e.operand;
      if ((t.kind === 'name' || t.kind === 'field') && t.symbol) written.add(t.symbol);
    }
    forEachChild(e, visitExpr);
  };
  const visitStmt = (x: Stmt): void => forEachStmtPart(x, visitStmt, visitExpr);
  visitStmt(s.body);
  visitExpr(s.cond);
  if (written.has(i)) return undefined;
  const bounds: CounterBound[] = [];
  const conjuncts = (e: Expr): Expr[] =>
    e.kind === 'binary' && e.op === '&&' ? [...conjuncts(e.left), ...conjuncts(e.right)] : [e];
  for (const c of conjuncts(s.cond)) {
    if (c.kind !== 'binary' || c.op !== '<' || c.left.kind !== 'name' || c.left.symbol !== i) continue;
    const k = constants(c.right);
    if (k !== undefined) {
      if (k <= 2n ** 31n - 1n) bounds.push({ below: Number(k) });
      continue;
    }
    const r = c.right;
    const array =
      r.kind === 'field' &&
      r.name === 'length' &&
      !r.symbol &&
      (r.target.kind === 'name' || r.target.kind === 'field')
        ? r.target.symbol
        : undefined;
    if (array && !written.has(array)) bounds.push({ array });
  }
  return bounds.length > 0 ? { variable: i, bounds } : undefined;
}

/**
 * Arrays whose length is known where they are used: a local or static array variable initialized
 * with `new T[n]` or `{ … }` and never assigned again (each evaluation of its declaration makes an
 * array of the same length). Bounds checks compare with a constant; `.length` is one.
 */
function knownLengths(program: CheckedProgram): Map<VariableSymbol, number> {
  const lengths = new Map<VariableSymbol, number>();
  const assigned = new Set<VariableSymbol>();
  const visitExpr = (e: Expr) => {
    if (e.kind === 'assign' && (e.target.kind === 'name' || e.target.kind === 'field') && e.target.symbol)
      assigned.add(e.target.symbol);
    forEachChild(e, visitExpr);
  };
  const visitStmt = (s: Stmt): void => {
    if (s.kind === 'local')
      for (const d of s.declarators)
        if (
          d.symbol &&
          (d.init?.kind === 'newArray' || d.init?.kind === 'arrayInit') &&
          d.init.length !== undefined
        )
          lengths.set(d.symbol, d.init.length);
    forEachStmtPart(s, visitStmt, visitExpr);
  };
  for (const m of program.methods) visitStmt(m.decl.body);
  for (const block of program.mainClass?.staticInits ?? []) visitStmt(block.body);
  for (const f of program.fields) {
    const init = f.field?.init;
    if (
      f.kind === 'static' &&
      f.type.kind === 'array' &&
      (init?.kind === 'newArray' || init?.kind === 'arrayInit')
    )
      lengths.set(f, init.length ?? 0);
    if (init) visitExpr(init);
  }
  for (const s of assigned) lengths.delete(s);
  return lengths;
}

/**
 * Which methods are lowered in place of their calls: those called from one place, and small ones
 * (at most INLINE_MAX_NODES statements and expressions) — never an entry, never a method that can
 * reach itself.
 */
function inlinable(program: CheckedProgram, inlineSmall: boolean): (m: MethodSymbol) => boolean {
  const sites = new Map<MethodSymbol, number>();
  const calls = new Map<MethodSymbol, Set<MethodSymbol>>();
  const sizes = new Map<MethodSymbol, number>();
  const scan = (owner: MethodSymbol | undefined, body: Stmt | Expr) => {
    let nodes = 0;
    const visitExpr = (e: Expr) => {
      nodes++;
      if (e.kind === 'call' && e.method) {
        sites.set(e.method, (sites.get(e.method) ?? 0) + 1);
        if (owner) calls.get(owner)!.add(e.method);
      }
      forEachChild(e, visitExpr);
    };
    const visitStmt = (s: Stmt): void => {
      nodes++;
      forEachStmtPart(s, visitStmt, visitExpr);
    };
    if (isStmtKind(body.kind)) visitStmt(body as Stmt);
    else visitExpr(body as Expr);
    return nodes;
  };
  for (const m of program.methods) {
    calls.set(m, new Set());
    sizes.set(m, scan(m, m.decl.body));
  }
  for (const f of program.fields) if (f.field?.init) scan(undefined, f.field.init);
  for (const block of program.mainClass?.staticInits ?? []) scan(undefined, block.body);
  const reaches = (from: MethodSymbol, to: MethodSymbol): boolean => {
    const seen = new Set<MethodSymbol>();
    const stack = [...(calls.get(from) ?? [])];
    while (stack.length > 0) {
      const m = stack.pop()!;
      if (m === to) return true;
      if (seen.has(m)) continue;
      seen.add(m);
      stack.push(...(calls.get(m) ?? []));
    }
    return false;
  };
  const decided = new Map<MethodSymbol, boolean>();
  return (m) => {
    let yes = decided.get(m);
    if (yes === undefined) {
      yes =
        !m.isEntry &&
        sizes.has(m) &&
        ((sites.get(m) ?? 0) <= 1 || (inlineSmall && sizes.get(m)! <= INLINE_MAX_NODES)) &&
        !reaches(m, m);
      decided.set(m, yes);
    }
    return yes;
  };
}

/**
 * The stack holds the statics and the frames of the active calls. Without recursion the deepest
 * chain is known at compile time, and one that does not fit is a CHECK_LIMIT; a recursive program
 * finds out at run time (the access below STACK traps).
 */
function checkStackDepth(
  roots: readonly MethodSymbol[],
  frames: ReadonlyMap<string, { frameBytes: number; callees: ReadonlySet<string> }>,
  staticsBytes: number,
  needsClinit: boolean,
  diagnostics: DiagnosticBag,
): void {
  const depths = new Map<string, number>();
  const visiting = new Set<string>();
  /** Bytes of the deepest chain from `label`, or Infinity when it can recurse. */
  const depth = (label: string): number => {
    const known = depths.get(label);
    if (known !== undefined) return known;
    if (visiting.has(label)) return Number.POSITIVE_INFINITY;
    visiting.add(label);
    const f = frames.get(label);
    let deepest = 0;
    for (const callee of f?.callees ?? []) deepest = Math.max(deepest, depth(callee));
    visiting.delete(label);
    const d = (f?.frameBytes ?? 0) + deepest;
    depths.set(label, d);
    return d;
  };
  for (const m of roots) {
    const chain = Math.max(depth(methodLabel(m)), needsClinit ? depth('$clinit') : 0);
    if (Number.isFinite(chain) && staticsBytes + chain > STACK_BYTES)
      diagnostics.error(
        'CHECK_LIMIT',
        `the deepest call chain from '${m.name}' needs ${staticsBytes + chain} bytes of stack (statics ${staticsBytes}, frames ${chain}); the stack holds ${STACK_BYTES}`,
        m.decl.span,
      );
  }
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function inst(mnemonic: string, fields: Omit<Instruction, 'mnemonic'>, line: number, target?: string): MItem {
  return target === undefined
    ? { kind: 'inst', inst: { mnemonic, ...fields }, line }
    : { kind: 'inst', inst: { mnemonic, ...fields }, target, line };
}

function liItems(rd: number, value: number, line: number): MItem[] {
  const v = value | 0;
  if (v >= -2048 && v < 2048) return [inst('addi', { rd, rs1: R.zero, imm: v }, line)];
  const { upper, lower } = splitConstant(v);
  const items = [inst('lui', { rd, imm: upper }, line)];
  if (lower !== 0) items.push(inst('addi', { rd, rs1: rd, imm: lower }, line));
  return items;
}

function layoutFields(program: CheckedProgram, diagnostics: DiagnosticBag): FieldLayout[] {
  const cursors: Record<FieldRegion, number> = { STACK: 0, DATA: 0, FLOW: 0, CONTRACT: 0 };
  const limits: Record<FieldRegion, number> = {
    STACK: STATICS_MAX_BYTES,
    DATA: DATA_MAX_BYTES,
    FLOW: FLOW_BYTES,
    CONTRACT: CONTRACT_BYTES,
  };
  const out: FieldLayout[] = [];
  for (const s of program.fields) {
    if (s.constant !== undefined) continue;
    const region = kindRegion[s.kind as keyof typeof kindRegion] ?? 'STACK';
    const init = s.field?.init;
    let size: number;
    let alignment: number;
    let length: number | undefined;
    if (s.type.kind === 'array') {
      const el = elementSize(s.type.element);
      length = init?.kind === 'newArray' || init?.kind === 'arrayInit' ? (init.length ?? 0) : 0;
      if (region === 'STACK')
        size = 4; // the reference; storage is allocated by the initializer
      else {
        size = el * length;
        if (!init)
          diagnostics.error(
            'CHECK_CONSTANT_REQUIRED',
            `a ${s.kind} array needs an initializer giving its size`,
            s.span,
          );
      }
      alignment = Math.min(4, el);
    } else {
      size = elementSize(s.type);
      alignment = Math.min(size, 4);
    }
    const offset = align(cursors[region], alignment);
    cursors[region] = offset + size;
    if (cursors[region] > limits[region])
      diagnostics.error(
        'CHECK_LIMIT',
        `field '${s.name}' does not fit the ${region} region (${limits[region]} bytes)`,
        s.span,
      );
    const initial = new Uint8Array(region === 'STACK' ? 0 : size);
    if (region !== 'STACK' && init) writeInitial(program, init, s.type, initial);
    out.push({ symbol: s, region, offset, size, ...(length === undefined ? {} : { length }), initial });
  }
  // Static array storage follows the scalar statics.
  for (const f of out.filter((f) => f.region === 'STACK' && f.symbol.type.kind === 'array')) {
    const t = f.symbol.type as { kind: 'array'; element: Type };
    const storage = align(cursors.STACK, 4);
    (f as { storageOffset?: number }).storageOffset = storage;
    cursors.STACK = storage + 4 + align(elementSize(t.element) * (f.length ?? 0), 4);
  }
  (out as { staticsEnd?: number }).staticsEnd = cursors.STACK;
  const staticsEnd = cursors.STACK;
  if (staticsEnd > STATICS_MAX_BYTES)
    diagnostics.error(
      'CHECK_LIMIT',
      `static fields need ${staticsEnd} bytes (at most ${STATICS_MAX_BYTES})`,
      program.mainClass?.span ?? {
        start: { line: 1, column: 1, offset: 0 },
        end: { line: 1, column: 1, offset: 0 },
      },
    );
  // Record the statics' full extent in a pseudo-field for the caller.
  if (staticsEnd > 0)
    out.push({
      symbol: {
        name: '$statics',
        type: { kind: 'void' },
        kind: 'static',
        isFinal: true,
        span: program.mainClass!.span,
        id: -1,
        weight: 0,
      },
      region: 'STACK',
      offset: 0,
      size: staticsEnd,
      initial: new Uint8Array(0),
    });
  return out;
}

function writeInitial(program: CheckedProgram, init: Expr, type: Type, into: Uint8Array): void {
  const view = new DataView(into.buffer);
  const put = (offset: number, t: Type, v: bigint) => {
    switch (elementSize(t)) {
      case 1:
        view.setUint8(offset, Number(BigInt.asUintN(8, v)));
        break;
      case 2:
        view.setUint16(offset, Number(BigInt.asUintN(16, v)), true);
        break;
      case 4:
        view.setUint32(offset, Number(BigInt.asUintN(32, v)), true);
        break;
      default:
        view.setBigUint64(offset, BigInt.asUintN(64, v), true);
    }
  };
  if (type.kind === 'array') {
    const elements =
      init.kind === 'arrayInit' ? init.elements : init.kind === 'newArray' ? (init.init ?? []) : [];
    const size = elementSize(type.element);
    elements.forEach((e, i) => {
      put(i * size, type.element, program.constants.get(e) ?? 0n);
    });
  } else put(0, type, program.constants.get(init) ?? 0n);
}

interface ProgramContext {
  readonly fieldMap: Map<VariableSymbol, FieldLayout>;
  readonly diagnostics: DiagnosticBag;
  readonly constants: (e: Expr) => bigint | undefined;
  readonly callMethod: (m: MethodSymbol) => string;
  readonly callRuntime: (name: string) => string;
  /** Whether a call of `m` is lowered in place (see `inlinable`). */
  readonly isInlined: (m: MethodSymbol) => boolean;
  /** The length of the array a variable always holds, when the program fixes it (`knownLengths`). */
  readonly arrayLengths: ReadonlyMap<VariableSymbol, number>;
  /** Whether the program has static initializers (which run before an entry, in its stack). */
  readonly hasClinit: boolean;
  usesTrap: boolean;
}

/**
 * A value in registers (virtual, or zero/sp/gp): `hi` is -1 for 32-bit values. `owned` values are
 * fresh temporaries nothing else writes; the others are variables' registers (or constants).
 */
interface Val {
  lo: number;
  hi: number;
  owned: boolean;
}

interface JumpTargets {
  readonly labels: readonly string[];
  readonly breakLabel: string;
  readonly continueLabel: string | undefined;
}

/** A method being lowered in place of its call: where its returns go. */
interface InlineFrame {
  readonly returnLabel: string;
  readonly returnType: Type;
  readonly result: Val | undefined;
}

let labelCounter = 0;

class FunctionLowering {
  /** Labels of the functions this one calls. */
  readonly callees = new Set<string>();
  /** The frame size, known once the function is allocated. */
  frameBytes = 0;
  private readonly items: MItem[] = [];
  private line = 0;
  /** Loop nesting depth at the current point (weights for the allocator). */
  private depth = 0;
  private nextVirtual = FIRST_VIRTUAL;
  /** Variables' registers (a long has two). */
  private readonly homes = new Map<VariableSymbol, Val>();
  /** Bytes of arrays (and LOG buffers) placed at the bottom of the frame so far. */
  private frameTop = 0;
  private targets: JumpTargets[] = [];
  private pendingLabels: string[] = [];
  private readonly inlineFrames: InlineFrame[] = [];
  private readonly retLabel: string;
  private readonly prefix: string;
  constructor(
    private readonly ctx: ProgramContext,
    private readonly method: MethodSymbol | undefined,
    private readonly statics: readonly FieldLayout[],
  ) {
    this.prefix = `.L${labelCounter++}`;
    this.retLabel = `${this.prefix}.ret`;
  }

  private newLabel(hint: string): string {
    return `${this.prefix}.${hint}${labelCounter++}`;
  }

  // ---------- emission helpers

  private emit(
    mnemonic: string,
    fields: Omit<Instruction, 'mnemonic'> = {},
    target?: string,
    extra: Partial<Pick<MInst, 'uses' | 'defs' | 'clobbers' | 'invariant'>> = {},
  ): void {
    this.items.push({
      kind: 'inst',
      inst: { mnemonic, ...fields },
      ...(target === undefined ? {} : { target }),
      line: this.line,
      ...(this.depth > 0 ? { depth: this.depth } : {}),
      ...extra,
    });
  }
  private label(name: string): void {
    this.items.push({ kind: 'label', name });
  }
  /** A fresh virtual register. */
  private reg(): number {
    return this.nextVirtual++;
  }
  /** A fresh temporary value (two registers when wide). */
  private fresh(wide: boolean): Val {
    return { lo: this.reg(), hi: wide ? this.reg() : -1, owned: true };
  }
  private li(rd: number, value: number): void {
    this.emit('li', { rd, imm: value | 0 });
  }
  /** A register holding `value` (x0 for 0). optimize.ts shares and hoists these. */
  private constant(value: number): number {
    const v = value | 0;
    if (v === 0) return R.zero;
    const r = this.reg();
    this.li(r, v);
    return r;
  }
  private mv(rd: number, rs: number): void {
    if (rd !== rs) this.emit('addi', { rd, rs1: rs, imm: 0 });
  }
  private jump(target: string): void {
    this.emit('jal', { rd: R.zero, imm: 0 }, target);
  }
  private branch(mnemonic: string, rs1: number, rs2: number, target: string): void {
    this.emit(mnemonic, { rs1, rs2, imm: 0 }, target);
  }
  private trapIf(mnemonic: string, rs1: number, rs2: number): void {
    this.ctx.usesTrap = true;
    this.branch(mnemonic, rs1, rs2, TRAP_LABEL);
  }
  private setLine(span: SourceSpan): void {
    this.line = span.start.line;
  }
  /** Runs `body` one loop level deeper (the allocator weighs what is used in loops). */
  private inLoop(body: () => void): void {
    this.depth++;
    body();
    this.depth--;
  }

  /** A copy of `v` in fresh registers (v itself when it is owned). */
  private own(v: Val): Val {
    if (v.owned) return v;
    const d = this.fresh(v.hi >= 0);
    this.mv(d.lo, v.lo);
    if (v.hi >= 0) this.mv(d.hi, v.hi);
    return d;
  }
  /** `v`, copied first when it is a variable's register that `later` may assign. */
  private holdAgainst(v: Val, later: Expr | Expr[]): Val {
    if (!v.owned && v.lo !== R.zero && v.lo !== R.gp && this.mayWrite(later, v)) return this.own(v);
    return v;
  }
  private mayWrite(later: Expr | Expr[], v: Val): boolean {
    const regs = new Set([v.lo, v.hi]);
    let writes = false;
    const visit = (e: Expr) => {
      if (writes) return;
      if (
        (e.kind === 'assign' || e.kind === 'incdec') &&
        (e.kind === 'assign' ? e.target : e.operand).kind === 'name'
      ) {
        const sym = ((e.kind === 'assign' ? e.target : e.operand) as { symbol?: VariableSymbol }).symbol;
        const h = sym ? this.homes.get(sym) : undefined;
        if (h && (regs.has(h.lo) || regs.has(h.hi))) writes = true;
      }
      // A call of a method lowered in place may assign its parameters, never the caller's variables.
      forEachChild(e, visit);
    };
    for (const e of Array.isArray(later) ? later : [later]) visit(e);
    return writes;
  }

  // ---------- functions

  /** The registers of a variable (made on first use). */
  private home(sym: VariableSymbol): Val {
    let h = this.homes.get(sym);
    if (!h) {
      h = { lo: this.reg(), hi: isLong(sym.type) ? this.reg() : -1, owned: false };
      this.homes.set(sym, h);
    }
    return h;
  }

  lowerMethod(): VirtualFunction {
    const m = this.method!;
    const decl: MethodDecl = m.decl;
    this.line = decl.span.start.line;
    const params = decl.params.map((p) => p.symbol!).filter((p) => p.type.kind !== 'class');
    // The arguments arrive in a0…a7 (a long in two, low word first).
    const words = params.reduce((n, p) => n + (isLong(p.type) ? 2 : 1), 0);
    if (words > argumentRegisters.length)
      this.ctx.diagnostics.error(
        'CHECK_LIMIT',
        `method '${m.name}' takes more than 8 words of arguments`,
        decl.span,
      );
    const incoming = argumentRegisters.slice(0, Math.min(words, argumentRegisters.length));
    this.emit('entry', {}, undefined, { defs: incoming });
    let next = 0;
    for (const p of params) {
      const h = this.home(p);
      const lo = argumentRegisters[next];
      const hi = argumentRegisters[next + 1];
      if (lo !== undefined) this.mv(h.lo, lo);
      if (isLong(p.type) && hi !== undefined) this.mv(h.hi, hi);
      next += isLong(p.type) ? 2 : 1;
    }
    this.lowerStmt(decl.body);
    const results = isLong(m.returnType) ? [R.a0, R.a1] : m.returnType.kind === 'void' ? [] : [R.a0];
    return this.finish(methodLabel(m), results);
  }

  /** The static initializers: field initializers and `static { … }` blocks in source order. */
  lowerClinit(blocks: readonly StaticInit[]): VirtualFunction {
    const steps: ({ at: number; field: FieldLayout } | { at: number; block: StaticInit })[] = [
      ...this.statics
        .filter((f) => f.symbol.field?.init !== undefined)
        .map((field) => ({ at: field.symbol.span.start.offset, field })),
      ...blocks.map((block) => ({ at: block.span.start.offset, block })),
    ].sort((a, b) => a.at - b.at);
    this.emit('entry');
    for (const step of steps) {
      if ('block' in step) {
        this.lowerStmt(step.block.body);
        continue;
      }
      const f = step.field;
      const init = f.symbol.field!.init!;
      this.setLine(init.span);
      if (f.symbol.type.kind === 'array') {
        const storage = (f as { storageOffset?: number }).storageOffset ?? 0;
        const ref = this.reg();
        this.emit('addi', { rd: ref, rs1: R.gp, imm: storage });
        this.initArray(
          ref,
          f.symbol.type.element,
          f.length ?? 0,
          init.kind === 'arrayInit' ? init.elements : init.kind === 'newArray' ? init.init : undefined,
          true,
        );
        this.emit('sw', { rs1: R.gp, rs2: ref, imm: f.offset });
      } else this.storeField(f, this.genExpr(init, f.symbol.type)!);
    }
    return this.finish('$clinit', []);
  }

  /** Ends the function: the `ret` its returns jump to. */
  private finish(label: string, results: number[]): VirtualFunction {
    this.label(this.retLabel);
    this.emit('ret', {}, undefined, { uses: results });
    return {
      name: label,
      items: [{ kind: 'label', name: label }, ...this.items],
      arraysBytes: this.frameTop,
    };
  }

  /** Reports a frame over the limit (known after allocation). */
  checkFrame(frameBytes: number, label: string): void {
    this.frameBytes = frameBytes;
    if (frameBytes > FRAME_MAX_BYTES)
      this.ctx.diagnostics.error(
        'CHECK_LIMIT',
        `the frame of ${label} needs ${frameBytes} bytes (at most ${FRAME_MAX_BYTES})`,
        this.method?.decl.span ?? noSpan,
      );
  }

  // ---------- statements

  private lowerStmt(s: Stmt): void {
    this.setLine(s.span);
    switch (s.kind) {
      case 'block':
        for (const x of s.stmts) this.lowerStmt(x);
        return;
      case 'local':
        for (const d of s.declarators) {
          const sym = d.symbol!;
          if (sym.constant !== undefined) continue;
          if (!d.init) {
            // Locals start at zero (javac would insist on an assignment before any read).
            this.assignHome(this.home(sym), this.constVal(0n, isLong(sym.type)));
            continue;
          }
          this.setLine(d.span);
          const v =
            d.init.kind === 'arrayInit' || d.init.kind === 'newArray'
              ? this.genArrayCreation(d.init, sym.type)
              : this.genExpr(d.init, sym.type)!;
          this.assignHome(this.home(sym), v);
        }
        return;
      case 'expr':
        this.genExpr(s.expr, undefined, true);
        return;
      case 'if': {
        const elseLabel = this.newLabel('else');
        this.genCond(s.cond, elseLabel, false);
        this.lowerStmt(s.then);
        if (s.else) {
          const end = this.newLabel('endif');
          this.jump(end);
          this.label(elseLabel);
          this.lowerStmt(s.else);
          this.label(end);
        } else this.label(elseLabel);
        return;
      }
      case 'while': {
        const top = this.newLabel('while');
        const cond = this.newLabel('cond');
        const end = this.newLabel('endwhile');
        const c = this.ctx.constants(s.cond);
        this.inLoop(() => {
          if (c !== 1n) this.jump(cond);
          this.label(top);
          this.withTargets(end, cond, () => this.lowerStmt(s.body));
          this.label(cond);
          this.setLine(s.cond.span);
          this.genCond(s.cond, top, true);
        });
        this.label(end);
        return;
      }
      case 'do': {
        const top = this.newLabel('do');
        const cond = this.newLabel('cond');
        const end = this.newLabel('enddo');
        this.inLoop(() => {
          this.label(top);
          this.withTargets(end, cond, () => this.lowerStmt(s.body));
          this.label(cond);
          this.setLine(s.cond.span);
          this.genCond(s.cond, top, true);
        });
        this.label(end);
        return;
      }
      case 'for': {
        const labels = this.pendingLabels.splice(0);
        for (const i of s.init) this.lowerStmt(i);
        this.pendingLabels = labels;
        const top = this.newLabel('for');
        const cont = this.newLabel('next');
        const cond = this.newLabel('cond');
        const end = this.newLabel('endfor');
        const counter = countedLoop(s, (c) => this.ctx.constants(c));
        this.inLoop(() => {
          this.jump(cond);
          this.label(top);
          if (counter) this.counters.set(counter.variable, counter.bounds);
          this.withTargets(end, cont, () => this.lowerStmt(s.body));
          if (counter) this.counters.delete(counter.variable);
          this.label(cont);
          for (const u of s.update) {
            this.setLine(u.span);
            this.genExpr(u, undefined, true);
          }
          this.label(cond);
          if (s.cond) {
            this.setLine(s.cond.span);
            this.genCond(s.cond, top, true);
          } else this.jump(top);
        });
        this.label(end);
        return;
      }
      case 'foreach':
        this.lowerForEach(s);
        return;
      case 'switch':
        this.lowerSwitch(s);
        return;
      case 'break':
      case 'continue': {
        for (let i = this.targets.length - 1; i >= 0; i--) {
          const t = this.targets[i]!;
          if (s.label !== undefined && !t.labels.includes(s.label)) continue;
          if (s.kind === 'continue' && t.continueLabel === undefined) continue;
          this.jump(s.kind === 'break' ? t.breakLabel : t.continueLabel!);
          return;
        }
        throw new Error('internal: unresolved break/continue');
      }
      case 'return': {
        const frame = this.inlineFrames[this.inlineFrames.length - 1];
        if (frame) {
          if (s.expr && frame.result) {
            const v = this.genExpr(s.expr, frame.returnType)!;
            this.mv(frame.result.lo, v.lo);
            if (frame.result.hi >= 0) this.mv(frame.result.hi, v.hi);
          }
          this.jump(frame.returnLabel);
          return;
        }
        if (s.expr) {
          const t = this.method!.returnType;
          const v = this.genExpr(s.expr, t)!;
          this.mv(R.a0, v.lo);
          if (isLong(t)) this.mv(R.a1, v.hi);
        }
        this.jump(this.retLabel);
        return;
      }
      case 'labeled': {
        this.pendingLabels.push(s.label);
        const b = s.body;
        if (
          b.kind === 'while' ||
          b.kind === 'do' ||
          b.kind === 'for' ||
          b.kind === 'foreach' ||
          b.kind === 'switch' ||
          b.kind === 'labeled'
        ) {
          this.lowerStmt(b);
          return;
        }
        const end = this.newLabel('endlabel');
        this.targets.push({
          labels: this.pendingLabels.splice(0),
          breakLabel: end,
          continueLabel: undefined,
        });
        this.lowerStmt(b);
        this.targets.pop();
        this.label(end);
        return;
      }
      case 'empty':
        return;
    }
  }

  private withTargets(breakLabel: string, continueLabel: string | undefined, body: () => void): void {
    this.targets.push({ labels: this.pendingLabels.splice(0), breakLabel, continueLabel });
    body();
    this.targets.pop();
  }

  /** `for (T x : a) body`: the index counts up to the length; x = a[i] needs no bounds check. */
  private lowerForEach(s: ForEach): void {
    const labels = this.pendingLabels.splice(0);
    const element = (s.iterable.type as { kind: 'array'; element: Type }).element;
    const size = elementSize(element);
    const region = this.regionArrayField(s.iterable);
    const array = s.array ? this.home(s.array) : undefined;
    if (array) this.assignHome(array, this.genExpr(s.iterable, undefined)!);
    const index = this.home(s.index!);
    this.mv(index.lo, R.zero);
    const top = this.newLabel('each');
    const cont = this.newLabel('next');
    const cond = this.newLabel('cond');
    const end = this.newLabel('endeach');
    this.inLoop(() => {
      this.jump(cond);
      this.label(top);
      this.setLine(s.variable.span);
      const shift = [0, 0, 1, 0, 2, 0, 0, 0, 3][size]!;
      const offset = this.reg();
      if (shift > 0) this.emit('slli', { rd: offset, rs1: index.lo, imm: shift });
      else this.mv(offset, index.lo);
      const address = this.reg();
      let imm = 4;
      if (region) {
        const { upper, lower } = splitConstant(regionBase[region.region] + region.offset);
        this.emit('add', { rd: address, rs1: offset, rs2: this.constant(upper << 12) });
        imm = lower;
      } else this.emit('add', { rd: address, rs1: offset, rs2: array!.lo });
      const x = this.fresh(isLong(element));
      this.loadMemory(x, element, address, imm);
      const variable = s.variable.symbol!;
      this.assignHome(this.home(variable), this.convert(x, element, variable.type));
      this.pendingLabels = labels;
      this.withTargets(end, cont, () => this.lowerStmt(s.body));
      this.label(cont);
      this.setLine(s.span);
      this.emit('addi', { rd: index.lo, rs1: index.lo, imm: 1 });
      this.label(cond);
      let length: number;
      const known = region ? (region.length ?? 0) : this.knownLength(s.iterable);
      if (known !== undefined) length = this.constant(known);
      else {
        length = this.reg();
        this.emit('lw', { rd: length, rs1: array!.lo, imm: 0 });
      }
      this.branch('blt', index.lo, length, top);
    });
    this.label(end);
  }

  private lowerSwitch(s: Extract<Stmt, { kind: 'switch' }>): void {
    const end = this.newLabel('endswitch');
    const v = this.genExpr(s.expr, undefined)!;
    const caseLabels = s.cases.map(() => this.newLabel('case'));
    let defaultLabel = end;
    const pairs: [bigint, string][] = [];
    s.cases.forEach((c, i) => {
      if (c.isDefault) defaultLabel = caseLabels[i]!;
      for (const value of c.values ?? []) pairs.push([value, caseLabels[i]!]);
    });
    // A compare-and-branch chain (no jump tables: code addresses would need relocations).
    const compareWord = (reg: number, word: number, mnemonic: string, label: string) =>
      this.branch(mnemonic, reg, this.constant(word), label);
    const lowWord = (value: bigint) => Number(BigInt.asIntN(32, value));
    if (v.hi < 0) for (const [value, label] of pairs) compareWord(v.lo, lowWord(value), 'beq', label);
    else {
      // long: the cases grouped by high word, each group a chain on the low word.
      const groups = new Map<number, [bigint, string][]>();
      for (const pair of pairs) {
        const high = lowWord(pair[0] >> 32n);
        groups.set(high, [...(groups.get(high) ?? []), pair]);
      }
      for (const [high, group] of groups) {
        const next = this.newLabel('casehi');
        compareWord(v.hi, high, 'bne', next);
        for (const [value, label] of group) compareWord(v.lo, lowWord(value), 'beq', label);
        this.label(next);
      }
    }
    this.jump(defaultLabel);
    this.targets.push({ labels: this.pendingLabels.splice(0), breakLabel: end, continueLabel: undefined });
    s.cases.forEach((c, i) => {
      this.label(caseLabels[i]!);
      for (const x of c.body) this.lowerStmt(x);
    });
    this.targets.pop();
    this.label(end);
  }

  // ---------- variables

  /** home = v (both words for a long). */
  private assignHome(h: Val, v: Val): void {
    this.mv(h.lo, v.lo);
    if (h.hi >= 0) this.mv(h.hi, v.hi);
  }

  /** Base register and displacement of an absolute address (the upper part a shared constant). */
  private absolute(address: number): { base: number; imm: number } {
    const { upper, lower } = splitConstant(address);
    return { base: this.constant(upper << 12), imm: lower };
  }

  /** Base register and offset of a field. */
  private fieldAddress(f: FieldLayout, offset = 0): { base: number; imm: number } {
    if (f.region === 'STACK') return { base: R.gp, imm: f.offset + offset };
    return this.absolute(regionBase[f.region] + f.offset + offset);
  }

  private loadField(f: FieldLayout): Val {
    const t = f.symbol.type;
    if (t.kind === 'array') {
      const v = this.fresh(false);
      if (f.region === 'STACK') this.emit('lw', { rd: v.lo, rs1: R.gp, imm: f.offset });
      else this.li(v.lo, regionBase[f.region] + f.offset);
      return v;
    }
    const v = this.fresh(isLong(t));
    const a = this.fieldAddress(f);
    this.loadMemory(v, t, a.base, a.imm);
    return v;
  }

  private storeField(f: FieldLayout, v: Val): void {
    const a = this.fieldAddress(f);
    this.storeMemory(v, f.symbol.type.kind === 'array' ? INT : f.symbol.type, a.base, a.imm);
  }

  private loadMemory(v: Val, t: Type, base: number, imm: number): void {
    const op =
      { byte: 'lb', boolean: 'lbu', short: 'lh', char: 'lhu', int: 'lw', long: 'lw' }[primName(t) ?? 'int'] ??
      'lw';
    if (isLong(t)) {
      this.emit('lw', { rd: v.lo, rs1: base, imm });
      this.emit('lw', { rd: v.hi, rs1: base, imm: imm + 4 });
    } else this.emit(op, { rd: v.lo, rs1: base, imm });
  }

  private storeMemory(v: Val, t: Type, base: number, imm: number): void {
    const op =
      { byte: 'sb', boolean: 'sb', short: 'sh', char: 'sh', int: 'sw', long: 'sw' }[primName(t) ?? 'int'] ??
      'sw';
    this.emit(op, { rs1: base, rs2: v.lo, imm });
    if (isLong(t)) this.emit('sw', { rs1: base, rs2: v.hi, imm: imm + 4 });
  }

  /** base + offset as a register and a 12-bit displacement (adding when it does not fit). */
  private displaced(base: number, offset: number, wide: boolean): { base: number; imm: number } {
    if (offset >= -2048 && offset + (wide ? 4 : 0) <= 2047) return { base, imm: offset };
    const a = this.reg();
    this.emit('add', { rd: a, rs1: base, rs2: this.constant(offset) });
    return { base: a, imm: 0 };
  }

  // ---------- arrays

  private genArrayCreation(e: Expr, type: Type): Val {
    const element = (type as { kind: 'array'; element: Type }).element;
    const length = e.kind === 'newArray' || e.kind === 'arrayInit' ? (e.length ?? 0) : 0;
    const values = e.kind === 'arrayInit' ? e.elements : e.kind === 'newArray' ? e.init : undefined;
    const bytes = 4 + align(elementSize(element) * length, 4);
    const offset = this.frameTop;
    this.frameTop += bytes;
    const ref = this.fresh(false);
    this.emit('addi', { rd: ref.lo, rs1: R.sp, imm: offset });
    // The sandbox zeroes STACK before each execution: an entry's array made once (not in a loop),
    // with nothing run before the entry in its stack (no static initializers), is still all zero.
    const isPristine = this.method?.isEntry === true && this.depth === 0 && !this.ctx.hasClinit;
    this.initArray(ref.lo, element, length, values, isPristine);
    return ref;
  }

  /** Writes the length header and the elements (zero, or the initializer's values) at `ref`. */
  private initArray(
    ref: number,
    element: Type,
    length: number,
    values: Expr[] | undefined,
    isZeroed: boolean,
  ): void {
    this.emit('sw', { rs1: ref, rs2: this.constant(length), imm: 0 });
    const size = elementSize(element);
    const words = align(size * length, 4) / 4;
    if (!isZeroed && (values === undefined || values.length === 0 || size < 4)) {
      if (words <= 8)
        for (let i = 0; i < words; i++) this.emit('sw', { rs1: ref, rs2: R.zero, imm: 4 + 4 * i });
      else {
        const loop = this.newLabel('zero');
        const p = this.reg();
        const stop = this.reg();
        this.emit('addi', { rd: p, rs1: ref, imm: 4 });
        this.emit('add', { rd: stop, rs1: ref, rs2: this.constant(4 + 4 * words) });
        this.inLoop(() => {
          this.label(loop);
          this.emit('sw', { rs1: p, rs2: R.zero, imm: 0 });
          this.emit('addi', { rd: p, rs1: p, imm: 4 });
          this.branch('bne', p, stop, loop);
        });
      }
    }
    if (!values) return;
    values.forEach((x, i) => {
      const v = this.genExpr(x, element)!;
      const a = this.displaced(ref, 4 + size * i, size === 8);
      this.storeMemory(v, element, a.base, a.imm);
    });
  }

  /**
   * Address of a[i] after a bounds check: a base register and a displacement. `laterValue` (an
   * assignment's right side) is evaluated after the index and before the check, as Java does;
   * its value is left in `pendingValue`.
   */
  private elementAddress(
    array: Expr,
    index: Expr,
    laterValue: Expr | undefined,
  ): { base: number; imm: number; elementType: Type } {
    const at = array.type as { kind: 'array'; element: Type };
    const size = elementSize(at.element);
    const shift = [0, 0, 1, 0, 2, 0, 0, 0, 3][size]!;
    const regionField = this.regionArrayField(array);
    const ci = this.ctx.constants(index);
    if (regionField) {
      const length = regionField.length ?? 0;
      const baseAddress = regionBase[regionField.region] + regionField.offset;
      if (ci !== undefined) {
        if (ci < 0n || ci >= BigInt(length)) {
          this.ctx.usesTrap = true;
          this.jump(TRAP_LABEL);
        }
        this.pendingValue = laterValue ? this.genExpr(laterValue, at.element)! : undefined;
        const k = Math.max(0, Math.min(Number(ci), length));
        return { ...this.absolute(baseAddress + k * size), elementType: at.element };
      }
      let i = this.genExpr(index, undefined)!;
      if (laterValue) i = this.holdAgainst(i, laterValue);
      this.pendingValue = laterValue ? this.genExpr(laterValue, at.element)! : undefined;
      if (!this.isInBounds(array, index)) this.trapIf('bgeu', i.lo, this.constant(length));
      const scaled = this.reg();
      if (shift > 0) this.emit('slli', { rd: scaled, rs1: i.lo, imm: shift });
      const { upper, lower } = splitConstant(baseAddress);
      const address = this.reg();
      this.emit('add', { rd: address, rs1: shift > 0 ? scaled : i.lo, rs2: this.constant(upper << 12) });
      return { base: address, imm: lower, elementType: at.element };
    }
    let r = this.genExpr(array, undefined)!;
    r = this.holdAgainst(r, laterValue ? [index, laterValue] : index);
    let i: Val | undefined;
    if (ci === undefined) {
      i = this.genExpr(index, undefined)!;
      if (laterValue) i = this.holdAgainst(i, laterValue);
    }
    this.pendingValue = laterValue ? this.genExpr(laterValue, at.element)! : undefined;
    const known = this.knownLength(array);
    const inBounds = i !== undefined && this.isInBounds(array, index);
    let length: number = R.zero;
    if (known !== undefined) length = this.constant(known);
    else if (!inBounds) {
      length = this.reg();
      this.emit('lw', { rd: length, rs1: r.lo, imm: 0 });
    }
    if (i === undefined) {
      const k = Number(ci);
      if (k < 0 || (known !== undefined && k >= known)) {
        this.ctx.usesTrap = true;
        this.jump(TRAP_LABEL);
      } else if (known === undefined) this.trapIf('bgeu', this.constant(k), length);
      return { ...this.displaced(r.lo, 4 + Math.max(0, k) * size, size === 8), elementType: at.element };
    }
    if (!inBounds) this.trapIf('bgeu', i.lo, length);
    const address = this.reg();
    if (shift > 0) {
      const scaled = this.reg();
      this.emit('slli', { rd: scaled, rs1: i.lo, imm: shift });
      this.emit('add', { rd: address, rs1: scaled, rs2: r.lo });
    } else this.emit('add', { rd: address, rs1: i.lo, rs2: r.lo });
    return { base: address, imm: 4, elementType: at.element };
  }

  /** The value evaluated between the address and the store by `elementAddress` (assignments). */
  private pendingValue: Val | undefined;

  /** Counters of the counted loops whose body is being lowered, and what bounds them. */
  private readonly counters = new Map<VariableSymbol, readonly CounterBound[]>();

  /** Whether `array[index]` is in bounds by a counted loop's condition (no check needed). */
  private isInBounds(array: Expr, index: Expr): boolean {
    const bounds = index.kind === 'name' && index.symbol ? this.counters.get(index.symbol) : undefined;
    if (!bounds) return false;
    const sym = array.kind === 'name' || array.kind === 'field' ? array.symbol : undefined;
    const length = this.regionArrayField(array)?.length ?? this.knownLength(array);
    return bounds.some(
      (b) =>
        (b.array !== undefined && b.array === sym) ||
        (b.below !== undefined && length !== undefined && b.below <= length),
    );
  }

  /** The length of the array `array` evaluates to, when the program fixes it. */
  private knownLength(array: Expr): number | undefined {
    const sym = array.kind === 'name' || array.kind === 'field' ? array.symbol : undefined;
    return sym ? this.ctx.arrayLengths.get(sym) : undefined;
  }

  private regionArrayField(array: Expr): FieldLayout | undefined {
    const sym = array.kind === 'name' || array.kind === 'field' ? array.symbol : undefined;
    const f = sym ? this.ctx.fieldMap.get(sym) : undefined;
    return f && f.region !== 'STACK' ? f : undefined;
  }

  // ---------- expressions

  private constVal(value: bigint, wide: boolean): Val {
    const lo = Number(BigInt.asIntN(32, value));
    const hi = Number(BigInt.asIntN(32, value >> 32n));
    return { lo: this.constant(lo), hi: wide ? this.constant(hi) : -1, owned: false };
  }

  /**
   * Evaluates `e`, converted to `want` when given (widening int → long). `discard` evaluates for
   * side effects only. Returns undefined for void.
   */
  private genExpr(e: Expr, want: Type | undefined, discard = false): Val | undefined {
    const c = this.ctx.constants(e);
    if (c !== undefined && want?.kind === 'primitive') return this.constVal(wrapTo(c, want), isLong(want));
    const v = this.genRaw(e, discard);
    if (v === undefined || want === undefined) return v;
    return this.convert(v, e.type!, want);
  }

  private convert(v: Val, from: Type, to: Type): Val {
    if (isLong(to) && !isLong(from)) {
      if (v.lo === R.zero) return { lo: R.zero, hi: R.zero, owned: false };
      const hi = this.reg();
      this.emit('srai', { rd: hi, rs1: v.lo, imm: 31 });
      return { lo: v.lo, hi, owned: v.owned };
    }
    if (!isLong(to) && isLong(from)) return this.narrow({ lo: v.lo, hi: -1, owned: v.owned }, to);
    if (isLong(to) || isBoolean(to) || to.kind !== 'primitive' || from.kind !== 'primitive') return v;
    const fromName = from.name;
    const toName = to.name;
    if (fromName === toName || toName === 'int') return v;
    if (toName === 'short' && fromName === 'byte') return v;
    return this.narrow(v, to);
  }

  /** Re-narrows an int to byte/short/char (sign or zero extension of the low bits). */
  private narrow(v: Val, t: Type): Val {
    const n = primName(t);
    if (v.lo === R.zero) return v;
    const bits = n === 'byte' ? 24 : n === 'short' || n === 'char' ? 16 : 0;
    if (bits === 0) return v;
    const d = this.fresh(false);
    if (n === 'char') {
      this.emit('slli', { rd: d.lo, rs1: v.lo, imm: 16 });
      this.emit('srli', { rd: d.lo, rs1: d.lo, imm: 16 });
    } else {
      this.emit('slli', { rd: d.lo, rs1: v.lo, imm: bits });
      this.emit('srai', { rd: d.lo, rs1: d.lo, imm: bits });
    }
    return d;
  }

  private genRaw(e: Expr, discard: boolean): Val | undefined {
    const c = this.ctx.constants(e);
    if (c !== undefined) return this.constVal(c, isLong(e.type!));
    switch (e.kind) {
      case 'literal':
        return this.constVal(e.value, e.valueType === 'long');
      case 'name':
      case 'field': {
        if (e.kind === 'field' && e.name === 'length' && e.target.type?.kind === 'array' && !e.symbol) {
          const rf = this.regionArrayField(e.target);
          if (rf) return this.constVal(BigInt(rf.length ?? 0), false);
          const known = this.knownLength(e.target);
          if (known !== undefined) return this.constVal(BigInt(known), false);
          const ref = this.genExpr(e.target, undefined)!;
          const d = this.fresh(false);
          this.emit('lw', { rd: d.lo, rs1: ref.lo, imm: 0 });
          return d;
        }
        const sym = e.symbol!;
        const f = this.ctx.fieldMap.get(sym);
        if (!f) return this.home(sym);
        if (f.region !== 'STACK' && sym.type.kind === 'array')
          this.ctx.diagnostics.error(
            'CHECK_LIMIT',
            `a ${sym.kind} array can only be indexed or measured (.length), not used as a value`,
            e.span,
          );
        return this.loadField(f);
      }
      case 'index': {
        const a = this.elementAddress(e.array, e.index, undefined);
        const v = this.fresh(isLong(e.type!));
        this.loadMemory(v, a.elementType, a.base, a.imm);
        return v;
      }
      case 'call':
        if (e.method) return this.genCall(e);
        return javaLangMethod(e.intrinsic ?? '') ? this.genJavaLang(e) : this.genIntrinsic(e);
      case 'unary': {
        const t = e.type!;
        if (e.op === '!') return this.genBoolValue(e);
        const v = this.genExpr(e.operand, t)!;
        if (e.op === '+') return v;
        const d = this.fresh(isLong(t));
        if (e.op === '~') {
          this.emit('xori', { rd: d.lo, rs1: v.lo, imm: -1 });
          if (isLong(t)) this.emit('xori', { rd: d.hi, rs1: v.hi, imm: -1 });
        } else if (isLong(t)) {
          // -(hi:lo) = (~hi + (lo == 0)) : -lo
          const carry = this.reg();
          this.emit('sltiu', { rd: carry, rs1: v.lo, imm: 1 });
          this.emit('sub', { rd: d.lo, rs1: R.zero, rs2: v.lo });
          const inverted = this.reg();
          this.emit('xori', { rd: inverted, rs1: v.hi, imm: -1 });
          this.emit('add', { rd: d.hi, rs1: inverted, rs2: carry });
        } else this.emit('sub', { rd: d.lo, rs1: R.zero, rs2: v.lo });
        return d;
      }
      case 'incdec':
        return this.genIncDec(e, discard);
      case 'binary': {
        if (e.type && isBoolean(e.type)) return this.genBoolValue(e);
        return this.genBinary(e.op, e.left, e.right, e.operandType!);
      }
      case 'assign':
        return this.genAssign(e, discard);
      case 'conditional': {
        // Both arms leave the result in the same registers.
        const t = e.type!;
        const d = this.fresh(isLong(t));
        const elseLabel = this.newLabel('celse');
        const end = this.newLabel('cend');
        this.genCond(e.cond, elseLabel, false);
        this.assignHome(d, this.genExpr(e.then, t)!);
        this.jump(end);
        this.label(elseLabel);
        this.assignHome(d, this.genExpr(e.else, t)!);
        this.label(end);
        return d;
      }
      case 'cast':
        return this.genExpr(e.operand, e.type!);
      case 'newArray':
      case 'arrayInit':
        return this.genArrayCreation(e, e.type!);
    }
  }

  private genBoolValue(e: Expr): Val {
    // Comparisons of ints compute their value with slt/sltu; anything else goes through branches.
    if (
      e.kind === 'binary' &&
      e.operandType &&
      !isLong(e.operandType) &&
      ['<', '>', '<=', '>=', '==', '!=', '&', '|', '^'].includes(e.op)
    ) {
      const l = this.holdAgainst(this.genExpr(e.left, e.operandType)!, e.right);
      const b = this.genExpr(e.right, e.operandType)!;
      const d = this.fresh(false);
      switch (e.op) {
        case '<':
          this.emit('slt', { rd: d.lo, rs1: l.lo, rs2: b.lo });
          break;
        case '>':
          this.emit('slt', { rd: d.lo, rs1: b.lo, rs2: l.lo });
          break;
        case '<=':
        case '>=': {
          const t = this.reg();
          if (e.op === '<=') this.emit('slt', { rd: t, rs1: b.lo, rs2: l.lo });
          else this.emit('slt', { rd: t, rs1: l.lo, rs2: b.lo });
          this.emit('xori', { rd: d.lo, rs1: t, imm: 1 });
          break;
        }
        case '==':
        case '!=': {
          const t = this.reg();
          this.emit('xor', { rd: t, rs1: l.lo, rs2: b.lo });
          if (e.op === '==') this.emit('sltiu', { rd: d.lo, rs1: t, imm: 1 });
          else this.emit('sltu', { rd: d.lo, rs1: R.zero, rs2: t });
          break;
        }
        default:
          this.emit({ '&': 'and', '|': 'or', '^': 'xor' }[e.op]!, { rd: d.lo, rs1: l.lo, rs2: b.lo });
      }
      return d;
    }
    if (e.kind === 'unary' && e.op === '!') {
      const v = this.genExpr(e.operand, undefined)!;
      const d = this.fresh(false);
      this.emit('xori', { rd: d.lo, rs1: v.lo, imm: 1 });
      return d;
    }
    const isTrue = this.newLabel('true');
    const end = this.newLabel('bool');
    const d = this.fresh(false);
    this.genCond(e, isTrue, true);
    this.mv(d.lo, R.zero);
    this.jump(end);
    this.label(isTrue);
    this.li(d.lo, 1);
    this.label(end);
    return d;
  }

  /** Branches to `target` when `e` evaluates to `jumpIf`; falls through otherwise. */
  private genCond(e: Expr, target: string, jumpIf: boolean): void {
    const c = this.ctx.constants(e);
    if (c !== undefined) {
      if ((c !== 0n) === jumpIf) this.jump(target);
      return;
    }
    if (e.kind === 'unary' && e.op === '!') {
      this.genCond(e.operand, target, !jumpIf);
      return;
    }
    if (e.kind === 'binary' && (e.op === '&&' || e.op === '||')) {
      const isAnd = e.op === '&&';
      if (isAnd !== jumpIf) {
        // && jumping on false, || jumping on true: either operand decides.
        this.genCond(e.left, target, jumpIf);
        this.genCond(e.right, target, jumpIf);
      } else {
        const skip = this.newLabel('sc');
        this.genCond(e.left, skip, !jumpIf);
        this.genCond(e.right, target, jumpIf);
        this.label(skip);
      }
      return;
    }
    if (e.kind === 'binary' && ['<', '>', '<=', '>=', '==', '!='].includes(e.op)) {
      const ot = e.operandType!;
      const l = this.holdAgainst(this.genExpr(e.left, ot)!, e.right);
      const b = this.genExpr(e.right, ot)!;
      let op = e.op;
      if (!jumpIf) op = { '<': '>=', '>=': '<', '>': '<=', '<=': '>', '==': '!=', '!=': '==' }[op]!;
      let x = l;
      let y = b;
      if (op === '>' || op === '<=') {
        [x, y] = [b, l];
        op = op === '>' ? '<' : '>=';
      }
      if (!isLong(ot)) {
        const m = { '<': 'blt', '>=': 'bge', '==': 'beq', '!=': 'bne' }[op]!;
        this.branch(m, x.lo, y.lo, target);
      } else if (op === '==' || op === '!=') {
        const low = this.reg();
        const high = this.reg();
        const both = this.reg();
        this.emit('xor', { rd: low, rs1: x.lo, rs2: y.lo });
        this.emit('xor', { rd: high, rs1: x.hi, rs2: y.hi });
        this.emit('or', { rd: both, rs1: low, rs2: high });
        this.branch(op === '==' ? 'beq' : 'bne', both, R.zero, target);
      } else {
        const skip = this.newLabel('lc');
        if (op === '<') {
          this.branch('blt', x.hi, y.hi, target);
          this.branch('bne', x.hi, y.hi, skip);
          this.branch('bltu', x.lo, y.lo, target);
        } else {
          this.branch('blt', x.hi, y.hi, skip);
          this.branch('bne', x.hi, y.hi, target);
          this.branch('bgeu', x.lo, y.lo, target);
        }
        this.label(skip);
      }
      return;
    }
    const v = this.genExpr(e, undefined)!;
    this.branch(jumpIf ? 'bne' : 'beq', v.lo, R.zero, target);
  }

  /** a op b in type t (int or long). */
  private genBinary(op: string, left: Expr, right: Expr, t: Type): Val {
    const wide = isLong(t);
    const isShift = op === '<<' || op === '>>' || op === '>>>';
    const a = this.genExpr(left, t)!;
    const cr = this.ctx.constants(right);
    if (cr !== undefined && !wide) {
      const r = this.binaryImmediate(op, a, Number(BigInt.asIntN(32, cr)));
      if (r) return r;
    }
    if (cr !== undefined && wide && isShift) return this.longShiftConstant(op, a, Number(cr & 63n));
    const l = this.holdAgainst(a, right);
    const b = this.genExpr(right, isShift ? (isLong(right.type!) ? right.type! : INT) : t)!;
    return this.binaryOp(op, l, b, t, isShift && isLong(right.type!));
  }

  /** Immediate forms for int operations with a constant right operand. */
  private binaryImmediate(op: string, a: Val, k: number): Val | undefined {
    const fits = (n: number) => n >= -2048 && n < 2048;
    const simple: Record<string, [string, number]> = {
      '+': ['addi', k],
      '-': ['addi', -k],
      '&': ['andi', k],
      '|': ['ori', k],
      '^': ['xori', k],
      '<<': ['slli', k & 31],
      '>>': ['srai', k & 31],
      '>>>': ['srli', k & 31],
    };
    const s = simple[op];
    if (s && (op === '<<' || op === '>>' || op === '>>>' || fits(s[1]))) {
      if (s[1] === 0 && op !== '&') return a;
      const d = this.fresh(false);
      this.emit(s[0], { rd: d.lo, rs1: a.lo, imm: s[1] });
      return d;
    }
    if (op === '*' && k > 0 && (k & (k - 1)) === 0) {
      const d = this.fresh(false);
      this.emit('slli', { rd: d.lo, rs1: a.lo, imm: 31 - Math.clz32(k) });
      return d;
    }
    if ((op === '/' || op === '%') && k !== 0) {
      const d = this.fresh(false);
      this.emit(op === '/' ? 'div' : 'rem', { rd: d.lo, rs1: a.lo, rs2: this.constant(k) });
      return d;
    }
    return undefined;
  }

  private binaryOp(op: string, a: Val, b: Val, t: Type, longCount = false): Val {
    const wide = isLong(t);
    if (!wide) {
      const m = {
        '+': 'add',
        '-': 'sub',
        '*': 'mul',
        '/': 'div',
        '%': 'rem',
        '&': 'and',
        '|': 'or',
        '^': 'xor',
        '<<': 'sll',
        '>>': 'sra',
        '>>>': 'srl',
      }[op];
      if (!m) throw new Error(`internal: operator ${op}`);
      if (op === '/' || op === '%') this.trapIf('beq', b.lo, R.zero);
      const d = this.fresh(false);
      this.emit(m, { rd: d.lo, rs1: a.lo, rs2: b.lo });
      return d;
    }
    switch (op) {
      case '+':
      case '-': {
        const d = this.fresh(true);
        const carry = this.reg();
        const high = this.reg();
        if (op === '+') {
          this.emit('add', { rd: d.lo, rs1: a.lo, rs2: b.lo });
          this.emit('sltu', { rd: carry, rs1: d.lo, rs2: a.lo });
          this.emit('add', { rd: high, rs1: a.hi, rs2: b.hi });
          this.emit('add', { rd: d.hi, rs1: high, rs2: carry });
        } else {
          this.emit('sltu', { rd: carry, rs1: a.lo, rs2: b.lo });
          this.emit('sub', { rd: d.lo, rs1: a.lo, rs2: b.lo });
          this.emit('sub', { rd: high, rs1: a.hi, rs2: b.hi });
          this.emit('sub', { rd: d.hi, rs1: high, rs2: carry });
        }
        return d;
      }
      case '*': {
        const d = this.fresh(true);
        const [p, q, r, s] = [this.reg(), this.reg(), this.reg(), this.reg()];
        this.emit('mulhu', { rd: p, rs1: a.lo, rs2: b.lo });
        this.emit('mul', { rd: q, rs1: a.lo, rs2: b.hi });
        this.emit('add', { rd: r, rs1: p, rs2: q });
        this.emit('mul', { rd: s, rs1: a.hi, rs2: b.lo });
        this.emit('add', { rd: d.hi, rs1: r, rs2: s });
        this.emit('mul', { rd: d.lo, rs1: a.lo, rs2: b.lo });
        return d;
      }
      case '&':
      case '|':
      case '^': {
        const m = { '&': 'and', '|': 'or', '^': 'xor' }[op];
        const d = this.fresh(true);
        this.emit(m, { rd: d.lo, rs1: a.lo, rs2: b.lo });
        this.emit(m, { rd: d.hi, rs1: a.hi, rs2: b.hi });
        return d;
      }
      case '/':
      case '%': {
        const any = this.reg();
        this.emit('or', { rd: any, rs1: b.lo, rs2: b.hi });
        this.trapIf('beq', any, R.zero);
        return this.callRuntime(op === '/' ? '$ldiv' : '$lrem', [a, b], true);
      }
      case '<<':
      case '>>':
      case '>>>': {
        const count = longCount ? { lo: b.lo, hi: -1, owned: false } : b;
        return this.callRuntime({ '<<': '$lshl', '>>': '$lshr', '>>>': '$lushr' }[op], [a, count], true);
      }
    }
    throw new Error(`internal: long operator ${op}`);
  }

  private longShiftConstant(op: string, a: Val, n: number): Val {
    if (n === 0) return a;
    const d = this.fresh(true);
    if (op === '<<') {
      if (n >= 32) {
        this.emit('slli', { rd: d.hi, rs1: a.lo, imm: n - 32 });
        this.mv(d.lo, R.zero);
      } else {
        const carried = this.reg();
        const high = this.reg();
        this.emit('srli', { rd: carried, rs1: a.lo, imm: 32 - n });
        this.emit('slli', { rd: high, rs1: a.hi, imm: n });
        this.emit('or', { rd: d.hi, rs1: high, rs2: carried });
        this.emit('slli', { rd: d.lo, rs1: a.lo, imm: n });
      }
    } else {
      const arith = op === '>>';
      if (n >= 32) {
        this.emit(arith ? 'srai' : 'srli', { rd: d.lo, rs1: a.hi, imm: n - 32 });
        if (arith) this.emit('srai', { rd: d.hi, rs1: a.hi, imm: 31 });
        else this.mv(d.hi, R.zero);
      } else {
        const carried = this.reg();
        const low = this.reg();
        this.emit('slli', { rd: carried, rs1: a.hi, imm: 32 - n });
        this.emit('srli', { rd: low, rs1: a.lo, imm: n });
        this.emit('or', { rd: d.lo, rs1: low, rs2: carried });
        this.emit(arith ? 'srai' : 'srli', { rd: d.hi, rs1: a.hi, imm: n });
      }
    }
    return d;
  }

  // ---------- assignments

  private genAssign(e: Extract<Expr, { kind: 'assign' }>, discard: boolean): Val | undefined {
    const target = e.target;
    const tt = target.type!;
    const compute = (old: Val | undefined): Val => {
      if (e.op === '=') return this.genExpr(e.value, tt)!;
      const op = e.op.slice(0, -1);
      const ot = e.operandType!;
      const isShift = op === '<<' || op === '>>' || op === '>>>';
      const l = this.convert(old!, tt, ot);
      const cr = this.ctx.constants(e.value);
      let r: Val | undefined;
      if (cr !== undefined && !isLong(ot)) r = this.binaryImmediate(op, l, Number(BigInt.asIntN(32, cr)));
      else if (cr !== undefined && isLong(ot) && isShift) r = this.longShiftConstant(op, l, Number(cr & 63n));
      if (!r) {
        const held = this.holdAgainst(l, e.value);
        const b = this.genExpr(e.value, isShift ? (isLong(e.value.type!) ? e.value.type! : INT) : ot)!;
        r = this.binaryOp(op, held, b, ot, isShift && isLong(e.value.type!));
      }
      return this.convert(r, ot, tt);
    };
    if (target.kind === 'index') {
      if (e.op === '=') {
        const a = this.elementAddress(target.array, target.index, e.value);
        const v = this.pendingValue!;
        this.pendingValue = undefined;
        this.storeMemory(v, a.elementType, a.base, a.imm);
        return discard ? undefined : v;
      }
      // Compound: the address once.
      const a = this.elementAddress(target.array, target.index, undefined);
      const old = this.fresh(isLong(tt));
      this.loadMemory(old, tt, a.base, a.imm);
      const v = compute(old);
      this.storeMemory(v, tt, a.base, a.imm);
      return discard ? undefined : v;
    }
    const sym = (target as { symbol?: VariableSymbol }).symbol!;
    const f = this.ctx.fieldMap.get(sym);
    if (!f) {
      const h = this.home(sym);
      const v = compute(e.op === '=' ? undefined : h);
      this.assignHome(h, v);
      return discard ? undefined : h;
    }
    const v = compute(e.op === '=' ? undefined : this.loadField(f));
    this.storeField(f, v);
    return discard ? undefined : v;
  }

  private genIncDec(e: Extract<Expr, { kind: 'incdec' }>, discard: boolean): Val | undefined {
    const target = e.operand;
    const t = target.type!;
    const wide = isLong(t);
    const delta = e.op === '++' ? 1 : -1;
    /** old ± 1, re-narrowed. */
    const bump = (old: Val): Val => {
      const d = this.fresh(wide);
      this.emit('addi', { rd: d.lo, rs1: old.lo, imm: delta });
      if (!wide) return this.narrow(d, t);
      const carry = this.reg();
      if (delta === 1) this.emit('sltu', { rd: carry, rs1: d.lo, rs2: old.lo });
      else this.emit('sltu', { rd: carry, rs1: old.lo, rs2: d.lo });
      this.emit(delta === 1 ? 'add' : 'sub', { rd: d.hi, rs1: old.hi, rs2: carry });
      return d;
    };
    if (target.kind === 'index') {
      const a = this.elementAddress(target.array, target.index, undefined);
      const old = this.fresh(wide);
      this.loadMemory(old, t, a.base, a.imm);
      const next = bump(old);
      this.storeMemory(next, t, a.base, a.imm);
      return discard ? undefined : e.prefix ? next : old;
    }
    const sym = (target as { symbol?: VariableSymbol }).symbol!;
    const f = this.ctx.fieldMap.get(sym);
    if (!f) {
      const h = this.home(sym);
      // An int variable counts in place.
      if (!wide && primName(t) === 'int') {
        if (discard || e.prefix) {
          this.emit('addi', { rd: h.lo, rs1: h.lo, imm: delta });
          return discard ? undefined : h;
        }
        const copy = this.own(h);
        this.emit('addi', { rd: h.lo, rs1: h.lo, imm: delta });
        return copy;
      }
      const old = discard || e.prefix ? h : this.own(h);
      const next = bump(old);
      this.assignHome(h, next);
      return discard ? undefined : e.prefix ? h : old;
    }
    const old = this.loadField(f);
    const next = bump(old);
    this.storeField(f, next);
    return discard ? undefined : e.prefix ? next : old;
  }

  // ---------- calls

  /** Places argument values in a0… (in order, longs as pairs) and calls `label`. */
  private callWith(label: string, args: Val[], resultWide: boolean | undefined): Val | undefined {
    const used: number[] = [];
    for (const v of args) {
      for (const word of v.hi >= 0 ? [v.lo, v.hi] : [v.lo]) {
        const to = argumentRegisters[used.length];
        if (to === undefined) throw new Error('internal: more than 8 argument words');
        this.mv(to, word);
        used.push(to);
      }
    }
    this.callees.add(label);
    this.emit('jal', { rd: R.ra, imm: 0 }, label, {
      uses: used,
      defs: [R.a0, R.a1],
      clobbers: callerSaved,
    });
    if (resultWide === undefined) return undefined;
    const d = this.fresh(resultWide);
    this.mv(d.lo, R.a0);
    if (resultWide) this.mv(d.hi, R.a1);
    return d;
  }

  private callRuntime(name: string, args: Val[], wide: boolean): Val {
    return this.callWith(this.ctx.callRuntime(name), args, wide)!;
  }

  private genCall(e: Extract<Expr, { kind: 'call' }>): Val | undefined {
    const m = e.method!;
    const words = m.params.reduce((n, p) => n + (isLong(p) ? 2 : p.kind === 'class' ? 0 : 1), 0);
    if (words > 8) {
      this.ctx.diagnostics.error('CHECK_LIMIT', `a call passes more than 8 words of arguments`, e.span);
      return m.returnType.kind === 'void' ? undefined : this.constVal(0n, isLong(m.returnType));
    }
    const real = e.args.map((a, i) => [a, m.params[i]!] as const).filter(([, t]) => t.kind !== 'class');
    const vals: Val[] = [];
    real.forEach(([a, t], i) => {
      vals.push(
        this.holdAgainst(
          this.genExpr(a, t)!,
          real.slice(i + 1).map(([x]) => x),
        ),
      );
    });
    if (this.ctx.isInlined(m) && this.inlineFrames.length < 4) return this.inlineCall(m, vals);
    return this.callWith(
      this.ctx.callMethod(m),
      vals,
      m.returnType.kind === 'void' ? undefined : isLong(m.returnType),
    );
  }

  /**
   * The call lowered in place: the parameters become fresh variables holding the arguments, the
   * body runs, and its returns jump to the end with the result.
   */
  private inlineCall(m: MethodSymbol, args: Val[]): Val | undefined {
    const params = m.decl.params.map((p) => p.symbol!).filter((p) => p.type.kind !== 'class');
    // The callee's variables start afresh (a method lowered in place twice gets new registers).
    for (const sym of [...params, ...collectLocals(m.decl.body)]) this.homes.delete(sym);
    params.forEach((p, i) => {
      this.assignHome(this.home(p), args[i]!);
    });
    const result = m.returnType.kind === 'void' ? undefined : this.fresh(isLong(m.returnType));
    const returnLabel = this.newLabel('inlined');
    this.inlineFrames.push({ returnLabel, returnType: m.returnType, result });
    const savedTargets = this.targets;
    this.targets = [];
    const line = this.line;
    this.lowerStmt(m.decl.body);
    this.targets = savedTargets;
    this.inlineFrames.pop();
    this.label(returnLabel);
    this.line = line;
    return result;
  }

  // ---------- the capsule API

  /**
   * A load from a fixed address. `isInvariant` for read-only memory the program cannot change
   * (PACKET, ENGINE, PATH's hop count and hops): optimize.ts may load it once before a loop.
   */
  private loadAbsolute(address: number, op: string, isInvariant = false): Val {
    const a = this.absolute(address);
    const d = this.fresh(false);
    this.emit(op, { rd: d.lo, rs1: a.base, imm: a.imm }, undefined, isInvariant ? { invariant: true } : {});
    return d;
  }

  private storeAbsolute(value: number, address: number, op = 'sw'): void {
    const a = this.absolute(address);
    this.emit(op, { rs1: a.base, rs2: value, imm: a.imm });
  }

  /** ECALL `service` with `args` in a0…; its result (a0) when asked for. */
  private ecall(service: number, args: number[], result: boolean): Val | undefined {
    const used = args.map((a, i) => {
      this.mv(argumentRegisters[i]!, a);
      return argumentRegisters[i]!;
    });
    this.li(R.a7, service);
    this.emit('ecall', {}, undefined, { uses: [...used, R.a7], defs: [R.a0, R.a1] });
    if (!result) return undefined;
    const d = this.fresh(false);
    this.mv(d.lo, R.a0);
    return d;
  }

  private genIntrinsic(e: Extract<Expr, { kind: 'call' }>): Val | undefined {
    const id = e.intrinsic!;
    const arg = (i: number) => this.genExpr(e.args[i]!, INT)!;
    const argConstant = (i: number) => {
      const c = this.ctx.constants(e.args[i]!);
      return c === undefined ? undefined : Number(BigInt.asIntN(32, c));
    };
    const packet = (field: number, op: string) => this.loadAbsolute(PACKET_BASE + field, op, true);
    /** Field of link i: i × 24 + ENGINE's link table (the scale and the base are shared constants). */
    const engineLink = (field: number) => {
      const k = argConstant(0);
      const base = ENGINE_BASE + EngineField.LINK_TABLE + field;
      if (k !== undefined && k >= 0 && k < 0x10000)
        return this.loadAbsolute(base + k * ENGINE_LINK_BYTES, 'lw');
      const i = arg(0);
      const scaled = this.reg();
      this.emit('mul', { rd: scaled, rs1: i.lo, rs2: this.constant(ENGINE_LINK_BYTES) });
      const { upper, lower } = splitConstant(base);
      const address = this.reg();
      this.emit('add', { rd: address, rs1: scaled, rs2: this.constant(upper << 12) });
      const d = this.fresh(false);
      this.emit('lw', { rd: d.lo, rs1: address, imm: lower }, undefined, { invariant: true });
      return d;
    };
    const action = (field: number) => this.absolute(ACTION_BASE + field);
    const setVerdict = (verdict: number) => {
      const a = action(ActionField.VERDICT);
      this.emit('sw', { rs1: a.base, rs2: this.constant(verdict), imm: a.imm });
    };
    switch (id) {
      case 'Packet.srcAddress':
      case 'Packet.dstAddress': {
        // Big-endian word i of the address: four byte loads.
        const base =
          PACKET_BASE + (id === 'Packet.srcAddress' ? PacketField.SRC_ADDRESS : PacketField.DST_ADDRESS);
        const k = argConstant(0);
        let a: { base: number; imm: number };
        if (k !== undefined) a = this.absolute(base + 4 * (k & 3));
        else {
          const i = arg(0);
          const masked = this.reg();
          const offset = this.reg();
          this.emit('andi', { rd: masked, rs1: i.lo, imm: 3 });
          this.emit('slli', { rd: offset, rs1: masked, imm: 2 });
          const { upper, lower } = splitConstant(base);
          const address = this.reg();
          this.emit('add', { rd: address, rs1: offset, rs2: this.constant(upper << 12) });
          a = { base: address, imm: lower };
        }
        let word = this.reg();
        this.emit('lbu', { rd: word, rs1: a.base, imm: a.imm }, undefined, { invariant: true });
        for (let b = 1; b < 4; b++) {
          const shifted = this.reg();
          const byte = this.reg();
          const next = this.reg();
          this.emit('slli', { rd: shifted, rs1: word, imm: 8 });
          this.emit('lbu', { rd: byte, rs1: a.base, imm: a.imm + b }, undefined, { invariant: true });
          this.emit('or', { rd: next, rs1: shifted, rs2: byte });
          word = next;
        }
        return { lo: word, hi: -1, owned: true };
      }
      case 'Packet.flowLabel':
        return packet(PacketField.FLOW_LABEL, 'lw');
      case 'Packet.hopLimit':
        return packet(PacketField.HOP_LIMIT, 'lbu');
      case 'Packet.payloadLength':
        return packet(PacketField.PAYLOAD_LENGTH, 'lhu');
      case 'Packet.packetLength':
        return packet(PacketField.PACKET_LENGTH, 'lhu');
      case 'Packet.nextHeader':
        return packet(PacketField.NEXT_HEADER, 'lbu');
      case 'Packet.packetType':
        return packet(PacketField.PACKET_TYPE, 'lbu');
      case 'Packet.ingressLink':
        return packet(PacketField.INGRESS_LINK, 'lw');
      case 'Packet.time':
        return packet(PacketField.TIME_LOW, 'lw');
      case 'Packet.srcPort':
        return packet(PacketField.SRC_PORT, 'lhu');
      case 'Packet.dstPort':
        return packet(PacketField.DST_PORT, 'lhu');
      case 'Path.hopIndex':
        return this.loadAbsolute(PATH_BASE + PathOffset.HOP_INDEX, 'lbu');
      case 'Path.hopCount':
        return this.loadAbsolute(PATH_BASE + PathOffset.HOP_COUNT, 'lbu', true);
      case 'Path.hop':
      case 'Path.hopFlags': {
        // Hop i: engine id (u16, network byte order), entry index (u8), flags (u8) at 8 + 4i.
        const k = argConstant(0);
        let a: { base: number; imm: number };
        if (k !== undefined && k >= 0 && k < 64) a = this.absolute(PATH_BASE + PathOffset.HOPS + 4 * k);
        else {
          const i = arg(0);
          const offset = this.reg();
          this.emit('slli', { rd: offset, rs1: i.lo, imm: 2 });
          const { upper, lower } = splitConstant(PATH_BASE + PathOffset.HOPS);
          const address = this.reg();
          this.emit('add', { rd: address, rs1: offset, rs2: this.constant(upper << 12) });
          a = { base: address, imm: lower };
        }
        // The hops are never written (setHopIndex moves the index only).
        const d = this.fresh(false);
        if (id === 'Path.hopFlags') {
          this.emit('lbu', { rd: d.lo, rs1: a.base, imm: a.imm + 3 }, undefined, { invariant: true });
          return d;
        }
        const high = this.reg();
        const low = this.reg();
        const shifted = this.reg();
        this.emit('lbu', { rd: high, rs1: a.base, imm: a.imm }, undefined, { invariant: true });
        this.emit('lbu', { rd: low, rs1: a.base, imm: a.imm + 1 }, undefined, { invariant: true });
        this.emit('slli', { rd: shifted, rs1: high, imm: 8 });
        this.emit('or', { rd: d.lo, rs1: shifted, rs2: low });
        return d;
      }
      case 'Path.setHopIndex':
        this.storeAbsolute(arg(0).lo, PATH_BASE + PathOffset.HOP_INDEX, 'sb');
        return undefined;
      case 'Engine.id':
        return this.loadAbsolute(ENGINE_BASE + EngineField.ENGINE_ID, 'lw', true);
      case 'Engine.tags':
        return this.loadAbsolute(ENGINE_BASE + EngineField.TAGS, 'lw', true);
      case 'Engine.linkCount':
        return this.loadAbsolute(ENGINE_BASE + EngineField.LINK_COUNT, 'lw', true);
      case 'Engine.linkId':
        return engineLink(EngineLinkField.ID);
      case 'Engine.linkNeighbor':
        return engineLink(EngineLinkField.NEIGHBOR);
      case 'Engine.linkKind':
        return engineLink(EngineLinkField.KIND);
      case 'Engine.linkCost':
        return engineLink(EngineLinkField.COST);
      case 'Engine.linkUp':
        return engineLink(EngineLinkField.UP);
      case 'Engine.linkTags':
        return engineLink(EngineLinkField.TAGS);
      case 'Action.forward': {
        // Verdict FORWARD (1) and an egress count of 1: one constant for both.
        const v = arg(0);
        const one = this.constant(Verdict.FORWARD);
        const a = action(0);
        this.emit('sw', { rs1: a.base, rs2: one, imm: a.imm + ActionField.VERDICT });
        this.emit('sw', { rs1: a.base, rs2: v.lo, imm: a.imm + ActionField.EGRESS_LINKS });
        this.emit('sw', {
          rs1: a.base,
          rs2: Verdict.FORWARD === 1 ? one : this.constant(1),
          imm: a.imm + ActionField.EGRESS_COUNT,
        });
        return undefined;
      }
      case 'Action.replicate': {
        const v = arg(0);
        const a = action(0);
        this.emit('sw', {
          rs1: a.base,
          rs2: this.constant(Verdict.REPLICATE),
          imm: a.imm + ActionField.VERDICT,
        });
        const count = this.reg();
        const next = this.reg();
        const offset = this.reg();
        const address = this.reg();
        this.emit('lw', { rd: count, rs1: a.base, imm: a.imm + ActionField.EGRESS_COUNT });
        this.emit('addi', { rd: next, rs1: count, imm: 1 });
        this.emit('sw', { rs1: a.base, rs2: next, imm: a.imm + ActionField.EGRESS_COUNT });
        this.emit('slli', { rd: offset, rs1: count, imm: 2 });
        this.emit('add', { rd: address, rs1: a.base, rs2: offset });
        this.emit('sw', { rs1: address, rs2: v.lo, imm: a.imm + ActionField.EGRESS_LINKS });
        return undefined;
      }
      case 'Action.deliver':
        setVerdict(Verdict.DELIVER);
        return undefined;
      case 'Action.drop': {
        const v = arg(0);
        setVerdict(Verdict.DROP);
        const a = action(ActionField.DROP_REASON);
        this.emit('sw', { rs1: a.base, rs2: v.lo, imm: a.imm });
        return undefined;
      }
      case 'Action.cache':
      case 'Action.trace': {
        const a = action(ActionField.FLAGS);
        const flags = this.reg();
        const set = this.reg();
        this.emit('lw', { rd: flags, rs1: a.base, imm: a.imm });
        this.emit('ori', {
          rd: set,
          rs1: flags,
          imm: id === 'Action.cache' ? ActionFlag.CACHE : ActionFlag.TRACE,
        });
        this.emit('sw', { rs1: a.base, rs2: set, imm: a.imm });
        return undefined;
      }
      case 'Action.setNextEntry':
        this.storeAbsolute(arg(0).lo, ACTION_BASE + ActionField.NEXT_ENTRY);
        return undefined;
      case 'Action.linkCount':
        return this.loadAbsolute(ACTION_BASE + ActionField.EGRESS_COUNT, 'lw');
      case 'Services.flowHash':
        return this.ecall(Service.FLOW_HASH, [e.args.length > 0 ? arg(0).lo : R.zero], true);
      case 'Services.time':
        return this.ecall(Service.TIME, [], true);
      case 'Services.random':
        return this.ecall(Service.RANDOM, [], true);
      case 'Services.emit':
        return this.ecall(Service.EMIT, [], true);
      case 'Services.log': {
        // The message is the int's 4 bytes, in the frame.
        const v = arg(0);
        const offset = this.frameTop;
        this.frameTop += 4;
        this.emit('sw', { rs1: R.sp, rs2: v.lo, imm: offset });
        const address = this.reg();
        this.emit('addi', { rd: address, rs1: R.sp, imm: offset });
        return this.ecall(Service.LOG, [address, this.constant(4)], true);
      }
      case 'Services.lookupTag': {
        const tag = this.holdAgainst(arg(0), e.args[1]!);
        const ref = this.genExpr(e.args[1]!, undefined)!;
        const capacity = this.reg();
        const elements = this.reg();
        this.emit('lw', { rd: capacity, rs1: ref.lo, imm: 0 });
        this.emit('addi', { rd: elements, rs1: ref.lo, imm: 4 });
        return this.ecall(Service.LOOKUP_TAG, [tag.lo, elements, capacity], true);
      }
      case 'Services.fetchAdd': {
        const f = this.regionArrayField(e.args[0]!);
        if (f?.region !== 'CONTRACT' || primName((f.symbol.type as { element: Type }).element) !== 'int') {
          this.ctx.diagnostics.error(
            'CHECK_TYPE_MISMATCH',
            'Services.fetchAdd needs an int[] @Shared field',
            e.args[0]!.span,
          );
          return this.constVal(0n, false);
        }
        const i = this.holdAgainst(arg(1), e.args[2]!);
        const delta = arg(2);
        this.trapIf('bgeu', i.lo, this.constant(f.length ?? 0));
        const offset = this.reg();
        const address = this.reg();
        this.emit('slli', { rd: offset, rs1: i.lo, imm: 2 });
        this.emit('add', { rd: address, rs1: offset, rs2: this.constant(CONTRACT_BASE + f.offset) });
        const d = this.fresh(false);
        this.emit('amoadd.w', { rd: d.lo, rs1: address, rs2: delta.lo, aq: false, rl: false });
        return d;
      }
    }
    throw new Error(`internal: intrinsic ${id}`);
  }

  // ---------- java.lang (java-lang.ts): short sequences, folded on constant arguments

  private genJavaLang(e: Extract<Expr, { kind: 'call' }>): Val {
    const id = e.intrinsic!;
    const method = javaLangMethod(id)!;
    const wideResult = isLong(method.returns);
    const constants = e.args.map((a) => this.ctx.constants(a));
    if (constants.every((c) => c !== undefined)) {
      const folded = foldJavaLang(
        id,
        constants.map((c, i) => wrapTo(c!, method.params[i]!)),
      );
      if (folded !== undefined) return this.constVal(folded, wideResult);
    }
    const isRotate = id === 'Integer.rotateLeft(int,int)' || id === 'Integer.rotateRight(int,int)';
    let x = this.genExpr(e.args[0]!, method.params[0])!;
    let b: Val | undefined;
    if (e.args.length > 1 && !(isRotate && constants[1] !== undefined)) {
      x = this.holdAgainst(x, e.args[1]!);
      b = this.genExpr(e.args[1]!, method.params[1])!;
    }
    /** One instruction into a fresh register. */
    const op = (m: string, rs1: number, rs2: number): number => {
      const rd = this.reg();
      this.emit(m, { rd, rs1, rs2 });
      return rd;
    };
    const opi = (m: string, rs1: number, imm: number): number => {
      const rd = this.reg();
      this.emit(m, { rd, rs1, imm });
      return rd;
    };
    const k = (value: number) => this.constant(value);
    /** The number of one bits of v (SWAR, Hacker's Delight 5-2). */
    const popcount = (v: number): number => {
      let d = op('sub', v, op('and', opi('srli', v, 1), k(0x55555555)));
      d = op('add', op('and', d, k(0x33333333)), op('and', opi('srli', d, 2), k(0x33333333)));
      d = op('and', op('add', d, opi('srli', d, 4)), k(0x0f0f0f0f));
      return opi('srli', op('mul', d, k(0x01010101)), 24);
    };
    /** The bytes of v reversed. */
    const reverseBytes = (v: number): number => {
      const mask = k(0xff00);
      const b3 = opi('slli', v, 24);
      const b0 = opi('srli', v, 24);
      const b1 = opi('slli', op('and', v, mask), 8);
      const b2 = op('and', opi('srli', v, 8), mask);
      return op('or', op('or', b3, b0), op('or', b1, b2));
    };
    const int = (lo: number): Val => ({ lo, hi: -1, owned: true });
    switch (id) {
      case 'Integer.bitCount(int)':
        return int(popcount(x.lo));
      case 'Integer.numberOfTrailingZeros(int)':
        // popcount(~x & (x - 1)): the zeros below the lowest one (32 for 0).
        return int(popcount(op('and', opi('xori', x.lo, -1), opi('addi', x.lo, -1))));
      case 'Integer.numberOfLeadingZeros(int)': {
        // Binary search, branch-free: shift the highest one up by 16, 8, 4, 2, 1 when it is not there.
        let v = x.lo;
        let n = opi('slli', opi('sltiu', opi('srli', v, 16), 1), 4);
        v = op('sll', v, n);
        for (const [top, s] of [
          [24, 3],
          [28, 2],
          [30, 1],
        ] as const) {
          const t = opi('slli', opi('sltiu', opi('srli', v, top), 1), s);
          v = op('sll', v, t);
          n = op('add', n, t);
        }
        n = op('add', n, opi('sltiu', opi('srli', v, 31), 1));
        return int(op('add', n, opi('sltiu', v, 1))); // 0 stays 0: one more
      }
      case 'Integer.reverseBytes(int)':
        return int(reverseBytes(x.lo));
      case 'Integer.reverse(int)': {
        let v = x.lo;
        for (const [s, mask] of [
          [1, 0x55555555],
          [2, 0x33333333],
          [4, 0x0f0f0f0f],
        ] as const)
          v = op('or', opi('slli', op('and', v, k(mask)), s), op('and', opi('srli', v, s), k(mask)));
        return int(reverseBytes(v));
      }
      case 'Integer.rotateLeft(int,int)':
      case 'Integer.rotateRight(int,int)': {
        const left = id === 'Integer.rotateLeft(int,int)';
        const count = constants[1];
        if (count !== undefined) {
          const n = Number(BigInt.asUintN(5, left ? count : -count));
          if (n === 0) return x;
          return int(op('or', opi('slli', x.lo, n), opi('srli', x.lo, 32 - n)));
        }
        const there = op(left ? 'sll' : 'srl', x.lo, b!.lo);
        const back = op(left ? 'srl' : 'sll', x.lo, op('sub', R.zero, b!.lo));
        return int(op('or', there, back));
      }
      case 'Integer.toUnsignedLong(int)':
        return { lo: x.lo, hi: R.zero, owned: x.owned };
      case 'Integer.compareUnsigned(int,int)':
        return int(op('sub', op('sltu', b!.lo, x.lo), op('sltu', x.lo, b!.lo)));
      case 'Integer.divideUnsigned(int,int)':
      case 'Integer.remainderUnsigned(int,int)':
        this.trapIf('beq', b!.lo, R.zero);
        return int(op(id === 'Integer.divideUnsigned(int,int)' ? 'divu' : 'remu', x.lo, b!.lo));
      case 'Long.compareUnsigned(long,long)': {
        // The high words decide unless they are equal.
        const greater = this.reg();
        const less = this.reg();
        const done = this.newLabel('ucmp');
        this.emit('sltu', { rd: greater, rs1: b!.hi, rs2: x.hi });
        this.emit('sltu', { rd: less, rs1: x.hi, rs2: b!.hi });
        this.branch('bne', x.hi, b!.hi, done);
        this.emit('sltu', { rd: greater, rs1: b!.lo, rs2: x.lo });
        this.emit('sltu', { rd: less, rs1: x.lo, rs2: b!.lo });
        this.label(done);
        return int(op('sub', greater, less));
      }
      case 'Long.divideUnsigned(long,long)':
      case 'Long.remainderUnsigned(long,long)': {
        this.trapIf('beq', op('or', b!.lo, b!.hi), R.zero);
        const wantRemainder = this.constVal(id === 'Long.remainderUnsigned(long,long)' ? 1n : 0n, false);
        return this.callRuntime('$udivrem', [x, b!, wantRemainder], true);
      }
      case 'Math.abs(int)': {
        const sign = opi('srai', x.lo, 31);
        return int(op('sub', op('xor', x.lo, sign), sign));
      }
      case 'Math.abs(long)': {
        // Negate when negative: (v ^ m) - m with m the sign mask, the carry into the high word.
        const sign = opi('srai', x.hi, 31);
        const lo = op('xor', x.lo, sign);
        const resultLo = op('sub', lo, sign);
        const carry = op('sltu', resultLo, lo);
        return { lo: resultLo, hi: op('add', op('xor', x.hi, sign), carry), owned: true };
      }
      case 'Math.min(int,int)':
      case 'Math.max(int,int)': {
        const d = this.fresh(false);
        const keep = this.newLabel('minmax');
        this.mv(d.lo, x.lo);
        if (id === 'Math.min(int,int)') this.branch('blt', x.lo, b!.lo, keep);
        else this.branch('blt', b!.lo, x.lo, keep);
        this.mv(d.lo, b!.lo);
        this.label(keep);
        return d;
      }
      case 'Math.min(long,long)':
      case 'Math.max(long,long)': {
        // Keep x when it is the smaller (larger); compare high words signed, then low unsigned.
        const [lo, hi] = id === 'Math.min(long,long)' ? [x, b!] : [b!, x];
        const d = this.fresh(true);
        const keep = this.newLabel('minmax');
        const take = this.newLabel('minmax');
        this.mv(d.lo, x.lo);
        this.mv(d.hi, x.hi);
        this.branch('blt', lo.hi, hi.hi, keep);
        this.branch('bne', lo.hi, hi.hi, take);
        this.branch('bltu', lo.lo, hi.lo, keep);
        this.label(take);
        this.mv(d.lo, b!.lo);
        this.mv(d.hi, b!.hi);
        this.label(keep);
        return d;
      }
    }
    throw new Error(`internal: java.lang intrinsic ${id}`);
  }
}

/** The local variables declared in a body (parameters not included). */
function collectLocals(body: Stmt): VariableSymbol[] {
  const out: VariableSymbol[] = [];
  const visitStmt = (s: Stmt): void => {
    switch (s.kind) {
      case 'block':
        s.stmts.forEach(visitStmt);
        break;
      case 'local':
        for (const d of s.declarators) if (d.symbol) out.push(d.symbol);
        break;
      case 'if':
        visitStmt(s.then);
        if (s.else) visitStmt(s.else);
        break;
      case 'while':
      case 'do':
      case 'labeled':
        visitStmt(s.body);
        break;
      case 'for':
        s.init.forEach(visitStmt);
        visitStmt(s.body);
        break;
      case 'foreach':
        for (const sym of [s.index, s.array, s.variable.symbol]) if (sym) out.push(sym);
        visitStmt(s.body);
        break;
      case 'switch':
        for (const c of s.cases) c.body.forEach(visitStmt);
        break;
      default:
        break;
    }
  };
  visitStmt(body);
  return out;
}

const stmtKinds = new Set([
  'block',
  'local',
  'expr',
  'if',
  'while',
  'do',
  'for',
  'switch',
  'break',
  'continue',
  'return',
  'labeled',
  'foreach',
  'empty',
]);
function isStmtKind(kind: string): boolean {
  return stmtKinds.has(kind);
}

/** Calls `f` on each direct sub-expression. */
export function forEachChild(e: Expr, f: (x: Expr) => void): void {
  switch (e.kind) {
    case 'field':
      f(e.target);
      break;
    case 'index':
      f(e.array);
      f(e.index);
      break;
    case 'call':
      if (e.target) f(e.target);
      e.args.forEach(f);
      break;
    case 'unary':
    case 'incdec':
      f(e.operand);
      break;
    case 'binary':
      f(e.left);
      f(e.right);
      break;
    case 'assign':
      f(e.target);
      f(e.value);
      break;
    case 'conditional':
      f(e.cond);
      f(e.then);
      f(e.else);
      break;
    case 'cast':
      f(e.operand);
      break;
    case 'newArray':
      if (e.size) f(e.size);
      e.init?.forEach(f);
      break;
    case 'arrayInit':
      e.elements.forEach(f);
      break;
    default:
      break;
  }
}

function forEachStmtPart(s: Stmt, fs: (s: Stmt) => void, fe: (e: Expr) => void): void {
  switch (s.kind) {
    case 'block':
      s.stmts.forEach(fs);
      break;
    case 'local':
      for (const d of s.declarators) if (d.init) fe(d.init);
      break;
    case 'expr':
      fe(s.expr);
      break;
    case 'if':
      fe(s.cond);
      fs(s.then);
      if (s.else) fs(s.else);
      break;
    case 'while':
    case 'do':
      fe(s.cond);
      fs(s.body);
      break;
    case 'for':
      s.init.forEach(fs);
      if (s.cond) fe(s.cond);
      s.update.forEach(fe);
      fs(s.body);
      break;
    case 'switch':
      fe(s.expr);
      for (const c of s.cases) c.body.forEach(fs);
      break;
    case 'return':
      if (s.expr) fe(s.expr);
      break;
    case 'labeled':
      fs(s.body);
      break;
    case 'foreach':
      fe(s.iterable);
      fs(s.body);
      break;
    default:
      break;
  }
}
