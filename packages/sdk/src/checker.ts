/**
 * Stage 3: name resolution and Java's typing rules for the subset (JLS 5 conversions, 15
 * expressions, 14 statements). Annotates the tree in place (types, symbols, constants, switch
 * values) and reports every problem it finds; lowering runs only on a tree without errors.
 */
import type {
  ClassDecl,
  CompilationUnit,
  Expr,
  MethodDecl,
  MethodSymbol,
  StaticInit,
  Stmt,
  TypeNode,
  VariableKind,
  VariableSymbol,
} from './ast';
import { type BuiltinMethod, builtinClassNames, findBuiltinMethod } from './capsule-api';
import type { DiagnosticBag, SourceSpan } from './diagnostics';
import { findJavaLangMethods, javaLangClassNames } from './java-lang';
import {
  BOOLEAN,
  binaryPromote,
  CHAR,
  constantFits,
  ERROR,
  INT,
  isAssignable,
  isBoolean,
  isCastable,
  isIntegral,
  isLong,
  LONG,
  primName,
  sameType,
  type Type,
  typeName,
  unaryPromote,
  VOID,
  wrapTo,
} from './types';

/** What the checker hands to lowering. */
export interface CheckedProgram {
  readonly unit: CompilationUnit;
  readonly mainClass: ClassDecl | undefined;
  readonly fields: readonly VariableSymbol[];
  readonly methods: readonly MethodSymbol[];
  /** Constant values of constant expressions (JLS 15.28), by node. */
  readonly constants: WeakMap<Expr, bigint>;
  /** Number of local variable symbols created per method (ids are 0..n-1). */
  readonly localCounts: Map<MethodDecl, number>;
  /** Builtin (capsule API) method resolved for each intrinsic call. */
  readonly builtinCalls: WeakMap<Expr, BuiltinMethod>;
}

/** Annotation names of the built-in package `capsule`, and the field kinds they select. */
const fieldAnnotations: Record<string, VariableKind> = { Data: 'data', Flow: 'flow', Shared: 'shared' };

const wrapperConstants: Record<string, Record<string, [bigint, Type]>> = {
  Integer: {
    MIN_VALUE: [-(2n ** 31n), INT],
    MAX_VALUE: [2n ** 31n - 1n, INT],
    SIZE: [32n, INT],
    BYTES: [4n, INT],
  },
  Long: {
    MIN_VALUE: [-(2n ** 63n), LONG],
    MAX_VALUE: [2n ** 63n - 1n, LONG],
    SIZE: [64n, INT],
    BYTES: [8n, INT],
  },
  Short: {
    MIN_VALUE: [-32768n, { kind: 'primitive', name: 'short' }],
    MAX_VALUE: [32767n, { kind: 'primitive', name: 'short' }],
  },
  Byte: {
    MIN_VALUE: [-128n, { kind: 'primitive', name: 'byte' }],
    MAX_VALUE: [127n, { kind: 'primitive', name: 'byte' }],
  },
  Character: { MIN_VALUE: [0n, CHAR], MAX_VALUE: [65535n, CHAR] },
};

/**
 * Whether control can reach a point: `alive`, `dead`, or `recovery` — after an unreachable
 * statement was reported, analysis goes on as if reachable but reports no further unreachable
 * code or missing return that follows from the first error (javac's Flow.Liveness).
 */
type Liveness = 'alive' | 'dead' | 'recovery';

function or(a: Liveness, b: Liveness): Liveness {
  return a === 'alive' || b === 'alive'
    ? 'alive'
    : a === 'recovery' || b === 'recovery'
      ? 'recovery'
      : 'dead';
}

function and(a: Liveness, b: Liveness): Liveness {
  return a === 'dead' || b === 'dead' ? 'dead' : a === 'recovery' || b === 'recovery' ? 'recovery' : 'alive';
}

function liveness(canComplete: boolean): Liveness {
  return canComplete ? 'alive' : 'dead';
}

/** Checks a parsed unit. */
export function check(unit: CompilationUnit, diagnostics: DiagnosticBag): CheckedProgram {
  return new Checker(unit, diagnostics).run();
}

/**
 * A statement that `break` (and, for loops, `continue`) can target, with what the flow analysis
 * found about it: whether a reachable break exits it and whether a reachable continue continues it
 * (JLS 14.22). One object per statement, pushed and popped around its body, so nothing of it
 * outlives the statement.
 */
interface JumpTarget {
  readonly labels: readonly string[];
  readonly kind: 'loop' | 'switch' | 'labeled';
  isBroken: boolean;
  isContinued: boolean;
}

class Checker {
  private readonly constants = new WeakMap<Expr, bigint>();
  private readonly builtinCalls = new WeakMap<Expr, BuiltinMethod>();
  private readonly fields = new Map<string, VariableSymbol>();
  private readonly methods: MethodSymbol[] = [];
  private readonly localCounts = new Map<MethodDecl, number>();
  private scopes: Map<string, VariableSymbol>[] = [];
  private nextLocalId = 0;
  private currentMethod: MethodSymbol | undefined;
  private loopDepth = 0;
  private targets: JumpTarget[] = [];
  private className = '';

  constructor(
    private readonly unit: CompilationUnit,
    private readonly diagnostics: DiagnosticBag,
  ) {}

  private error(code: Parameters<DiagnosticBag['error']>[0], message: string, span: SourceSpan): void {
    this.diagnostics.error(code, message, span);
  }

