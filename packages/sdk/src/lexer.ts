/**
 * Stage 1: source text → tokens. Java's lexical grammar for the supported subset: identifiers,
 * keywords, int/long literals (decimal, hex, octal, binary, underscores), char literals with
 * escapes, operators, `//` and block comments. Errors become diagnostics and lexing continues.
 */
import type { DiagnosticBag, SourcePosition, SourceSpan } from './diagnostics';

/** Token kinds. */
export type TokenKind = 'ident' | 'keyword' | 'int' | 'long' | 'char' | 'string' | 'op' | 'eof';

/** One token; `value` holds the numeric value of int/long/char literals. */
export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly span: SourceSpan;
  readonly value?: bigint;
}

const keywords = new Set([
  'abstract',
  'boolean',
  'break',
  'byte',
  'case',
  'char',
  'class',
  'continue',
  'default',
  'do',
  'else',
  'false',
  'final',
  'for',
  'if',
  'import',
  'int',
  'long',
  'new',
  'null',
  'package',
  'private',
  'protected',
  'public',
  'return',
  'short',
  'static',
  'switch',
  'true',
  'void',
  'while',
  'double',
  'float',
  'try',
  'catch',
  'throw',
  'this',
  'super',
  'interface',
  'enum',
  'instanceof',
  'synchronized',
  'volatile',
  'transient',
  'native',
  'strictfp',
  'goto',
  'const',
  'extends',
  'implements',
  'throws',
  'finally',
  'assert',
]);

// Longest first, so that the greedy match picks `>>>=` before `>>>` before `>>`.
const operators = [
  '>>>=',
  '<<=',
  '>>=',
  '>>>',
  '...',
  '==',
  '!=',
  '<=',
  '>=',
  '&&',
  '||',
  '++',
  '--',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '<<',
  '>>',
  '->',
  '::',
  '(',
  ')',
  '{',
  '}',
  '[',
  ']',
  ';',
  ',',
  '.',
  '@',
  '=',
  '>',
  '<',
  '!',
  '~',
  '?',
  ':',
  '+',
  '-',
  '*',
  '/',
  '&',
  '|',
  '^',
  '%',
];

/** Splits `source` into tokens (the last is `eof`), reporting problems into `diagnostics`. */
export function lex(source: string, diagnostics: DiagnosticBag): Token[] {
  const tokens: Token[] = [];
  let offset = 0;
  let line = 1;
  let lineStart = 0;
  const here = (): SourcePosition => ({ line, column: offset - lineStart + 1, offset });
  const advance = (count: number) => {
    for (let i = 0; i < count; i++) {
      if (source[offset] === '\n') {
        line++;
        lineStart = offset + 1;
      }
      offset++;
    }
  };

  while (offset < source.length) {
    const c = source[offset]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\f') {
      advance(1);
      continue;
    }
    const start = here();
    if (source.startsWith('//', offset)) {
      while (offset < source.length && source[offset] !== '\n') advance(1);
      continue;
    }
    if (source.startsWith('/*', offset)) {
      const close = source.indexOf('*/', offset + 2);
      if (close < 0) {
        advance(source.length - offset);
        diagnostics.error('LEX_UNTERMINATED', 'unterminated comment', { start, end: here() });
      } else advance(close + 2 - offset);
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      let end = offset + 1;
      while (end < source.length && /[A-Za-z0-9_$]/.test(source[end]!)) end++;
      const text = source.slice(offset, end);
      advance(end - offset);
      tokens.push({ kind: keywords.has(text) ? 'keyword' : 'ident', text, span: { start, end: here() } });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(source[offset + 1] ?? ''))) {
      let end = offset;
      while (end < source.length && /[0-9A-Za-z_.]/.test(source[end]!)) end++;
      const text = source.slice(offset, end);
      advance(end - offset);
      const span = { start, end: here() };
      const parsed = parseIntegerLiteral(text);
      if (parsed === undefined) {
        diagnostics.error('LEX_BAD_NUMBER', `malformed number '${text}'`, span);
        tokens.push({ kind: 'int', text, span, value: 0n });
      } else tokens.push({ kind: parsed.isLong ? 'long' : 'int', text, span, value: parsed.value });
      continue;
    }
    if (c === "'") {
      const result = lexChar(source, offset);
      advance(result.length);
      const span = { start, end: here() };
      if (result.value === undefined) {
        diagnostics.error('LEX_UNTERMINATED', 'malformed character literal', span);
        tokens.push({ kind: 'char', text: source.slice(start.offset, offset), span, value: 0n });
      } else
        tokens.push({
          kind: 'char',
          text: source.slice(start.offset, offset),
          span,
          value: BigInt(result.value),
        });
      continue;
    }
    if (c === '"') {
      let end = offset + 1;
      while (end < source.length && source[end] !== '"' && source[end] !== '\n')
        end += source[end] === '\\' ? 2 : 1;
      if (source[end] !== '"') {
        advance(end - offset);
        diagnostics.error('LEX_UNTERMINATED', 'unterminated string literal', { start, end: here() });
        continue;
      }
      advance(end + 1 - offset);
      tokens.push({ kind: 'string', text: source.slice(start.offset, offset), span: { start, end: here() } });
      continue;
    }
    const op = operators.find((o) => source.startsWith(o, offset));
    if (op) {
      advance(op.length);
      tokens.push({ kind: 'op', text: op, span: { start, end: here() } });
      continue;
    }
    advance(1);
    diagnostics.error('LEX_UNEXPECTED_CHAR', `unexpected character '${c}'`, { start, end: here() });
  }
  const end = here();
  tokens.push({ kind: 'eof', text: '<end of file>', span: { start: end, end } });
  return tokens;
}

