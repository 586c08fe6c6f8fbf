/**
 * The one base error of Capsule. Per-packet outcomes are values (verdicts, decode results) and
 * compiler problems are diagnostics; everything else that fails throws a subclass of this with a
 * stable, literal `code` (for example `CGA_INVALID_PREFIX`). The API maps codes to HTTP statuses in
 * one table; the CLI prints `error [code]: message`.
 */
export class CapsuleError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** True when `value` is a CapsuleError (across bundle copies too: checks the shape, not the class). */
export function isCapsuleError(value: unknown): value is CapsuleError {
  return value instanceof Error && typeof (value as { code?: unknown }).code === 'string';
}
