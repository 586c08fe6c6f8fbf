/** @capsule/sdk — the microprogram language: compiler, assembler, disassembler, image, simulator. Pure. */

/** The assembler (GNU syntax) and the disassembler (llvm-objdump text). */
export { type AssembleOptions, type AssembleResult, assemble } from './assembler';
/** The capsule API (record classes and services) as data, for docs and tools. */
export { type BuiltinMethod, builtinMethods } from './capsule-api';
/** Compile microprogram source (a subset of Java) into a ProgramImage (@capsule/wire's, like its codecs). */
export { type CompileOptions, type CompileResult, checkSource, compile } from './compile';
/** Diagnostics: codes, spans, the catalogue and the `file:line:col: error CODE: message` format. */
export {
  type Diagnostic,
  type DiagnosticCode,
  diagnosticCodes,
  formatDiagnostic,
  type SourcePosition,
  type SourceSpan,
} from './diagnostics';
export { type DisassembledLine, disassemble, formatListing } from './disassembler';
/** Run a pure static method on the VM (sdk run, differential tests); wrap code as an ELF. */
export { type RunMethodOptions, type RunResult, runMethod, wrapInElf } from './run';
/** The simulator: run an entry against packet fixtures on the sandbox machine. */
export {
  type PacketFixture,
  type PacketOutcome,
  type SimulateOptions,
  type SimulationFixture,
  simulate,
} from './simulator';
