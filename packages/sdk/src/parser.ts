/**
 * Stage 2: tokens → syntax tree. Recursive descent for declarations and statements, precedence
 * climbing for binary operators (Java's table, JLS 15). On a syntax error the parser reports a
 * diagnostic and resynchronizes at the next `;` or `}`, so one run reports every error it can.
 */
import type {
  Annotation,
  Block,
  ClassDecl,
  CompilationUnit,
  Expr,
  FieldDecl,
  LocalDeclarator,
  MethodDecl,
  Modifiers,
  Param,
  StaticInit,
  Stmt,
  SwitchCase,
  TypeNode,
} from './ast';
import type { DiagnosticBag, SourceSpan } from './diagnostics';
import type { Token } from './lexer';

const primitiveNames = new Set(['int', 'long', 'boolean', 'byte', 'short', 'char']);
const modifierWords = new Set([
  'public',
  'private',
  'protected',
  'static',
  'final',
  'abstract',
  'synchronized',
  'volatile',
  'transient',
  'native',
  'strictfp',
]);

/** Binary operator precedence (higher binds tighter); all are left-associative. */
const binaryPrecedence: Record<string, number> = {
  '||': 1,
  '&&': 2,
  '|': 3,
  '^': 4,
  '&': 5,
  '==': 6,
  '!=': 6,
  '<': 7,
  '>': 7,
  '<=': 7,
  '>=': 7,
  '<<': 8,
  '>>': 8,
  '>>>': 8,
  '+': 9,
  '-': 9,
  '*': 10,
  '/': 10,
  '%': 10,
};
const assignmentOps = new Set(['=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<=', '>>=', '>>>=']);

class ParseAbort extends Error {}

/** Parses a whole compilation unit. */
export function parse(tokens: readonly Token[], diagnostics: DiagnosticBag): CompilationUnit {
  return new Parser(tokens, diagnostics).unit();
}

class Parser {
  private pos = 0;
  constructor(
    private readonly tokens: readonly Token[],
    private readonly diagnostics: DiagnosticBag,
  ) {}

  private atEnd(): boolean {
    return this.tokens[this.pos]!.kind === 'eof';
  }
  private get tok(): Token {
    return this.tokens[this.pos]!;
  }
  private peek(n = 1): Token {
    return this.tokens[Math.min(this.pos + n, this.tokens.length - 1)]!;
  }
  private is(text: string): boolean {
    const t = this.tok;
    return (t.kind === 'op' || t.kind === 'keyword') && t.text === text;
  }
  private accept(text: string): boolean {
    if (this.is(text)) {
      this.pos++;
      return true;
    }
    return false;
  }
  private next(): Token {
    const t = this.tok;
    if (t.kind !== 'eof') this.pos++;
    return t;
  }
  private fail(message: string, span: SourceSpan = this.tok.span): never {
    this.diagnostics.error('PARSE_EXPECTED', message, span);
    throw new ParseAbort();
  }
  private unsupported(what: string, span: SourceSpan = this.tok.span): never {
    this.diagnostics.error(
      'PARSE_UNSUPPORTED',
      `${what} is not supported by the microprogram language`,
      span,
    );
    throw new ParseAbort();
  }
  private expect(text: string): Token {
    if (!this.is(text)) this.fail(`expected '${text}' but found '${this.tok.text}'`);
    return this.next();
  }
  private ident(): Token {
    if (this.tok.kind !== 'ident') this.fail(`expected an identifier but found '${this.tok.text}'`);
    return this.next();
  }
  private spanFrom(start: SourceSpan): SourceSpan {
    const prev = this.tokens[Math.max(0, this.pos - 1)]!;
    return { start: start.start, end: prev.span.end };
  }
  /** Skips to just after the next `;` at this nesting level, or to a `}` / EOF. */
  private synchronize(): void {
    let depth = 0;
    while (this.tok.kind !== 'eof') {
      if (this.is('{')) depth++;
      else if (this.is('}')) {
        if (depth === 0) return;
        depth--;
        if (depth === 0) {
          this.next();
          return;
        }
      } else if (this.is(';') && depth === 0) {
        this.next();
        return;
      }
      this.next();
    }
  }

