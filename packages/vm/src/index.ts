/** @capsule/vm — the RV32IMAC sandbox: instruction table, codecs, machines, verifier, fast tier. Pure. */

/** Instruction values and their encoder, decoder and compressor (results, never exceptions). */
export {
  compressInstruction,
  type DecodeResult,
  decodeInstruction,
  decodeWord,
  type EncodeResult,
  encodeInstruction,
  expandInstruction,
  findInstructionSpec,
  type Instruction,
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
/** The sandbox ABI: regions, entry registers, records, services, verdicts, trap reasons. */
export * from './sandbox-abi';
