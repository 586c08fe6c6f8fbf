// The program run of the engine's fast path (fast-path-program.h has the contract). Each step
// mirrors packages/vm/src/sandbox-machine.ts `run` / `service` / `finish` / `end` and
// packages/engine/src/sandbox-host.ts, in their order, so a run here and a run in JavaScript of the
// same program on the same packet and memory end with the same verdict, fuel and memory.
#include "fast-path-program.h"

#include <string.h>
#include <time.h>

#include <cmath>

namespace capsule_native {
namespace {

constexpr uint32_t kUnsupportedService = 0xffffffffu;
constexpr int32_t kPageBytes = 0x10000;
// Services' fuel (sandbox-abi.ts `services`): fixed cost, then per unit.
constexpr int32_t kCost[7] = {0, 50, 10, 20, 5, 5, 20};
constexpr int32_t kLookupTagPerLink = 2;

uint32_t U32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;  // little-endian host (x86-64, arm64): the ABI's byte order
}
void PutU32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }
void PutU16(uint8_t* p, uint16_t v) { memcpy(p, &v, 2); }

// sandbox-host.ts flowHashOf over the IPv6 packet at `b`.
uint32_t FlowHash(const uint8_t* b, uint32_t seed) {
  uint32_t hash = 0x811c9dc5u ^ seed;
  for (int i = 8; i < 40; i++) hash = (hash ^ b[i]) * 0x01000193u;
  hash = (hash ^ (b[1] & 0x0f)) * 0x01000193u;
  hash = (hash ^ b[2]) * 0x01000193u;
  hash = (hash ^ b[3]) * 0x01000193u;
  hash ^= hash >> 16;
  hash *= 0x85ebca6bu;
  hash ^= hash >> 13;
  return hash;
}

double WallMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1000.0 + static_cast<double>(ts.tv_nsec / 1000000);
}

}  // namespace

ProgramRunner::ProgramRunner() : pageTable_(4 * kPageCount, 0), pageBase_(kPageCount, nullptr) {
  memset(regs_, 0, sizeof regs_);
  memset(packet_, 0, sizeof packet_);
  memset(action_, 0, sizeof action_);
  memset(stack_, 0, sizeof stack_);
  int32_t* P = pageTable_.data();
  auto map = [&](int page, uint8_t* base, int32_t read, int32_t write, int32_t atomic) {
    pageBase_[page] = base;
    P[page] = read;
    P[kWriteTable + page] = write;
    P[kAtomicTable + page] = atomic;
  };
  for (int page = 0; page < kPageCount; page++) P[kLowTable + page] = kPageBytes;
  map(abi::kPacketPage, packet_, abi::kPacketBytes, 0, 0);
  map(abi::kPathPage, path_, 0, 0, 0);
  map(abi::kDataPage, data_, 0, 0, 0);
  map(abi::kFlowPage, flow_, abi::kFlowBytes, abi::kFlowBytes, 0);
  map(abi::kContractPage, contract_, abi::kContractBytes, abi::kContractBytes, abi::kContractBytes);
  map(abi::kEnginePage, nullptr, 0, 0, 0);  // bound per run (read only)
  map(abi::kActionPage, action_, abi::kActionBytes, abi::kActionBytes, 0);
  map(abi::kStackPage, stack_, abi::kStackBytes, abi::kStackBytes, 0);
}

