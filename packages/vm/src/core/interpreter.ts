/**
 * The interpreter: switch dispatch over the pre-decoded program's packed words (one Int32Array
 * load per instruction plus its immediate), registers in the state's register file, memory through
 * the page table of MachineState. Nothing is allocated per run or per instruction. It runs until
 * something needs the machine (ECALL, EBREAK, a trap) or the fuel given runs out, and returns why
 * (an Exit code); it never throws on anything a program does.
 *
 * Speed notes (measured with bench/vm.bench.ts): the `case` labels are numeric literals (the
 * values of `Op`, named in a comment) because V8 turns a switch into a jump table only when every
 * label is a small-integer literal — with `case Op.X:` it compares one label after another. The
 * loop walks code slots, not addresses: straight-line code cannot leave the code without reaching
 * the `Op.END` slot just past it, so only jumps and taken branches check their target. Writes to
 * x0 go to the scratch register ZERO_SINK (the packed rd), so x0 is never re-zeroed.
 *
 * Fuel: one unit per instruction, taken when the instruction starts (a trapping instruction has
 * used its unit). A fetch outside the code costs nothing. The fast tier (fast-tier.ts) keeps
 * exactly the same accounting.
 */
import type { DecodedProgram } from './program';
import { div, divu, Exit, type MachineState, mulh, mulhsu, mulhu, rem, remu } from './state';

/** Runs from state.pc with state.fuel; returns the Exit code; state holds pc, fuel and registers. */
export function interpret(state: MachineState, program: DecodedProgram): number {
  let interpreter = state.interpreter;
  if (interpreter === undefined || interpreter.arenaWords < program.words.length) {
    interpreter = createInterpreter(state, Math.max(DEFAULT_ARENA_WORDS, program.words.length));
    state.interpreter = interpreter;
  }
  return interpreter(program);
}

/** Words of a machine's code arena by default: 256 KiB, 63 sandbox programs of the 1 KiB maximum. */
export const DEFAULT_ARENA_WORDS = 1 << 16;

/** An interpreter bound to one machine state (see `createInterpreter`). */
export interface Interpreter {
  (program: DecodedProgram): number;
  /** The largest `DecodedProgram.words` it can run. */
  readonly arenaWords: number;
}

/**
 * The interpreter of one machine state, with the state's register file and page table, and a
 * code arena, captured. Programs are copied into the arena the first time they run on this state
 * (`DecodedProgram.arenaSlot` remembers where; a full arena starts over and programs are copied
 * again). Why: V8 re-checks a typed array's map, length and data pointer at every access inside
 * the dispatch loop (TurboFan hoists nothing out of a loop), unless the array is a constant; in a
 * process with one machine state (an engine worker, the bench) V8 specialises this closure on its
 * context, so the register file, the page table and the arena all become constants. A program's
 * own `words` array could not: it changes from run to run.
 */
