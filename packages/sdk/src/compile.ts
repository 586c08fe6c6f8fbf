/**
 * The compiler pipeline: lex → parse → check → lower → emit → link into a ProgramImage. Pure:
 * source text in, image and diagnostics out.
 */
import { CODE_MAX_BYTES } from '@capsule/vm';
import { createProgramImage, type LayoutEntry, type ProgramImage } from '@capsule/wire';
import type { MethodSymbol } from './ast';
import { type CheckedProgram, check } from './checker';
import { type Diagnostic, DiagnosticBag, noSpan } from './diagnostics';
import { type EmittedCode, emitCode } from './emit';
import { lex } from './lexer';
import { type LoweredProgram, lowerProgram } from './lower';
import { parse } from './parser';
import { runtimeSource } from './runtime';
import { typeName } from './types';

/** Compiler options. */
export interface CompileOptions {
  /**
   * Build a driver that calls `method` (a static method of the program's class) with these
   * argument values (ints or longs) and ends with EBREAK, its result in a0 (a1 for the high word
   * of a long). Its entry is named `$call`. Used by `capsule sdk run` and the differential tests.
   */
  readonly call?: { readonly method: string; readonly args: readonly bigint[] };
  /** Use compressed encodings where possible (default true). */
  readonly compress?: boolean;
}

/** The outcome of a compilation: an image when there were no errors. */
export interface CompileResult {
  readonly diagnostics: readonly Diagnostic[];
  readonly image: ProgramImage | undefined;
  /** The called method's return type (with `call`), e.g. `int`, `long`, `boolean`, `void`. */
  readonly returnType?: string;
}

/**
 * The most code a program compiled with a `call` driver may have. Such a program runs on the
 * sandbox machine when its code fits CODE (CODE_MAX_BYTES, the limit of every other program) and
 * on the conformance machine (flat memory) otherwise: `capsule sdk run` and the differential tests.
 */
export const RUN_CODE_MAX_BYTES = 64 * 1024;

let cachedRuntime: CheckedProgram | undefined;
function checkedRuntime(): CheckedProgram {
  if (!cachedRuntime) {
    const bag = new DiagnosticBag();
    cachedRuntime = check(parse(lex(runtimeSource, bag), bag), bag);
    if (bag.hasErrors)
      throw new Error(`runtime helpers do not compile: ${bag.items.map((d) => d.message).join('; ')}`);
  }
  return cachedRuntime;
}

/** Front end only: lex, parse and check (for tools that want the tree or the diagnostics). */
export function checkSource(source: string): { checked: CheckedProgram; diagnostics: DiagnosticBag } {
  const diagnostics = new DiagnosticBag();
  const tokens = lex(source, diagnostics);
  const unit = parse(tokens, diagnostics);
  const checked = check(unit, diagnostics);
  return { checked, diagnostics };
}

/** Compiles microprogram source to a ProgramImage. */
export function compile(source: string, options: CompileOptions = {}): CompileResult {
  return compileProgram(source, options).result;
}

/** What the compiler built on the way to the image (for listings). */
export interface CompiledProgram {
  readonly result: CompileResult;
  /** The machine IR (present when lowering ran). */
  readonly lowered?: LoweredProgram;
  /** The laid-out code (present with an image). */
  readonly emitted?: EmittedCode;
}

/** `compile`, keeping the machine IR and the layout (listing.ts prints them). */
export function compileProgram(source: string, options: CompileOptions = {}): CompiledProgram {
  const { checked, diagnostics } = checkSource(source);
  let callTarget: { method: MethodSymbol; args: readonly bigint[] } | undefined;
  if (options.call) {
    const name = options.call.method.includes('.')
      ? options.call.method.slice(options.call.method.lastIndexOf('.') + 1)
      : options.call.method;
    const className = options.call.method.includes('.')
      ? options.call.method.slice(0, options.call.method.lastIndexOf('.'))
      : undefined;
    const candidates = checked.methods.filter(
      (m) => m.name === name && m.params.length === options.call!.args.length,
    );
    const method = candidates[0];
    if (!method || (className !== undefined && className !== method.className) || candidates.length > 1) {
      diagnostics.error(
        'CHECK_UNKNOWN_NAME',
        `no unique static method ${options.call.method} taking ${options.call.args.length} argument(s)`,
        {
          start: { line: 1, column: 1, offset: 0 },
          end: { line: 1, column: 1, offset: 0 },
        },
      );
    } else {
      for (const p of method.params)
        if (!(p.kind === 'primitive' && p.name !== 'boolean'))
          diagnostics.error(
            'CHECK_BAD_CALL',
            `sdk run passes int or long arguments only; ${method.name} takes ${typeName(p)}`,
            method.decl.span,
          );
      callTarget = { method, args: options.call.args };
    }
  }
  if (diagnostics.hasErrors) return { result: { diagnostics: sorted(diagnostics), image: undefined } };
  const maxCodeBytes = callTarget ? RUN_CODE_MAX_BYTES : CODE_MAX_BYTES;
  const attempt = (inlineSmall: boolean) => {
    const bag = new DiagnosticBag();
    let lowered: LoweredProgram;
    try {
      lowered = lowerProgram(checked, checkedRuntime(), bag, {
        ...(callTarget ? { call: callTarget } : {}),
        inlineSmall,
      });
    } catch (error) {
      bag.error(
        'LINK_ERROR',
        `internal compiler error: ${(error as Error).message}`,
        checked.mainClass?.span ?? noSpan,
      );
      return { bag };
    }
    if (bag.hasErrors) return { bag, lowered };
    const emitted = emitCode(lowered.functions, bag, { compress: options.compress ?? true, maxCodeBytes });
    return { bag, lowered, emitted };
  };
  let built = attempt(true);
  // Small methods lowered in place at every call grow the code: when that makes it too large for
  // the target, they stay calls.
  if (built.emitted?.oversizeBytes !== undefined) {
    const again = attempt(false);
    if (!again.bag.hasErrors) built = again;
  }
  diagnostics.items.push(...built.bag.items);
  const { lowered, emitted } = built;
  if (!lowered || !emitted || diagnostics.hasErrors)
    return {
      result: { diagnostics: sorted(diagnostics), image: undefined },
      ...(lowered ? { lowered } : {}),
      ...(emitted ? { emitted } : {}),
    };
  const data: LayoutEntry[] = lowered.fields
    .filter((f) => f.symbol.id >= 0)
    .map((f) => ({
      name: f.symbol.name,
      region: f.region,
      offset: f.offset,
      size: f.size,
      type: typeName(f.symbol.type),
      initial: Buffer.from(f.initial).toString('hex'),
    }));
  const extent = (region: string) =>
    lowered.fields.filter((f) => f.region === region).reduce((n, f) => Math.max(n, f.offset + f.size), 0);
  const image = createProgramImage({
    name: checked.mainClass?.name ?? '',
    code: emitted.code,
    entries: lowered.entries.map((e) => ({ name: e.name, offset: emitted.labels.get(e.label) ?? 0 })),
    data,
    regions: {
      dataBytes: extent('DATA'),
      flowBytes: extent('FLOW'),
      contractBytes: extent('CONTRACT'),
      staticsBytes: lowered.staticsBytes,
    },
    sourceMap: emitted.sourceMap,
  });
  const result: CompileResult = { diagnostics: sorted(diagnostics), image };
  return {
    result: callTarget ? { ...result, returnType: typeName(callTarget.method.returnType) } : result,
    lowered,
    emitted,
  };
}

function sorted(bag: DiagnosticBag): Diagnostic[] {
  return [...bag.items].sort((a, b) => a.span.start.offset - b.span.start.offset);
}