  unit(): CompilationUnit {
    const imports: string[] = [];
    const classes: ClassDecl[] = [];
    try {
      if (this.accept('package')) {
        this.qualifiedName();
        this.expect(';');
      }
      while (this.accept('import')) {
        let name = this.qualifiedName();
        if (this.accept('.')) {
          this.expect('*');
          name += '.*';
        }
        this.expect(';');
        imports.push(name);
      }
    } catch (e) {
      if (!(e instanceof ParseAbort)) throw e;
      this.synchronize();
    }
    while (this.tok.kind !== 'eof') {
      const before = this.pos;
      try {
        classes.push(this.classDecl());
      } catch (e) {
        if (!(e instanceof ParseAbort)) throw e;
        this.synchronize();
        if (this.pos === before) this.next();
      }
    }
    return { imports, classes };
  }

  private qualifiedName(): string {
    let name = this.ident().text;
    while (this.is('.') && this.peek().kind === 'ident') {
      this.next();
      name += `.${this.next().text}`;
    }
    return name;
  }

  private modifiers(): Modifiers {
    const keywords: string[] = [];
    const annotations: Annotation[] = [];
    for (;;) {
      if (this.is('@') && !(this.peek().text === 'interface')) {
        const start = this.next().span;
        const name = this.qualifiedName();
        if (this.accept('(')) this.unsupported('an annotation with arguments', start);
        annotations.push({ name: name.slice(name.lastIndexOf('.') + 1), span: this.spanFrom(start) });
      } else if (this.tok.kind === 'keyword' && modifierWords.has(this.tok.text))
        keywords.push(this.next().text);
      else return { keywords, annotations };
    }
  }

  private classDecl(): ClassDecl {
    const start = this.tok.span;
    const modifiers = this.modifiers();
    if (this.is('interface') || this.is('enum')) this.unsupported(`'${this.tok.text}'`);
    this.expect('class');
    const name = this.ident().text;
    if (this.is('extends') || this.is('implements')) this.unsupported('inheritance');
    this.expect('{');
    const fields: FieldDecl[] = [];
    const methods: MethodDecl[] = [];
    const staticInits: StaticInit[] = [];
    while (!this.is('}') && this.tok.kind !== 'eof') {
      const before = this.pos;
      try {
        this.member(fields, methods, staticInits);
      } catch (e) {
        if (!(e instanceof ParseAbort)) throw e;
        this.synchronize();
        if (this.pos === before) this.next();
      }
    }
    this.expect('}');
    return { name, modifiers, fields, methods, staticInits, span: this.spanFrom(start) };
  }

  private member(fields: FieldDecl[], methods: MethodDecl[], staticInits: StaticInit[]): void {
    const start = this.tok.span;
    const modifiers = this.modifiers();
    if (this.is('class')) this.unsupported('a nested class');
    if (this.is('{')) {
      if (modifiers.keywords.join() !== 'static' || modifiers.annotations.length > 0)
        this.unsupported('an instance initializer block (there are no objects; write static { … })');
      const body = this.block();
      staticInits.push({ body, span: this.spanFrom(start) });
      return;
    }
    const typeNode = this.is('void') ? { name: 'void', dims: 0, span: this.next().span } : this.type();
    const nameTok = this.ident();
    if (this.is('(')) {
      this.next();
      const params: Param[] = [];
      if (!this.is(')')) {
        do {
          const pstart = this.tok.span;
          const pmods = this.modifiers();
          const ptype = this.type();
          const pname = this.ident().text;
          if (this.is('[')) this.unsupported("C-style array brackets after a name (write 'int[] a')");
          params.push({
            name: pname,
            typeNode: ptype,
            isFinal: pmods.keywords.includes('final'),
            span: this.spanFrom(pstart),
          });
        } while (this.accept(','));
      }
      this.expect(')');
      if (this.is('throws')) this.unsupported("'throws'");
      const body = this.block();
      methods.push({
        name: nameTok.text,
        returnType: typeNode,
        params,
        modifiers,
        body,
        span: this.spanFrom(start),
      });
      return;
    }
    let name = nameTok;
    for (;;) {
      if (this.is('[')) this.unsupported("C-style array brackets after a name (write 'int[] a')");
      const init = this.accept('=') ? this.variableInit() : undefined;
      fields.push({ name: name.text, typeNode, modifiers, init, span: this.spanFrom(name.span) });
      if (!this.accept(',')) break;
      name = this.ident();
    }
    this.expect(';');
  }

