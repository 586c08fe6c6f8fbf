/** The types of the language: Java's integral primitives, boolean, 1-D arrays, the capsule classes. */

/** Primitive type names. */
export type PrimitiveName = 'int' | 'long' | 'boolean' | 'byte' | 'short' | 'char';

/** A type. `error` absorbs follow-on diagnostics after a first one. */
export type Type =
  | { readonly kind: 'primitive'; readonly name: PrimitiveName }
  | { readonly kind: 'array'; readonly element: Type }
  | { readonly kind: 'class'; readonly name: string }
  | { readonly kind: 'void' }
  | { readonly kind: 'error' };

const prim = (name: PrimitiveName): Type => ({ kind: 'primitive', name });

/** Shared instances of the primitive types. */
export const INT = prim('int');
export const LONG = prim('long');
export const BOOLEAN = prim('boolean');
export const BYTE = prim('byte');
export const SHORT = prim('short');
export const CHAR = prim('char');
export const VOID: Type = { kind: 'void' };
export const ERROR: Type = { kind: 'error' };

/** Structural type equality. */
export function sameType(a: Type, b: Type): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'primitive') return a.name === (b as typeof a).name;
  if (a.kind === 'array') return sameType(a.element, (b as typeof a).element);
  if (a.kind === 'class') return a.name === (b as typeof a).name;
  return true;
}

/** Java spelling of a type. */
export function typeName(t: Type): string {
  switch (t.kind) {
    case 'primitive':
      return t.name;
    case 'array':
      return `${typeName(t.element)}[]`;
    case 'class':
      return t.name;
    case 'void':
      return 'void';
    case 'error':
      return '<error>';
  }
}

/** The primitive name, or undefined for non-primitives. */
export function primName(t: Type): PrimitiveName | undefined {
  return t.kind === 'primitive' ? t.name : undefined;
}

/** byte, short, char, int, long. */
export function isIntegral(t: Type): boolean {
  const n = primName(t);
  return n !== undefined && n !== 'boolean';
}

/** True for long. */
export function isLong(t: Type): boolean {
  return primName(t) === 'long';
}

/** True for boolean. */
export function isBoolean(t: Type): boolean {
  return primName(t) === 'boolean';
}

/** Unary numeric promotion (JLS 5.6.1). */
export function unaryPromote(t: Type): Type {
  return isLong(t) ? LONG : INT;
}

/** Binary numeric promotion (JLS 5.6.2). */
export function binaryPromote(a: Type, b: Type): Type {
  return isLong(a) || isLong(b) ? LONG : INT;
}

const ranges: Record<string, [bigint, bigint]> = {
  byte: [-128n, 127n],
  short: [-32768n, 32767n],
  char: [0n, 65535n],
  int: [-(2n ** 31n), 2n ** 31n - 1n],
  long: [-(2n ** 63n), 2n ** 63n - 1n],
};

/** Whether a constant fits a type (for implicit narrowing of constants, JLS 5.2). */
export function constantFits(value: bigint, t: Type): boolean {
  const r = ranges[primName(t) ?? ''];
  return r !== undefined && value >= r[0] && value <= r[1];
}

const widening: Record<string, readonly string[]> = {
  byte: ['short', 'int', 'long'],
  short: ['int', 'long'],
  char: ['int', 'long'],
  int: ['long'],
  long: [],
  boolean: [],
};

/** Assignment compatibility without constants (identity or widening primitive conversion). */
export function isAssignable(to: Type, from: Type): boolean {
  if (to.kind === 'error' || from.kind === 'error') return true;
  if (sameType(to, from)) return true;
  const f = primName(from);
  const t = primName(to);
  return f !== undefined && t !== undefined && (widening[f]?.includes(t) ?? false);
}

/** Whether a cast from → to is legal (numeric ↔ numeric, identity). */
export function isCastable(to: Type, from: Type): boolean {
  if (to.kind === 'error' || from.kind === 'error') return true;
  if (sameType(to, from)) return true;
  return isIntegral(to) && isIntegral(from);
}

/** Wraps a bigint to the value range of an integral type (two's complement, char unsigned). */
export function wrapTo(value: bigint, t: Type): bigint {
  switch (primName(t)) {
    case 'byte':
      return BigInt.asIntN(8, value);
    case 'short':
      return BigInt.asIntN(16, value);
    case 'char':
      return BigInt.asUintN(16, value);
    case 'int':
      return BigInt.asIntN(32, value);
    case 'long':
      return BigInt.asIntN(64, value);
    default:
      return value;
  }
}

/** Size in bytes of one array element of this type. */
export function elementSize(t: Type): number {
  switch (primName(t)) {
    case 'byte':
    case 'boolean':
      return 1;
    case 'short':
    case 'char':
      return 2;
    case 'long':
      return 8;
    default:
      return 4;
  }
}
