/**
 * Stage 4: the checked tree → machine IR, one function per reachable method plus entry stubs.
 * Expressions are evaluated into a pool of temporaries (a value held while a sibling is evaluated
 * is spilled to the frame when the pool runs short, and every live temporary is saved around a
 * call); variables live where regalloc.ts puts them. Java semantics: 32-bit wrap-around is the
 * machine's; byte/short/char values are kept sign/zero-extended in registers and re-narrowed
 * after every store; `/` and `%` check for a zero divisor (trap); shifts use the machine's 5-bit
 * masking; long is a register pair (lo, hi) with carries, and long division and variable long
 * shifts call runtime helpers written in the language itself (runtime.ts).
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
import type { DiagnosticBag, SourceSpan } from './diagnostics';
import { foldJavaLang, javaLangMethod } from './java-lang';
import {
  argumentRegisters,
  type MFunction,
  type MItem,
  R,
  SCRATCH1,
  SCRATCH2,
  splitConstant,
  temporaries,
} from './mir';
import { allocateRegisters, type Home } from './regalloc';
import { elementSize, isBoolean, isLong, primName, type Type, wrapTo } from './types';

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

/** java.lang intrinsics that call a runtime helper (the method is then not a leaf). */
const callsRuntime = new Set(['Long.divideUnsigned(long,long)', 'Long.remainderUnsigned(long,long)']);

/** Label of the shared trap sequence. */
export const TRAP_LABEL = '$trap';

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
    usesTrap: false,
  };
  const statics = fields.filter((f) => f.region === 'STACK');
  const staticInits = program.mainClass?.staticInits ?? [];
  const needsClinit = statics.some((f) => f.symbol.field?.init !== undefined) || staticInits.length > 0;
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
  if (needsClinit) {
    const clinit = new FunctionLowering(ctx, undefined, statics);
    functions.push(clinit.lowerClinit(staticInits));
    frames.set('$clinit', clinit);
  }
  while (queue.length > 0) {
    const m = queue.shift()!;
    const isRuntime = runtime.methods.includes(m);
    const localCount = (isRuntime ? runtime : program).localCounts.get(m.decl) ?? 0;
    const lowering = new FunctionLowering(ctx, m, statics, localCount);
    functions.push(lowering.lowerMethod());
    frames.set(methodLabel(m), lowering);
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
  usesTrap: boolean;
}

/** A value in registers: `hi` is -1 for 32-bit values; `owned` temporaries must be released. */
interface Val {
  lo: number;
  hi: number;
  owned: boolean;
}

/** A value kept while something else is evaluated: in registers, or spilled to a frame slot. */
type Held = { kind: 'val'; val: Val } | { kind: 'slot'; offset: number; wide: boolean };

interface JumpTargets {
  readonly labels: readonly string[];
  readonly breakLabel: string;
  readonly continueLabel: string | undefined;
}

let labelCounter = 0;

class FunctionLowering {
  /** The frame size, known once the function is finished. */
  frameBytes = 0;
  /** Labels of the functions this one calls. */
  readonly callees = new Set<string>();
  private readonly items: MItem[] = [];
  private line = 0;
  private free: number[] = [];
  private readonly inUse = new Set<number>();
  private homes = new Map<VariableSymbol, Home>();
  private savedRegisters: number[] = [];
  private frameTop = 0;
  private freeSlots: number[] = [];
  private hasCalls = false;
  private targets: JumpTargets[] = [];
  private pendingLabels: string[] = [];
  private readonly retLabel: string;
  private readonly prefix: string;

  constructor(
    private readonly ctx: ProgramContext,
    private readonly method: MethodSymbol | undefined,
    private readonly statics: readonly FieldLayout[],
    _localCount = 0,
  ) {
    this.prefix = `.L${labelCounter++}`;
    this.retLabel = `${this.prefix}.ret`;
  }

  private newLabel(hint: string): string {
    return `${this.prefix}.${hint}${labelCounter++}`;
  }

  // ---------- emission helpers

