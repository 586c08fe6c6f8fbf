/**
 * The interpreter: switch dispatch over the pre-decoded program, registers in an Int32Array,
 * memory through the page table of MachineState. Nothing is allocated per run or per instruction.
 * It runs until something needs the machine (ECALL, EBREAK, a trap) or the fuel given runs out,
 * and returns why (an Exit code); it never throws on anything a program does.
 *
 * Fuel: one unit per instruction, taken when the instruction starts (a trapping instruction has
 * used its unit). A fetch outside the code costs nothing. The fast tier (fast-tier.ts) keeps
 * exactly the same accounting.
 */
import { type DecodedProgram, Op } from './program';
import { div, divu, Exit, type MachineState, mulh, mulhsu, mulhu, rem, remu } from './state';

/** Runs from state.pc with state.fuel; returns the Exit code; state holds pc, fuel and registers. */
export function interpret(state: MachineState, program: DecodedProgram): number {
  const R = state.regs;
  const { views, readLimit, writeLimit, atomicLimit, writeLow } = state;
  const { op, rd, rs1, rs2, imm, size, base, lengthBytes } = program;
  let pc = state.pc | 0;
  let fuel = state.fuel;
  let exit = 0;
  loop: for (;;) {
    const offsetInCode = (pc - base) >>> 0;
    if (offsetInCode >= lengthBytes) {
      exit = Exit.FETCH;
      break;
    }
    if (fuel <= 0) {
      exit = Exit.FUEL;
      break;
    }
    const s = offsetInCode >>> 1;
    const o = op[s]!;
    if (o === Op.ILLEGAL) {
      fuel--;
      exit = Exit.ILLEGAL;
      break;
    }
    fuel--;
    let next = pc + size[s]!;
    switch (o) {
      case Op.LUI:
        R[rd[s]!] = imm[s]!;
        break;
      case Op.AUIPC:
        R[rd[s]!] = (pc + imm[s]!) | 0;
        break;
      case Op.JAL:
        R[rd[s]!] = pc + size[s]!;
        next = (pc + imm[s]!) | 0;
        break;
      case Op.JALR: {
        const target = (R[rs1[s]!]! + imm[s]!) & ~1;
        R[rd[s]!] = pc + size[s]!;
        next = target;
        break;
      }
      case Op.BEQ: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        if (a === b) next = (pc + imm[s]!) | 0;
        break;
      }
      case Op.BNE: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        if (a !== b) next = (pc + imm[s]!) | 0;
        break;
      }
      case Op.BLT: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        if (a < b) next = (pc + imm[s]!) | 0;
        break;
      }
      case Op.BGE: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        if (a >= b) next = (pc + imm[s]!) | 0;
        break;
      }
      case Op.BLTU: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        if (a >>> 0 < b >>> 0) next = (pc + imm[s]!) | 0;
        break;
      }
      case Op.BGEU: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        if (a >>> 0 >= b >>> 0) next = (pc + imm[s]!) | 0;
        break;
      }
      case Op.LB: {
        const address = (R[rs1[s]!]! + imm[s]!) | 0;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 1 > readLimit[page]!) {
          exit = Exit.LOAD_FAULT;
          state.faultAddress = address;
          break loop;
        }
        R[rd[s]!] = views[page]!.getInt8(offset);
        break;
      }
      case Op.LH: {
        const address = (R[rs1[s]!]! + imm[s]!) | 0;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 2 > readLimit[page]!) {
          exit = Exit.LOAD_FAULT;
          state.faultAddress = address;
          break loop;
        }
        R[rd[s]!] = views[page]!.getInt16(offset, true);
        break;
      }
      case Op.LW: {
        const address = (R[rs1[s]!]! + imm[s]!) | 0;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > readLimit[page]!) {
          exit = Exit.LOAD_FAULT;
          state.faultAddress = address;
          break loop;
        }
        R[rd[s]!] = views[page]!.getInt32(offset, true);
        break;
      }
      case Op.LBU: {
        const address = (R[rs1[s]!]! + imm[s]!) | 0;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 1 > readLimit[page]!) {
          exit = Exit.LOAD_FAULT;
          state.faultAddress = address;
          break loop;
        }
        R[rd[s]!] = views[page]!.getUint8(offset);
        break;
      }
      case Op.LHU: {
        const address = (R[rs1[s]!]! + imm[s]!) | 0;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 2 > readLimit[page]!) {
          exit = Exit.LOAD_FAULT;
          state.faultAddress = address;
          break loop;
        }
        R[rd[s]!] = views[page]!.getUint16(offset, true);
        break;
      }
      case Op.SB: {
        const address = (R[rs1[s]!]! + imm[s]!) | 0;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 1 > writeLimit[page]!) {
          exit = Exit.STORE_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if (offset < writeLow[page]!) writeLow[page] = offset;
        views[page]!.setInt8(offset, R[rs2[s]!]!);
        break;
      }
      case Op.SH: {
        const address = (R[rs1[s]!]! + imm[s]!) | 0;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 2 > writeLimit[page]!) {
          exit = Exit.STORE_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if (offset < writeLow[page]!) writeLow[page] = offset;
        views[page]!.setInt16(offset, R[rs2[s]!]!, true);
        break;
      }
      case Op.SW: {
        const address = (R[rs1[s]!]! + imm[s]!) | 0;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > writeLimit[page]!) {
          exit = Exit.STORE_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if (offset < writeLow[page]!) writeLow[page] = offset;
        views[page]!.setInt32(offset, R[rs2[s]!]!, true);
        break;
      }
      case Op.ADDI: {
        const a = R[rs1[s]!]!;
        const i = imm[s]!;
        R[rd[s]!] = (a + i) | 0;
        break;
      }
      case Op.SLTI: {
        const a = R[rs1[s]!]!;
        const i = imm[s]!;
        R[rd[s]!] = a < i ? 1 : 0;
        break;
      }
      case Op.SLTIU: {
        const a = R[rs1[s]!]!;
        const i = imm[s]!;
        R[rd[s]!] = a >>> 0 < i >>> 0 ? 1 : 0;
        break;
      }
      case Op.XORI: {
        const a = R[rs1[s]!]!;
        const i = imm[s]!;
        R[rd[s]!] = a ^ i;
        break;
      }
      case Op.ORI: {
        const a = R[rs1[s]!]!;
        const i = imm[s]!;
        R[rd[s]!] = a | i;
        break;
      }
      case Op.ANDI: {
        const a = R[rs1[s]!]!;
        const i = imm[s]!;
        R[rd[s]!] = a & i;
        break;
      }
      case Op.SLLI: {
        const a = R[rs1[s]!]!;
        const i = imm[s]!;
        R[rd[s]!] = a << i;
        break;
      }
      case Op.SRLI: {
        const a = R[rs1[s]!]!;
        const i = imm[s]!;
        R[rd[s]!] = (a >>> i) | 0;
        break;
      }
      case Op.SRAI: {
        const a = R[rs1[s]!]!;
        const i = imm[s]!;
        R[rd[s]!] = a >> i;
        break;
      }
      case Op.ADD: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = (a + b) | 0;
        break;
      }
      case Op.SUB: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = (a - b) | 0;
        break;
      }
      case Op.SLL: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = a << (b & 31);
        break;
      }
      case Op.SLT: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = a < b ? 1 : 0;
        break;
      }
      case Op.SLTU: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = a >>> 0 < b >>> 0 ? 1 : 0;
        break;
      }
      case Op.XOR: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = a ^ b;
        break;
      }
      case Op.SRL: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = (a >>> (b & 31)) | 0;
        break;
      }
      case Op.SRA: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = a >> (b & 31);
        break;
      }
      case Op.OR: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = a | b;
        break;
      }
      case Op.AND: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = a & b;
        break;
      }
      case Op.MUL: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = Math.imul(a, b);
        break;
      }
      case Op.MULH: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = mulh(a, b);
        break;
      }
      case Op.MULHSU: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = mulhsu(a, b);
        break;
      }
      case Op.MULHU: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = mulhu(a, b);
        break;
      }
      case Op.DIV: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = div(a, b);
        break;
      }
      case Op.DIVU: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = divu(a, b);
        break;
      }
      case Op.REM: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = rem(a, b);
        break;
      }
      case Op.REMU: {
        const a = R[rs1[s]!]!;
        const b = R[rs2[s]!]!;
        R[rd[s]!] = remu(a, b);
        break;
      }
      case Op.FENCE:
        break;
      case Op.ECALL:
        exit = Exit.ECALL;
        break loop;
      case Op.EBREAK:
        exit = Exit.EBREAK;
        break loop;
      case Op.LR: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        R[rd[s]!] = views[page]!.getInt32(offset, true);
        state.reservation = address;
        break;
      }
      case Op.SC: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        if (state.reservation === address) {
          if (offset < writeLow[page]!) writeLow[page] = offset;
          views[page]!.setInt32(offset, R[rs2[s]!]!, true);
          R[rd[s]!] = 0;
        } else R[rd[s]!] = 1;
        state.reservation = -1;
        break;
      }
      case Op.AMOSWAP: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        const view = views[page]!;
        const m = view.getInt32(offset, true);
        const b = R[rs2[s]!]!;
        if (offset < writeLow[page]!) writeLow[page] = offset;
        view.setInt32(offset, b, true);
        R[rd[s]!] = m;
        break;
      }
      case Op.AMOADD: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        const view = views[page]!;
        const m = view.getInt32(offset, true);
        const b = R[rs2[s]!]!;
        if (offset < writeLow[page]!) writeLow[page] = offset;
        view.setInt32(offset, (m + b) | 0, true);
        R[rd[s]!] = m;
        break;
      }
      case Op.AMOXOR: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        const view = views[page]!;
        const m = view.getInt32(offset, true);
        const b = R[rs2[s]!]!;
        if (offset < writeLow[page]!) writeLow[page] = offset;
        view.setInt32(offset, m ^ b, true);
        R[rd[s]!] = m;
        break;
      }
      case Op.AMOAND: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        const view = views[page]!;
        const m = view.getInt32(offset, true);
        const b = R[rs2[s]!]!;
        if (offset < writeLow[page]!) writeLow[page] = offset;
        view.setInt32(offset, m & b, true);
        R[rd[s]!] = m;
        break;
      }
      case Op.AMOOR: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        const view = views[page]!;
        const m = view.getInt32(offset, true);
        const b = R[rs2[s]!]!;
        if (offset < writeLow[page]!) writeLow[page] = offset;
        view.setInt32(offset, m | b, true);
        R[rd[s]!] = m;
        break;
      }
      case Op.AMOMIN: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        const view = views[page]!;
        const m = view.getInt32(offset, true);
        const b = R[rs2[s]!]!;
        if (offset < writeLow[page]!) writeLow[page] = offset;
        view.setInt32(offset, m < b ? m : b, true);
        R[rd[s]!] = m;
        break;
      }
      case Op.AMOMAX: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        const view = views[page]!;
        const m = view.getInt32(offset, true);
        const b = R[rs2[s]!]!;
        if (offset < writeLow[page]!) writeLow[page] = offset;
        view.setInt32(offset, m > b ? m : b, true);
        R[rd[s]!] = m;
        break;
      }
      case Op.AMOMINU: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        const view = views[page]!;
        const m = view.getInt32(offset, true);
        const b = R[rs2[s]!]!;
        if (offset < writeLow[page]!) writeLow[page] = offset;
        view.setInt32(offset, m >>> 0 < b >>> 0 ? m : b, true);
        R[rd[s]!] = m;
        break;
      }
      case Op.AMOMAXU: {
        const address = R[rs1[s]!]!;
        const page = address >>> 16;
        const offset = address & 0xffff;
        if (offset + 4 > atomicLimit[page]!) {
          exit = Exit.ATOMIC_FAULT;
          state.faultAddress = address;
          break loop;
        }
        if ((address & 3) !== 0) {
          exit = Exit.MISALIGNED_ATOMIC;
          state.faultAddress = address;
          break loop;
        }
        const view = views[page]!;
        const m = view.getInt32(offset, true);
        const b = R[rs2[s]!]!;
        if (offset < writeLow[page]!) writeLow[page] = offset;
        view.setInt32(offset, m >>> 0 > b >>> 0 ? m : b, true);
        R[rd[s]!] = m;
        break;
      }
    }
    R[0] = 0;
    pc = next;
  }
  state.pc = pc;
  state.fuel = fuel;
  return exit;
}