  private isTypeStart(): boolean {
    const t = this.tok;
    if (t.kind === 'keyword' && primitiveNames.has(t.text)) return true;
    return false;
  }

  private type(): TypeNode {
    const t = this.tok;
    if (!(t.kind === 'ident' || (t.kind === 'keyword' && primitiveNames.has(t.text)))) {
      if (t.kind === 'keyword' && (t.text === 'double' || t.text === 'float'))
        this.unsupported('floating point');
      this.fail(`expected a type but found '${t.text}'`);
    }
    this.next();
    let name = t.text;
    while (t.kind === 'ident' && this.is('.') && this.peek().kind === 'ident') {
      this.next();
      name = this.next().text;
    }
    let dims = 0;
    while (this.is('[') && this.peek().text === ']') {
      this.next();
      this.next();
      dims++;
    }
    if (this.is('<')) this.unsupported('generics');
    return { name, dims, span: this.spanFrom(t.span) };
  }

  private block(): Block {
    const start = this.expect('{').span;
    const stmts: Stmt[] = [];
    while (!this.is('}') && this.tok.kind !== 'eof') {
      const before = this.pos;
      try {
        stmts.push(this.statement(true));
      } catch (e) {
        if (!(e instanceof ParseAbort)) throw e;
        this.synchronize();
        if (this.pos === before) this.next();
      }
    }
    this.expect('}');
    return { kind: 'block', stmts, span: this.spanFrom(start) };
  }

  /** True when the tokens at the cursor begin a local variable declaration. */
  private atLocalDeclaration(): boolean {
    if (this.is('final') || this.isTypeStart()) return true;
    if (this.tok.kind === 'ident') {
      const n = this.peek();
      if (n.kind === 'ident') return true;
      if (n.text === '[' && this.peek(2).text === ']') return true;
    }
    return false;
  }

  private localDeclaration(): Stmt {
    const start = this.tok.span;
    const mods = this.modifiers();
    const isFinal = mods.keywords.includes('final');
    const typeNode = this.type();
    const declarators: LocalDeclarator[] = [];
    do {
      const name = this.ident();
      if (this.is('[')) this.unsupported("C-style array brackets after a name (write 'int[] a')");
      const init = this.accept('=') ? this.variableInit() : undefined;
      declarators.push({ name: name.text, typeNode, isFinal, init, span: this.spanFrom(name.span) });
    } while (this.accept(','));
    return { kind: 'local', declarators, span: this.spanFrom(start) };
  }

  private variableInit(): Expr {
    if (this.is('{')) return this.arrayInit();
    return this.expression();
  }

  private arrayInit(): Expr {
    const start = this.expect('{').span;
    const elements: Expr[] = [];
    while (!this.is('}')) {
      if (this.is('{')) this.unsupported('a multi-dimensional array');
      elements.push(this.expression());
      if (!this.accept(',')) break;
    }
    this.expect('}');
    return { kind: 'arrayInit', elements, span: this.spanFrom(start) };
  }