  private emit(mnemonic: string, fields: Omit<Instruction, 'mnemonic'> = {}, target?: string): void {
    this.items.push(inst(mnemonic, fields, this.line, target));
  }
  private label(name: string): void {
    this.items.push({ kind: 'label', name });
  }
  private li(rd: number, value: number): void {
    this.items.push(...liItems(rd, value, this.line));
  }
  private mv(rd: number, rs: number): void {
    if (rd !== rs) this.emit('addi', { rd, rs1: rs, imm: 0 });
  }
  /** Moves sources to destinations as if all at once (breaking cycles through SCRATCH1). */
  private parallelMove(moves: [to: number, from: number][]): void {
    let pending = moves.filter(([to, from]) => to !== from);
    while (pending.length > 0) {
      const ready = pending.findIndex(([to]) => !pending.some(([, from]) => from === to));
      if (ready >= 0) {
        const [to, from] = pending[ready]!;
        this.mv(to, from);
        pending.splice(ready, 1);
      } else {
        const [, from] = pending[0]!;
        this.mv(SCRATCH1, from);
        pending = pending.map(([t, f]) => [t, f === from ? SCRATCH1 : f]);
      }
    }
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

  // ---------- temporaries

  private alloc(): number {
    const r = this.free.shift();
    if (r === undefined) throw new Error('internal: out of temporaries');
    this.inUse.add(r);
    return r;
  }
  /** Takes a specific free register (the join point of a conditional expression). */
  private claim(r: number): void {
    const i = this.free.indexOf(r);
    if (i < 0) throw new Error('internal: claimed register is busy');
    this.free.splice(i, 1);
    this.inUse.add(r);
  }
  private release(v: Val | undefined): void {
    if (!v?.owned) return;
    this.releaseReg(v.lo);
    if (v.hi >= 0) this.releaseReg(v.hi);
  }
  private releaseReg(r: number): void {
    if (this.inUse.delete(r)) this.free.unshift(r);
  }
  private fresh(wide: boolean): Val {
    const lo = this.alloc();
    return { lo, hi: wide ? this.alloc() : -1, owned: true };
  }
  /** A copy of `v` in owned temporaries (v itself when it is owned). */
  private own(v: Val): Val {
    if (v.owned) return v;
    const d = this.fresh(v.hi >= 0);
    this.mv(d.lo, v.lo);
    if (v.hi >= 0) this.mv(d.hi, v.hi);
    return d;
  }
  /** The destination for an operation consuming a and b: reuses an owned operand. */
  private dest(wide: boolean, ...operands: Val[]): Val {
    for (const o of operands) if (o.owned && o.hi >= 0 === wide) return o;
    return this.fresh(wide);
  }
  private slot(): number {
    const s = this.freeSlots.pop();
    if (s !== undefined) return s;
    const offset = this.frameTop;
    this.frameTop += 8;
    return offset;
  }
  /** Keeps `v` while other code runs: spills it when fewer than 4 temporaries remain. */
  private hold(v: Val): Held {
    if (!v.owned || this.free.length >= 5) {
      if (!v.owned) return { kind: 'val', val: v };
      return { kind: 'val', val: v };
    }
    const offset = this.slot();
    this.emit('sw', { rs1: R.sp, rs2: v.lo, imm: offset });
    if (v.hi >= 0) this.emit('sw', { rs1: R.sp, rs2: v.hi, imm: offset + 4 });
    this.release(v);
    return { kind: 'slot', offset, wide: v.hi >= 0 };
  }
  private unhold(h: Held): Val {
    if (h.kind === 'val') return h.val;
    const v = this.fresh(h.wide);
    this.emit('lw', { rd: v.lo, rs1: R.sp, imm: h.offset });
    if (h.wide) this.emit('lw', { rd: v.hi, rs1: R.sp, imm: h.offset + 4 });
    this.freeSlots.push(h.offset);
    return v;
  }
  /** Borrowed (not owned) values whose register a later sibling might overwrite must be copied. */
  private holdAgainst(v: Val, later: Expr | Expr[]): Held {
    if (!v.owned && v.lo !== R.zero && v.lo !== R.gp && this.mayWrite(later, v))
      return this.hold(this.own(v));
    return this.hold(v);
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
        if (h?.kind === 'reg' && (regs.has(h.lo) || regs.has(h.hi))) writes = true;
      }
      forEachChild(e, visit);
    };
    for (const e of Array.isArray(later) ? later : [later]) visit(e);
    return writes;
  }

  // ---------- functions

  private collectLocals(body: Stmt): VariableSymbol[] {
    const out: VariableSymbol[] = [];
    const visitStmt = (s: Stmt): void => {
      switch (s.kind) {
        case 'block':
          s.stmts.forEach(visitStmt);
          break;
        case 'local':
          for (const d of s.declarators) if (d.symbol && d.symbol.constant === undefined) out.push(d.symbol);
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

  private static containsCall(body: Stmt | Expr): boolean {
    let found = false;
    const visitExpr = (e: Expr) => {
      if (found) return;
      if (
        e.kind === 'call' &&
        (e.method !== undefined ||
          e.intrinsic?.startsWith('Services.') ||
          callsRuntime.has(e.intrinsic ?? ''))
      )
        found = true;
      if (
        e.kind === 'binary' &&
        isLong(e.operandType ?? { kind: 'void' }) &&
        ['/', '%', '<<', '>>', '>>>'].includes(e.op)
      )
        found = true;
      if (
        e.kind === 'assign' &&
        isLong(e.operandType ?? { kind: 'void' }) &&
        ['/=', '%=', '<<=', '>>=', '>>>='].includes(e.op)
      )
        found = true;
      forEachChild(e, visitExpr);
    };
    const visitStmt = (s: Stmt): void => forEachStmtPart(s, visitStmt, visitExpr);
    if ('kind' in body && isStmtKind(body.kind)) visitStmt(body as Stmt);
    else visitExpr(body as Expr);
    return found;
  }

  private setupPool(spare: number[]): void {
    this.free = [
      ...spare.filter((r) => r >= 8 && r <= 15),
      ...temporaries,
      ...spare.filter((r) => r < 8 || r > 15),
    ];
  }

  lowerMethod(): MFunction {
    const m = this.method!;
    const decl: MethodDecl = m.decl;
    this.hasCalls = FunctionLowering.containsCall(decl.body);
    const params = decl.params.map((p) => p.symbol!).filter((p) => p.type.kind !== 'class');
    const alloc = allocateRegisters(params, this.collectLocals(decl.body), !this.hasCalls, 0);
    this.homes = alloc.homes;
    this.savedRegisters = alloc.savedRegisters;
    this.frameTop = alloc.frameBytes;
    this.setupPool(alloc.spareArgumentRegisters);
    const label = methodLabel(m);
    this.line = decl.span.start.line;
    // Move parameters from argument registers to their homes.
    let next = 0;
    const moves: [number, Home, boolean][] = [];
    for (const p of params) {
      const wide = isLong(p.type);
      const h = alloc.homes.get(p)!;
      for (let w = 0; w < (wide ? 2 : 1); w++) {
        const from = argumentRegisters[next + w];
        if (from === undefined) {
          this.ctx.diagnostics.error(
            'CHECK_LIMIT',
            `method '${m.name}' takes more than 8 words of arguments`,
            decl.span,
          );
          break;
        }
        moves.push([from, h, w === 1]);
      }
      next += wide ? 2 : 1;
    }
    for (const [from, h, isHi] of moves) {
      if (h.kind === 'reg') this.mv(isHi ? h.hi : h.lo, from);
      else this.emit('sw', { rs1: R.sp, rs2: from, imm: h.offset + (isHi ? 4 : 0) });
    }
    this.lowerStmt(decl.body);
    return this.finish(label);
  }

  /** The static initializers: field initializers and `static { … }` blocks in source order. */
  lowerClinit(blocks: readonly StaticInit[]): MFunction {
    const steps: ({ at: number; field: FieldLayout } | { at: number; block: StaticInit })[] = [
      ...this.statics
        .filter((f) => f.symbol.field?.init !== undefined)
        .map((field) => ({ at: field.symbol.span.start.offset, field })),
      ...blocks.map((block) => ({ at: block.span.start.offset, block })),
    ].sort((a, b) => a.at - b.at);
    this.hasCalls =
      this.statics.some(
        (f) => f.symbol.field?.init !== undefined && FunctionLowering.containsCall(f.symbol.field.init),
      ) || blocks.some((b) => FunctionLowering.containsCall(b.body));
    const locals = blocks.flatMap((b) => this.collectLocals(b.body));
    const alloc = allocateRegisters([], locals, !this.hasCalls, 0);
    this.homes = alloc.homes;
    this.savedRegisters = alloc.savedRegisters;
    this.frameTop = alloc.frameBytes;
    this.setupPool(alloc.spareArgumentRegisters);
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
        const ref = this.alloc();
        this.emit('addi', { rd: ref, rs1: R.gp, imm: storage });
        this.initArray(
          ref,
          f.symbol.type.element,
          f.length ?? 0,
          init.kind === 'arrayInit' ? init.elements : init.kind === 'newArray' ? init.init : undefined,
          true,
        );
        this.emit('sw', { rs1: R.gp, rs2: ref, imm: f.offset });
        this.releaseReg(ref);
      } else {
        const v = this.genExpr(init, f.symbol.type)!;
        this.storeField(f, v);
        this.release(v);
      }
    }
    return this.finish('$clinit');
  }

  private finish(label: string): MFunction {
    const saves = [...(this.hasCalls ? [R.ra] : []), ...this.savedRegisters];
    const frameBytes = align(this.frameTop + saves.length * 4, 16);
    this.frameBytes = frameBytes;
    if (frameBytes > FRAME_MAX_BYTES)
      this.ctx.diagnostics.error(
        'CHECK_LIMIT',
        `the frame of ${label} needs ${frameBytes} bytes (at most ${FRAME_MAX_BYTES})`,
        this.method?.decl.span ?? {
          start: { line: 1, column: 1, offset: 0 },
          end: { line: 1, column: 1, offset: 0 },
        },
      );
    const prologue: MItem[] = [{ kind: 'label', name: label }];
    const epilogue: MItem[] = [{ kind: 'label', name: this.retLabel }];
    const line = this.method?.decl.span.start.line ?? 0;
    if (frameBytes > 0) {
      prologue.push(inst('addi', { rd: R.sp, rs1: R.sp, imm: -frameBytes }, line));
      saves.forEach((r, i) => {
        prologue.push(inst('sw', { rs1: R.sp, rs2: r, imm: frameBytes - 4 * (i + 1) }, line));
        epilogue.push(inst('lw', { rd: r, rs1: R.sp, imm: frameBytes - 4 * (i + 1) }, line));
      });
      epilogue.push(inst('addi', { rd: R.sp, rs1: R.sp, imm: frameBytes }, line));
    }
    epilogue.push(inst('jalr', { rd: R.zero, rs1: R.ra, imm: 0 }, line));
    // A body that ends by jumping to the epilogue falls into it instead.
    let body = this.items;
    while (body.length > 0) {
      const last = body[body.length - 1]!;
      if (last.kind === 'inst' && last.target === this.retLabel) body = body.slice(0, -1);
      else break;
    }
    // Without a frame, a jump to the epilogue is just `ret`.
    if (frameBytes === 0)
      body = body.map((it) =>
        it.kind === 'inst' && it.target === this.retLabel && it.inst.mnemonic === 'jal'
          ? inst('jalr', { rd: R.zero, rs1: R.ra, imm: 0 }, it.line)
          : it,
      );
    return { name: label, items: [...prologue, ...body, ...epilogue] };
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
          const h = this.homes.get(sym)!;
          if (d.init) {
            this.setLine(d.span);
            if (d.init.kind === 'arrayInit' || d.init.kind === 'newArray') {
              const v = this.genArrayCreation(d.init, sym.type);
              this.storeHome(h, v);
              this.release(v);
            } else if (h.kind === 'reg' && d.init.kind !== 'call') {
              const v = this.genExpr(d.init, sym.type)!;
              this.storeHome(h, v);
              this.release(v);
            } else {
              const v = this.genExpr(d.init, sym.type)!;
              this.storeHome(h, v);
              this.release(v);
            }
          }
        }
        return;
      case 'expr': {
        const v = this.genExpr(s.expr, undefined, true);
        this.release(v);
        return;
      }
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
        if (c !== 1n) this.jump(cond);
        this.label(top);
        this.withTargets(end, cond, () => this.lowerStmt(s.body));
        this.label(cond);
        this.setLine(s.cond.span);
        this.genCond(s.cond, top, true);
        this.label(end);
        return;
      }
      case 'do': {
        const top = this.newLabel('do');
        const cond = this.newLabel('cond');
        const end = this.newLabel('enddo');
        this.label(top);
        this.withTargets(end, cond, () => this.lowerStmt(s.body));
        this.label(cond);
        this.setLine(s.cond.span);
        this.genCond(s.cond, top, true);
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
        this.jump(cond);
        this.label(top);
        this.withTargets(end, cont, () => this.lowerStmt(s.body));
        this.label(cont);
        for (const u of s.update) {
          this.setLine(u.span);
          this.release(this.genExpr(u, undefined, true));
        }
        this.label(cond);
        if (s.cond) {
          this.setLine(s.cond.span);
          this.genCond(s.cond, top, true);
        } else this.jump(top);
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
      case 'return':
        if (s.expr) {
          const t = this.method!.returnType;
          const v = this.genExpr(s.expr, t)!;
          this.parallelMove(
            isLong(t)
              ? [
                  [R.a0, v.lo],
                  [R.a1, v.hi],
                ]
              : [[R.a0, v.lo]],
          );
          this.release(v);
        }
        this.jump(this.retLabel);
        return;
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
    const arrayHome = s.array ? this.homes.get(s.array)! : undefined;
    if (arrayHome) {
      const a = this.genExpr(s.iterable, undefined)!;
      this.storeHome(arrayHome, a);
      this.release(a);
    }
    const indexHome = this.homes.get(s.index!)!;
    this.storeHome(indexHome, { lo: R.zero, hi: -1, owned: false });
    const top = this.newLabel('each');
    const cont = this.newLabel('next');
    const cond = this.newLabel('cond');
    const end = this.newLabel('endeach');
    this.jump(cond);
    this.label(top);
    this.setLine(s.variable.span);
    const i = this.loadHome(indexHome, false);
    const shift = [0, 0, 1, 0, 2, 0, 0, 0, 3][size]!;
    if (shift > 0) this.emit('slli', { rd: SCRATCH1, rs1: i.lo, imm: shift });
    else this.mv(SCRATCH1, i.lo);
    this.release(i);
    let imm: number;
    if (region) {
      const { upper, lower } = splitConstant(regionBase[region.region] + region.offset);
      this.emit('lui', { rd: SCRATCH2, imm: upper });
      imm = lower;
    } else {
      const a = this.loadHome(arrayHome!, false);
      this.mv(SCRATCH2, a.lo);
      this.release(a);
      imm = 4;
    }
    this.emit('add', { rd: SCRATCH1, rs1: SCRATCH1, rs2: SCRATCH2 });
    const x = this.fresh(isLong(element));
    this.loadMemory(x, element, SCRATCH1, imm);
    const variable = s.variable.symbol!;
    const converted = this.convert(x, element, variable.type);
    this.storeHome(this.homes.get(variable)!, converted);
    this.release(converted);
    this.pendingLabels = labels;
    this.withTargets(end, cont, () => this.lowerStmt(s.body));
    this.label(cont);
    this.setLine(s.span);
    const j = this.loadHome(indexHome, false);
    const next = this.dest(false, j);
    this.emit('addi', { rd: next.lo, rs1: j.lo, imm: 1 });
    this.storeHome(indexHome, next);
    this.release(next);
    if (next !== j) this.release(j);
    this.label(cond);
    const k = this.loadHome(indexHome, false);
    if (region) this.li(SCRATCH1, region.length ?? 0);
    else {
      const a = this.loadHome(arrayHome!, false);
      this.emit('lw', { rd: SCRATCH1, rs1: a.lo, imm: 0 });
      this.release(a);
    }
    this.branch('blt', k.lo, SCRATCH1, top);
    this.release(k);
    this.label(end);
  }

  private lowerSwitch(s: Extract<Stmt, { kind: 'switch' }>): void {
    const end = this.newLabel('endswitch');
    const v = this.own(this.genExpr(s.expr, undefined)!);
    const caseLabels = s.cases.map(() => this.newLabel('case'));
    let defaultLabel = end;
    const pairs: [bigint, string][] = [];
    s.cases.forEach((c, i) => {
      if (c.isDefault) defaultLabel = caseLabels[i]!;
      for (const value of c.values ?? []) pairs.push([value, caseLabels[i]!]);
    });
    // A compare-and-branch chain (no jump tables: code addresses would need relocations).
    const t = SCRATCH1;
    const compareWord = (reg: number, word: number, mnemonic: string, label: string) => {
      if (word === 0) this.branch(mnemonic, reg, R.zero, label);
      else {
        this.li(t, word);
        this.branch(mnemonic, reg, t, label);
      }
    };
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
    this.release(v);
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

  private storeHome(h: Home, v: Val): void {
    if (h.kind === 'reg') {
      this.mv(h.lo, v.lo);
      if (h.hi >= 0) this.mv(h.hi, v.hi);
    } else {
      this.emit('sw', { rs1: R.sp, rs2: v.lo, imm: h.offset });
      if (v.hi >= 0) this.emit('sw', { rs1: R.sp, rs2: v.hi, imm: h.offset + 4 });
    }
  }

  private loadHome(h: Home, wide: boolean): Val {
    if (h.kind === 'reg') return { lo: h.lo, hi: wide ? h.hi : -1, owned: false };
    const v = this.fresh(wide);
    this.emit('lw', { rd: v.lo, rs1: R.sp, imm: h.offset });
    if (wide) this.emit('lw', { rd: v.hi, rs1: R.sp, imm: h.offset + 4 });
    return v;
  }

  /** Base register and offset of a field (uses SCRATCH2 for absolute addresses). */
  private fieldAddress(f: FieldLayout, offset = 0): { base: number; imm: number } {
    if (f.region === 'STACK') return { base: R.gp, imm: f.offset + offset };
    const { upper, lower } = splitConstant(regionBase[f.region] + f.offset + offset);
    this.emit('lui', { rd: SCRATCH2, imm: upper });
    return { base: SCRATCH2, imm: lower };
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
    this.storeMemory(
      v,
      f.symbol.type.kind === 'array' ? { kind: 'primitive', name: 'int' } : f.symbol.type,
      a.base,
      a.imm,
    );
  }

  private loadMemory(v: Val, t: Type, base: number, imm: number): void {
    const op =
      { byte: 'lb', boolean: 'lbu', short: 'lh', char: 'lhu', int: 'lw', long: 'lw' }[primName(t) ?? 'int'] ??
      'lw';
    if (isLong(t)) {
      // The address register may be one of the destinations: load the half that is not it last.
      if (v.lo === base) {
        this.emit('lw', { rd: v.hi, rs1: base, imm: imm + 4 });
        this.emit('lw', { rd: v.lo, rs1: base, imm });
      } else {
        this.emit('lw', { rd: v.lo, rs1: base, imm });
        this.emit('lw', { rd: v.hi, rs1: base, imm: imm + 4 });
      }
    } else this.emit(op, { rd: v.lo, rs1: base, imm });
  }

  private storeMemory(v: Val, t: Type, base: number, imm: number): void {
    const op =
      { byte: 'sb', boolean: 'sb', short: 'sh', char: 'sh', int: 'sw', long: 'sw' }[primName(t) ?? 'int'] ??
      'sw';
    this.emit(op, { rs1: base, rs2: v.lo, imm });
    if (isLong(t)) this.emit('sw', { rs1: base, rs2: v.hi, imm: imm + 4 });
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
    this.initArray(ref.lo, element, length, values, false);
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
    this.li(SCRATCH1, length);
    this.emit('sw', { rs1: ref, rs2: SCRATCH1, imm: 0 });
    const size = elementSize(element);
    const words = align(size * length, 4) / 4;
    if (!isZeroed && (values === undefined || values.length === 0 || size < 4)) {
      if (words <= 8)
        for (let i = 0; i < words; i++) this.emit('sw', { rs1: ref, rs2: R.zero, imm: 4 + 4 * i });
      else {
        const loop = this.newLabel('zero');
        this.emit('addi', { rd: SCRATCH1, rs1: ref, imm: 4 });
        this.emit('addi', { rd: SCRATCH2, rs1: ref, imm: 4 + 4 * words });
        this.label(loop);
        this.emit('sw', { rs1: SCRATCH1, rs2: R.zero, imm: 0 });
        this.emit('addi', { rd: SCRATCH1, rs1: SCRATCH1, imm: 4 });
        this.branch('bne', SCRATCH1, SCRATCH2, loop);
      }
    }
    if (!values) return;
    const held = this.hold({ lo: ref, hi: -1, owned: false });
    values.forEach((x, i) => {
      const v = this.genExpr(x, element)!;
      const r = this.unhold(held);
      const offset = 4 + size * i;
      if (offset + (size === 8 ? 4 : 0) <= 2047) this.storeMemory(v, element, r.lo, offset);
      else {
        this.li(SCRATCH2, offset);
        this.emit('add', { rd: SCRATCH2, rs1: r.lo, rs2: SCRATCH2 });
        this.storeMemory(v, element, SCRATCH2, 0);
      }
      this.release(v);
    });
  }

  /** Address of a[i] after a bounds check; returns the base register (SCRATCH1) and offset. */
  private elementAddress(
    array: Expr,
    index: Expr,
    laterValue: Expr | undefined,
  ): { base: number; imm: number; cleanup: () => void; elementType: Type } {
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
        const { upper, lower } = splitConstant(
          baseAddress + Math.max(0, Math.min(Number(ci), length)) * size,
        );
        return { cleanup: () => {}, elementType: at.element, ...this.absolute(upper, lower) };
      }
      const idx = this.genExpr(index, undefined)!;
      const held = laterValue ? this.holdAgainst(idx, laterValue) : { kind: 'val' as const, val: idx };
      const later = laterValue ? this.genExpr(laterValue, at.element)! : undefined;
      const i = this.unhold(held);
      this.li(SCRATCH1, length);
      this.trapIf('bgeu', i.lo, SCRATCH1);
      if (shift > 0) this.emit('slli', { rd: SCRATCH1, rs1: i.lo, imm: shift });
      else this.mv(SCRATCH1, i.lo);
      const { upper, lower } = splitConstant(baseAddress);
      this.emit('lui', { rd: SCRATCH2, imm: upper });
      this.emit('add', { rd: SCRATCH1, rs1: SCRATCH1, rs2: SCRATCH2 });
      this.release(i);
      this.pendingValue = later;
      return { base: SCRATCH1, imm: lower, cleanup: () => {}, elementType: at.element };
    }
    const ref = this.genExpr(array, undefined)!;
    const heldRef = this.holdAgainst(ref, laterValue ? [index, laterValue] : index);
    const idx = ci !== undefined ? undefined : this.genExpr(index, undefined)!;
    const heldIdx = idx
      ? laterValue
        ? this.holdAgainst(idx, laterValue)
        : { kind: 'val' as const, val: idx }
      : undefined;
    const later = laterValue ? this.genExpr(laterValue, at.element)! : undefined;
    const r = this.unhold(heldRef);
    const i = heldIdx ? this.unhold(heldIdx) : undefined;
    this.emit('lw', { rd: SCRATCH1, rs1: r.lo, imm: 0 });
    this.pendingValue = later;
    if (i === undefined) {
      const k = Number(ci);
      if (k < 0) {
        this.ctx.usesTrap = true;
        this.jump(TRAP_LABEL);
      } else {
        this.li(SCRATCH2, k);
        this.trapIf('bgeu', SCRATCH2, SCRATCH1);
      }
      const offset = 4 + Math.max(0, k) * size;
      // Both words of a long must be reachable with a 12-bit displacement; else add the offset.
      if (offset + (size === 8 ? 4 : 0) <= 2047)
        return { base: r.lo, imm: offset, cleanup: () => this.release(r), elementType: at.element };
      this.li(SCRATCH2, offset);
      this.emit('add', { rd: SCRATCH1, rs1: r.lo, rs2: SCRATCH2 });
      this.release(r);
      return { base: SCRATCH1, imm: 0, cleanup: () => {}, elementType: at.element };
    }
    this.trapIf('bgeu', i.lo, SCRATCH1);
    if (shift > 0) {
      this.emit('slli', { rd: SCRATCH1, rs1: i.lo, imm: shift });
      this.emit('add', { rd: SCRATCH1, rs1: SCRATCH1, rs2: r.lo });
    } else this.emit('add', { rd: SCRATCH1, rs1: i.lo, rs2: r.lo });
    this.release(i);
    this.release(r);
    return { base: SCRATCH1, imm: 4, cleanup: () => {}, elementType: at.element };
  }

  /** The value evaluated between the address and the store by `elementAddress` (assignments). */
  private pendingValue: Val | undefined;

  private absolute(upper: number, lower: number): { base: number; imm: number } {
    this.emit('lui', { rd: SCRATCH1, imm: upper });
    return { base: SCRATCH1, imm: lower };
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
    if (!wide && lo === 0) return { lo: R.zero, hi: -1, owned: false };
    if (wide && lo === 0 && hi === 0) return { lo: R.zero, hi: R.zero, owned: false };
    const v = this.fresh(wide);
    this.li(v.lo, lo);
    if (wide) this.li(v.hi, hi);
    return v;
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
      const d = this.own(v);
      d.hi = this.alloc();
      this.emit('srai', { rd: d.hi, rs1: d.lo, imm: 31 });
      return d;
    }
    if (!isLong(to) && isLong(from)) {
      if (v.owned) this.releaseReg(v.hi);
      const r = { lo: v.lo, hi: -1, owned: v.owned };
      return this.narrow(r, to);
    }
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
    const d = this.dest(false, v);
    this.emit('slli', { rd: d.lo, rs1: v.lo, imm: bits });
    this.emit(n === 'char' ? 'srli' : 'srai', { rd: d.lo, rs1: d.lo, imm: bits });
    if (d !== v) this.release(v);
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
          const ref = this.genExpr(e.target, undefined)!;
          const d = this.dest(false, ref);
          this.emit('lw', { rd: d.lo, rs1: ref.lo, imm: 0 });
          if (d !== ref) this.release(ref);
          return d;
        }
        const sym = e.symbol!;
        const h = this.homes.get(sym);
        if (h) return this.loadHome(h, isLong(sym.type));
        const f = this.ctx.fieldMap.get(sym);
        if (!f) throw new Error(`internal: no storage for ${sym.name}`);
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
        a.cleanup();
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
        const d = this.dest(isLong(t), v);
        if (e.op === '~') {
          this.emit('xori', { rd: d.lo, rs1: v.lo, imm: -1 });
          if (isLong(t)) this.emit('xori', { rd: d.hi, rs1: v.hi, imm: -1 });
        } else if (isLong(t)) {
          // -(hi:lo) = (~hi + (lo == 0)) : -lo
          this.emit('sltiu', { rd: SCRATCH1, rs1: v.lo, imm: 1 });
          this.emit('sub', { rd: d.lo, rs1: R.zero, rs2: v.lo });
          this.emit('xori', { rd: d.hi, rs1: v.hi, imm: -1 });
          this.emit('add', { rd: d.hi, rs1: d.hi, rs2: SCRATCH1 });
        } else this.emit('sub', { rd: d.lo, rs1: R.zero, rs2: v.lo });
        if (d !== v) this.release(v);
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
        // Each arm is evaluated with the whole pool; both leave the result in the same registers.
        const t = e.type!;
        const elseLabel = this.newLabel('celse');
        const end = this.newLabel('cend');
        this.genCond(e.cond, elseLabel, false);
        const a = this.own(this.genExpr(e.then, t)!);
        this.release(a);
        this.jump(end);
        this.label(elseLabel);
        const b = this.genExpr(e.else, t)!;
        this.parallelMove(
          a.hi >= 0
            ? [
                [a.lo, b.lo],
                [a.hi, b.hi],
              ]
            : [[a.lo, b.lo]],
        );
        this.release(b);
        this.claim(a.lo);
        if (a.hi >= 0) this.claim(a.hi);
        this.label(end);
        return a;
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
      const a = this.genExpr(e.left, e.operandType)!;
      const held = this.holdAgainst(a, e.right);
      const b = this.genExpr(e.right, e.operandType)!;
      const l = this.unhold(held);
      const d = this.dest(false, l, b);
      switch (e.op) {
        case '<':
          this.emit('slt', { rd: d.lo, rs1: l.lo, rs2: b.lo });
          break;
        case '>':
          this.emit('slt', { rd: d.lo, rs1: b.lo, rs2: l.lo });
          break;
        case '<=':
          this.emit('slt', { rd: d.lo, rs1: b.lo, rs2: l.lo });
          this.emit('xori', { rd: d.lo, rs1: d.lo, imm: 1 });
          break;
        case '>=':
          this.emit('slt', { rd: d.lo, rs1: l.lo, rs2: b.lo });
          this.emit('xori', { rd: d.lo, rs1: d.lo, imm: 1 });
          break;
        case '==':
          this.emit('xor', { rd: d.lo, rs1: l.lo, rs2: b.lo });
          this.emit('sltiu', { rd: d.lo, rs1: d.lo, imm: 1 });
          break;
        case '!=':
          this.emit('xor', { rd: d.lo, rs1: l.lo, rs2: b.lo });
          this.emit('sltu', { rd: d.lo, rs1: R.zero, rs2: d.lo });
          break;
        case '&':
          this.emit('and', { rd: d.lo, rs1: l.lo, rs2: b.lo });
          break;
        case '|':
          this.emit('or', { rd: d.lo, rs1: l.lo, rs2: b.lo });
          break;
        case '^':
          this.emit('xor', { rd: d.lo, rs1: l.lo, rs2: b.lo });
          break;
      }
      if (d !== l) this.release(l);
      if (d !== b) this.release(b);
      return d;
    }
    if (e.kind === 'unary' && e.op === '!') {
      const v = this.genExpr(e.operand, undefined)!;
      const d = this.dest(false, v);
      this.emit('xori', { rd: d.lo, rs1: v.lo, imm: 1 });
      if (d !== v) this.release(v);
      return d;
    }
    const isTrue = this.newLabel('true');
    const end = this.newLabel('bool');
    this.genCond(e, isTrue, true);
    const d = this.fresh(false);
    this.li(d.lo, 0);
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
      const a = this.genExpr(e.left, ot)!;
      const held = this.holdAgainst(a, e.right);
      const b = this.genExpr(e.right, ot)!;
      const l = this.unhold(held);
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
        this.emit('xor', { rd: SCRATCH1, rs1: x.lo, rs2: y.lo });
        this.emit('xor', { rd: SCRATCH2, rs1: x.hi, rs2: y.hi });
        this.emit('or', { rd: SCRATCH1, rs1: SCRATCH1, rs2: SCRATCH2 });
        this.branch(op === '==' ? 'beq' : 'bne', SCRATCH1, R.zero, target);
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
      this.release(l);
      this.release(b);
      return;
    }
    const v = this.genExpr(e, undefined)!;
    this.branch(jumpIf ? 'bne' : 'beq', v.lo, R.zero, target);
    this.release(v);
  }

  /** a op b in type t (int or long); consumes nothing it does not own. */
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
    const held = this.holdAgainst(a, right);
    const b = this.genExpr(
      right,
      isShift ? (isLong(right.type!) ? right.type! : { kind: 'primitive', name: 'int' }) : t,
    )!;
    const l = this.unhold(held);
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
      const d = this.dest(false, a);
      this.emit(s[0], { rd: d.lo, rs1: a.lo, imm: s[1] });
      if (d !== a) this.release(a);
      return d;
    }
    if ((op === '/' || op === '%') && k !== 0) {
      const d = this.dest(false, a);
      this.li(SCRATCH1, k);
      this.emit(op === '/' ? 'div' : 'rem', { rd: d.lo, rs1: a.lo, rs2: SCRATCH1 });
      if (d !== a) this.release(a);
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
      const d = this.dest(false, a, b);
      this.emit(m, { rd: d.lo, rs1: a.lo, rs2: b.lo });
      if (d !== a) this.release(a);
      if (d !== b) this.release(b);
      return d;
    }
    switch (op) {
      case '+':
      case '-': {
        const d = this.dest(true, a, b);
        if (op === '+') {
          this.emit('add', { rd: SCRATCH1, rs1: a.lo, rs2: b.lo });
          this.emit('sltu', { rd: SCRATCH2, rs1: SCRATCH1, rs2: a.lo });
          this.emit('add', { rd: d.hi, rs1: a.hi, rs2: b.hi });
        } else {
          this.emit('sltu', { rd: SCRATCH2, rs1: a.lo, rs2: b.lo });
          this.emit('sub', { rd: SCRATCH1, rs1: a.lo, rs2: b.lo });
          this.emit('sub', { rd: d.hi, rs1: a.hi, rs2: b.hi });
        }
        this.emit(op === '+' ? 'add' : 'sub', { rd: d.hi, rs1: d.hi, rs2: SCRATCH2 });
        this.mv(d.lo, SCRATCH1);
        if (d !== a) this.release(a);
        if (d !== b) this.release(b);
        return d;
      }
      case '*': {
        const d = this.dest(true, a, b);
        this.emit('mulhu', { rd: SCRATCH1, rs1: a.lo, rs2: b.lo });
        this.emit('mul', { rd: SCRATCH2, rs1: a.lo, rs2: b.hi });
        this.emit('add', { rd: SCRATCH1, rs1: SCRATCH1, rs2: SCRATCH2 });
        this.emit('mul', { rd: SCRATCH2, rs1: a.hi, rs2: b.lo });
        this.emit('add', { rd: SCRATCH1, rs1: SCRATCH1, rs2: SCRATCH2 });
        this.emit('mul', { rd: d.lo, rs1: a.lo, rs2: b.lo });
        this.mv(d.hi, SCRATCH1);
        if (d !== a) this.release(a);
        if (d !== b) this.release(b);
        return d;
      }
      case '&':
      case '|':
      case '^': {
        const m = { '&': 'and', '|': 'or', '^': 'xor' }[op];
        const d = this.dest(true, a, b);
        this.emit(m, { rd: d.lo, rs1: a.lo, rs2: b.lo });
        this.emit(m, { rd: d.hi, rs1: a.hi, rs2: b.hi });
        if (d !== a) this.release(a);
        if (d !== b) this.release(b);
        return d;
      }
      case '/':
      case '%': {
        this.emit('or', { rd: SCRATCH1, rs1: b.lo, rs2: b.hi });
        this.trapIf('beq', SCRATCH1, R.zero);
        return this.callRuntime(op === '/' ? '$ldiv' : '$lrem', [a, b], true);
      }
      case '<<':
      case '>>':
      case '>>>': {
        const count = longCount ? { lo: b.lo, hi: -1, owned: false } : b;
        const r = this.callRuntime({ '<<': '$lshl', '>>': '$lshr', '>>>': '$lushr' }[op], [a, count], true);
        if (longCount) this.release(b);
        return r;
      }
    }
    throw new Error(`internal: long operator ${op}`);
  }

  private longShiftConstant(op: string, a: Val, n: number): Val {
    if (n === 0) return a;
    const d = this.dest(true, a);
    if (op === '<<') {
      if (n >= 32) {
        this.emit('slli', { rd: d.hi, rs1: a.lo, imm: n - 32 });
        this.mv(d.lo, R.zero);
      } else {
        this.emit('srli', { rd: SCRATCH1, rs1: a.lo, imm: 32 - n });
        this.emit('slli', { rd: d.hi, rs1: a.hi, imm: n });
        this.emit('or', { rd: d.hi, rs1: d.hi, rs2: SCRATCH1 });
        this.emit('slli', { rd: d.lo, rs1: a.lo, imm: n });
      }
    } else {
      const arith = op === '>>';
      if (n >= 32) {
        this.emit(arith ? 'srai' : 'srli', { rd: d.lo, rs1: a.hi, imm: n - 32 });
        if (arith) this.emit('srai', { rd: d.hi, rs1: a.hi, imm: 31 });
        else this.mv(d.hi, R.zero);
      } else {
        this.emit('slli', { rd: SCRATCH1, rs1: a.hi, imm: 32 - n });
        this.emit('srli', { rd: d.lo, rs1: a.lo, imm: n });
        this.emit('or', { rd: d.lo, rs1: d.lo, rs2: SCRATCH1 });
        this.emit(arith ? 'srai' : 'srli', { rd: d.hi, rs1: a.hi, imm: n });
      }
    }
    if (d !== a) this.release(a);
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
        const b = this.genExpr(
          e.value,
          isShift ? (isLong(e.value.type!) ? e.value.type! : { kind: 'primitive', name: 'int' }) : ot,
        )!;
        r = this.binaryOp(op, this.unhold(held), b, ot, isShift && isLong(e.value.type!));
      }
      return this.convert(r, ot, tt);
    };
    if (target.kind === 'index') {
      if (e.op === '=') {
        const a = this.elementAddress(target.array, target.index, e.value);
        const v = this.pendingValue!;
        this.pendingValue = undefined;
        this.storeMemory(v, a.elementType, a.base, a.imm);
        a.cleanup();
        if (discard) {
          this.release(v);
          return undefined;
        }
        return v;
      }
      // Compound: compute the address once, keep it in an owned temporary.
      const a = this.elementAddress(target.array, target.index, undefined);
      const addr = this.fresh(false);
      this.emit('addi', { rd: addr.lo, rs1: a.base, imm: a.imm });
      a.cleanup();
      const old = this.fresh(isLong(tt));
      this.loadMemory(old, tt, addr.lo, 0);
      const held = this.hold(addr);
      const v = compute(old);
      const ad = this.unhold(held);
      this.storeMemory(v, tt, ad.lo, 0);
      this.release(ad);
      if (discard) {
        this.release(v);
        return undefined;
      }
      return v;
    }
    const sym = (target as { symbol?: VariableSymbol }).symbol!;
    const h = this.homes.get(sym);
    const f = h ? undefined : this.ctx.fieldMap.get(sym);
    const old = e.op === '=' ? undefined : h ? this.loadHome(h, isLong(tt)) : this.loadField(f!);
    let v = compute(old);
    if (h) {
      this.storeHome(h, v);
      if (h.kind === 'reg') {
        this.release(v);
        v = { lo: h.lo, hi: isLong(tt) ? h.hi : -1, owned: false };
      }
    } else this.storeField(f!, v);
    if (discard) {
      this.release(v);
      return undefined;
    }
    return v;
  }

  private genIncDec(e: Extract<Expr, { kind: 'incdec' }>, discard: boolean): Val | undefined {
    const target = e.operand;
    const t = target.type!;
    const wide = isLong(t);
    const delta = e.op === '++' ? 1 : -1;
    const bump = (old: Val): Val => {
      const copy = this.own(old);
      if (!wide) {
        const d = this.fresh(false);
        this.emit('addi', { rd: d.lo, rs1: copy.lo, imm: delta });
        return this.narrow(d, t);
      }
      const d = this.fresh(true);
      this.emit('addi', { rd: d.lo, rs1: copy.lo, imm: delta });
      if (delta === 1) this.emit('sltu', { rd: SCRATCH1, rs1: d.lo, rs2: copy.lo });
      else this.emit('sltu', { rd: SCRATCH1, rs1: copy.lo, rs2: d.lo });
      this.emit(delta === 1 ? 'add' : 'sub', { rd: d.hi, rs1: copy.hi, rs2: SCRATCH1 });
      return d;
    };
    let addr: Val | undefined;
    let old: Val;
    const sym = target.kind === 'index' ? undefined : (target as { symbol?: VariableSymbol }).symbol!;
    const h = sym ? this.homes.get(sym) : undefined;
    const f = sym && !h ? this.ctx.fieldMap.get(sym) : undefined;
    if (target.kind === 'index') {
      const a = this.elementAddress(target.array, target.index, undefined);
      addr = this.fresh(false);
      this.emit('addi', { rd: addr.lo, rs1: a.base, imm: a.imm });
      a.cleanup();
      old = this.fresh(wide);
      this.loadMemory(old, t, addr.lo, 0);
    } else old = h ? this.loadHome(h, wide) : this.loadField(f!);
    // Fast path: a register-homed int local.
    if (h?.kind === 'reg' && !wide && primName(t) === 'int') {
      if (discard || e.prefix) {
        this.emit('addi', { rd: h.lo, rs1: h.lo, imm: delta });
        return discard ? undefined : { lo: h.lo, hi: -1, owned: false };
      }
      const copy = this.own(old);
      this.emit('addi', { rd: h.lo, rs1: h.lo, imm: delta });
      return copy;
    }
    const oldOwned = this.own(old);
    if (addr) {
      // new value in the scratch registers: address, old value and nothing else stay live.
      this.emit('addi', { rd: SCRATCH1, rs1: oldOwned.lo, imm: delta });
      if (wide) {
        if (delta === 1) this.emit('sltu', { rd: SCRATCH2, rs1: SCRATCH1, rs2: oldOwned.lo });
        else this.emit('sltu', { rd: SCRATCH2, rs1: oldOwned.lo, rs2: SCRATCH1 });
        this.emit(delta === 1 ? 'add' : 'sub', { rd: SCRATCH2, rs1: oldOwned.hi, rs2: SCRATCH2 });
      } else {
        const n = primName(t);
        const bits = n === 'byte' ? 24 : n === 'short' || n === 'char' ? 16 : 0;
        if (bits > 0) {
          this.emit('slli', { rd: SCRATCH1, rs1: SCRATCH1, imm: bits });
          this.emit(n === 'char' ? 'srli' : 'srai', { rd: SCRATCH1, rs1: SCRATCH1, imm: bits });
        }
      }
      this.storeMemory({ lo: SCRATCH1, hi: wide ? SCRATCH2 : -1, owned: false }, t, addr.lo, 0);
      this.release(addr);
      if (discard) {
        this.release(oldOwned);
        return undefined;
      }
      if (e.prefix) {
        this.mv(oldOwned.lo, SCRATCH1);
        if (wide) this.mv(oldOwned.hi, SCRATCH2);
      }
      return oldOwned;
    }
    const nv = bump(oldOwned);
    if (h) this.storeHome(h, nv);
    else this.storeField(f!, nv);
    if (discard) {
      this.release(nv);
      this.release(oldOwned);
      return undefined;
    }
    if (e.prefix) {
      this.release(oldOwned);
      return nv;
    }
    this.release(nv);
    return oldOwned;
  }

  // ---------- calls

  /** Saves every live temporary (except `keep`) before a call; returns the restore function. */
  private saveLive(keep: Set<number>): () => void {
    const live = [...this.inUse].filter((r) => !keep.has(r));
    const slots = live.map(() => this.slot());
    live.forEach((r, i) => {
      this.emit('sw', { rs1: R.sp, rs2: r, imm: slots[i]! });
    });
    return () => {
      live.forEach((r, i) => {
        this.emit('lw', { rd: r, rs1: R.sp, imm: slots[i]! });
        this.freeSlots.push(slots[i]!);
      });
    };
  }

  /** Places argument values in a0.. (in order, longs as pairs) and calls `label`. */
  private callWith(label: string, args: (Val | Held)[], resultWide: boolean | undefined): Val | undefined {
    let next = 0;
    const moves: [number, number][] = [];
    const loads: [number, number][] = [];
    for (const arg of args) {
      const held: Held = 'kind' in arg ? arg : { kind: 'val', val: arg };
      if (held.kind === 'val') {
        moves.push([argumentRegisters[next++]!, held.val.lo]);
        if (held.val.hi >= 0) moves.push([argumentRegisters[next++]!, held.val.hi]);
        this.release(held.val);
      } else {
        loads.push([argumentRegisters[next++]!, held.offset]);
        if (held.wide) loads.push([argumentRegisters[next++]!, held.offset + 4]);
      }
    }
    const restore = this.saveLive(new Set());
    this.parallelMove(moves);
    for (const [to, offset] of loads) this.emit('lw', { rd: to, rs1: R.sp, imm: offset });
    for (const arg of args) if ('kind' in arg && arg.kind === 'slot') this.freeSlots.push(arg.offset);
    this.emit('jal', { rd: R.ra, imm: 0 }, label);
    restore();
    if (resultWide === undefined) return undefined;
    const d = this.fresh(resultWide);
    this.mv(d.lo, R.a0);
    if (resultWide) this.mv(d.hi, R.a1);
    return d;
  }

  private callRuntime(name: string, args: Val[], wide: boolean): Val {
    const label = this.ctx.callRuntime(name);
    this.callees.add(label);
    return this.callWith(label, args, wide)!;
  }

  private evaluateArgs(args: Expr[], types: readonly Type[]): Held[] {
    const held: Held[] = [];
    args.forEach((a, i) => {
      const v = this.genExpr(a, types[i])!;
      held.push(this.holdAgainst(v, args.slice(i + 1)));
    });
    // Calls inside later arguments saved live temporaries themselves.
    return held;
  }

  private genCall(e: Extract<Expr, { kind: 'call' }>): Val | undefined {
    const m = e.method!;
    const words = m.params.reduce((n, p) => n + (isLong(p) ? 2 : p.kind === 'class' ? 0 : 1), 0);
    if (words > 8) {
      this.ctx.diagnostics.error('CHECK_LIMIT', `a call passes more than 8 words of arguments`, e.span);
      return m.returnType.kind === 'void' ? undefined : this.constVal(0n, isLong(m.returnType));
    }
    const real = e.args.map((a, i) => [a, m.params[i]!] as const).filter(([, t]) => t.kind !== 'class');
    const vals = this.evaluateArgs(
      real.map(([a]) => a),
      real.map(([, t]) => t),
    );
    const label = this.ctx.callMethod(m);
    this.callees.add(label);
    return this.callWith(label, vals, m.returnType.kind === 'void' ? undefined : isLong(m.returnType));
  }

  // ---------- the capsule API

  private loadAbsolute(rd: number, address: number, op: string): void {
    const { upper, lower } = splitConstant(address);
    this.emit('lui', { rd, imm: upper });
    this.emit(op, { rd, rs1: rd, imm: lower });
  }

  private storeAbsolute(value: number, address: number, op = 'sw'): void {
    const { upper, lower } = splitConstant(address);
    this.emit('lui', { rd: SCRATCH2, imm: upper });
    this.emit(op, { rs1: SCRATCH2, rs2: value, imm: lower });
  }

  private ecall(service: number, args: Val[], result: boolean): Val | undefined {
    args.forEach((a, i) => {
      this.mv(argumentRegisters[i]!, a.lo);
    });
    for (const a of args) this.release(a);
    this.li(R.a7, service);
    this.emit('ecall');
    if (!result) return undefined;
    const d = this.fresh(false);
    this.mv(d.lo, R.a0);
    return d;
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
    const a = this.genExpr(e.args[0]!, method.params[0])!;
    let b: Val | undefined;
    let x: Val = a;
    const isRotate = id === 'Integer.rotateLeft(int,int)' || id === 'Integer.rotateRight(int,int)';
    if (e.args.length > 1 && !(isRotate && constants[1] !== undefined)) {
      const held = this.holdAgainst(a, e.args[1]!);
      b = this.genExpr(e.args[1]!, method.params[1])!;
      x = this.unhold(held);
    }
    const S = SCRATCH1;
    const emit = (m: string, rd: number, rs1: number, rs2OrImm?: number, isImm = false) =>
      this.emit(
        m,
        isImm
          ? { rd, rs1, imm: rs2OrImm }
          : rs2OrImm === undefined
            ? { rd, rs1 }
            : { rd, rs1, rs2: rs2OrImm },
      );
    const imm = (m: string, rd: number, rs1: number, value: number) => emit(m, rd, rs1, value, true);
    /** d = popcount(d), with t a temporary (SWAR, Hacker's Delight 5-2). */
    const popcount = (d: number, t: number) => {
      imm('srli', t, d, 1);
      this.li(S, 0x55555555);
      emit('and', t, t, S);
      emit('sub', d, d, t);
      this.li(S, 0x33333333);
      imm('srli', t, d, 2);
      emit('and', t, t, S);
      emit('and', d, d, S);
      emit('add', d, d, t);
      imm('srli', t, d, 4);
      emit('add', d, d, t);
      this.li(S, 0x0f0f0f0f);
      emit('and', d, d, S);
      this.li(S, 0x01010101);
      emit('mul', d, d, S);
      imm('srli', d, d, 24);
    };
    /** d = the bytes of s reversed, with t a temporary (d may be s). */
    const reverseBytes = (d: number, s: number, t: number) => {
      imm('srli', t, s, 24);
      this.li(S, 0xff00);
      imm('srli', SCRATCH2, s, 8);
      emit('and', SCRATCH2, SCRATCH2, S);
      emit('or', t, t, SCRATCH2);
      emit('and', SCRATCH2, s, S);
      imm('slli', SCRATCH2, SCRATCH2, 8);
      emit('or', t, t, SCRATCH2);
      imm('slli', d, s, 24);
      emit('or', d, d, t);
    };
    const result = (d: Val, ...consumed: (Val | undefined)[]) => {
      for (const v of consumed) if (v && v !== d) this.release(v);
      return d;
    };
    switch (id) {
      case 'Integer.bitCount(int)': {
        const d = this.own(x);
        const t = this.fresh(false);
        popcount(d.lo, t.lo);
        return result(d, t);
      }
      case 'Integer.numberOfTrailingZeros(int)': {
        // popcount(~x & (x - 1)): the zeros below the lowest one (32 for 0).
        const d = this.dest(false, x);
        const t = this.fresh(false);
        imm('addi', t.lo, x.lo, -1);
        imm('xori', d.lo, x.lo, -1);
        emit('and', d.lo, d.lo, t.lo);
        popcount(d.lo, t.lo);
        return result(d, t, x);
      }
      case 'Integer.numberOfLeadingZeros(int)': {
        // Binary search, branch-free: shift the highest one up by 16, 8, 4, 2, 1 when it is not there.
        const d = this.own(x);
        const n = this.fresh(false);
        imm('srli', S, d.lo, 16);
        imm('sltiu', S, S, 1);
        imm('slli', n.lo, S, 4);
        emit('sll', d.lo, d.lo, n.lo);
        for (const [k, s] of [
          [24, 3],
          [28, 2],
          [30, 1],
        ] as const) {
          imm('srli', S, d.lo, k);
          imm('sltiu', S, S, 1);
          imm('slli', S, S, s);
          emit('sll', d.lo, d.lo, S);
          emit('add', n.lo, n.lo, S);
        }
        imm('srli', S, d.lo, 31);
        imm('sltiu', S, S, 1);
        emit('add', n.lo, n.lo, S);
        imm('sltiu', S, d.lo, 1); // 0 stays 0: one more
        emit('add', n.lo, n.lo, S);
        return result(n, d);
      }
      case 'Integer.reverseBytes(int)': {
        const d = this.dest(false, x);
        const t = this.fresh(false);
        reverseBytes(d.lo, x.lo, t.lo);
        return result(d, t, x);
      }
      case 'Integer.reverse(int)': {
        const d = this.own(x);
        const t = this.fresh(false);
        for (const [k, mask] of [
          [1, 0x55555555],
          [2, 0x33333333],
          [4, 0x0f0f0f0f],
        ] as const) {
          this.li(S, mask);
          imm('srli', t.lo, d.lo, k);
          emit('and', t.lo, t.lo, S);
          emit('and', d.lo, d.lo, S);
          imm('slli', d.lo, d.lo, k);
          emit('or', d.lo, d.lo, t.lo);
        }
        reverseBytes(d.lo, d.lo, t.lo);
        return result(d, t);
      }
      case 'Integer.rotateLeft(int,int)':
      case 'Integer.rotateRight(int,int)': {
        const left = id === 'Integer.rotateLeft(int,int)';
        const k = this.ctx.constants(e.args[1]!);
        // x is read after d is written in the variable form: d may reuse b, not x.
        const d = k !== undefined ? this.dest(false, x) : this.dest(false, b!);
        if (k !== undefined) {
          const n = Number(BigInt.asUintN(5, left ? k : -k));
          if (n === 0) {
            this.mv(d.lo, x.lo);
          } else {
            imm('slli', S, x.lo, n);
            imm('srli', d.lo, x.lo, 32 - n);
            emit('or', d.lo, d.lo, S);
          }
          return result(d, x, b);
        }
        emit(left ? 'sll' : 'srl', S, x.lo, b!.lo);
        emit('sub', d.lo, R.zero, b!.lo);
        emit(left ? 'srl' : 'sll', d.lo, x.lo, d.lo);
        emit('or', d.lo, d.lo, S);
        return result(d, x, b);
      }
      case 'Integer.toUnsignedLong(int)': {
        const d = this.own(x);
        d.hi = this.alloc();
        this.li(d.hi, 0);
        return d;
      }
      case 'Integer.compareUnsigned(int,int)': {
        const d = this.dest(false, x, b!);
        emit('sltu', S, b!.lo, x.lo);
        emit('sltu', d.lo, x.lo, b!.lo);
        emit('sub', d.lo, S, d.lo);
        return result(d, x, b);
      }
      case 'Integer.divideUnsigned(int,int)':
      case 'Integer.remainderUnsigned(int,int)': {
        this.trapIf('beq', b!.lo, R.zero);
        const d = this.dest(false, x, b!);
        emit(id === 'Integer.divideUnsigned(int,int)' ? 'divu' : 'remu', d.lo, x.lo, b!.lo);
        return result(d, x, b);
      }
      case 'Long.compareUnsigned(long,long)': {
        // The high words decide unless they are equal.
        const d = this.fresh(false);
        const done = this.newLabel('ucmp');
        emit('sltu', S, b!.hi, x.hi);
        emit('sltu', d.lo, x.hi, b!.hi);
        this.branch('bne', x.hi, b!.hi, done);
        emit('sltu', S, b!.lo, x.lo);
        emit('sltu', d.lo, x.lo, b!.lo);
        this.label(done);
        emit('sub', d.lo, S, d.lo);
        return result(d, x, b);
      }
      case 'Long.divideUnsigned(long,long)':
      case 'Long.remainderUnsigned(long,long)': {
        emit('or', S, b!.lo, b!.hi);
        this.trapIf('beq', S, R.zero);
        const wantRemainder = this.constVal(id === 'Long.remainderUnsigned(long,long)' ? 1n : 0n, false);
        return this.callRuntime('$udivrem', [x, b!, wantRemainder], true);
      }
      case 'Math.abs(int)': {
        const d = this.dest(false, x);
        imm('srai', S, x.lo, 31);
        emit('xor', d.lo, x.lo, S);
        emit('sub', d.lo, d.lo, S);
        return result(d, x);
      }
      case 'Math.abs(long)': {
        // Negate when negative: (v ^ m) - m with m the sign mask, the carry into the high word.
        const d = this.dest(true, x);
        imm('srai', S, x.hi, 31);
        emit('xor', SCRATCH2, x.lo, S);
        emit('xor', d.hi, x.hi, S);
        emit('sub', d.lo, SCRATCH2, S);
        emit('sltu', SCRATCH2, d.lo, SCRATCH2);
        emit('add', d.hi, d.hi, SCRATCH2);
        return result(d, x);
      }
      case 'Math.min(int,int)':
      case 'Math.max(int,int)': {
        const d = this.dest(false, x);
        const keep = this.newLabel('minmax');
        this.mv(d.lo, x.lo);
        if (id === 'Math.min(int,int)') this.branch('blt', x.lo, b!.lo, keep);
        else this.branch('blt', b!.lo, x.lo, keep);
        this.mv(d.lo, b!.lo);
        this.label(keep);
        return result(d, x, b);
      }
      case 'Math.min(long,long)':
      case 'Math.max(long,long)': {
        // Keep x when it is the smaller (larger); compare high words signed, then low unsigned.
        const [lo, hi] = id === 'Math.min(long,long)' ? [x, b!] : [b!, x];
        const d = this.dest(true, x);
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
        return result(d, x, b);
      }
    }
    throw new Error(`internal: java.lang intrinsic ${id}`);
  }

  private genIntrinsic(e: Extract<Expr, { kind: 'call' }>): Val | undefined {
    const id = e.intrinsic!;
    const arg = (i: number) => this.genExpr(e.args[i]!, { kind: 'primitive', name: 'int' })!;
    const packet = (field: number, op: string) => {
      const d = this.fresh(false);
      this.loadAbsolute(d.lo, PACKET_BASE + field, op);
      return d;
    };
    const engineLink = (field: number) => {
      const i = this.own(arg(0));
      this.li(SCRATCH1, ENGINE_LINK_BYTES);
      this.emit('mul', { rd: i.lo, rs1: i.lo, rs2: SCRATCH1 });
      const { upper, lower } = splitConstant(ENGINE_BASE + EngineField.LINK_TABLE + field);
      this.emit('lui', { rd: SCRATCH1, imm: upper });
      this.emit('add', { rd: i.lo, rs1: i.lo, rs2: SCRATCH1 });
      this.emit('lw', { rd: i.lo, rs1: i.lo, imm: lower });
      return i;
    };
    const setVerdict = (verdict: number) => {
      this.li(SCRATCH1, verdict);
      this.storeAbsolute(SCRATCH1, ACTION_BASE + ActionField.VERDICT);
    };
    switch (id) {
      case 'Packet.srcAddress':
      case 'Packet.dstAddress': {
        // Big-endian word i of the address: four byte loads.
        const base =
          PACKET_BASE + (id === 'Packet.srcAddress' ? PacketField.SRC_ADDRESS : PacketField.DST_ADDRESS);
        const i = this.own(arg(0));
        this.emit('andi', { rd: i.lo, rs1: i.lo, imm: 3 });
        this.emit('slli', { rd: i.lo, rs1: i.lo, imm: 2 });
        const { upper, lower } = splitConstant(base);
        this.emit('lui', { rd: SCRATCH1, imm: upper });
        this.emit('add', { rd: SCRATCH1, rs1: SCRATCH1, rs2: i.lo });
        this.emit('lbu', { rd: i.lo, rs1: SCRATCH1, imm: lower });
        for (let k = 1; k < 4; k++) {
          this.emit('slli', { rd: i.lo, rs1: i.lo, imm: 8 });
          this.emit('lbu', { rd: SCRATCH2, rs1: SCRATCH1, imm: lower + k });
          this.emit('or', { rd: i.lo, rs1: i.lo, rs2: SCRATCH2 });
        }
        return i;
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
      case 'Path.hopIndex': {
        const d = this.fresh(false);
        this.loadAbsolute(d.lo, PATH_BASE + PathOffset.HOP_INDEX, 'lbu');
        return d;
      }
      case 'Path.hopCount': {
        const d = this.fresh(false);
        this.loadAbsolute(d.lo, PATH_BASE + PathOffset.HOP_COUNT, 'lbu');
        return d;
      }
      case 'Path.hop':
      case 'Path.hopFlags': {
        // Hop i: engine id (u16, network byte order), entry index (u8), flags (u8) at 8 + 4i.
        const i = this.own(arg(0));
        this.emit('slli', { rd: i.lo, rs1: i.lo, imm: 2 });
        const { upper, lower } = splitConstant(PATH_BASE + PathOffset.HOPS);
        this.emit('lui', { rd: SCRATCH1, imm: upper });
        this.emit('add', { rd: SCRATCH1, rs1: SCRATCH1, rs2: i.lo });
        if (id === 'Path.hopFlags') this.emit('lbu', { rd: i.lo, rs1: SCRATCH1, imm: lower + 3 });
        else {
          this.emit('lbu', { rd: i.lo, rs1: SCRATCH1, imm: lower });
          this.emit('lbu', { rd: SCRATCH2, rs1: SCRATCH1, imm: lower + 1 });
          this.emit('slli', { rd: i.lo, rs1: i.lo, imm: 8 });
          this.emit('or', { rd: i.lo, rs1: i.lo, rs2: SCRATCH2 });
        }
        return i;
      }
      case 'Path.setHopIndex': {
        const v = arg(0);
        this.storeAbsolute(v.lo, PATH_BASE + PathOffset.HOP_INDEX, 'sb');
        this.release(v);
        return undefined;
      }
      case 'Engine.id': {
        const d = this.fresh(false);
        this.loadAbsolute(d.lo, ENGINE_BASE + EngineField.ENGINE_ID, 'lw');
        return d;
      }
      case 'Engine.tags': {
        const d = this.fresh(false);
        this.loadAbsolute(d.lo, ENGINE_BASE + EngineField.TAGS, 'lw');
        return d;
      }
      case 'Engine.linkCount': {
        const d = this.fresh(false);
        this.loadAbsolute(d.lo, ENGINE_BASE + EngineField.LINK_COUNT, 'lw');
        return d;
      }
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
        const v = arg(0);
        const { upper, lower } = splitConstant(ACTION_BASE);
        this.emit('lui', { rd: SCRATCH2, imm: upper });
        this.li(SCRATCH1, Verdict.FORWARD);
        this.emit('sw', { rs1: SCRATCH2, rs2: SCRATCH1, imm: lower + ActionField.VERDICT });
        this.emit('sw', { rs1: SCRATCH2, rs2: v.lo, imm: lower + ActionField.EGRESS_LINKS });
        this.emit('sw', { rs1: SCRATCH2, rs2: SCRATCH1, imm: lower + ActionField.EGRESS_COUNT });
        this.release(v);
        return undefined;
      }
      case 'Action.replicate': {
        const v = arg(0);
        const { upper, lower } = splitConstant(ACTION_BASE);
        this.emit('lui', { rd: SCRATCH2, imm: upper });
        this.li(SCRATCH1, Verdict.REPLICATE);
        this.emit('sw', { rs1: SCRATCH2, rs2: SCRATCH1, imm: lower + ActionField.VERDICT });
        this.emit('lw', { rd: SCRATCH1, rs1: SCRATCH2, imm: lower + ActionField.EGRESS_COUNT });
        this.emit('addi', { rd: SCRATCH1, rs1: SCRATCH1, imm: 1 });
        this.emit('sw', { rs1: SCRATCH2, rs2: SCRATCH1, imm: lower + ActionField.EGRESS_COUNT });
        this.emit('slli', { rd: SCRATCH1, rs1: SCRATCH1, imm: 2 });
        this.emit('add', { rd: SCRATCH2, rs1: SCRATCH2, rs2: SCRATCH1 });
        // links[count] with the incremented count: entry = EGRESS_LINKS + 4 * (count + 1) - 4.
        this.emit('sw', { rs1: SCRATCH2, rs2: v.lo, imm: lower + ActionField.EGRESS_LINKS - 4 });
        this.release(v);
        return undefined;
      }
      case 'Action.deliver':
        setVerdict(Verdict.DELIVER);
        return undefined;
      case 'Action.drop': {
        const v = arg(0);
        const { upper, lower } = splitConstant(ACTION_BASE);
        this.emit('lui', { rd: SCRATCH2, imm: upper });
        this.li(SCRATCH1, Verdict.DROP);
        this.emit('sw', { rs1: SCRATCH2, rs2: SCRATCH1, imm: lower + ActionField.VERDICT });
        this.emit('sw', { rs1: SCRATCH2, rs2: v.lo, imm: lower + ActionField.DROP_REASON });
        this.release(v);
        return undefined;
      }
      case 'Action.cache':
      case 'Action.trace': {
        const { upper, lower } = splitConstant(ACTION_BASE + ActionField.FLAGS);
        this.emit('lui', { rd: SCRATCH2, imm: upper });
        this.emit('lw', { rd: SCRATCH1, rs1: SCRATCH2, imm: lower });
        this.emit('ori', {
          rd: SCRATCH1,
          rs1: SCRATCH1,
          imm: id === 'Action.cache' ? ActionFlag.CACHE : ActionFlag.TRACE,
        });
        this.emit('sw', { rs1: SCRATCH2, rs2: SCRATCH1, imm: lower });
        return undefined;
      }
      case 'Action.setNextEntry': {
        const v = arg(0);
        this.storeAbsolute(v.lo, ACTION_BASE + ActionField.NEXT_ENTRY);
        this.release(v);
        return undefined;
      }
      case 'Action.linkCount': {
        const d = this.fresh(false);
        this.loadAbsolute(d.lo, ACTION_BASE + ActionField.EGRESS_COUNT, 'lw');
        return d;
      }
      case 'Services.flowHash':
        return this.ecall(Service.FLOW_HASH, [e.args.length > 0 ? arg(0) : this.constVal(0n, false)], true);
      case 'Services.time':
        return this.ecall(Service.TIME, [], true);
      case 'Services.random':
        return this.ecall(Service.RANDOM, [], true);
      case 'Services.emit':
        return this.ecall(Service.EMIT, [], true);
      case 'Services.log': {
        // The message is the int's 4 bytes, stored in a frame slot.
        const v = arg(0);
        const slot = this.slot();
        this.emit('sw', { rs1: R.sp, rs2: v.lo, imm: slot });
        this.release(v);
        this.emit('addi', { rd: R.a0, rs1: R.sp, imm: slot });
        this.li(R.a1, 4);
        this.freeSlots.push(slot);
        return this.ecall(Service.LOG, [], true);
      }
      case 'Services.lookupTag': {
        const tag = arg(0);
        const held = this.hold(this.own(tag));
        const ref = this.genExpr(e.args[1]!, undefined)!;
        const t = this.unhold(held);
        this.mv(R.a0, t.lo);
        this.emit('lw', { rd: R.a2, rs1: ref.lo, imm: 0 });
        this.emit('addi', { rd: R.a1, rs1: ref.lo, imm: 4 });
        this.release(t);
        this.release(ref);
        return this.ecall(Service.LOOKUP_TAG, [], true);
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
        const idx = this.own(arg(1));
        const held = this.hold(idx);
        const delta = arg(2);
        const i = this.unhold(held);
        this.li(SCRATCH1, f.length ?? 0);
        this.trapIf('bgeu', i.lo, SCRATCH1);
        this.emit('slli', { rd: i.lo, rs1: i.lo, imm: 2 });
        this.li(SCRATCH1, CONTRACT_BASE + f.offset);
        this.emit('add', { rd: i.lo, rs1: i.lo, rs2: SCRATCH1 });
        this.emit('amoadd.w', { rd: i.lo, rs1: i.lo, rs2: delta.lo, aq: false, rl: false });
        this.release(delta);
        return i;
      }
    }
    throw new Error(`internal: intrinsic ${id}`);
  }
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
