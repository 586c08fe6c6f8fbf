/**
 * The state both executors (interpreter and fast tier) work on, and both machines (sandbox and
 * conformance) build. Memory is a table of 64 KiB pages (page = address >>> 16), each a DataView
 * with three limits: bytes readable, writable and usable by atomics from the page's start. A
 * region of the sandbox is one page; an access is legal when `offset + width <= limit[page]`,
 * so accesses never cross a page (region) end. Everything is allocated once, at construction.
 */

import type { Interpreter } from './interpreter';
import type { DecodedProgram } from './program';

/** Why an executor stopped. */
export const Exit = {
  /** The fuel given ran out before the next instruction (pc is that instruction). */
  FUEL: 1,
  /** ECALL at pc (the machine performs the call and resumes at pc + 4). */
  ECALL: 2,
  /** EBREAK at pc. */
  EBREAK: 3,
  /** pc is outside the code (or not inside it by a whole instruction). */
  FETCH: 4,
  /** The instruction at pc is not legal. */
  ILLEGAL: 5,
  /** A load outside readable memory (faultAddress). */
  LOAD_FAULT: 6,
  /** A store outside writable memory (faultAddress). */
  STORE_FAULT: 7,
  /** An LR/SC/AMO at an unaligned address. */
  MISALIGNED_ATOMIC: 8,
  /** An LR/SC/AMO outside memory that allows atomics. */
  ATOMIC_FAULT: 9,
} as const;

/** Number of 64 KiB pages in the 32-bit address space. */
export const PAGE_COUNT = 0x10000;
/** Bytes per page. */
export const PAGE_BYTES = 0x10000;

/** Registers, pc, fuel and the paged memory of one machine. */
export interface MachineState {
  /** x0..x31 (a view of the first 32 entries of `regFile`); x0 is never written, so it stays 0. */
  readonly regs: Int32Array;
  /**
   * The register file the executors use: x0..x31 and, at index ZERO_SINK, a scratch entry that
   * instructions with rd = x0 write to (so x0 is never written and never needs re-zeroing).
   */
  readonly regFile: Int32Array;
  pc: number;
  /** Instructions left; decremented before each instruction runs. */
  fuel: number;
  /** Page views (an empty view for unmapped pages). */
  readonly views: DataView[];
  readonly readLimit: Int32Array;
  readonly writeLimit: Int32Array;
  readonly atomicLimit: Int32Array;
  /** Lowest offset written in each page since the last reset (PAGE_BYTES = none). */
  readonly writeLow: Int32Array;
  /**
   * The four per-page tables above as one array (they are views of it): read limits at
   * [0, PAGE_COUNT), write limits at PageTable.WRITE + page, atomic limits at PageTable.ATOMIC +
   * page, low-water marks at PageTable.LOW + page. The interpreter uses this one object: V8
   * checks a typed array at every access in its loop, so a store that reads a limit and a
   * low-water mark pays one check instead of two.
   */
  readonly pageTable: Int32Array;
  /** LR reservation address, or -1. */
  reservation: number;
  /** The address of the last load/store/atomic fault. */
  faultAddress: number;
  /**
   * Set by the fast tier when the interpreter is about to run an instruction the translation
   * assumed would not run (it writes a register folded in as a constant): the rest of the run is
   * interpreted. The machine clears it when it resets the registers.
   */
  interpretOnly: boolean;
  /** This state's interpreter (interpreter.ts `createInterpreter`), made on first use. */
  interpreter: Interpreter | undefined;
  /**
   * Told of every page view change (`mapPage`, the sandbox's FLOW/CONTRACT binding): the native
   * tier keeps its own table of page addresses beside `views` (see `NativeTier`).
   */
  onPageView: ((page: number, view: DataView) => void) | undefined;
}

/** An executor bound to one machine state: runs `program` from state.pc with state.fuel; returns an Exit code. */
export type Executor = (program: DecodedProgram) => number;

/**
 * The native tier's port (implemented by @capsule/native, which loads the addon; this package
 * stays pure): an executor of exactly the interpreter's semantics for a machine state. It reads
 * the state's register file and page table in place and learns page views through `onPageView`.
 */
export interface NativeTier {
  createExecutor(state: MachineState): Executor;
}

/** Offsets of the tables in `MachineState.pageTable`. */
export const PageTable = { READ: 0, WRITE: PAGE_COUNT, ATOMIC: 2 * PAGE_COUNT, LOW: 3 * PAGE_COUNT } as const;

/** Index in `regFile` that writes to x0 go to. */
export const ZERO_SINK = 32;

const emptyView = new DataView(new ArrayBuffer(0));

/** A state with no memory mapped. */
export function createMachineState(): MachineState {
  const regFile = new Int32Array(ZERO_SINK + 1);
  // A packed (not holey) array of one element kind, so page lookups stay monomorphic.
  const views: DataView[] = [];
  for (let page = 0; page < PAGE_COUNT; page++) views.push(emptyView);
  const pageTable = new Int32Array(4 * PAGE_COUNT);
  pageTable.fill(PAGE_BYTES, PageTable.LOW);
  return {
    regs: regFile.subarray(0, 32),
    regFile,
    pc: 0,
    fuel: 0,
    views,
    readLimit: pageTable.subarray(PageTable.READ, PageTable.WRITE),
    writeLimit: pageTable.subarray(PageTable.WRITE, PageTable.ATOMIC),
    atomicLimit: pageTable.subarray(PageTable.ATOMIC, PageTable.LOW),
    writeLow: pageTable.subarray(PageTable.LOW),
    pageTable,
    reservation: -1,
    faultAddress: 0,
    interpretOnly: false,
    interpreter: undefined,
    onPageView: undefined,
  };
}

/** Maps `view` as page `page` with the given limits (bytes from the page start). */
export function mapPage(
  state: MachineState,
  page: number,
  view: DataView,
  limits: { readBytes: number; writeBytes: number; atomicBytes: number },
): void {
  state.views[page] = view;
  state.readLimit[page] = Math.min(limits.readBytes, view.byteLength);
  state.writeLimit[page] = Math.min(limits.writeBytes, view.byteLength);
  state.atomicLimit[page] = Math.min(limits.atomicBytes, view.byteLength);
  state.onPageView?.(page, view);
}

/** High 32 bits of the unsigned 64-bit product of two 32-bit values. */
export function mulhu(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0;
}

/** High 32 bits of the signed × signed product. */
export function mulh(a: number, b: number): number {
  return (mulhu(a, b) - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0;
}

/** High 32 bits of the signed × unsigned product. */
export function mulhsu(a: number, b: number): number {
  return (mulhu(a, b) - (a < 0 ? b : 0)) | 0;
}

/** RISC-V division and remainder (division by zero and INT_MIN / -1 as the M extension defines). */
export function div(a: number, b: number): number {
  if (b === 0) return -1;
  if (a === -0x80000000 && b === -1) return a;
  return (a / b) | 0;
}
export function divu(a: number, b: number): number {
  if (b === 0) return -1;
  return ((a >>> 0) / (b >>> 0)) | 0;
}
export function rem(a: number, b: number): number {
  if (b === 0) return a;
  if (a === -0x80000000 && b === -1) return 0;
  return (a % b) | 0;
}
export function remu(a: number, b: number): number {
  if (b === 0) return a;
  return ((a >>> 0) % (b >>> 0)) | 0;
}
