/**
 * The conformance machine: runs a statically linked RV32 Linux executable the way qemu-riscv32
 * (user mode) does, so that programs built by a real toolchain can be compared between the two.
 * Flat 32-bit memory (64 KiB pages, mapped on demand for the ELF's segments, the stack and brk),
 * a Linux-like initial stack (argc, argv, envp, auxv with AT_PAGESZ and AT_RANDOM), and the
 * system calls write (64), exit (93), exit_group (94) and brk (214); any other returns -ENOSYS.
 * A trap ends the program as the matching signal would (SIGILL, SIGSEGV, SIGBUS, SIGTRAP).
 *
 * Differences from qemu, by design: code is pre-decoded once (self-modifying code is not seen);
 * a data access may not cross a 64 KiB page boundary (SIGSEGV); LR/SC reservations are kept by
 * address only (qemu compares the value as well); the initial stack's addresses differ from
 * qemu's (its layout is the same).
 */
import { compileFastTier, type FastTierFunction } from './core/fast-tier';
import { interpret } from './core/interpreter';
import { type DecodedProgram, predecode } from './core/program';
import {
  createMachineState,
  type Executor,
  Exit,
  type MachineState,
  mapPage,
  type NativeTier,
  PAGE_BYTES,
} from './core/state';
import { type ElfImage, parseElf } from './elf';
import { VmError } from './errors';
import { decodeInstruction } from './isa/codec';
import { formatInstruction } from './isa/format';
import type { Tier } from './sandbox-machine';

/** Linux system call numbers the machine implements (RISC-V uses the generic table). */
export const Syscall = { WRITE: 64, EXIT: 93, EXIT_GROUP: 94, BRK: 214 } as const;
const ENOSYS = 38;
const EBADF = 9;
const EFAULT = 14;

/** Signals a trap ends the program with (Linux numbers). */
export const Signal = { SIGILL: 4, SIGTRAP: 5, SIGBUS: 7, SIGSEGV: 11 } as const;

/** Options of a conformance run. */
export interface ConformanceOptions {
  /** argv (argv[0] first); default ['program']. */
  args?: readonly string[];
  /** Environment strings ('NAME=value'); default none. */
  env?: readonly string[];
  /** Most instructions to run before stopping (default 1e9). */
  maxSteps?: number;
  /** Executor (default interpreter). */
  tier?: Tier;
  /** Initial stack pointer to build the stack below (default 0x40800000 - 0x670, 16-aligned). */
  stackTop?: number;
  /** The 16 bytes AT_RANDOM points at (default 16 zero bytes; qemu gives random ones). */
  atRandom?: Uint8Array;
}

/** What the machine needs from outside. */
export interface ConformanceDeps {
  /** Program output for fd 1 and 2 (bytes valid only during the call). */
  write(fd: number, bytes: Uint8Array): void;
  /** Called before each instruction when given (single-steps: slow). */
  trace?(pc: number, text: string, registers: Int32Array): void;
  /** The native tier, needed for tier 'native' (VM_NO_NATIVE_TIER without it). */
  nativeTier?: NativeTier;
}

/** How a program ended. */
export type ConformanceResult =
  | { status: 'exited'; exitCode: number; steps: number }
  | { status: 'signal'; signal: number; reason: string; pc: number; steps: number }
  | { status: 'step-limit'; pc: number; steps: number };

/** A loaded program. */
export interface ConformanceMachine {
  readonly state: MachineState;
  readonly program: DecodedProgram;
  /** Runs to the end (exit, signal or step limit). */
  run(): ConformanceResult;
}

const STACK_PAGES = 16;
const DEFAULT_STACK_TOP = 0x4080_0000;
const BRK_LIMIT_BYTES = 64 << 20;
const AT = {
  NULL: 0,
  PHDR: 3,
  PHENT: 4,
  PHNUM: 5,
  PAGESZ: 6,
  ENTRY: 9,
  UID: 11,
  EUID: 12,
  GID: 13,
  EGID: 14,
  RANDOM: 25,
};

