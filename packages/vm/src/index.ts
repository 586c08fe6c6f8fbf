/** @capsule/vm — the RV32IMAC sandbox: instruction table, codecs, machines, verifier, fast tier. Pure. */

/** The conformance machine (RV32 Linux executables, compared with qemu-riscv32). */
export {
  type ConformanceDeps,
  type ConformanceMachine,
  type ConformanceOptions,
  type ConformanceResult,
  createConformanceMachine,
  Signal,
  Syscall,
} from './conformance-machine';
/** The fast tier's source generator (for inspection and docs). */
export { generateFastTierSource } from './core/fast-tier';
/** The executor port of a machine state and the native tier's port (implemented outside this pure package). */
export type { DecodedProgram } from './core/program';
export type { Executor, MachineState, NativeTier } from './core/state';
/** ELF32 RISC-V executable reader. */
export { type ElfImage, type ElfResult, type ElfSegment, EM_RISCV, parseElf } from './elf';
/** Instruction values and their encoder, decoder and compressor (results, never exceptions). */
export {
  compressInstruction,
  decodeInstruction,
  decodeWord,
  type EncodeResult,
  encodeInstruction,
  encodeProgram,
  expandInstruction,
  findInstructionSpec,
  type Instruction,
  type InstructionDecodeResult,
} from './isa/codec';
/** Instruction text as llvm-objdump prints it, and the ABI register names. */
export { formatInstruction, registerNames } from './isa/format';
/** The one instruction table (every RV32I, M, A and C instruction) and its row types. */
export {
  type Expansion,
  type Extension,
  type ImmediateField,
  type InstructionFormat,
  type InstructionSpec,
  instructionTable,
  type Mnemonic,
  type RegisterField,
} from './isa/table';
/** docs/isa.md's text, generated from the table. */
export { renderIsaDoc } from './isa-doc';
/** The sandbox ABI: regions, entry registers, records, services, verdicts, trap reasons. */
export * from './sandbox-abi';
/** The sandbox machine (what engines run programs on) and its program preparation. */
export {
  createSandboxMachine,
  defaultSandboxOptions,
  type ExecutionResult,
  type PreparedProgram,
  prepareProgram,
  type RunOptions,
  type SandboxDeps,
  type SandboxHost,
  type SandboxMachine,
  type SandboxOptions,
  type SandboxRegions,
  type Tier,
} from './sandbox-machine';
/** The static verifier. */
export {
  type VerifierCode,
  type VerifierDiagnostic,
  type VerifierOptions,
  type VerifierResult,
  verifyProgram,
} from './verifier';
