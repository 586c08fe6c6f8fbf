// Per-packet microcode inside the engine's fast path (fast-path.cc): the program of an established
// flow, for its type III packets without a cached action and its type I and II packets (which
// always run it), run on the native tier (rv-core.h) over the same sandbox
// the JavaScript engine gives it (packages/vm/src/sandbox-machine.ts, sandbox-abi.ts; the PACKET
// record of packages/engine/src/engine.ts fillPacketRecord; the services of sandbox-host.ts).
//
// A run has no side effect until the fast path commits it: PATH, DATA, FLOW and CONTRACT are
// copies here (the FLOW and CONTRACT copies written back from their lowest written offset, PATH
// and DATA into the packet, only by Commit). What it does not implement natively ends the run as
// kRunUnsupported, and the packet goes up to JavaScript unchanged, which runs the program from
// scratch: the services EMIT, RANDOM and LOG (TIME, FLOW_HASH and LOOKUP_TAG run here), an entry
// index or offset the JavaScript pipeline refuses before or at the run's start (BAD_ENTRY).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "rv-core.h"

namespace capsule_native {

// The sandbox ABI's constants (packages/vm/src/sandbox-abi.ts).
namespace abi {
constexpr uint32_t kCodeBase = 0x10000;
constexpr int kPacketPage = 2, kPathPage = 3, kDataPage = 4, kFlowPage = 5, kContractPage = 6, kEnginePage = 7,
              kActionPage = 8, kStackPage = 15;
constexpr int kPacketBytes = 256, kPathMaxBytes = 256, kDataMaxBytes = 256, kFlowBytes = 256, kContractBytes = 4096,
              kEngineMaxBytes = 4096, kActionBytes = 128, kStackBytes = 4096;
constexpr uint32_t kStackTop = 0xf0000 + kStackBytes;
// PACKET record fields the fast path sets per packet (the rest are the flow's, registered).
constexpr int kPacketLength = 0x24, kPayloadLength = 0x26, kHopLimit = 0x28, kNextHeader = 0x29,
              kTrafficClass = 0x2a, kPacketType = 0x2b, kTimeLow = 0x30, kTimeHigh = 0x34, kSourcePort = 0x3c, kDestinationPort = 0x3e,
              kEntry = 0x40;
constexpr int kRecordBytes = 0x44;  // the record's defined fields; the rest is zero
// ACTION fields and flags; verdicts; trap reasons; services.
constexpr int kActionVerdict = 0x00, kActionFlags = 0x04, kActionDropReason = 0x08, kActionEgressCount = 0x10,
              kActionEgressLinks = 0x14;
constexpr uint32_t kFlagCache = 1, kFlagTrace = 2;
constexpr uint32_t kForward = 1, kReplicate = 2, kDeliver = 3, kDrop = 4;
constexpr uint32_t kEgressMaxLinks = 16;
enum Trap : uint32_t {
  kTrapNone = 0,
  kTrapIllegal = 1,
  kTrapAccess = 2,
  kTrapFetch = 3,
  kTrapMisalignedAtomic = 4,
  kTrapAtomic = 5,
  kTrapFuel = 6,
  kTrapBadService = 7,
  kTrapServiceFault = 8,
  kTrapNoVerdict = 10,
  kTrapBadAction = 11,
};
constexpr int kEngineLinkCount = 0x08, kEngineLinkTable = 0x10, kEngineLinkBytes = 24, kEngineLinkUp = 0x10,
              kEngineLinkTags = 0x14;
constexpr int kEngineMaxLinks = (kEngineMaxBytes - kEngineLinkTable) / kEngineLinkBytes;
constexpr int kServiceEmit = 1, kServiceFlowHash = 2, kServiceLookupTag = 3, kServiceTime = 4, kServiceRandom = 5,
              kServiceLog = 6;
}  // namespace abi

// What JavaScript registered for a flow whose program runs per packet (setFlowProgram).
struct FlowProgram {
  const int32_t* words = nullptr;  // DecodedProgram.words (pinned by the owner)
  uint32_t lengthBytes = 0;
  std::vector<int32_t> entryOffsets;
  uint8_t* contract = nullptr;  // the contract's CONTRACT memory (pinned by the owner)
  double contractId = 0;
  int32_t budget = 0;
  uint8_t record[abi::kRecordBytes] = {0};  // the PACKET record as JavaScript filled it for the flow
  int pathLength = 0;
  int dataLength = 0;
};

// The outcome of a run (valid until the next).
struct ProgramOutcome {
  enum Status { kDone, kUnsupported } status = kDone;
  uint32_t verdict = 0;  // a final verdict: FORWARD, REPLICATE, DELIVER or DROP (a trap included)
  uint32_t trap = 0;
  uint32_t dropReason = 0;  // the program's own, for DROP without a trap
  uint32_t flags = 0;
  uint32_t egressCount = 0;  // links of FORWARD (1) / REPLICATE
  const uint8_t* egressLinks = nullptr;  // u32 LE program link ids
  int32_t fuelUsed = 0;
};

// The inputs of one run.
struct ProgramInput {
  const uint8_t* inner;     // the IPv6 packet
  size_t packetLength;
  size_t capsuleLength;
  const uint8_t* path;      // the PATH value in the packet, or nullptr
  const uint8_t* data;      // the DATA value, or nullptr
  const uint8_t* transport;  // the TRANSPORT value, or nullptr (then the registered record's fields)
  const uint8_t* flowMemory;  // the flow's FLOW memory (256 bytes)
  const uint8_t* engineRecord;  // the ENGINE record (4096 bytes)
  double nowMs;
  uint32_t entryOffset;
  uint8_t packetType;  // 1, 2 or 3 (the PACKET record's packet type)
};

class ProgramRunner {
 public:
  ProgramRunner();
  ProgramRunner(const ProgramRunner&) = delete;
  ProgramRunner& operator=(const ProgramRunner&) = delete;

  // Runs `program` on `input`. Touches only this runner's memory.
  const ProgramOutcome& Run(const FlowProgram& program, const ProgramInput& input);
  // The committed run's memory effects: FLOW and CONTRACT written back (from their lowest written
  // offset); with `writeBack`, PATH and DATA into the packet (the non-DROP verdicts).
  void Commit(const FlowProgram& program, uint8_t* flowMemory, uint8_t* path, uint8_t* data, bool writeBack);

 private:
  // The services: a trap reason, kTrapNone to go on, or kUnsupportedService.
  uint32_t Service(const ProgramInput& input, int32_t& fuel, int32_t budget);
  void Finish();
  void Trap(uint32_t reason);

  int32_t regs_[33];
  std::vector<int32_t> pageTable_;
  std::vector<uint8_t*> pageBase_;
  uint8_t packet_[abi::kPacketBytes];
  uint8_t path_[abi::kPathMaxBytes];
  uint8_t data_[abi::kDataMaxBytes];
  uint8_t flow_[abi::kFlowBytes];
  uint8_t contract_[abi::kContractBytes];
  uint8_t action_[abi::kActionBytes];
  uint8_t stack_[abi::kStackBytes];
  ProgramOutcome outcome_;
};

}  // namespace capsule_native