const ProgramOutcome& ProgramRunner::Run(const FlowProgram& program, const ProgramInput& input) {
  int32_t* P = pageTable_.data();
  ProgramOutcome& out = outcome_;
  out = ProgramOutcome{};
  // The PACKET record: the flow's fields, then this packet's (engine.ts fillPacketRecord).
  memcpy(packet_, program.record, abi::kRecordBytes);
  const uint8_t* b = input.inner;
  PutU16(packet_ + abi::kPacketLength, static_cast<uint16_t>(input.packetLength));
  PutU16(packet_ + abi::kPayloadLength, static_cast<uint16_t>(input.packetLength - 40 - input.capsuleLength));
  packet_[abi::kHopLimit] = b[7];
  packet_[abi::kPacketType] = input.packetType;
  packet_[abi::kTrafficClass] = static_cast<uint8_t>(((b[0] & 0x0f) << 4) | (b[1] >> 4));
  if (const uint8_t* t = input.transport) {  // protocol and ports: the TRANSPORT chunk's
    packet_[abi::kNextHeader] = t[0];
    PutU16(packet_ + abi::kSourcePort, static_cast<uint16_t>((t[2] << 8) | t[3]));
    PutU16(packet_ + abi::kDestinationPort, static_cast<uint16_t>((t[4] << 8) | t[5]));
  }
  const double now = input.nowMs;
  PutU32(packet_ + abi::kTimeLow, static_cast<uint32_t>(std::fmod(now, 4294967296.0)));
  PutU32(packet_ + abi::kTimeHigh, static_cast<uint32_t>(std::floor(now / 4294967296.0)));
  PutU32(packet_ + abi::kEntry, input.entryOffset);
  // PATH and DATA over their lengths, FLOW and CONTRACT: copies (committed by Commit).
  if (program.pathLength > 0) memcpy(path_, input.path, static_cast<size_t>(program.pathLength));
  if (program.dataLength > 0) memcpy(data_, input.data, static_cast<size_t>(program.dataLength));
  P[abi::kPathPage] = P[kWriteTable + abi::kPathPage] = program.pathLength;
  P[abi::kDataPage] = P[kWriteTable + abi::kDataPage] = program.dataLength;
  memcpy(flow_, input.flowMemory, abi::kFlowBytes);
  memcpy(contract_, program.contract, abi::kContractBytes);
  pageBase_[abi::kEnginePage] = const_cast<uint8_t*>(input.engineRecord);  // read limit only: never written
  P[abi::kEnginePage] = abi::kEngineMaxBytes;
  // ACTION zeroed, STACK zeroed from its lowest written offset, write marks reset.
  memset(action_, 0, sizeof action_);
  const int32_t stackLow = P[kLowTable + abi::kStackPage];
  if (stackLow < abi::kStackBytes) memset(stack_ + stackLow, 0, static_cast<size_t>(abi::kStackBytes - stackLow));
  for (int page : {abi::kPathPage, abi::kDataPage, abi::kFlowPage, abi::kContractPage, abi::kActionPage,
                   abi::kStackPage})
    P[kLowTable + page] = kPageBytes;
  // Entry registers (sandbox-abi.ts entryRegisters); every other register 0.
  memset(regs_, 0, sizeof regs_);
  regs_[2] = static_cast<int32_t>(abi::kStackTop);
  regs_[10] = abi::kPacketPage << 16;
  regs_[11] = abi::kActionPage << 16;
  regs_[12] = abi::kDataPage << 16;
  regs_[13] = abi::kFlowPage << 16;
  regs_[14] = abi::kContractPage << 16;
  regs_[15] = abi::kEnginePage << 16;
  regs_[16] = abi::kPathPage << 16;

  const int32_t budget = program.budget;
  RvRegisters r{static_cast<int32_t>(abi::kCodeBase + input.entryOffset), budget, 0, -1};
  const RvMachine machine{regs_, P, pageBase_.data()};
  for (;;) {
    const int32_t exit = RvRun(machine, program.words, abi::kCodeBase, program.lengthBytes, r);
    if (exit == kExitEcall) {
      const uint32_t reason = Service(input, r.fuel, budget);
      if (reason == kUnsupportedService) {
        out.status = ProgramOutcome::kUnsupported;
        return out;
      }
      if (reason != abi::kTrapNone) {
        if (reason == abi::kTrapFuel) r.fuel = 0;
        Trap(reason);
        break;
      }
      r.pc += 4;
      continue;
    }
    if (exit == kExitEbreak || (exit == kExitFetch && r.pc == 0))
      Finish();
    else if (exit == kExitFetch)
      Trap(abi::kTrapFetch);
    else if (exit == kExitFuel)
      Trap(abi::kTrapFuel);
    else if (exit == kExitIllegal)
      Trap(abi::kTrapIllegal);
    else if (exit == kExitLoadFault || exit == kExitStoreFault)
      Trap(abi::kTrapAccess);
    else if (exit == kExitMisalignedAtomic)
      Trap(abi::kTrapMisalignedAtomic);
    else
      Trap(abi::kTrapAtomic);
    break;
  }
  out.fuelUsed = budget - r.fuel;
  return out;
}