  run(): CheckedProgram {
    const classes = this.unit.classes;
    const mainClass = classes[0];
    for (const extra of classes.slice(1))
      this.error('PARSE_UNSUPPORTED', 'a program has exactly one top-level class', extra.span);
    if (mainClass) this.checkClass(mainClass);
    return {
      unit: this.unit,
      mainClass,
      fields: [...this.fields.values()],
      methods: this.methods,
      constants: this.constants,
      localCounts: this.localCounts,
      builtinCalls: this.builtinCalls,
    };
  }

  private resolveType(node: TypeNode, allowVoid = false): Type {
    let base: Type;
    if (node.name === 'void') {
      if (!allowVoid || node.dims > 0)
        this.error('CHECK_TYPE_MISMATCH', "'void' is not allowed here", node.span);
      return VOID;
    }
    if (['int', 'long', 'boolean', 'byte', 'short', 'char'].includes(node.name))
      base = { kind: 'primitive', name: node.name as 'int' };
    else if (builtinClassNames.has(node.name)) base = { kind: 'class', name: node.name };
    else {
      this.error('CHECK_UNKNOWN_NAME', `unknown type '${node.name}'`, node.span);
      return ERROR;
    }
    if (node.dims > 1) {
      this.error('PARSE_UNSUPPORTED', 'multi-dimensional arrays are not supported', node.span);
      return ERROR;
    }
    if (node.dims === 1) {
      if (base.kind !== 'primitive') {
        this.error('PARSE_UNSUPPORTED', `arrays of ${node.name} are not supported`, node.span);
        return ERROR;
      }
      return { kind: 'array', element: base };
    }
    return base;
  }

  private checkClass(cls: ClassDecl): void {
    this.className = cls.name;
    let fieldId = 0;
    for (const field of cls.fields) {
      const type = this.resolveType(field.typeNode);
      if (!field.modifiers.keywords.includes('static'))
        this.error(
          'PARSE_UNSUPPORTED',
          `field '${field.name}' must be static (there are no objects)`,
          field.span,
        );
      let kind: VariableKind = 'static';
      for (const a of field.modifiers.annotations) {
        const k = fieldAnnotations[a.name];
        if (k === undefined)
          this.error('CHECK_BAD_ANNOTATION', `annotation @${a.name} does not apply to a field`, a.span);
        else if (kind !== 'static')
          this.error('CHECK_BAD_ANNOTATION', 'a field has at most one of @Data, @Flow, @Shared', a.span);
        else kind = k;
      }
      if (type.kind === 'class')
        this.error('CHECK_TYPE_MISMATCH', `a field cannot hold a ${type.name}`, field.span);
      const isFinal = field.modifiers.keywords.includes('final');
      if (isFinal && kind !== 'static')
        this.error('CHECK_BAD_ANNOTATION', `a ${kind} field cannot be final`, field.span);
      const symbol: VariableSymbol = {
        name: field.name,
        type,
        kind,
        isFinal,
        span: field.span,
        id: fieldId++,
        weight: 0,
        field,
      };
      if (this.fields.has(field.name))
        this.error('CHECK_DUPLICATE', `field '${field.name}' is already declared`, field.span);
      else this.fields.set(field.name, symbol);
      field.symbol = symbol;
    }
    for (const method of cls.methods) {
      const returnType = this.resolveType(method.returnType, true);
      const params = method.params.map((p) => this.resolveType(p.typeNode));
      if (!method.modifiers.keywords.includes('static'))
        this.error(
          'PARSE_UNSUPPORTED',
          `method '${method.name}' must be static (there are no objects)`,
          method.span,
        );
      let isEntry = false;
      for (const a of method.modifiers.annotations) {
        if (a.name === 'Entry') isEntry = true;
        else if (a.name !== 'Override')
          this.error('CHECK_BAD_ANNOTATION', `annotation @${a.name} does not apply to a method`, a.span);
      }
      const symbol: MethodSymbol = {
        name: method.name,
        className: cls.name,
        params,
        returnType,
        decl: method,
        isEntry,
      };
      if (
        this.methods.some(
          (m) =>
            m.name === method.name &&
            m.params.length === params.length &&
            m.params.every((t, i) => sameType(t, params[i]!)),
        )
      )
        this.error(
          'CHECK_DUPLICATE',
          `method '${method.name}' is already declared with these parameter types`,
          method.span,
        );
      if (isEntry) {
        if (returnType.kind !== 'void')
          this.error('CHECK_BAD_ENTRY', `@Entry method '${method.name}' must return void`, method.span);
        for (const [i, p] of params.entries())
          if (p.kind !== 'class' && p.kind !== 'error')
            this.error(
              'CHECK_BAD_ENTRY',
              `@Entry parameters must be capsule records (Packet, Path, Engine, Action)`,
              method.params[i]!.span,
            );
      } else if (params.some((p) => p.kind === 'class') && !isEntry) {
        // Records may be passed on: they are markers with no runtime value.
      }
      this.methods.push(symbol);
      method.symbol = symbol;
    }
    // Field initializers: constants first (so later fields and switch labels can use them).
    for (const field of cls.fields) {
      const symbol = field.symbol!;
      if (field.init === undefined) continue;
      this.scopes = [new Map()];
      const t = this.checkInitializer(field.init, symbol.type, field.span);
      if (symbol.kind !== 'static' && field.init.kind !== 'newArray' && field.init.kind !== 'arrayInit') {
        const c = this.constants.get(field.init);
        if (c === undefined)
          this.error(
            'CHECK_CONSTANT_REQUIRED',
            `the initial value of a ${symbol.kind} field must be a constant`,
            field.init.span,
          );
      }
      if (
        (symbol.isFinal && t !== undefined && isIntegral(symbol.type)) ||
        (symbol.isFinal && isBoolean(symbol.type))
      ) {
        const c = this.constants.get(field.init);
        if (c !== undefined) symbol.constant = wrapTo(c, symbol.type);
      }
    }
    for (const field of cls.fields)
      if (field.symbol!.isFinal && field.init === undefined)
        this.error('CHECK_UNINITIALIZED', `final field '${field.name}' is never assigned`, field.span);
    for (const init of cls.staticInits) this.checkStaticInit(init);
    for (const method of cls.methods) this.checkMethod(method);
  }