  /**
   * A statement; `isBlockStatement` in a block or switch group, where local declarations are
   * allowed (JLS 14.4: `if (c) int x = 1;` is not Java).
   */
  private statement(isBlockStatement = false): Stmt {
    const t = this.tok;
    const start = t.span;
    if (this.is('{')) return this.block();
    if (this.accept(';')) return { kind: 'empty', span: start };
    if (t.kind === 'ident' && this.peek().text === ':') {
      this.next();
      this.next();
      const body = this.statement();
      return { kind: 'labeled', label: t.text, body, span: this.spanFrom(start) };
    }
    if (this.accept('if')) {
      this.expect('(');
      const cond = this.expression();
      this.expect(')');
      const then = this.statement();
      const otherwise = this.accept('else') ? this.statement() : undefined;
      return { kind: 'if', cond, then, else: otherwise, span: this.spanFrom(start) };
    }
    if (this.accept('while')) {
      this.expect('(');
      const cond = this.expression();
      this.expect(')');
      return { kind: 'while', cond, body: this.statement(), span: this.spanFrom(start) };
    }
    if (this.accept('do')) {
      const body = this.statement();
      this.expect('while');
      this.expect('(');
      const cond = this.expression();
      this.expect(')');
      this.expect(';');
      return { kind: 'do', body, cond, span: this.spanFrom(start) };
    }
    if (this.accept('for')) {
      this.expect('(');
      const init: Stmt[] = [];
      if (!this.is(';')) {
        const foreach = this.atLocalDeclaration() ? this.forEachHeader(start) : undefined;
        if (foreach) return foreach;
        if (this.atLocalDeclaration()) init.push(this.localDeclaration());
        else
          do {
            const e = this.expression();
            init.push({ kind: 'expr', expr: e, span: e.span });
          } while (this.accept(','));
      }
      this.expect(';');
      const cond = this.is(';') ? undefined : this.expression();
      this.expect(';');
      const update: Expr[] = [];
      if (!this.is(')'))
        do update.push(this.expression());
        while (this.accept(','));
      this.expect(')');
      return { kind: 'for', init, cond, update, body: this.statement(), span: this.spanFrom(start) };
    }
    if (this.accept('switch')) return this.switchStatement(start);
    if (this.accept('break') || (this.is('continue') && this.next())) {
      const kind = t.text as 'break' | 'continue';
      const label = this.tok.kind === 'ident' ? this.next().text : undefined;
      this.expect(';');
      return { kind, label, span: this.spanFrom(start) };
    }
    if (this.accept('return')) {
      const expr = this.is(';') ? undefined : this.expression();
      this.expect(';');
      return { kind: 'return', expr, span: this.spanFrom(start) };
    }
    for (const word of ['try', 'throw', 'synchronized', 'assert', 'class']) {
      if (this.is(word)) this.unsupported(`'${word}'`);
    }
    if (this.atLocalDeclaration()) {
      if (!isBlockStatement)
        this.diagnostics.error(
          'PARSE_EXPECTED',
          'a variable declaration is not allowed here (put it in a block)',
          this.tok.span,
        );
      const s = this.localDeclaration();
      this.expect(';');
      return { ...s, span: this.spanFrom(start) };
    }
    const expr = this.expression();
    if (!['assign', 'incdec', 'call'].includes(expr.kind))
      this.diagnostics.error(
        'PARSE_EXPECTED',
        'not a statement (only assignments, ++/-- and calls are)',
        expr.span,
      );
    this.expect(';');
    return { kind: 'expr', expr, span: this.spanFrom(start) };
  }

  /**
   * After `for (`: `[final] T x :` begins an enhanced for; then parses the rest of it. Otherwise
   * leaves the cursor where it was and returns undefined.
   */
  private forEachHeader(start: SourceSpan): Stmt | undefined {
    const before = this.pos;
    const declStart = this.tok.span;
    const mods = this.modifiers();
    if (!(this.tok.kind === 'ident' || this.isTypeStart())) {
      this.pos = before;
      return undefined;
    }
    const typeNode = this.type();
    if (this.tok.kind !== 'ident' || this.peek().text !== ':') {
      this.pos = before;
      return undefined;
    }
    const name = this.next();
    const variable: LocalDeclarator = {
      name: name.text,
      typeNode,
      isFinal: mods.keywords.includes('final'),
      init: undefined,
      span: this.spanFrom(declStart),
    };
    this.expect(':');
    const iterable = this.expression();
    this.expect(')');
    const body = this.statement();
    return { kind: 'foreach', variable, iterable, body, span: this.spanFrom(start) };
  }

