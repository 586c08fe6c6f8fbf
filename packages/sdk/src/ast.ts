/**
 * The syntax tree the parser builds and the checker annotates (`type` fields are filled in by the
 * checker; `symbol` fields link names to their declarations).
 */
import type { SourceSpan } from './diagnostics';
import type { Type } from './types';

/** A written type: a primitive or class name with array dimensions. */
export interface TypeNode {
  readonly name: string;
  readonly dims: number;
  readonly span: SourceSpan;
}

/** `@Name` on a declaration. */
export interface Annotation {
  readonly name: string;
  readonly span: SourceSpan;
}

/** Modifiers and annotations of a declaration. */
export interface Modifiers {
  readonly keywords: readonly string[];
  readonly annotations: readonly Annotation[];
}

/** A compilation unit: imports and classes (the subset allows one top-level class). */
export interface CompilationUnit {
  readonly imports: readonly string[];
  readonly classes: readonly ClassDecl[];
}

/** A class with static fields, static initializers and static methods. */
export interface ClassDecl {
  readonly name: string;
  readonly modifiers: Modifiers;
  readonly fields: FieldDecl[];
  readonly methods: MethodDecl[];
  /** `static { … }` blocks; with the field initializers they run in source order (JLS 12.4.2). */
  readonly staticInits: StaticInit[];
  readonly span: SourceSpan;
}

/** A static initializer block. */
export interface StaticInit {
  readonly body: Block;
  readonly span: SourceSpan;
}

/** A static field. */
export interface FieldDecl {
  readonly name: string;
  readonly typeNode: TypeNode;
  readonly modifiers: Modifiers;
  readonly init: Expr | undefined;
  readonly span: SourceSpan;
  symbol?: VariableSymbol;
}

/** A method parameter. */
export interface Param {
  readonly name: string;
  readonly typeNode: TypeNode;
  readonly isFinal: boolean;
  readonly span: SourceSpan;
  symbol?: VariableSymbol;
}

/** A static method. */
export interface MethodDecl {
  readonly name: string;
  readonly returnType: TypeNode;
  readonly params: Param[];
  readonly modifiers: Modifiers;
  readonly body: Block;
  readonly span: SourceSpan;
  symbol?: MethodSymbol;
}

/** Where a variable lives. */
export type VariableKind = 'local' | 'param' | 'static' | 'data' | 'flow' | 'shared';

/** A declared variable (local, parameter or field). */
export interface VariableSymbol {
  readonly name: string;
  readonly type: Type;
  readonly kind: VariableKind;
  readonly isFinal: boolean;
  readonly span: SourceSpan;
  /** A compile-time constant value (final with constant initializer), when there is one. */
  constant?: bigint;
  /** Unique id within the method (locals) or program (fields). */
  readonly id: number;
  /** Uses, weighted by loop depth (the register allocator reads it). */
  weight: number;
  /** Set for fields: the owning class and declaration. */
  field?: FieldDecl;
}

/** A declared method. */
export interface MethodSymbol {
  readonly name: string;
  readonly className: string;
  readonly params: readonly Type[];
  readonly returnType: Type;
  readonly decl: MethodDecl;
  readonly isEntry: boolean;
}

/** Statements. */
export type Stmt =
  | Block
  | { kind: 'local'; declarators: LocalDeclarator[]; span: SourceSpan }
  | { kind: 'expr'; expr: Expr; span: SourceSpan }
  | { kind: 'if'; cond: Expr; then: Stmt; else: Stmt | undefined; span: SourceSpan }
  | { kind: 'while'; cond: Expr; body: Stmt; span: SourceSpan }
  | { kind: 'do'; body: Stmt; cond: Expr; span: SourceSpan }
  | { kind: 'for'; init: Stmt[]; cond: Expr | undefined; update: Expr[]; body: Stmt; span: SourceSpan }
  | { kind: 'switch'; expr: Expr; cases: SwitchCase[]; span: SourceSpan }
  | { kind: 'break'; label: string | undefined; span: SourceSpan }
  | { kind: 'continue'; label: string | undefined; span: SourceSpan }
  | { kind: 'return'; expr: Expr | undefined; span: SourceSpan }
  | { kind: 'labeled'; label: string; body: Stmt; span: SourceSpan }
  | ForEach
  | { kind: 'empty'; span: SourceSpan };

/**
 * `for (T x : array) body` (JLS 14.14.2): the array is evaluated once, then x takes each element
 * in order. The checker declares the hidden index and array variables.
 */
export interface ForEach {
  readonly kind: 'foreach';
  readonly variable: LocalDeclarator;
  readonly iterable: Expr;
  readonly body: Stmt;
  readonly span: SourceSpan;
  /** The hidden index (0 … length − 1). */
  index?: VariableSymbol;
  /** The hidden copy of the array reference (absent for a region array, used in place). */
  array?: VariableSymbol;
}

/** `{ … }`. */
export interface Block {
  readonly kind: 'block';
  readonly stmts: Stmt[];
  readonly span: SourceSpan;
}

/** One variable of a local declaration. */
export interface LocalDeclarator {
  readonly name: string;
  readonly typeNode: TypeNode;
  readonly isFinal: boolean;
  readonly init: Expr | undefined;
  readonly span: SourceSpan;
  symbol?: VariableSymbol;
}

/** One `case a: case b:` group with its statements (`labels` empty with isDefault for default). */
export interface SwitchCase {
  readonly labels: Expr[];
  readonly isDefault: boolean;
  readonly body: Stmt[];
  readonly span: SourceSpan;
  /** Constant values of the labels (filled in by the checker). */
  values?: bigint[];
}

/** Expressions; `type` is set by the checker. */
export type Expr =
  | {
      kind: 'literal';
      valueType: 'int' | 'long' | 'boolean' | 'char';
      value: bigint;
      span: SourceSpan;
      type?: Type;
    }
  | { kind: 'name'; name: string; span: SourceSpan; type?: Type; symbol?: VariableSymbol }
  | {
      kind: 'field';
      target: Expr;
      name: string;
      span: SourceSpan;
      type?: Type;
      symbol?: VariableSymbol;
      constant?: bigint;
    }
  | { kind: 'index'; array: Expr; index: Expr; span: SourceSpan; type?: Type }
  | {
      kind: 'call';
      target: Expr | undefined;
      name: string;
      args: Expr[];
      span: SourceSpan;
      type?: Type;
      method?: MethodSymbol;
      intrinsic?: string;
    }
  | { kind: 'unary'; op: '-' | '+' | '!' | '~'; operand: Expr; span: SourceSpan; type?: Type }
  | { kind: 'incdec'; op: '++' | '--'; prefix: boolean; operand: Expr; span: SourceSpan; type?: Type }
  | { kind: 'binary'; op: string; left: Expr; right: Expr; span: SourceSpan; type?: Type; operandType?: Type }
  | {
      kind: 'assign';
      op: string;
      target: Expr;
      value: Expr;
      span: SourceSpan;
      type?: Type;
      operandType?: Type;
    }
  | { kind: 'conditional'; cond: Expr; then: Expr; else: Expr; span: SourceSpan; type?: Type }
  | { kind: 'cast'; typeNode: TypeNode; operand: Expr; span: SourceSpan; type?: Type }
  | {
      kind: 'newArray';
      elementType: TypeNode;
      size: Expr | undefined;
      init: Expr[] | undefined;
      span: SourceSpan;
      type?: Type;
      length?: number;
    }
  | { kind: 'arrayInit'; elements: Expr[]; span: SourceSpan; type?: Type; length?: number };