/**
 * Java integer literal rules: a decimal int literal may be at most 2^31 (only as the operand of
 * unary minus, which the checker verifies); hex/octal/binary literals may use all 32 (64) bits.
 * The returned value is the literal's magnitude for decimals and its two's-complement bits otherwise.
 */
function parseIntegerLiteral(text: string): { value: bigint; isLong: boolean } | undefined {
  let body = text;
  const isLong = /[lL]$/.test(body);
  if (isLong) body = body.slice(0, -1);
  if (body.startsWith('_') || body.endsWith('_')) return undefined;
  body = body.replace(/_/g, '');
  let value: bigint;
  let isDecimal = false;
  if (/^0[xX][0-9a-fA-F]+$/.test(body)) value = BigInt(body);
  else if (/^0[bB][01]+$/.test(body)) value = BigInt(body);
  else if (/^0[0-7]+$/.test(body)) value = BigInt(`0o${body.slice(1)}`);
  else if (/^(0|[1-9][0-9]*)$/.test(body)) {
    value = BigInt(body);
    isDecimal = true;
  } else return undefined;
  const bits = isLong ? 64n : 32n;
  const limit = isDecimal ? 1n << (bits - 1n) : 1n << bits;
  if (isDecimal ? value > limit : value >= limit) return undefined;
  if (!isDecimal && value >= 1n << (bits - 1n)) value -= 1n << bits;
  return { value, isLong };
}

const escapes: Record<string, number> = {
  b: 8,
  t: 9,
  n: 10,
  f: 12,
  r: 13,
  '"': 34,
  "'": 39,
  '\\': 92,
  s: 32,
};

function lexChar(source: string, offset: number): { length: number; value?: number } {
  const close = source.indexOf("'", offset + (source[offset + 1] === '\\' ? 3 : 2));
  if (close < 0 || close - offset > 8) return { length: 1 };
  const body = source.slice(offset + 1, close);
  if (body.length === 1 && body !== '\\') return { length: close + 1 - offset, value: body.charCodeAt(0) };
  if (body.length === 2 && body[0] === '\\' && escapes[body[1]!] !== undefined)
    return { length: close + 1 - offset, value: escapes[body[1]!] };
  if (/^\\[0-7]{1,3}$/.test(body)) {
    const v = Number.parseInt(body.slice(1), 8);
    if (v <= 255) return { length: close + 1 - offset, value: v };
  }
  if (/^\\u+[0-9a-fA-F]{4}$/.test(body))
    return { length: close + 1 - offset, value: Number.parseInt(body.slice(-4), 16) };
  return { length: close + 1 - offset };
}
