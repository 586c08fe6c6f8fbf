// The native RV32IMAC tier: the interpreter of packages/vm/src/core/interpreter.ts in C++, over
// the same pre-decoded program (DecodedProgram.words: per 2-byte slot a packed word
// `op | rd << 8 | rs1 << 14 | rs2 << 19 | sizeInSlots << 24`, then its immediate; an END word just
// past the code) and the same machine state layout (register file of 33 entries, x0..x31 and the
// ZERO_SINK scratch register; the page table of four int32 tables of 65,536 entries: read, write,
// atomic limits and write low-water marks; one base pointer per 64 KiB page).
//
// The contract is the TypeScript interpreter's, exactly: the same Exit codes, pc, fuel (one unit
// taken when an instruction starts; a fetch outside the code costs nothing), fault address, LR
// reservation, low-water marks and memory effects, so the three tiers agree (the property test
// runs them side by side). Plain loads and stores may be misaligned but never cross a page's
// limit; atomics check the atomic limit first, then alignment. Nothing is allocated; nothing a
// program does can make this code read or write outside the mapped pages' limits.
#pragma once

#include <cstdint>
#include <cstring>

namespace capsule_native {

// Exit codes (packages/vm/src/core/state.ts Exit).
enum RvExit : int32_t {
  kExitFuel = 1,
  kExitEcall = 2,
  kExitEbreak = 3,
  kExitFetch = 4,
  kExitIllegal = 5,
  kExitLoadFault = 6,
  kExitStoreFault = 7,
  kExitMisalignedAtomic = 8,
  kExitAtomicFault = 9,
};

constexpr int kPageCount = 0x10000;
constexpr int kWriteTable = kPageCount;
constexpr int kAtomicTable = 2 * kPageCount;
constexpr int kLowTable = 3 * kPageCount;

// What a run reads and updates besides registers and memory.
struct RvRegisters {
  int32_t pc;
  int32_t fuel;
  int32_t faultAddress;
  int32_t reservation;
};

// One machine state: pointers into memory its owner keeps alive (JavaScript typed arrays for the
// N-API executor, native buffers for the engine's fast path).
struct RvMachine {
  int32_t* regs;         // 33 entries
  int32_t* pageTable;    // 4 × 65,536 entries
  uint8_t** pageBase;    // 65,536 entries (nullptr: unmapped, every limit 0)
};

inline int32_t RvMulh(int32_t a, int32_t b) {
  return static_cast<int32_t>((static_cast<int64_t>(a) * static_cast<int64_t>(b)) >> 32);
}
inline int32_t RvMulhsu(int32_t a, int32_t b) {
  return static_cast<int32_t>((static_cast<int64_t>(a) * static_cast<int64_t>(static_cast<uint32_t>(b))) >> 32);
}
inline int32_t RvMulhu(int32_t a, int32_t b) {
  return static_cast<int32_t>(
      (static_cast<uint64_t>(static_cast<uint32_t>(a)) * static_cast<uint64_t>(static_cast<uint32_t>(b))) >> 32);
}
inline int32_t RvDiv(int32_t a, int32_t b) {
  if (b == 0) return -1;
  if (a == INT32_MIN && b == -1) return a;
  return a / b;
}
inline int32_t RvDivu(int32_t a, int32_t b) {
  if (b == 0) return -1;
  return static_cast<int32_t>(static_cast<uint32_t>(a) / static_cast<uint32_t>(b));
}
inline int32_t RvRem(int32_t a, int32_t b) {
  if (b == 0) return a;
  if (a == INT32_MIN && b == -1) return 0;
  return a % b;
}
inline int32_t RvRemu(int32_t a, int32_t b) {
  if (b == 0) return a;
  return static_cast<int32_t>(static_cast<uint32_t>(a) % static_cast<uint32_t>(b));
}

// Runs `words` (a program loaded at `base`, `lengthBytes` long; words has 2 × slots + 2 entries)
// from r.pc with r.fuel; returns the Exit code. Mirrors interpreter.ts `run` line for line.
inline int32_t RvRun(const RvMachine& m, const int32_t* words, uint32_t base, uint32_t lengthBytes, RvRegisters& r) {
  int32_t* R = m.regs;
  int32_t* P = m.pageTable;
  uint8_t* const* B = m.pageBase;
  const uint32_t start = static_cast<uint32_t>(r.pc) - base;
  if (start >= lengthBytes) return kExitFetch;
  // q: the byte offset of the current slot in the code (= its index in words, two words a slot).
  int32_t q = static_cast<int32_t>(start);
  int32_t fuel = r.fuel;
  int32_t exit = kExitFetch;
  auto add = [](int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); };
  auto pcOf = [&](int32_t offset) { return static_cast<int32_t>(base + static_cast<uint32_t>(offset)); };
#define RD ((w >> 8) & 63)
#define RS1 R[(w >> 14) & 31]
#define RS2 R[(w >> 19) & 31]
#define IMM words[q + 1]
#define BRANCH(cond)                                                   \
  if (cond) {                                                          \
    q = add(q, IMM);                                                   \
    if (static_cast<uint32_t>(q) >= lengthBytes) goto done;            \
    continue;                                                          \
  }                                                                    \
  break;
#define LOAD(width, type)                                              \
  {                                                                    \
    const int32_t address = add(RS1, IMM);                             \
    const uint32_t page = static_cast<uint32_t>(address) >> 16;        \
    const int32_t offset = address & 0xffff;                           \
    if (offset + (width) > P[page]) {                                  \
      r.faultAddress = address;                                        \
      exit = kExitLoadFault;                                           \
      goto done;                                                       \
    }                                                                  \
    type value;                                                        \
    memcpy(&value, B[page] + offset, sizeof value);                    \
    R[RD] = static_cast<int32_t>(value);                               \
    break;                                                             \
  }
#define STORE(width, type)                                             \
  {                                                                    \
    const int32_t address = add(RS1, IMM);                             \
    const uint32_t page = static_cast<uint32_t>(address) >> 16;        \
    const int32_t offset = address & 0xffff;                           \
    if (offset + (width) > P[kWriteTable + page]) {                    \
      r.faultAddress = address;                                        \
      exit = kExitStoreFault;                                          \
      goto done;                                                       \
    }                                                                  \
    if (offset < P[kLowTable + page]) P[kLowTable + page] = offset;    \
    const type value = static_cast<type>(RS2);                         \
    memcpy(B[page] + offset, &value, sizeof value);                    \
    break;                                                             \
  }
#define ATOMIC_CHECK                                                   \
  const int32_t address = RS1;                                         \
  const uint32_t page = static_cast<uint32_t>(address) >> 16;          \
  const int32_t offset = address & 0xffff;                             \
  if (offset + 4 > P[kAtomicTable + page]) {                           \
    r.faultAddress = address;                                          \
    exit = kExitAtomicFault;                                           \
    goto done;                                                         \
  }                                                                    \
  if ((address & 3) != 0) {                                            \
    r.faultAddress = address;                                          \
    exit = kExitMisalignedAtomic;                                      \
    goto done;                                                         \
  }                                                                    \
  uint8_t* cell = B[page] + offset;
#define AMO(expression)                                                \
  {                                                                    \
    ATOMIC_CHECK                                                       \
    int32_t mv;                                                        \
    memcpy(&mv, cell, 4);                                              \
    const int32_t b = RS2;                                             \
    if (offset < P[kLowTable + page]) P[kLowTable + page] = offset;    \
    const int32_t stored = (expression);                               \
    memcpy(cell, &stored, 4);                                          \
    R[RD] = mv;                                                        \
    break;                                                             \
  }
  for (;;) {
    const int32_t w = words[q];
    if (fuel <= 0) {
      if ((w & 127) != 60) exit = kExitFuel;
      break;
    }
    fuel = fuel - 1;
    switch (w & 127) {
      case 0:  // ILLEGAL
        exit = kExitIllegal;
        goto done;
      case 1:  // LUI
        R[RD] = IMM;
        break;
      case 2:  // AUIPC
        R[RD] = add(pcOf(q), IMM);
        break;
      case 3:  // JAL
        R[RD] = pcOf(q + ((static_cast<uint32_t>(w) >> 24) << 1));
        q = add(q, IMM);
        if (static_cast<uint32_t>(q) >= lengthBytes) goto done;
        continue;
      case 4: {  // JALR
        const int32_t target = add(RS1, IMM) & ~1;
        R[RD] = pcOf(q + ((static_cast<uint32_t>(w) >> 24) << 1));
        const uint32_t offset = static_cast<uint32_t>(target) - base;
        if (offset >= lengthBytes) {
          r.pc = target;
          r.fuel = fuel;
          return kExitFetch;
        }
        q = static_cast<int32_t>(offset);
        continue;
      }
      case 5:  // BEQ
        BRANCH(RS1 == RS2)
      case 6:  // BNE
        BRANCH(RS1 != RS2)
      case 7:  // BLT
        BRANCH(RS1 < RS2)
      case 8:  // BGE
        BRANCH(RS1 >= RS2)
      case 9:  // BLTU
        BRANCH(static_cast<uint32_t>(RS1) < static_cast<uint32_t>(RS2))
      case 10:  // BGEU
        BRANCH(static_cast<uint32_t>(RS1) >= static_cast<uint32_t>(RS2))
      case 11:  // LB
        LOAD(1, int8_t)
      case 12:  // LH
        LOAD(2, int16_t)
      case 13:  // LW
        LOAD(4, int32_t)
      case 14:  // LBU
        LOAD(1, uint8_t)
      case 15:  // LHU
        LOAD(2, uint16_t)
      case 16:  // SB
        STORE(1, int8_t)
      case 17:  // SH
        STORE(2, int16_t)
      case 18:  // SW
        STORE(4, int32_t)
      case 19:  // ADDI
        R[RD] = add(RS1, IMM);
        break;
      case 20:  // SLTI
        R[RD] = RS1 < IMM ? 1 : 0;
        break;
      case 21:  // SLTIU
        R[RD] = static_cast<uint32_t>(RS1) < static_cast<uint32_t>(IMM) ? 1 : 0;
        break;
      case 22:  // XORI
        R[RD] = RS1 ^ IMM;
        break;
      case 23:  // ORI
        R[RD] = RS1 | IMM;
        break;
      case 24:  // ANDI
        R[RD] = RS1 & IMM;
        break;
      case 25:  // SLLI
        R[RD] = static_cast<int32_t>(static_cast<uint32_t>(RS1) << (IMM & 31));
        break;
      case 26:  // SRLI
        R[RD] = static_cast<int32_t>(static_cast<uint32_t>(RS1) >> (IMM & 31));
        break;
      case 27:  // SRAI
        R[RD] = RS1 >> (IMM & 31);
        break;
      case 28:  // ADD
        R[RD] = add(RS1, RS2);
        break;
      case 29:  // SUB
        R[RD] = static_cast<int32_t>(static_cast<uint32_t>(RS1) - static_cast<uint32_t>(RS2));
        break;
      case 30:  // SLL
        R[RD] = static_cast<int32_t>(static_cast<uint32_t>(RS1) << (RS2 & 31));
        break;
      case 31:  // SLT
        R[RD] = RS1 < RS2 ? 1 : 0;
        break;
      case 32:  // SLTU
        R[RD] = static_cast<uint32_t>(RS1) < static_cast<uint32_t>(RS2) ? 1 : 0;
        break;
      case 33:  // XOR
        R[RD] = RS1 ^ RS2;
        break;
      case 34:  // SRL
        R[RD] = static_cast<int32_t>(static_cast<uint32_t>(RS1) >> (RS2 & 31));
        break;
      case 35:  // SRA
        R[RD] = RS1 >> (RS2 & 31);
        break;
      case 36:  // OR
        R[RD] = RS1 | RS2;
        break;
      case 37:  // AND
        R[RD] = RS1 & RS2;
        break;
      case 41:  // MUL
        R[RD] = static_cast<int32_t>(static_cast<uint32_t>(RS1) * static_cast<uint32_t>(RS2));
        break;
      case 42:  // MULH
        R[RD] = RvMulh(RS1, RS2);
        break;
      case 43:  // MULHSU
        R[RD] = RvMulhsu(RS1, RS2);
        break;
      case 44:  // MULHU
        R[RD] = RvMulhu(RS1, RS2);
        break;
      case 45:  // DIV
        R[RD] = RvDiv(RS1, RS2);
        break;
      case 46:  // DIVU
        R[RD] = RvDivu(RS1, RS2);
        break;
      case 47:  // REM
        R[RD] = RvRem(RS1, RS2);
        break;
      case 48:  // REMU
        R[RD] = RvRemu(RS1, RS2);
        break;
      case 38:  // FENCE
        break;
      case 39:  // ECALL
        exit = kExitEcall;
        goto done;
      case 40:  // EBREAK
        exit = kExitEbreak;
        goto done;
      case 49: {  // LR
        ATOMIC_CHECK
        int32_t value;
        memcpy(&value, cell, 4);
        R[RD] = value;
        r.reservation = address;
        break;
      }
      case 50: {  // SC
        ATOMIC_CHECK
        if (r.reservation == address) {
          if (offset < P[kLowTable + page]) P[kLowTable + page] = offset;
          const int32_t value = RS2;
          memcpy(cell, &value, 4);
          R[RD] = 0;
        } else {
          R[RD] = 1;
        }
        r.reservation = -1;
        break;
      }
      case 51:  // AMOSWAP
        AMO(b)
      case 52:  // AMOADD
        AMO(add(mv, b))
      case 53:  // AMOXOR
        AMO(mv ^ b)
      case 54:  // AMOAND
        AMO(mv & b)
      case 55:  // AMOOR
        AMO(mv | b)
      case 56:  // AMOMIN
        AMO(mv < b ? mv : b)
      case 57:  // AMOMAX
        AMO(mv > b ? mv : b)
      case 58:  // AMOMINU
        AMO(static_cast<uint32_t>(mv) < static_cast<uint32_t>(b) ? mv : b)
      case 59:  // AMOMAXU
        AMO(static_cast<uint32_t>(mv) > static_cast<uint32_t>(b) ? mv : b)
      case 60:  // END: pc is just past the code; a fetch outside it costs no fuel.
        fuel = fuel + 1;
        goto done;
      default:  // no other value is ever packed; treat it as an illegal slot
        exit = kExitIllegal;
        goto done;
    }
    q = q + static_cast<int32_t>((static_cast<uint32_t>(w) >> 24) << 1);
  }
done:
  r.pc = pcOf(q);
  r.fuel = fuel;
  return exit;
#undef RD
#undef RS1
#undef RS2
#undef IMM
#undef BRANCH
#undef LOAD
#undef STORE
#undef ATOMIC_CHECK
#undef AMO
}

}  // namespace capsule_native