  /** `static { … }`: a body without parameters or return, which must complete (JLS 8.7). */
  private checkStaticInit(init: StaticInit): void {
    this.currentMethod = undefined;
    this.isInInitializer = true;
    this.nextLocalId = 0;
    this.scopes = [new Map()];
    this.targets = [];
    this.pendingLabels = [];
    this.loopDepth = 0;
    this.alive = 'alive';
    this.checkStmt(init.body);
    if ((this.alive as Liveness) === 'dead')
      this.error('CHECK_UNREACHABLE', 'a static initializer must be able to complete normally', init.span);
    this.isInInitializer = false;
  }

  /** True while checking a static initializer (where `return` is not allowed). */
  private isInInitializer = false;

  private checkMethod(method: MethodDecl): void {
    const symbol = method.symbol!;
    this.currentMethod = symbol;
    this.nextLocalId = 0;
    this.scopes = [new Map()];
    this.targets = [];
    this.pendingLabels = [];
    this.loopDepth = 0;
    for (const [i, p] of method.params.entries())
      p.symbol = this.declare(p.name, symbol.params[i]!, 'param', p.isFinal, p.span);
    this.alive = 'alive';
    this.checkStmt(method.body);
    if (this.alive === 'alive' && symbol.returnType.kind !== 'void' && symbol.returnType.kind !== 'error')
      this.error(
        'CHECK_MISSING_RETURN',
        `method '${method.name}' can complete without returning a value`,
        method.span,
      );
    this.localCounts.set(method, this.nextLocalId);
    this.currentMethod = undefined;
  }

  private declare(
    name: string,
    type: Type,
    kind: VariableKind,
    isFinal: boolean,
    span: SourceSpan,
  ): VariableSymbol {
    for (const scope of this.scopes)
      if (scope.has(name)) {
        this.error('CHECK_DUPLICATE', `variable '${name}' is already defined in this method`, span);
        break;
      }
    const symbol: VariableSymbol = { name, type, kind, isFinal, span, id: this.nextLocalId++, weight: 0 };
    this.scopes[this.scopes.length - 1]!.set(name, symbol);
    return symbol;
  }