export function createInterpreter(state: MachineState, arenaWords = DEFAULT_ARENA_WORDS): Interpreter {
  const R = state.regFile;
  const { views, pageTable: P } = state;
  const words = new Int32Array(arenaWords);
  let used = 0;
  /** Identifies this arena's current filling: a slot with another owner is not in it. */
  let owner: object = {};
  const interpreter = (program: DecodedProgram): number => {
    const slot = program.arenaSlot;
    if (slot.owner !== owner) {
      const code = program.words;
      if (used + code.length > arenaWords) {
        used = 0;
        owner = {};
      }
      words.set(code, used);
      slot.owner = owner;
      slot.offset = used;
      used += code.length;
    }
    return run(program, slot.offset);
  };
  return Object.assign(interpreter, { arenaWords });

  /**
   * The dispatch loop. `p` is the index in `words` of the current slot's packed word (its
   * immediate follows): p − o is the slot's byte offset in the code, since a 2-byte slot has two
   * words.
   */
  function run(program: DecodedProgram, o: number): number {
    const { base, lengthBytes } = program;
    const start = (state.pc - base) >>> 0;
    if (start >= lengthBytes) return Exit.FETCH;
    let p = o + start;
    let fuel = state.fuel;
    let exit: number = Exit.FETCH;
    loop: for (;;) {
      const w = words[p]!;
      if (fuel <= 0) {
        if ((w & 127) !== 60) exit = Exit.FUEL;
        break;
      }
      fuel = (fuel - 1) | 0;
      switch (w & 127) {
        case 0: // ILLEGAL
          exit = Exit.ILLEGAL;
          break loop;
        case 1: // LUI
          R[(w >>> 8) & 63] = words[p + 1]!;
          break;
        case 2: // AUIPC
          R[(w >>> 8) & 63] = (base + (p - o) + words[p + 1]!) | 0;
          break;
        case 3: // JAL
          R[(w >>> 8) & 63] = base + (p - o) + ((w >>> 24) << 1);
          p = (p + words[p + 1]!) | 0;
          if ((p - o) >>> 0 >= lengthBytes) break loop;
          continue;
        case 4: // JALR
          {
            const target = (R[(w >>> 14) & 31]! + words[p + 1]!) & ~1;
            R[(w >>> 8) & 63] = base + (p - o) + ((w >>> 24) << 1);
            const offset = (target - base) >>> 0;
            if (offset >= lengthBytes) {
              state.pc = target;
              state.fuel = fuel;
              return Exit.FETCH;
            }
            p = o + offset;
            continue;
          }
        case 5: // BEQ
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            if (a === b) {
              p = (p + words[p + 1]!) | 0;
              if ((p - o) >>> 0 >= lengthBytes) break loop;
              continue;
            }
            break;
          }
        case 6: // BNE
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            if (a !== b) {
              p = (p + words[p + 1]!) | 0;
              if ((p - o) >>> 0 >= lengthBytes) break loop;
              continue;
            }
            break;
          }
        case 7: // BLT
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            if (a < b) {
              p = (p + words[p + 1]!) | 0;
              if ((p - o) >>> 0 >= lengthBytes) break loop;
              continue;
            }
            break;
          }
        case 8: // BGE
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            if (a >= b) {
              p = (p + words[p + 1]!) | 0;
              if ((p - o) >>> 0 >= lengthBytes) break loop;
              continue;
            }
            break;
          }
        case 9: // BLTU
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            if (a >>> 0 < b >>> 0) {
              p = (p + words[p + 1]!) | 0;
              if ((p - o) >>> 0 >= lengthBytes) break loop;
              continue;
            }
            break;
          }
        case 10: // BGEU
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            if (a >>> 0 >= b >>> 0) {
              p = (p + words[p + 1]!) | 0;
              if ((p - o) >>> 0 >= lengthBytes) break loop;
              continue;
            }
            break;
          }
        case 11: // LB
          {
            const address = (R[(w >>> 14) & 31]! + words[p + 1]!) | 0;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 1 > P[page]!) {
              state.faultAddress = address;
              exit = Exit.LOAD_FAULT;
              break loop;
            }
            R[(w >>> 8) & 63] = views[page]!.getInt8(offset);
            break;
          }
        case 12: // LH
          {
            const address = (R[(w >>> 14) & 31]! + words[p + 1]!) | 0;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 2 > P[page]!) {
              state.faultAddress = address;
              exit = Exit.LOAD_FAULT;
              break loop;
            }
            R[(w >>> 8) & 63] = views[page]!.getInt16(offset, true);
            break;
          }
        case 13: // LW
          {
            const address = (R[(w >>> 14) & 31]! + words[p + 1]!) | 0;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[page]!) {
              state.faultAddress = address;
              exit = Exit.LOAD_FAULT;
              break loop;
            }
            R[(w >>> 8) & 63] = views[page]!.getInt32(offset, true);
            break;
          }
        case 14: // LBU
          {
            const address = (R[(w >>> 14) & 31]! + words[p + 1]!) | 0;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 1 > P[page]!) {
              state.faultAddress = address;
              exit = Exit.LOAD_FAULT;
              break loop;
            }
            R[(w >>> 8) & 63] = views[page]!.getUint8(offset);
            break;
          }
        case 15: // LHU
          {
            const address = (R[(w >>> 14) & 31]! + words[p + 1]!) | 0;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 2 > P[page]!) {
              state.faultAddress = address;
              exit = Exit.LOAD_FAULT;
              break loop;
            }
            R[(w >>> 8) & 63] = views[page]!.getUint16(offset, true);
            break;
          }
        case 16: // SB
          {
            const address = (R[(w >>> 14) & 31]! + words[p + 1]!) | 0;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 1 > P[65536 + page]!) {
              state.faultAddress = address;
              exit = Exit.STORE_FAULT;
              break loop;
            }
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            views[page]!.setInt8(offset, R[(w >>> 19) & 31]!);
            break;
          }
        case 17: // SH
          {
            const address = (R[(w >>> 14) & 31]! + words[p + 1]!) | 0;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 2 > P[65536 + page]!) {
              state.faultAddress = address;
              exit = Exit.STORE_FAULT;
              break loop;
            }
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            views[page]!.setInt16(offset, R[(w >>> 19) & 31]!, true);
            break;
          }
        case 18: // SW
          {
            const address = (R[(w >>> 14) & 31]! + words[p + 1]!) | 0;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[65536 + page]!) {
              state.faultAddress = address;
              exit = Exit.STORE_FAULT;
              break loop;
            }
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            views[page]!.setInt32(offset, R[(w >>> 19) & 31]!, true);
            break;
          }
        case 19: // ADDI
          {
            const a = R[(w >>> 14) & 31]!;
            const i = words[p + 1]!;
            R[(w >>> 8) & 63] = (a + i) | 0;
            break;
          }
        case 20: // SLTI
          {
            const a = R[(w >>> 14) & 31]!;
            const i = words[p + 1]!;
            R[(w >>> 8) & 63] = a < i ? 1 : 0;
            break;
          }
        case 21: // SLTIU
          {
            const a = R[(w >>> 14) & 31]!;
            const i = words[p + 1]!;
            R[(w >>> 8) & 63] = a >>> 0 < i >>> 0 ? 1 : 0;
            break;
          }
        case 22: // XORI
          {
            const a = R[(w >>> 14) & 31]!;
            const i = words[p + 1]!;
            R[(w >>> 8) & 63] = a ^ i;
            break;
          }
        case 23: // ORI
          {
            const a = R[(w >>> 14) & 31]!;
            const i = words[p + 1]!;
            R[(w >>> 8) & 63] = a | i;
            break;
          }
        case 24: // ANDI
          {
            const a = R[(w >>> 14) & 31]!;
            const i = words[p + 1]!;
            R[(w >>> 8) & 63] = a & i;
            break;
          }
        case 25: // SLLI
          {
            const a = R[(w >>> 14) & 31]!;
            const i = words[p + 1]!;
            R[(w >>> 8) & 63] = a << i;
            break;
          }
        case 26: // SRLI
          {
            const a = R[(w >>> 14) & 31]!;
            const i = words[p + 1]!;
            R[(w >>> 8) & 63] = (a >>> i) | 0;
            break;
          }
        case 27: // SRAI
          {
            const a = R[(w >>> 14) & 31]!;
            const i = words[p + 1]!;
            R[(w >>> 8) & 63] = a >> i;
            break;
          }
        case 28: // ADD
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = (a + b) | 0;
            break;
          }
        case 29: // SUB
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = (a - b) | 0;
            break;
          }
        case 30: // SLL
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = a << (b & 31);
            break;
          }
        case 31: // SLT
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = a < b ? 1 : 0;
            break;
          }
        case 32: // SLTU
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = a >>> 0 < b >>> 0 ? 1 : 0;
            break;
          }
        case 33: // XOR
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = a ^ b;
            break;
          }
        case 34: // SRL
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = (a >>> (b & 31)) | 0;
            break;
          }
        case 35: // SRA
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = a >> (b & 31);
            break;
          }
        case 36: // OR
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = a | b;
            break;
          }
        case 37: // AND
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = a & b;
            break;
          }
        case 41: // MUL
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = Math.imul(a, b);
            break;
          }
        case 42: // MULH
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = mulh(a, b);
            break;
          }
        case 43: // MULHSU
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = mulhsu(a, b);
            break;
          }
        case 44: // MULHU
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = mulhu(a, b);
            break;
          }
        case 45: // DIV
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = div(a, b);
            break;
          }
        case 46: // DIVU
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = divu(a, b);
            break;
          }
        case 47: // REM
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = rem(a, b);
            break;
          }
        case 48: // REMU
          {
            const a = R[(w >>> 14) & 31]!;
            const b = R[(w >>> 19) & 31]!;
            R[(w >>> 8) & 63] = remu(a, b);
            break;
          }
        case 38: // FENCE
          break;
        case 39: // ECALL
          exit = Exit.ECALL;
          break loop;
        case 40: // EBREAK
          exit = Exit.EBREAK;
          break loop;
        case 49: // LR
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            R[(w >>> 8) & 63] = views[page]!.getInt32(offset, true);
            state.reservation = address;
            break;
          }
        case 50: // SC
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            if (state.reservation === address) {
              if (offset < P[196608 + page]!) P[196608 + page] = offset;
              views[page]!.setInt32(offset, R[(w >>> 19) & 31]!, true);
              R[(w >>> 8) & 63] = 0;
            } else R[(w >>> 8) & 63] = 1;
            state.reservation = -1;
            break;
          }
        case 51: // AMOSWAP
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            const view = views[page]!;
            const m = view.getInt32(offset, true);
            const b = R[(w >>> 19) & 31]!;
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            view.setInt32(offset, b, true);
            R[(w >>> 8) & 63] = m;
            break;
          }
        case 52: // AMOADD
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            const view = views[page]!;
            const m = view.getInt32(offset, true);
            const b = R[(w >>> 19) & 31]!;
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            view.setInt32(offset, (m + b) | 0, true);
            R[(w >>> 8) & 63] = m;
            break;
          }
        case 53: // AMOXOR
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            const view = views[page]!;
            const m = view.getInt32(offset, true);
            const b = R[(w >>> 19) & 31]!;
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            view.setInt32(offset, m ^ b, true);
            R[(w >>> 8) & 63] = m;
            break;
          }
        case 54: // AMOAND
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            const view = views[page]!;
            const m = view.getInt32(offset, true);
            const b = R[(w >>> 19) & 31]!;
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            view.setInt32(offset, m & b, true);
            R[(w >>> 8) & 63] = m;
            break;
          }
        case 55: // AMOOR
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            const view = views[page]!;
            const m = view.getInt32(offset, true);
            const b = R[(w >>> 19) & 31]!;
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            view.setInt32(offset, m | b, true);
            R[(w >>> 8) & 63] = m;
            break;
          }
        case 56: // AMOMIN
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            const view = views[page]!;
            const m = view.getInt32(offset, true);
            const b = R[(w >>> 19) & 31]!;
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            view.setInt32(offset, m < b ? m : b, true);
            R[(w >>> 8) & 63] = m;
            break;
          }
        case 57: // AMOMAX
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            const view = views[page]!;
            const m = view.getInt32(offset, true);
            const b = R[(w >>> 19) & 31]!;
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            view.setInt32(offset, m > b ? m : b, true);
            R[(w >>> 8) & 63] = m;
            break;
          }
        case 58: // AMOMINU
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            const view = views[page]!;
            const m = view.getInt32(offset, true);
            const b = R[(w >>> 19) & 31]!;
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            view.setInt32(offset, m >>> 0 < b >>> 0 ? m : b, true);
            R[(w >>> 8) & 63] = m;
            break;
          }
        case 59: // AMOMAXU
          {
            const address = R[(w >>> 14) & 31]!;
            const page = address >>> 16;
            const offset = address & 0xffff;
            if (offset + 4 > P[131072 + page]!) {
              state.faultAddress = address;
              exit = Exit.ATOMIC_FAULT;
              break loop;
            }
            if ((address & 3) !== 0) {
              state.faultAddress = address;
              exit = Exit.MISALIGNED_ATOMIC;
              break loop;
            }
            const view = views[page]!;
            const m = view.getInt32(offset, true);
            const b = R[(w >>> 19) & 31]!;
            if (offset < P[196608 + page]!) P[196608 + page] = offset;
            view.setInt32(offset, m >>> 0 > b >>> 0 ? m : b, true);
            R[(w >>> 8) & 63] = m;
            break;
          }
        case 60: // END
          // pc is just past the code: a fetch outside it costs no fuel.
          fuel++;
          break loop;
      }
      p = (p + ((w >>> 24) << 1)) | 0;
    }
    // Every way out of the loop leaves p at the instruction that stopped (or just past the code, or
    // at a branch target outside it: exit is still FETCH then).
    state.pc = (base + (p - o)) | 0;
    state.fuel = fuel;
    return exit;
  }
}