  private switchStatement(start: SourceSpan): Stmt {
    this.expect('(');
    const expr = this.expression();
    this.expect(')');
    this.expect('{');
    const cases: SwitchCase[] = [];
    while (!this.is('}') && this.tok.kind !== 'eof') {
      const cstart = this.tok.span;
      const labels: Expr[] = [];
      let isDefault = false;
      while (this.is('case') || this.is('default')) {
        if (this.accept('default')) isDefault = true;
        else {
          this.next();
          do labels.push(this.ternary());
          while (this.accept(','));
        }
        if (this.is('->')) this.unsupported('arrow-form switch');
        this.expect(':');
      }
      if (labels.length === 0 && !isDefault)
        this.fail(`expected 'case' or 'default' but found '${this.tok.text}'`);
      const body: Stmt[] = [];
      while (!this.is('case') && !this.is('default') && !this.is('}') && !this.atEnd()) {
        const before = this.pos;
        try {
          body.push(this.statement(true));
        } catch (e) {
          if (!(e instanceof ParseAbort)) throw e;
          this.synchronize();
          if (this.pos === before) this.next();
        }
      }
      cases.push({ labels, isDefault, body, span: this.spanFrom(cstart) });
    }
    this.expect('}');
    return { kind: 'switch', expr, cases, span: this.spanFrom(start) };
  }

  expression(): Expr {
    const left = this.ternary();
    if (this.tok.kind === 'op' && assignmentOps.has(this.tok.text)) {
      const op = this.next().text;
      const value = this.expression();
      return {
        kind: 'assign',
        op,
        target: left,
        value,
        span: { start: left.span.start, end: value.span.end },
      };
    }
    return left;
  }

  private ternary(): Expr {
    const cond = this.binary(1);
    if (!this.accept('?')) return cond;
    const then = this.expression();
    this.expect(':');
    const otherwise = this.ternaryOrLambda();
    return {
      kind: 'conditional',
      cond,
      then,
      else: otherwise,
      span: { start: cond.span.start, end: otherwise.span.end },
    };
  }

  private ternaryOrLambda(): Expr {
    return this.ternary();
  }

  /** Precedence climbing: parses operators binding at least as tight as `minPrecedence`. */
  private binary(minPrecedence: number): Expr {
    let left = this.unary();
    for (;;) {
      const t = this.tok;
      if (t.kind === 'keyword' && t.text === 'instanceof') this.unsupported("'instanceof'");
      const precedence = t.kind === 'op' ? binaryPrecedence[t.text] : undefined;
      if (precedence === undefined || precedence < minPrecedence) return left;
      this.next();
      const right = this.binary(precedence + 1);
      left = {
        kind: 'binary',
        op: t.text,
        left,
        right,
        span: { start: left.span.start, end: right.span.end },
      };
    }
  }

  private unary(): Expr {
    const t = this.tok;
    if (t.kind === 'op') {
      if (t.text === '++' || t.text === '--') {
        this.next();
        const operand = this.unary();
        return { kind: 'incdec', op: t.text, prefix: true, operand, span: this.spanFrom(t.span) };
      }
      if (t.text === '-' || t.text === '+' || t.text === '!' || t.text === '~') {
        this.next();
        const n = this.tok;
        // `-2147483648` and `-9223372036854775808L`: the literal is only legal under unary minus.
        if (
          t.text === '-' &&
          (n.kind === 'int' || n.kind === 'long') &&
          /^(0|[1-9][0-9_]*)[lL]?$/.test(n.text)
        ) {
          this.next();
          return { kind: 'literal', valueType: n.kind, value: -(n.value ?? 0n), span: this.spanFrom(t.span) };
        }
        const operand = this.unary();
        return { kind: 'unary', op: t.text, operand, span: this.spanFrom(t.span) };
      }
      if (t.text === '(' && this.atCast()) {
        this.next();
        const typeNode = this.type();
        this.expect(')');
        const operand = this.unary();
        return { kind: 'cast', typeNode, operand, span: this.spanFrom(t.span) };
      }
    }
    return this.postfix(this.primary());
  }

  /** `(` primitive-type `[]`* `)` begins a cast. */
  private atCast(): boolean {
    const n = this.peek();
    if (n.kind === 'keyword' && (n.text === 'double' || n.text === 'float'))
      this.unsupported('floating point', n.span);
    if (!(n.kind === 'keyword' && primitiveNames.has(n.text))) return false;
    let k = 2;
    while (this.peek(k).text === '[' && this.peek(k + 1).text === ']') k += 2;
    return this.peek(k).text === ')';
  }

