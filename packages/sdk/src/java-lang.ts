/**
 * The `java.lang` methods a microprogram may call: bit and unsigned arithmetic of `Integer` and
 * `Long`, and `Math.abs`/`min`/`max` — what network code needs most. Each is an intrinsic: lowering
 * (lower.ts) maps it to a short RV32IMAC sequence, or folds it when its arguments are constants
 * (`foldJavaLang`, which is also the reference the tests hold the sequences to; the JVM is the
 * oracle of both in the differential tests). Overloads (`Math.abs(int)`, `Math.abs(long)`) are
 * resolved by the checker as Java does, the most specific applicable one.
 */
import type { BuiltinMethod } from './capsule-api';
import { INT, LONG, type Type } from './types';

const m = (className: string, name: string, params: Type[], returns: Type, doc: string): BuiltinMethod => ({
  id: `${className}.${name}(${params.map((p) => (p === LONG ? 'long' : 'int')).join(',')})`,
  className,
  name,
  params,
  returns,
  isStatic: true,
  doc,
});

/** Every supported java.lang method, in documentation order. */
export const javaLangMethods: readonly BuiltinMethod[] = [
  m('Integer', 'bitCount', [INT], INT, 'number of one bits'),
  m('Integer', 'rotateLeft', [INT, INT], INT, 'rotate left by n (mod 32)'),
  m('Integer', 'rotateRight', [INT, INT], INT, 'rotate right by n (mod 32)'),
  m('Integer', 'numberOfLeadingZeros', [INT], INT, 'zero bits above the highest one bit (32 for 0)'),
  m('Integer', 'numberOfTrailingZeros', [INT], INT, 'zero bits below the lowest one bit (32 for 0)'),
  m('Integer', 'reverse', [INT], INT, 'the bits in reverse order'),
  m('Integer', 'reverseBytes', [INT], INT, 'the bytes in reverse order (network ↔ little-endian)'),
  m('Integer', 'toUnsignedLong', [INT], LONG, 'the int as an unsigned value, zero-extended'),
  m('Integer', 'compareUnsigned', [INT, INT], INT, '-1, 0 or 1: the unsigned comparison'),
  m('Integer', 'divideUnsigned', [INT, INT], INT, 'unsigned quotient (traps on a zero divisor)'),
  m('Integer', 'remainderUnsigned', [INT, INT], INT, 'unsigned remainder (traps on a zero divisor)'),
  m('Long', 'compareUnsigned', [LONG, LONG], INT, '-1, 0 or 1: the unsigned comparison'),
  m('Long', 'divideUnsigned', [LONG, LONG], LONG, 'unsigned quotient (traps on a zero divisor)'),
  m('Long', 'remainderUnsigned', [LONG, LONG], LONG, 'unsigned remainder (traps on a zero divisor)'),
  m('Math', 'abs', [INT], INT, 'absolute value (Integer.MIN_VALUE stays itself)'),
  m('Math', 'abs', [LONG], LONG, 'absolute value (Long.MIN_VALUE stays itself)'),
  m('Math', 'min', [INT, INT], INT, 'the smaller'),
  m('Math', 'min', [LONG, LONG], LONG, 'the smaller'),
  m('Math', 'max', [INT, INT], INT, 'the larger'),
  m('Math', 'max', [LONG, LONG], LONG, 'the larger'),
];

/** Classes whose static methods come from this table. */
export const javaLangClassNames: ReadonlySet<string> = new Set(javaLangMethods.map((x) => x.className));

const byId = new Map(javaLangMethods.map((x) => [x.id, x]));

/** The method with this id (`Math.abs(long)`), or undefined. */
export function javaLangMethod(id: string): BuiltinMethod | undefined {
  return byId.get(id);
}

/** The overloads of `className.name`. */
export function findJavaLangMethods(className: string, name: string): BuiltinMethod[] {
  return javaLangMethods.filter((x) => x.className === className && x.name === name);
}

const u32 = (v: bigint) => BigInt.asUintN(32, v);
const i32 = (v: bigint) => BigInt.asIntN(32, v);
const u64 = (v: bigint) => BigInt.asUintN(64, v);
const i64 = (v: bigint) => BigInt.asIntN(64, v);
const sign = (a: bigint, b: bigint) => (a < b ? -1n : a > b ? 1n : 0n);

function bitCount(v: bigint): bigint {
  let n = 0n;
  for (let x = u32(v); x !== 0n; x >>= 1n) n += x & 1n;
  return n;
}

function leadingZeros(v: bigint): bigint {
  const x = u32(v);
  return x === 0n ? 32n : BigInt(32 - x.toString(2).length);
}

function trailingZeros(v: bigint): bigint {
  let x = u32(v);
  if (x === 0n) return 32n;
  let n = 0n;
  for (; (x & 1n) === 0n; x >>= 1n) n++;
  return n;
}

function reverseBits(v: bigint): bigint {
  return i32(BigInt(`0b${u32(v).toString(2).padStart(32, '0').split('').reverse().join('')}`));
}

function reverseBytes(v: bigint): bigint {
  const x = u32(v);
  return i32(((x & 0xffn) << 24n) | ((x & 0xff00n) << 8n) | ((x >> 8n) & 0xff00n) | (x >> 24n));
}

function rotateLeft(v: bigint, n: bigint): bigint {
  const k = n & 31n;
  return i32((u32(v) << k) | (u32(v) >> ((32n - k) & 31n)) | (k === 0n ? u32(v) : 0n));
}

/**
 * The value of a java.lang method on constant arguments (Java semantics), or undefined where Java
 * throws (a zero divisor): lowering then emits the call and its trap.
 */
export function foldJavaLang(id: string, args: readonly bigint[]): bigint | undefined {
  const [a = 0n, b = 0n] = args;
  switch (id) {
    case 'Integer.bitCount(int)':
      return bitCount(a);
    case 'Integer.rotateLeft(int,int)':
      return rotateLeft(a, b);
    case 'Integer.rotateRight(int,int)':
      return rotateLeft(a, -b);
    case 'Integer.numberOfLeadingZeros(int)':
      return leadingZeros(a);
    case 'Integer.numberOfTrailingZeros(int)':
      return trailingZeros(a);
    case 'Integer.reverse(int)':
      return reverseBits(a);
    case 'Integer.reverseBytes(int)':
      return reverseBytes(a);
    case 'Integer.toUnsignedLong(int)':
      return u32(a);
    case 'Integer.compareUnsigned(int,int)':
      return sign(u32(a), u32(b));
    case 'Integer.divideUnsigned(int,int)':
      return u32(b) === 0n ? undefined : i32(u32(a) / u32(b));
    case 'Integer.remainderUnsigned(int,int)':
      return u32(b) === 0n ? undefined : i32(u32(a) % u32(b));
    case 'Long.compareUnsigned(long,long)':
      return sign(u64(a), u64(b));
    case 'Long.divideUnsigned(long,long)':
      return u64(b) === 0n ? undefined : i64(u64(a) / u64(b));
    case 'Long.remainderUnsigned(long,long)':
      return u64(b) === 0n ? undefined : i64(u64(a) % u64(b));
    case 'Math.abs(int)':
      return i32(a < 0n ? -a : a);
    case 'Math.abs(long)':
      return i64(a < 0n ? -a : a);
    case 'Math.min(int,int)':
    case 'Math.min(long,long)':
      return a < b ? a : b;
    case 'Math.max(int,int)':
    case 'Math.max(long,long)':
      return a > b ? a : b;
    default:
      return undefined;
  }
}