  private lookup(name: string): VariableSymbol | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const s = this.scopes[i]!.get(name);
      if (s) return s;
    }
    return this.fields.get(name);
  }

  /**
   * A statement in a sequence or the body of a compound statement: reported when control cannot
   * reach it; the analysis then goes on in recovery (as javac's, so one mistake gives one error).
   */
  private checkReachable(stmt: Stmt): void {
    if (this.alive === 'dead') {
      this.error('CHECK_UNREACHABLE', 'unreachable statement', stmt.span);
      if (stmt.kind !== 'empty') this.alive = 'recovery';
    }
    this.checkStmt(stmt);
  }

  /** Checks a statement, updating `alive`: whether it can complete normally (JLS 14.22). */
  private checkStmt(stmt: Stmt): void {
    switch (stmt.kind) {
      case 'block': {
        this.scopes.push(new Map());
        for (const s of stmt.stmts) this.checkReachable(s);
        this.scopes.pop();
        return;
      }
      case 'local':
        for (const d of stmt.declarators) {
          const type = this.resolveType(d.typeNode);
          if (type.kind === 'class')
            this.error('CHECK_TYPE_MISMATCH', `a local variable cannot hold a ${type.name}`, d.span);
          if (d.init) this.checkInitializer(d.init, type, d.span);
          d.symbol = this.declare(d.name, type, 'local', d.isFinal, d.span);
          if ((d.isFinal && d.init && isIntegral(type)) || (d.isFinal && d.init && isBoolean(type))) {
            const c = this.constants.get(d.init!);
            if (c !== undefined) d.symbol.constant = wrapTo(c, type);
          }
        }
        return;
      case 'expr':
        this.checkExpr(stmt.expr);
        return;
      case 'if': {
        // Both branches count as reachable whatever the condition (JLS 14.22, for `if (DEBUG)`).
        this.checkCondition(stmt.cond);
        this.checkReachable(stmt.then);
        if (stmt.else) {
          const afterThen = this.alive;
          this.alive = 'alive';
          this.checkReachable(stmt.else);
          this.alive = or(this.alive, afterThen);
        } else this.alive = 'alive';
        return;
      }
      case 'while': {
        this.checkCondition(stmt.cond);
        const c = this.constants.get(stmt.cond);
        const target = this.checkLoopBody(stmt.body, c === 0n);
        this.alive = or(liveness(target.isBroken), liveness(c !== 1n));
        return;
      }
      case 'do': {
        const target = this.pushTarget('loop');
        this.loopDepth++;
        this.checkReachable(stmt.body);
        this.loopDepth--;
        this.popTarget(target);
        this.checkCondition(stmt.cond);
        const isForever = this.constants.get(stmt.cond) === 1n;
        this.alive = or(this.alive, liveness(target.isContinued));
        this.alive = or(and(this.alive, liveness(!isForever)), liveness(target.isBroken));
        return;
      }
      case 'for': {
        this.scopes.push(new Map());
        const labels = this.pendingLabels.splice(0);
        for (const s of stmt.init) this.checkStmt(s);
        this.pendingLabels = labels;
        if (stmt.cond) this.checkCondition(stmt.cond);
        for (const u of stmt.update) this.checkExpr(u);
        const c = stmt.cond === undefined ? 1n : this.constants.get(stmt.cond);
        const target = this.checkLoopBody(stmt.body, c === 0n);
        this.scopes.pop();
        this.alive = or(liveness(target.isBroken), liveness(c !== 1n));
        return;
      }
      case 'foreach': {
        // JLS 14.14.2: for (T x : a) body ≡ { T[] #a = a; for (int #i = 0; #i < #a.length; #i++) { T x = #a[#i]; body } }
        this.scopes.push(new Map());
        const labels = this.pendingLabels.splice(0);
        const at = this.checkExpr(stmt.iterable);
        const v = stmt.variable;
        const type = this.resolveType(v.typeNode);
        if (at.kind !== 'error' && at.kind !== 'array')
          this.error(
            'CHECK_TYPE_MISMATCH',
            `for-each needs an array, not ${typeName(at)}`,
            stmt.iterable.span,
          );
        else if (at.kind === 'array' && type.kind !== 'error' && !isAssignable(type, at.element))
          this.error(
            'CHECK_TYPE_MISMATCH',
            `cannot convert ${typeName(at.element)} to ${typeName(type)}${isIntegral(type) && isIntegral(at.element) ? ' (possible lossy conversion)' : ''}`,
            v.span,
          );
        const inLoop = 10 ** Math.min(this.loopDepth + 1, 4);
        // Hidden names, unique in the method: no Java identifier starts with '#'.
        const hidden = this.nextLocalId;
        stmt.index = this.declare(`#i${hidden}`, INT, 'local', false, stmt.span);
        stmt.index.weight += 3 * inLoop;
        // A @Data/@Flow/@Shared array is used in place (it cannot be held in a variable).
        const iterable = stmt.iterable;
        const symbol = iterable.kind === 'name' || iterable.kind === 'field' ? iterable.symbol : undefined;
        if (!(symbol && (symbol.kind === 'data' || symbol.kind === 'flow' || symbol.kind === 'shared'))) {
          stmt.array = this.declare(
            `#a${hidden}`,
            at.kind === 'array' ? at : ERROR,
            'local',
            true,
            stmt.span,
          );
          stmt.array.weight += 2 * inLoop;
        }
        this.scopes.push(new Map());
        v.symbol = this.declare(v.name, type, 'local', v.isFinal, v.span);
        v.symbol.weight += inLoop;
        this.pendingLabels = labels;
        this.checkLoopBody(stmt.body, false);
        this.scopes.pop();
        this.scopes.pop();
        // The condition is never constant: the loop completes.
        this.alive = 'alive';
        return;
      }
      case 'switch': {
        const t = this.checkExpr(stmt.expr);
        const pt = primName(t);
        // long too: JEP 455's primitive switch (a preview from JDK 23; Java 17 allows the others).
        if (
          t.kind !== 'error' &&
          !(pt === 'int' || pt === 'short' || pt === 'byte' || pt === 'char' || pt === 'long')
        )
          this.error(
            'CHECK_TYPE_MISMATCH',
            `cannot switch on a value of type ${typeName(t)}`,
            stmt.expr.span,
          );
        const seen = new Set<bigint>();
        let hasDefault = false;
        const target = this.pushTarget('switch');
        this.scopes.push(new Map());
        for (const c of stmt.cases) {
          c.values = [];
          if (c.isDefault) {
            if (hasDefault) this.error('CHECK_DUPLICATE_CASE', 'duplicate default label', c.span);
            hasDefault = true;
          }
          for (const label of c.labels) {
            const lt = this.checkExpr(label);
            const v = this.constants.get(label);
            if (v === undefined)
              this.error('CHECK_CONSTANT_REQUIRED', 'a case label must be a constant expression', label.span);
            else if (t.kind !== 'error' && isLong(t) !== isLong(lt))
              // javac (JEP 455): a long selector takes long constants only, an int one no long.
              this.error(
                'CHECK_TYPE_MISMATCH',
                `case label of type ${typeName(lt)} does not match the selector type ${typeName(t)}${isLong(t) ? ` (write ${v}L)` : ''}`,
                label.span,
              );
            else if (
              t.kind !== 'error' &&
              ((!isAssignable(t, lt) && !(isIntegral(lt) && !isLong(lt) && constantFits(v, t))) ||
                !constantFits(v, t))
            )
              this.error(
                'CHECK_TYPE_MISMATCH',
                `case label ${v} does not fit the type ${typeName(t)}`,
                label.span,
              );
            else if (seen.has(v)) this.error('CHECK_DUPLICATE_CASE', `duplicate case label ${v}`, label.span);
            else {
              seen.add(v);
              c.values.push(v);
            }
          }
          // Every group is reachable through its labels.
          this.alive = 'alive';
          for (const s of c.body) this.checkReachable(s);
        }
        this.scopes.pop();
        this.popTarget(target);
        // JLS 14.22: the last group completes (or labels follow it), there is no default, or a
        // break exits the switch.
        if (!hasDefault) this.alive = 'alive';
        this.alive = or(this.alive, liveness(target.isBroken));
        return;
      }
      case 'break':
      case 'continue': {
        const isBreak = stmt.kind === 'break';
        let found: JumpTarget | undefined;
        for (let i = this.targets.length - 1; i >= 0; i--) {
          const t = this.targets[i]!;
          if (stmt.label === undefined) {
            // break: the innermost loop or switch; continue: the innermost loop.
            if (isBreak ? t.kind === 'labeled' : t.kind !== 'loop') continue;
          } else {
            if (!t.labels.includes(stmt.label)) continue;
            if (!isBreak && t.kind !== 'loop') {
              this.error('CHECK_BAD_BREAK', `'${stmt.label}' does not label a loop`, stmt.span);
              this.alive = 'dead';
              return;
            }
          }
          found = t;
          break;
        }
        if (!found)
          this.error(
            'CHECK_BAD_BREAK',
            stmt.label
              ? `no enclosing ${isBreak ? 'statement' : 'loop'} labelled '${stmt.label}'`
              : `'${stmt.kind}' outside of a ${isBreak ? 'loop or switch' : 'loop'}`,
            stmt.span,
          );
        else if (isBreak) found.isBroken = true;
        else found.isContinued = true;
        this.alive = 'dead';
        return;
      }
      case 'return': {
        if (this.isInInitializer)
          this.error('CHECK_BAD_BREAK', "'return' is not allowed in a static initializer", stmt.span);
        const want = this.currentMethod?.returnType ?? VOID;
        if (stmt.expr === undefined) {
          if (want.kind !== 'void' && want.kind !== 'error')
            this.error('CHECK_TYPE_MISMATCH', 'missing return value', stmt.span);
        } else if (want.kind === 'void') {
          this.checkExpr(stmt.expr);
          this.error('CHECK_TYPE_MISMATCH', 'a void method cannot return a value', stmt.expr.span);
        } else {
          if (want.kind === 'array')
            this.error(
              'PARSE_UNSUPPORTED',
              'returning an array is not supported (arrays live in the frame)',
              stmt.span,
            );
          this.checkAssignable(stmt.expr, want, stmt.expr.span, false);
        }
        // (In an initializer the return is the error; the block is not also reported as unable to complete.)
        if (!this.isInInitializer) this.alive = 'dead';
        return;
      }
      case 'labeled': {
        this.pendingLabels.push(stmt.label);
        const body = stmt.body;
        // A loop or switch takes its labels as its own (a labeled continue needs the loop).
        if (
          body.kind === 'while' ||
          body.kind === 'do' ||
          body.kind === 'for' ||
          body.kind === 'foreach' ||
          body.kind === 'switch' ||
          body.kind === 'labeled'
        ) {
          this.checkStmt(body);
          return;
        }
        const target = this.pushTarget('labeled');
        this.checkStmt(body);
        this.popTarget(target);
        this.alive = or(this.alive, liveness(target.isBroken));
        return;
      }
      case 'empty':
        return;
    }
  }

  /** Whether control can reach the current point (javac's three-valued liveness, see `Liveness`). */
  private alive: Liveness = 'alive';

  /** Labels written just before the statement being checked (`a: b: while …`). */
  private pendingLabels: string[] = [];

  private pushTarget(kind: JumpTarget['kind']): JumpTarget {
    const target: JumpTarget = {
      labels: this.pendingLabels.splice(0),
      kind,
      isBroken: false,
      isContinued: false,
    };
    this.targets.push(target);
    return target;
  }

  private popTarget(target: JumpTarget): void {
    if (this.targets.pop() !== target) throw new Error('internal: jump targets out of step');
  }

  /** A while or for body; `isUnreachable` when the condition is the constant false (JLS 14.22). */
  private checkLoopBody(body: Stmt, isUnreachable: boolean): JumpTarget {
    const target = this.pushTarget('loop');
    this.alive = isUnreachable ? 'dead' : 'alive';
    this.loopDepth++;
    this.checkReachable(body);
    this.loopDepth--;
    this.popTarget(target);
    return target;
  }

  private checkCondition(e: Expr): void {
    const t = this.checkExpr(e);
    if (t.kind !== 'error' && !isBoolean(t))
      this.error('CHECK_TYPE_MISMATCH', `expected a boolean but found ${typeName(t)}`, e.span);
  }

  /** Variable initializer: an array initializer needs an array type. */
  private checkInitializer(init: Expr, type: Type, span: SourceSpan): Type | undefined {
    if (init.kind === 'arrayInit') {
      if (type.kind !== 'array') {
        if (type.kind !== 'error')
          this.error(
            'CHECK_TYPE_MISMATCH',
            `an array initializer needs an array type, not ${typeName(type)}`,
            init.span,
          );
        return undefined;
      }
      for (const e of init.elements) this.checkAssignable(e, type.element, e.span, true);
      init.type = type;
      init.length = init.elements.length;
      return type;
    }
    return this.checkAssignable(init, type, span, true);
  }

  /** Assignment conversion (JLS 5.2): widening, plus narrowing of int constants when `allowConstantNarrowing`. */
  private checkAssignable(e: Expr, to: Type, _span: SourceSpan, allowConstantNarrowing: boolean): Type {
    const from = this.checkExpr(e);
    if (isAssignable(to, from)) return from;
    const c = this.constants.get(e);
    const fp = primName(from);
    const tp = primName(to);
    if (
      allowConstantNarrowing &&
      c !== undefined &&
      (fp === 'int' || fp === 'short' || fp === 'char' || fp === 'byte') &&
      (tp === 'byte' || tp === 'short' || tp === 'char') &&
      constantFits(c, to)
    )
      return from;
    this.error(
      'CHECK_TYPE_MISMATCH',
      `cannot convert ${typeName(from)} to ${typeName(to)}${isIntegral(from) && isIntegral(to) ? ' (possible lossy conversion: add a cast)' : ''}`,
      e.span,
    );
    return from;
  }

  private setConst(e: Expr, t: Type, value: bigint | undefined): void {
    if (value !== undefined) this.constants.set(e, isBoolean(t) ? value : wrapTo(value, t));
  }

  /** Types an expression (annotating it) and folds constants. */
  checkExpr(e: Expr): Type {
    const t = this.typeOf(e);
    e.type = t;
    return t;
  }

  private typeOf(e: Expr): Type {
    switch (e.kind) {
      case 'literal': {
        const t =
          e.valueType === 'int'
            ? INT
            : e.valueType === 'long'
              ? LONG
              : e.valueType === 'char'
                ? CHAR
                : BOOLEAN;
        this.constants.set(e, e.value);
        return t;
      }
      case 'name': {
        const s = this.lookup(e.name);
        if (s === undefined) {
          if (builtinClassNames.has(e.name) || wrapperConstants[e.name]) {
            this.error('CHECK_UNKNOWN_NAME', `'${e.name}' is a class, not a value`, e.span);
            return ERROR;
          }
          this.error('CHECK_UNKNOWN_NAME', `cannot find symbol '${e.name}'`, e.span);
          return ERROR;
        }
        e.symbol = s;
        s.weight += 10 ** Math.min(this.loopDepth, 4);
        if (s.constant !== undefined) this.constants.set(e, s.constant);
        return s.type;
      }
      case 'field': {
        if (e.target.kind === 'name' && this.lookup(e.target.name) === undefined) {
          const wrapper = wrapperConstants[e.target.name];
          if (wrapper) {
            const entry = wrapper[e.name];
            if (entry === undefined) {
              this.error('CHECK_UNKNOWN_NAME', `cannot find symbol '${e.target.name}.${e.name}'`, e.span);
              return ERROR;
            }
            this.constants.set(e, entry[0]);
            return entry[1];
          }
          if (e.target.name === this.className) {
            const s = this.fields.get(e.name);
            if (!s) {
              this.error('CHECK_UNKNOWN_NAME', `cannot find field '${e.name}' in ${this.className}`, e.span);
              return ERROR;
            }
            e.symbol = s;
            s.weight += 10 ** Math.min(this.loopDepth, 4);
            if (s.constant !== undefined) this.constants.set(e, s.constant);
            return s.type;
          }
        }
        const t = this.checkExpr(e.target);
        if (t.kind === 'array' && e.name === 'length') return INT;
        if (t.kind !== 'error')
          this.error('CHECK_UNKNOWN_NAME', `cannot find field '${e.name}' of ${typeName(t)}`, e.span);
        return ERROR;
      }
      case 'index': {
        const at = this.checkExpr(e.array);
        const it = this.checkExpr(e.index);
        if (it.kind !== 'error' && !(isIntegral(it) && !isLong(it)))
          this.error(
            'CHECK_TYPE_MISMATCH',
            `an array index must be an int, not ${typeName(it)}`,
            e.index.span,
          );
        if (at.kind === 'array') return at.element;
        if (at.kind !== 'error')
          this.error('CHECK_TYPE_MISMATCH', `${typeName(at)} is not an array`, e.array.span);
        return ERROR;
      }
      case 'call':
        return this.checkCall(e);
      case 'unary': {
        const t = this.checkExpr(e.operand);
        if (t.kind === 'error') return ERROR;
        const c = this.constants.get(e.operand);
        if (e.op === '!') {
          if (!isBoolean(t)) {
            this.error('CHECK_BAD_OPERAND', `operator ! needs a boolean, not ${typeName(t)}`, e.span);
            return ERROR;
          }
          this.setConst(e, BOOLEAN, c === undefined ? undefined : c ^ 1n);
          return BOOLEAN;
        }
        if (!isIntegral(t)) {
          this.error('CHECK_BAD_OPERAND', `operator ${e.op} needs a number, not ${typeName(t)}`, e.span);
          return ERROR;
        }
        const r = unaryPromote(t);
        this.setConst(e, r, c === undefined ? undefined : e.op === '-' ? -c : e.op === '~' ? ~c : c);
        return r;
      }
      case 'incdec': {
        const t = this.checkExpr(e.operand);
        this.checkTarget(e.operand);
        if (t.kind !== 'error' && !isIntegral(t))
          this.error('CHECK_BAD_OPERAND', `operator ${e.op} needs a number, not ${typeName(t)}`, e.span);
        return t;
      }
      case 'binary':
        return this.checkBinary(e);
      case 'assign': {
        const t = this.checkExpr(e.target);
        this.checkTarget(e.target);
        if (e.op === '=') {
          if (e.value.kind === 'arrayInit') {
            this.error(
              'CHECK_TYPE_MISMATCH',
              'an array initializer is only allowed in a declaration',
              e.value.span,
            );
            return t;
          }
          this.checkAssignable(e.value, t, e.value.span, true);
          // A static array outlives every frame: it may only take another static array.
          const targetSymbol =
            e.target.kind === 'name' || e.target.kind === 'field' ? e.target.symbol : undefined;
          const valueSymbol =
            e.value.kind === 'name' || e.value.kind === 'field' ? e.value.symbol : undefined;
          if (targetSymbol?.kind === 'static' && t.kind === 'array' && valueSymbol?.kind !== 'static')
            this.error(
              'PARSE_UNSUPPORTED',
              `a static array field can only be set to another static array (this array lives in a frame); give '${targetSymbol.name}' its array in its declaration`,
              e.span,
            );
          return t;
        }
        const op = e.op.slice(0, -1);
        const vt = this.checkExpr(e.value);
        if (t.kind === 'error' || vt.kind === 'error') return t;
        const operandType = this.binaryOperandType(op, t, vt, e.span);
        e.operandType = operandType;
        return t;
      }
      case 'conditional': {
        this.checkCondition(e.cond);
        const a = this.checkExpr(e.then);
        const b = this.checkExpr(e.else);
        if (a.kind === 'error' || b.kind === 'error') return ERROR;
        let r: Type;
        const ca = this.constants.get(e.then);
        const cb = this.constants.get(e.else);
        if (sameType(a, b)) r = a;
        else if (isIntegral(a) && isIntegral(b)) {
          const pa = primName(a)!;
          const pb = primName(b)!;
          if ((pa === 'byte' && pb === 'short') || (pa === 'short' && pb === 'byte'))
            r = { kind: 'primitive', name: 'short' };
          else if (
            ['byte', 'short', 'char'].includes(pa) &&
            pb === 'int' &&
            cb !== undefined &&
            constantFits(cb, a)
          )
            r = a;
          else if (
            ['byte', 'short', 'char'].includes(pb) &&
            pa === 'int' &&
            ca !== undefined &&
            constantFits(ca, b)
          )
            r = b;
          else r = binaryPromote(a, b);
        } else {
          this.error(
            'CHECK_TYPE_MISMATCH',
            `incompatible types in ?: (${typeName(a)} and ${typeName(b)})`,
            e.span,
          );
          return ERROR;
        }
        const cc = this.constants.get(e.cond);
        if (cc !== undefined && ca !== undefined && cb !== undefined)
          this.setConst(e, r, cc !== 0n ? ca : cb);
        return r;
      }
      case 'cast': {
        const to = this.resolveType(e.typeNode);
        const from = this.checkExpr(e.operand);
        if (!isCastable(to, from)) {
          this.error('CHECK_TYPE_MISMATCH', `cannot cast ${typeName(from)} to ${typeName(to)}`, e.span);
          return ERROR;
        }
        const c = this.constants.get(e.operand);
        if (c !== undefined && to.kind === 'primitive') this.setConst(e, to, c);
        return to;
      }
      case 'newArray': {
        const element = this.resolveType(e.elementType);
        const type: Type = element.kind === 'error' ? ERROR : { kind: 'array', element };
        if (e.size) {
          const st = this.checkExpr(e.size);
          if (st.kind !== 'error' && !(isIntegral(st) && !isLong(st)))
            this.error('CHECK_TYPE_MISMATCH', 'an array size must be an int', e.size.span);
          const c = this.constants.get(e.size);
          if (c === undefined) {
            if (st.kind !== 'error')
              this.error(
                'CHECK_CONSTANT_REQUIRED',
                'an array size must be a compile-time constant (arrays have a fixed size)',
                e.size.span,
              );
          } else if (c < 0n)
            // Java would throw NegativeArraySizeException; the size is known, so it is an error here.
            this.error('CHECK_LIMIT', `array size ${c} is negative`, e.size.span);
          // How large an array may be depends on where it lives (frame, statics, region): lowering checks.
          else e.length = Number(c);
        } else {
          for (const x of e.init ?? []) this.checkAssignable(x, element, x.span, true);
          e.length = e.init?.length ?? 0;
        }
        return type;
      }
      case 'arrayInit':
        this.error('CHECK_TYPE_MISMATCH', 'an array initializer is only allowed in a declaration', e.span);
        return ERROR;
    }
  }

  private checkTarget(target: Expr): void {
    if (target.kind === 'name' || (target.kind === 'field' && target.symbol)) {
      const s = target.kind === 'name' ? target.symbol : target.symbol;
      if (s?.isFinal)
        this.error(
          'CHECK_FINAL_ASSIGNED',
          `cannot assign a value to final variable '${s.name}'`,
          target.span,
        );
      return;
    }
    if (target.kind === 'index') return;
    if (target.type?.kind !== 'error')
      this.error('CHECK_NOT_ASSIGNABLE', 'this expression is not a variable', target.span);
  }

  /** The type in which a binary operator computes (JLS 15.17–15.24), reporting bad operands. */
  private binaryOperandType(op: string, a: Type, b: Type, span: SourceSpan): Type {
    if (op === '&&' || op === '||') {
      if (!isBoolean(a) || !isBoolean(b)) {
        this.error('CHECK_BAD_OPERAND', `operator ${op} needs booleans`, span);
        return ERROR;
      }
      return BOOLEAN;
    }
    if (
      (op === '&' || op === '|' || op === '^' || op === '==' || op === '!=') &&
      isBoolean(a) &&
      isBoolean(b)
    )
      return BOOLEAN;
    if (!isIntegral(a) || !isIntegral(b)) {
      this.error('CHECK_BAD_OPERAND', `bad operand types for ${op}: ${typeName(a)} and ${typeName(b)}`, span);
      return ERROR;
    }
    if (op === '<<' || op === '>>' || op === '>>>') return unaryPromote(a);
    return binaryPromote(a, b);
  }

  private checkBinary(e: Extract<Expr, { kind: 'binary' }>): Type {
    const a = this.checkExpr(e.left);
    const b = this.checkExpr(e.right);
    if (a.kind === 'error' || b.kind === 'error') return ERROR;
    const ot = this.binaryOperandType(e.op, a, b, e.span);
    e.operandType = ot;
    if (ot.kind === 'error') return ERROR;
    const isCompare = ['==', '!=', '<', '>', '<=', '>='].includes(e.op);
    const result = isCompare || isBoolean(ot) ? BOOLEAN : ot;
    const ca = this.constants.get(e.left);
    const cb = this.constants.get(e.right);
    if (ca !== undefined && cb !== undefined) {
      const v = foldBinary(e.op, ca, cb, ot);
      if (v !== undefined) this.setConst(e, result, v);
    }
    return result;
  }

  private checkCall(e: Extract<Expr, { kind: 'call' }>): Type {
    const argTypes = e.args.map((a) => this.checkExpr(a));
    // Capsule API: a method of a record parameter (p.hopLimit()) or a static service (Services.time()).
    let ownerClass: string | undefined;
    if (e.target !== undefined) {
      if (e.target.kind === 'name' && this.lookup(e.target.name) === undefined) {
        if (e.target.name !== this.className) ownerClass = e.target.name;
      } else {
        const tt = this.checkExpr(e.target);
        if (tt.kind === 'class') ownerClass = tt.name;
        else {
          if (tt.kind !== 'error')
            this.error('CHECK_BAD_CALL', `cannot call a method on ${typeName(tt)}`, e.span);
          return ERROR;
        }
      }
    }
    if (ownerClass !== undefined) {
      const isStaticRef = e.target?.kind === 'name' && this.lookup(e.target.name) === undefined;
      if (isStaticRef && javaLangClassNames.has(ownerClass))
        return this.checkJavaLangCall(e, ownerClass, argTypes);
      const builtin = findBuiltinMethod(ownerClass, e.name);
      if (!builtin || builtin.isStatic !== isStaticRef) {
        this.error('CHECK_UNKNOWN_NAME', `cannot find method ${ownerClass}.${e.name}`, e.span);
        return ERROR;
      }
      if (builtin.params.length !== e.args.length)
        this.error(
          'CHECK_BAD_CALL',
          `${ownerClass}.${e.name} takes ${builtin.params.length} argument(s)`,
          e.span,
        );
      else
        for (const [i, p] of builtin.params.entries())
          if (!isAssignable(p, argTypes[i]!))
            this.error(
              'CHECK_BAD_CALL',
              `argument ${i + 1} of ${ownerClass}.${e.name} must be ${typeName(p)}, not ${typeName(argTypes[i]!)}`,
              e.args[i]!.span,
            );
      this.builtinCalls.set(e, builtin);
      e.intrinsic = builtin.id;
      return builtin.returns;
    }
    const candidates = this.methods.filter((m) => m.name === e.name);
    if (candidates.length === 0) {
      this.error('CHECK_UNKNOWN_NAME', `cannot find method '${e.name}'`, e.span);
      return ERROR;
    }
    if (argTypes.some((t) => t.kind === 'error')) return candidates[0]!.returnType;
    const applicable = candidates.filter(
      (m) => m.params.length === argTypes.length && m.params.every((p, i) => isAssignable(p, argTypes[i]!)),
    );
    const best = applicable.filter((m) =>
      applicable.every((o) => m.params.every((p, i) => isAssignable(o.params[i]!, p))),
    );
    if (best.length !== 1) {
      this.error(
        'CHECK_BAD_CALL',
        applicable.length === 0
          ? `no method '${e.name}' accepts (${argTypes.map(typeName).join(', ')})`
          : `the call of '${e.name}' is ambiguous`,
        e.span,
      );
      return candidates[0]!.returnType;
    }
    const m = best[0]!;
    if (m.isEntry) this.error('CHECK_BAD_CALL', `@Entry method '${m.name}' cannot be called`, e.span);
    e.method = m;
    return m.returnType;
  }

  /** `Integer.bitCount(x)`, `Math.min(a, b)`…: Java's overload resolution over java-lang.ts. */
  private checkJavaLangCall(e: Extract<Expr, { kind: 'call' }>, owner: string, argTypes: Type[]): Type {
    const overloads = findJavaLangMethods(owner, e.name);
    if (overloads.length === 0) {
      this.error('CHECK_UNKNOWN_NAME', `cannot find method ${owner}.${e.name} (not supported)`, e.span);
      return ERROR;
    }
    if (argTypes.some((t) => t.kind === 'error')) return overloads[0]!.returns;
    const applicable = overloads.filter(
      (o) => o.params.length === argTypes.length && o.params.every((p, i) => isAssignable(p, argTypes[i]!)),
    );
    const best = applicable.filter((o) =>
      applicable.every((other) => o.params.every((p, i) => isAssignable(other.params[i]!, p))),
    );
    if (best.length !== 1) {
      this.error(
        'CHECK_BAD_CALL',
        `no method ${owner}.${e.name} accepts (${argTypes.map(typeName).join(', ')})`,
        e.span,
      );
      return overloads[0]!.returns;
    }
    const chosen = best[0]!;
    this.builtinCalls.set(e, chosen);
    e.intrinsic = chosen.id;
    return chosen.returns;
  }
}