  private postfix(expr: Expr): Expr {
    let e = expr;
    for (;;) {
      if (this.accept('.')) {
        const name = this.ident();
        if (this.is('(')) {
          const args = this.args();
          e = {
            kind: 'call',
            target: e,
            name: name.text,
            args,
            span: { start: e.span.start, end: this.spanFrom(name.span).end },
          };
        } else
          e = {
            kind: 'field',
            target: e,
            name: name.text,
            span: { start: e.span.start, end: name.span.end },
          };
      } else if (this.is('[')) {
        this.next();
        const index = this.expression();
        this.expect(']');
        e = {
          kind: 'index',
          array: e,
          index,
          span: { start: e.span.start, end: this.spanFrom(index.span).end },
        };
      } else if (this.is('++') || this.is('--')) {
        const op = this.next().text as '++' | '--';
        e = {
          kind: 'incdec',
          op,
          prefix: false,
          operand: e,
          span: { start: e.span.start, end: this.spanFrom(e.span).end },
        };
      } else return e;
    }
  }

  private args(): Expr[] {
    this.expect('(');
    const args: Expr[] = [];
    if (!this.is(')'))
      do args.push(this.expression());
      while (this.accept(','));
    this.expect(')');
    return args;
  }

  private primary(): Expr {
    const t = this.tok;
    switch (t.kind) {
      case 'int':
      case 'long':
        this.next();
        if (t.kind === 'int' && t.value === 2n ** 31n)
          this.diagnostics.error(
            'LEX_BAD_NUMBER',
            'integer literal 2147483648 is only allowed after unary minus',
            t.span,
          );
        if (t.kind === 'long' && t.value === 2n ** 63n)
          this.diagnostics.error(
            'LEX_BAD_NUMBER',
            'long literal 9223372036854775808L is only allowed after unary minus',
            t.span,
          );
        return { kind: 'literal', valueType: t.kind, value: t.value ?? 0n, span: t.span };
      case 'char':
        this.next();
        return { kind: 'literal', valueType: 'char', value: t.value ?? 0n, span: t.span };
      case 'string':
        return this.unsupported('a string literal');
      case 'ident':
        this.next();
        if (this.is('(')) {
          const args = this.args();
          return { kind: 'call', target: undefined, name: t.text, args, span: this.spanFrom(t.span) };
        }
        return { kind: 'name', name: t.text, span: t.span };
      case 'keyword':
        if (t.text === 'true' || t.text === 'false') {
          this.next();
          return { kind: 'literal', valueType: 'boolean', value: t.text === 'true' ? 1n : 0n, span: t.span };
        }
        if (t.text === 'new') return this.newArray();
        if (t.text === 'null') this.unsupported("'null'");
        if (t.text === 'this' || t.text === 'super')
          this.unsupported(`'${t.text}' (only static members exist)`);
        break;
      case 'op':
        if (t.text === '(') {
          this.next();
          const e = this.expression();
          this.expect(')');
          return e;
        }
        break;
      default:
        break;
    }
    this.fail(`expected an expression but found '${t.text}'`);
  }

  private newArray(): Expr {
    const start = this.expect('new').span;
    const t = this.tok;
    if (!(t.kind === 'keyword' && primitiveNames.has(t.text)))
      this.unsupported('creating objects (only primitive arrays can be created)');
    this.next();
    const elementType: TypeNode = { name: t.text, dims: 0, span: t.span };
    this.expect('[');
    if (this.accept(']')) {
      if (this.is('[')) this.unsupported('a multi-dimensional array');
      const init = this.arrayInit();
      return {
        kind: 'newArray',
        elementType,
        size: undefined,
        init: init.kind === 'arrayInit' ? init.elements : [],
        span: this.spanFrom(start),
      };
    }
    const size = this.expression();
    this.expect(']');
    if (this.is('[')) this.unsupported('a multi-dimensional array');
    return { kind: 'newArray', elementType, size, init: undefined, span: this.spanFrom(start) };
  }
}