/** Loads `file` (an RV32 static executable); throws VM_BAD_ELF when it cannot be run. */
export function createConformanceMachine(
  file: Uint8Array,
  options: ConformanceOptions,
  deps: ConformanceDeps,
): ConformanceMachine {
  const parsed = parseElf(file);
  if (!parsed.ok) throw new VmError('VM_BAD_ELF', parsed.error);
  const image: ElfImage = parsed.image;
  const state = createMachineState();
  const full = { readBytes: PAGE_BYTES, writeBytes: PAGE_BYTES, atomicBytes: PAGE_BYTES };
  const ensurePage = (page: number) => {
    if (state.readLimit[page] === 0) mapPage(state, page, new DataView(new ArrayBuffer(PAGE_BYTES)), full);
    return state.views[page]!;
  };
  const writeBytes = (address: number, bytes: Uint8Array) => {
    for (let index = 0; index < bytes.length; index++) {
      const at = (address + index) >>> 0;
      ensurePage(at >>> 16).setUint8(at & 0xffff, bytes[index]!);
    }
  };
  const readByte = (address: number) => state.views[address >>> 16]!.getUint8(address & 0xffff);

  let codeLow = 0xffff_ffff;
  let codeHigh = 0;
  let end = 0;
  for (const segment of image.segments) {
    const from = segment.virtualAddress;
    const to = from + segment.memorySizeBytes;
    for (let page = from >>> 16; page <= (to - 1) >>> 16 && to > from; page++) ensurePage(page);
    writeBytes(from, segment.bytes);
    if (segment.executable) {
      codeLow = Math.min(codeLow, from);
      codeHigh = Math.max(codeHigh, from + segment.bytes.length);
    }
    end = Math.max(end, to);
  }
  const code = new Uint8Array(codeHigh - codeLow);
  for (let index = 0; index < code.length; index++) code[index] = readByte(codeLow + index);
  const program = predecode(code, codeLow);
  const initialBreak = (end + 0xfff) & ~0xfff;
  let currentBreak = initialBreak;

  // The initial stack, as Linux (and qemu) lay it out: strings at the top, then AT_RANDOM's
  // bytes, then (16-byte aligned) argc, argv[], NULL, envp[], NULL, auxv pairs, AT_NULL.
  const stackTop = options.stackTop ?? DEFAULT_STACK_TOP;
  // STACK_PAGES below the top and one page above it (qemu's stack also extends past its top).
  for (let page = ((stackTop - 1) >>> 16) - STACK_PAGES + 1; page <= ((stackTop - 1) >>> 16) + 1; page++)
    ensurePage(page);
  let sp = stackTop;
  const encoder = new TextEncoder();
  const pushString = (text: string) => {
    const bytes = encoder.encode(`${text}\0`);
    sp -= bytes.length;
    writeBytes(sp, bytes);
    return sp;
  };
  const args = options.args ?? ['program'];
  const env = options.env ?? [];
  const argPointers = args.map(pushString);
  const envPointers = env.map(pushString);
  sp -= 16;
  const randomAddress = sp;
  writeBytes(randomAddress, options.atRandom ?? new Uint8Array(16));
  const auxv: [number, number][] = [
    [AT.PHDR, image.programHeaderAddress],
    [AT.PHENT, 32],
    [AT.PHNUM, image.programHeaderCount],
    [AT.PAGESZ, 4096],
    [AT.ENTRY, image.entry],
    [AT.UID, 0],
    [AT.EUID, 0],
    [AT.GID, 0],
    [AT.EGID, 0],
    [AT.RANDOM, randomAddress],
    [AT.NULL, 0],
  ];
  const words = [args.length, ...argPointers, 0, ...envPointers, 0, ...auxv.flat()];
  sp = (sp - words.length * 4) & ~15;
  words.forEach((word, index) => {
    state.views[(sp + index * 4) >>> 16]!.setUint32((sp + index * 4) & 0xffff, word >>> 0, true);
  });
  state.regs[2] = sp;
  state.pc = image.entry;

  let fast: FastTierFunction | undefined;
  let native: Executor | undefined;
  const execute = (): number => {
    if (options.tier === 'native') {
      if (deps.nativeTier === undefined)
        throw new VmError('VM_NO_NATIVE_TIER', "tier 'native' needs the native tier (deps.nativeTier)");
      native ??= deps.nativeTier.createExecutor(state);
      return native(program);
    }
    if (options.tier === 'fast') {
      fast ??= compileFastTier(program);
      return fast(state, program);
    }
    return interpret(state, program);
  };

  function syscall(): { exitCode: number } | undefined {
    const R = state.regs;
    const number = R[17]!;
    switch (number) {
      case Syscall.WRITE: {
        const fd = R[10]!;
        const address = R[11]! >>> 0;
        const length = R[12]! >>> 0;
        if (fd !== 1 && fd !== 2) {
          R[10] = -EBADF;
          return undefined;
        }
        const bytes = new Uint8Array(length);
        for (let index = 0; index < length; index++) {
          const at = (address + index) >>> 0;
          if (state.readLimit[at >>> 16] === 0) {
            R[10] = -EFAULT;
            return undefined;
          }
          bytes[index] = readByte(at);
        }
        deps.write(fd, bytes);
        R[10] = length;
        return undefined;
      }
      case Syscall.EXIT:
      case Syscall.EXIT_GROUP:
        return { exitCode: R[10]! & 0xff };
      case Syscall.BRK: {
        const wanted = R[10]! >>> 0;
        if (wanted >= initialBreak && wanted < initialBreak + BRK_LIMIT_BYTES) {
          for (let page = currentBreak >>> 16; page <= (wanted - 1) >>> 16 && wanted > currentBreak; page++)
            ensurePage(page);
          currentBreak = wanted;
        }
        R[10] = currentBreak;
        return undefined;
      }
      default:
        R[10] = -ENOSYS;
        return undefined;
    }
  }

  function run(): ConformanceResult {
    const maxSteps = options.maxSteps ?? 1_000_000_000;
    state.fuel = maxSteps;
    const steps = () => maxSteps - state.fuel;
    for (;;) {
      let exit: number;
      if (deps.trace !== undefined) {
        const left = state.fuel;
        const decoded = decodeInstruction(code, state.pc - codeLow);
        const text = decoded.ok ? formatInstruction(decoded.instruction, state.pc >>> 0) : '<illegal>';
        if (left > 0 && (state.pc - codeLow) >>> 0 < code.length)
          deps.trace(state.pc >>> 0, text, state.regs);
        state.fuel = Math.min(left, 1);
        exit = interpret(state, program);
        state.fuel = left - (Math.min(left, 1) - state.fuel);
        if (exit === Exit.FUEL && state.fuel > 0) continue;
        if (exit === Exit.FETCH && state.fuel < left && state.fuel > 0) continue;
      } else exit = execute();
      switch (exit) {
        case Exit.ECALL: {
          const ended = syscall();
          if (ended !== undefined) return { status: 'exited', exitCode: ended.exitCode, steps: steps() };
          state.pc += 4;
          continue;
        }
        case Exit.FUEL:
          return { status: 'step-limit', pc: state.pc >>> 0, steps: steps() };
        case Exit.EBREAK:
          return {
            status: 'signal',
            signal: Signal.SIGTRAP,
            reason: 'ebreak',
            pc: state.pc >>> 0,
            steps: steps(),
          };
        case Exit.ILLEGAL:
          return {
            status: 'signal',
            signal: Signal.SIGILL,
            reason: 'illegal instruction',
            pc: state.pc >>> 0,
            steps: steps(),
          };
        case Exit.MISALIGNED_ATOMIC:
          return {
            status: 'signal',
            signal: Signal.SIGBUS,
            reason: `misaligned atomic at 0x${(state.faultAddress >>> 0).toString(16)}`,
            pc: state.pc >>> 0,
            steps: steps(),
          };
        default:
          return {
            status: 'signal',
            signal: Signal.SIGSEGV,
            reason:
              exit === Exit.FETCH
                ? `jump outside the code to 0x${(state.pc >>> 0).toString(16)}`
                : `bad access at 0x${(state.faultAddress >>> 0).toString(16)}`,
            pc: state.pc >>> 0,
            steps: steps(),
          };
      }
    }
  }

  return { state, program, run };
}
