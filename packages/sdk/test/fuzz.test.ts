/**
 * Hostile input to the compiler and the assembler (fast-check, fixed seed, bounded): random text,
 * token soup and mutated library programs never make them throw (nor hit an internal error); each
 * answer is an image or diagnostics with catalogued codes and spans inside the source.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testSeed } from '@capsule/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../src/assembler';
import { compile } from '../src/compile';
import { type Diagnostic, diagnosticCodes } from '../src/diagnostics';

const programsDir = join(import.meta.dirname, '..', '..', '..', 'examples', 'programs');
const library = readdirSync(programsDir)
  .filter((f) => f.endsWith('.java'))
  .map((f) => readFileSync(join(programsDir, f), 'utf8'));

const tokens = [
  'class',
  'A',
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  ';',
  ',',
  'static',
  'final',
  'int',
  'long',
  'byte',
  'short',
  'char',
  'boolean',
  'void',
  'if',
  'else',
  'while',
  'do',
  'for',
  'switch',
  'case',
  'default',
  ':',
  'break',
  'continue',
  'return',
  'new',
  '=',
  '+=',
  '>>>=',
  '+',
  '-',
  '*',
  '/',
  '%',
  '<<',
  '>>>',
  '<',
  '<=',
  '==',
  '!',
  '~',
  '&&',
  '||',
  '?',
  '++',
  '--',
  'x',
  'y',
  'f',
  'L',
  '0',
  '1',
  '2147483648',
  '0x7fffffffL',
  "'a'",
  'true',
  '@Entry',
  '@Data',
  'Packet',
  'p',
  'Action',
  'a',
  '.',
  'forward',
  'hopLimit',
  'length',
  'Integer',
  'MIN_VALUE',
  'Services',
  'fetchAdd',
  '/*',
  '*/',
  '//',
  '\n',
  '"s"',
  '\\u0041',
  'double',
  'try',
];
const tokenSoup = fc.array(fc.constantFrom(...tokens), { maxLength: 120 }).map((t) => t.join(' '));
const mutated = fc
  .tuple(
    fc.constantFrom(...library),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 40 }), fc.constantFrom(...tokens, '', '', '')), {
      minLength: 1,
      maxLength: 6,
    }),
  )
  .map(([source, edits]) => {
    let s = source;
    for (const [at, length, insert] of edits) {
      const i = at % (s.length + 1);
      s = s.slice(0, i) + insert + s.slice(i + length);
    }
    return s;
  });

function checkDiagnostics(source: string, diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) {
    expect(Object.keys(diagnosticCodes)).toContain(d.code);
    // A crash caught and reported as a diagnostic is still a crash.
    expect(d.message).not.toMatch(/internal/);
    expect(d.span.start.offset).toBeGreaterThanOrEqual(0);
    expect(d.span.end.offset).toBeLessThanOrEqual(source.length);
    expect(d.span.start.line).toBeGreaterThanOrEqual(1);
  }
}

describe('hostile input', () => {
  it('the compiler answers random text, token soup and mutated programs without throwing', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), tokenSoup, mutated), (source) => {
        const r = compile(source);
        checkDiagnostics(source, r.diagnostics);
        expect(r.image !== undefined).toBe(r.diagnostics.length === 0);
        const call = compile(source, { call: { method: 'A.f', args: [1n] } });
        checkDiagnostics(source, call.diagnostics);
      }),
      { seed: testSeed, numRuns: 600 },
    );
  });

  it('the assembler answers random lines without throwing', () => {
    const words = [
      'addi',
      'lw',
      'sw',
      'beq',
      'jal',
      'li',
      'la',
      'call',
      '.word',
      '.data',
      '.text',
      '.equ',
      '.globl',
    ];
    const operands = ['a0', 'sp', 'x99', '4(sp)', '-1', '0x7fffffff', '%hi(x)', '%lo(y)', 'x', 'loop', ''];
    const line = fc
      .tuple(
        fc.option(fc.constantFrom('x:', 'loop:', '1:')),
        fc.constantFrom(...words),
        fc.array(fc.constantFrom(...operands), { maxLength: 4 }),
      )
      .map(([label, word, ops]) => `${label ?? ''} ${word} ${ops.join(', ')}`);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.array(line, { maxLength: 30 }).map((l) => l.join('\n')),
        ),
        (source) => {
          const r = assemble(source);
          expect(r.image !== undefined || r.diagnostics.length > 0).toBe(true);
        },
      ),
      { seed: testSeed, numRuns: 400 },
    );
  });
});