uint32_t ProgramRunner::Service(const ProgramInput& input, int32_t& fuel, int32_t) {
  int32_t* P = pageTable_.data();
  const int32_t number = regs_[17];
  if (number < 1 || number > 6) return abi::kTrapBadService;
  if (number == abi::kServiceEmit || number == abi::kServiceRandom || number == abi::kServiceLog)
    return kUnsupportedService;  // JavaScript's: the engine's egress, random source and logger
  int32_t cost = kCost[number];
  if (fuel < cost) return abi::kTrapFuel;
  switch (number) {
    case abi::kServiceFlowHash:
      regs_[10] = static_cast<int32_t>(FlowHash(input.inner, static_cast<uint32_t>(regs_[10])));
      break;
    case abi::kServiceLookupTag: {
      const int32_t tag = regs_[10];
      const int32_t outAddress = regs_[11];
      const int32_t capacity = regs_[12];
      if (tag < 0 || tag > 31 || capacity < 0 || capacity > abi::kEngineMaxLinks) return abi::kTrapServiceFault;
      const uint32_t page = static_cast<uint32_t>(outAddress) >> 16;
      const int32_t offset = outAddress & 0xffff;
      if (offset + capacity * 4 > P[kWriteTable + page]) return abi::kTrapServiceFault;
      const uint8_t* engine = input.engineRecord;
      uint32_t linkCount = U32(engine + abi::kEngineLinkCount);
      if (linkCount > static_cast<uint32_t>(abi::kEngineMaxLinks)) linkCount = abi::kEngineMaxLinks;
      int32_t found = 0;
      for (uint32_t link = 0; link < linkCount && found < capacity; link++) {
        const uint8_t* at = engine + abi::kEngineLinkTable + link * abi::kEngineLinkBytes;
        if (U32(at + abi::kEngineLinkUp) == 0 || ((U32(at + abi::kEngineLinkTags) >> tag) & 1) == 0) continue;
        PutU32(pageBase_[page] + offset + found * 4, U32(at));
        found++;
      }
      if (found > 0 && offset < P[kLowTable + page]) P[kLowTable + page] = offset;
      cost += found * kLookupTagPerLink;
      regs_[10] = found;
      break;
    }
    case abi::kServiceTime: {
      double ms = std::floor(WallMs());
      if (ms < 0) ms = 0;
      regs_[10] = static_cast<int32_t>(static_cast<uint32_t>(std::fmod(ms, 4294967296.0)));
      regs_[11] = static_cast<int32_t>(static_cast<uint32_t>(std::floor(ms / 4294967296.0)));
      break;
    }
    default:
      return kUnsupportedService;
  }
  if (fuel < cost) return abi::kTrapFuel;
  fuel -= cost;
  return abi::kTrapNone;
}

void ProgramRunner::Finish() {
  ProgramOutcome& out = outcome_;
  const uint32_t verdict = U32(action_ + abi::kActionVerdict);
  const uint32_t count = U32(action_ + abi::kActionEgressCount);
  if (verdict == abi::kDrop || verdict == abi::kDeliver ||
      ((verdict == abi::kForward || verdict == abi::kReplicate) && count >= 1 && count <= abi::kEgressMaxLinks)) {
    out.verdict = verdict;
    out.trap = abi::kTrapNone;
    out.dropReason = verdict == abi::kDrop ? U32(action_ + abi::kActionDropReason) : 0;
    out.flags = U32(action_ + abi::kActionFlags);
    out.egressCount = verdict == abi::kForward ? 1 : verdict == abi::kReplicate ? count : 0;
    out.egressLinks = action_ + abi::kActionEgressLinks;
  } else {
    Trap(verdict == 0 ? abi::kTrapNoVerdict : abi::kTrapBadAction);
  }
}

void ProgramRunner::Trap(uint32_t reason) {
  ProgramOutcome& out = outcome_;
  out.verdict = abi::kDrop;
  out.trap = reason;
  out.dropReason = 0;
  out.flags = 0;
  out.egressCount = 0;
  out.egressLinks = nullptr;
}

void ProgramRunner::Commit(const FlowProgram& program, uint8_t* flowMemory, uint8_t* path, uint8_t* data,
                           bool writeBack) {
  const int32_t* P = pageTable_.data();
  const int32_t flowLow = P[kLowTable + abi::kFlowPage];
  if (flowLow < abi::kFlowBytes)
    memcpy(flowMemory + flowLow, flow_ + flowLow, static_cast<size_t>(abi::kFlowBytes - flowLow));
  const int32_t contractLow = P[kLowTable + abi::kContractPage];
  if (contractLow < abi::kContractBytes)
    memcpy(program.contract + contractLow, contract_ + contractLow,
           static_cast<size_t>(abi::kContractBytes - contractLow));
  if (!writeBack) return;
  if (data != nullptr && program.dataLength > 0) memcpy(data, data_, static_cast<size_t>(program.dataLength));
  if (path != nullptr && program.pathLength > 0) memcpy(path, path_, static_cast<size_t>(program.pathLength));
}

}  // namespace capsule_native