/** Folds a binary operator over constants with Java semantics; undefined for division by zero. */
export function foldBinary(op: string, a: bigint, b: bigint, t: Type): bigint | undefined {
  const bits = isLong(t) ? 64 : 32;
  const w = (v: bigint) => (isBoolean(t) ? v : BigInt.asIntN(bits, v));
  const shiftMask = BigInt(bits - 1);
  switch (op) {
    case '+':
      return w(a + b);
    case '-':
      return w(a - b);
    case '*':
      return w(a * b);
    case '/':
      return b === 0n ? undefined : w(a / b);
    case '%':
      return b === 0n ? undefined : w(a % b);
    case '&':
      return w(a & b);
    case '|':
      return w(a | b);
    case '^':
      return w(a ^ b);
    case '<<':
      return w(a << (b & shiftMask));
    case '>>':
      return w(a >> (b & shiftMask));
    case '>>>':
      return w(BigInt.asUintN(bits, a) >> (b & shiftMask));
    case '==':
      return a === b ? 1n : 0n;
    case '!=':
      return a !== b ? 1n : 0n;
    case '<':
      return a < b ? 1n : 0n;
    case '>':
      return a > b ? 1n : 0n;
    case '<=':
      return a <= b ? 1n : 0n;
    case '>=':
      return a >= b ? 1n : 0n;
    case '&&':
      return a !== 0n && b !== 0n ? 1n : 0n;
    case '||':
      return a !== 0n || b !== 0n ? 1n : 0n;
    default:
      return undefined;
  }
}
