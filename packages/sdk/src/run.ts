/**
 * Runs a pure static method on our VM: `capsule sdk run` and the differential tests against the
 * JVM. The program is compiled with a `$call` driver (arguments in a0.., EBREAK after the call,
 * the result in a0/a1). Code that fits CODE (1 KiB) runs on the sandbox machine, the one engines
 * use; larger code (for example with the 64-bit division helpers) runs on the conformance
 * machine, wrapped in a minimal ELF executable (flat memory, same core and tiers).
 */
import {
  CODE_MAX_BYTES,
  createConformanceMachine,
  createSandboxMachine,
  FUEL_MAX,
  type NativeTier,
  prepareProgram,
  type Tier,
  TrapReason,
  trapReasonName,
} from '@capsule/vm';
import { type CompileResult, compile } from './compile';
import type { Diagnostic } from './diagnostics';

/** The outcome of running a method. */
export type RunResult =
  | {
      readonly ok: true;
      readonly value: bigint | undefined;
      readonly returnType: string;
      readonly fuelUsed: number;
      readonly machine: 'sandbox' | 'conformance';
    }
  | { readonly ok: false; readonly kind: 'compile'; readonly diagnostics: readonly Diagnostic[] }
  | {
      readonly ok: false;
      readonly kind: 'trap';
      readonly reason: string;
      readonly fuelUsed: number;
      readonly machine: 'sandbox' | 'conformance';
    };

/** Options of runMethod. */
export interface RunMethodOptions {
  readonly tier?: Tier;
  /** Instruction budget (default FUEL_MAX). */
  readonly budgetInstructions?: number;
  /** The VM's native tier (from @capsule/native), needed for tier 'native'. */
  readonly nativeTier?: NativeTier;
}

const noHost = {
  emit: () => false,
  flowHash: (seed: number) => seed,
  timeMs: () => 0,
  random: () => 0,
  log: () => true,
};

/** Compiles `source` and runs `method` (e.g. `Main.f`) with int/long `args`. */
export function runMethod(
  source: string,
  method: string,
  args: readonly bigint[],
  options: RunMethodOptions = {},
): RunResult {
  return runCompiled(compile(source, { call: { method, args } }), options);
}

/** Runs a program compiled with a `call` driver (one compilation, run on both tiers by the tests). */
export function runCompiled(compiled: CompileResult, options: RunMethodOptions = {}): RunResult {
  if (!compiled.image) return { ok: false, kind: 'compile', diagnostics: compiled.diagnostics };
  const code = compiled.image.code;
  const returnType = compiled.returnType ?? 'void';
  const budget = options.budgetInstructions ?? FUEL_MAX;
  const tier = options.tier ?? 'interpreter';
  const value = (lo: number, hi: number): bigint | undefined => {
    if (returnType === 'void') return undefined;
    if (returnType === 'long') return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
    return BigInt(lo);
  };
  if (code.length <= CODE_MAX_BYTES) {
    const machine = createSandboxMachine(
      { budgetInstructions: budget, tier },
      { host: noHost, nativeTier: options.nativeTier },
    );
    const r = machine.run(prepareProgram(code), { entryOffset: compiled.image.entries[0]?.offset ?? 0 });
    // A pure method sets no verdict: a normal end reports NO_VERDICT.
    if (r.trap !== TrapReason.NO_VERDICT)
      return {
        ok: false,
        kind: 'trap',
        reason: trapReasonName(r.trap),
        fuelUsed: r.fuelUsed,
        machine: 'sandbox',
      };
    return {
      ok: true,
      value: value(machine.registers[10]!, machine.registers[11]!),
      returnType,
      fuelUsed: r.fuelUsed,
      machine: 'sandbox',
    };
  }
  const machine = createConformanceMachine(
    wrapInElf(code, compiled.image.entries[0]?.offset ?? 0),
    { maxSteps: budget, tier },
    { write: () => {}, nativeTier: options.nativeTier },
  );
  const r = machine.run();
  if (r.status === 'signal' && r.reason !== undefined && r.signal === 5)
    return {
      ok: true,
      value: value(machine.state.regs[10]!, machine.state.regs[11]!),
      returnType,
      fuelUsed: r.steps,
      machine: 'conformance',
    };
  return {
    ok: false,
    kind: 'trap',
    reason: r.status === 'signal' ? r.reason : r.status,
    fuelUsed: r.steps,
    machine: 'conformance',
  };
}

const CODE_ADDRESS = 0x0001_0000;
const HEADER_BYTES = 0x60;

/** A minimal static ELF32 RISC-V executable holding `code` (one R+X PT_LOAD segment). */
export function wrapInElf(code: Uint8Array, entryOffset: number): Uint8Array {
  const file = new Uint8Array(HEADER_BYTES + code.length);
  const v = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 243, true); // EM_RISCV
  v.setUint32(20, 1, true);
  v.setUint32(24, CODE_ADDRESS + HEADER_BYTES + entryOffset, true);
  v.setUint32(28, 52, true); // e_phoff
  v.setUint32(36, 0x1, true); // EF_RISCV_RVC
  v.setUint16(40, 52, true);
  v.setUint16(42, 32, true);
  v.setUint16(44, 1, true);
  v.setUint16(46, 40, true);
  // Program header: PT_LOAD of the whole file at CODE_ADDRESS, R+X.
  v.setUint32(52, 1, true);
  v.setUint32(56, 0, true);
  v.setUint32(60, CODE_ADDRESS, true);
  v.setUint32(64, CODE_ADDRESS, true);
  v.setUint32(68, file.length, true);
  v.setUint32(72, file.length, true);
  v.setUint32(76, 5, true);
  v.setUint32(80, 0x1000, true);
  file.set(code, HEADER_BYTES);
  return file;
}
