/**
 * Compiler and assembler problems are collected, never thrown: each has a stable code (the
 * catalogue below; docs/language.md lists them), a message and a line:column span (1-based).
 */

/** A source position: 1-based line and column, 0-based offset. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

/** A half-open source range. */
export interface SourceSpan {
  readonly start: SourcePosition;
  readonly end: SourcePosition;
}

/** One problem found while compiling or assembling. */
export interface Diagnostic {
  readonly code: DiagnosticCode;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly span: SourceSpan;
}

/** The catalogue of diagnostic codes (stable: tests and docs refer to them). */
export const diagnosticCodes = {
  LEX_UNEXPECTED_CHAR: 'a character that starts no token',
  LEX_UNTERMINATED: 'an unterminated comment or character literal',
  LEX_BAD_NUMBER: 'a malformed or out-of-range numeric literal',
  PARSE_EXPECTED: 'the parser expected something else here',
  PARSE_UNSUPPORTED: 'a Java construct outside the supported subset',
  CHECK_UNKNOWN_NAME: 'a name that is not declared',
  CHECK_DUPLICATE: 'a name declared twice in one scope',
  CHECK_TYPE_MISMATCH: 'an expression of the wrong type',
  CHECK_NOT_ASSIGNABLE: 'an assignment target that is not a variable',
  CHECK_BAD_OPERAND: 'an operator applied to operands of the wrong type',
  CHECK_BAD_CALL: 'a call with the wrong number or types of arguments',
  CHECK_MISSING_RETURN: 'a non-void method that can complete without returning',
  CHECK_UNREACHABLE: 'a statement that cannot be reached',
  CHECK_BAD_BREAK:
    'break, continue or return without a target (outside a loop or switch, an unknown label, return in a static initializer)',
  CHECK_CONSTANT_REQUIRED: 'a place that needs a compile-time constant',
  CHECK_DUPLICATE_CASE: 'two switch labels with the same value',
  CHECK_BAD_ANNOTATION: 'an annotation that does not fit its declaration',
  CHECK_BAD_ENTRY: 'an @Entry method with the wrong signature',
  CHECK_UNINITIALIZED: 'a local variable read before it is definitely assigned',
  CHECK_FINAL_ASSIGNED: 'an assignment to a final variable',
  CHECK_LIMIT: 'a program exceeding a limit of the target (parameters, sizes, regions)',
  ASM_UNKNOWN_MNEMONIC: 'an assembler mnemonic or directive that is not known',
  ASM_BAD_OPERAND: 'an assembler operand of the wrong kind or out of range',
  ASM_UNKNOWN_SYMBOL: 'an assembler label or symbol that is not defined',
  ASM_DUPLICATE_SYMBOL: 'an assembler label defined twice',
  LINK_ERROR: 'a problem while laying out or encoding the program',
} as const;

/** A stable diagnostic code. */
export type DiagnosticCode = keyof typeof diagnosticCodes;

/** Collects diagnostics in source order of discovery. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];

  error(code: DiagnosticCode, message: string, span: SourceSpan): void {
    this.items.push({ code, severity: 'error', message, span });
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }
}

/** The span that covers nothing at the start of a file (for whole-program problems). */
export const noSpan: SourceSpan = {
  start: { line: 1, column: 1, offset: 0 },
  end: { line: 1, column: 1, offset: 0 },
};

/** Formats a diagnostic as `file:line:col: error CODE: message`. */
export function formatDiagnostic(diagnostic: Diagnostic, fileName: string): string {
  const { line, column } = diagnostic.span.start;
  return `${fileName}:${line}:${column}: ${diagnostic.severity} ${diagnostic.code}: ${diagnostic.message}`;
}
