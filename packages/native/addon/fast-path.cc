// The native fast path; first the engine's side, then the agent's (below). The engine's:
// established flows forwarded inside the UDP socket's poll callback, so their packets never wake
// JavaScript. It takes a datagram only when every check the JavaScript
// path would make is known to pass and the outcome is the one JavaScript would reach; anything
// else — handshakes, cookies, keep-alives, unknown receivers, replayed or forged frames, type I or
// II packets unlike those JavaScript handled for their flow, unknown or idle or expiring flows,
// flows without a cached action whose program is not registered here, a TRACE, a hop limit ≤ 1,
// a link down, a send counter at its rekey limit —
// goes up to JavaScript unchanged (which counts the drop or does the work). So the counters are the
// same with it on or off. A registered flow without a cached action has its program run here per
// packet (RunProgram / CommitProgram below, fast-path-program.h: what runs and what goes up), and
// so do its type I and II packets once JavaScript registered a header of their type (setFlow).
//
// What it does with a datagram it takes (the JS path's steps, in its order):
//   link layer  DATA frame of a registered (confirmed) session → replay window check →
//               ChaCha20-Poly1305 tag check (LinkMac: libsodium, else OpenSSL EVP) → window mark;
//   engine      inner IPv6 (version, length, next header 253, hop limit > 1) → flow by (source,
//               destination, flow label) among the flows JavaScript registered → same ingress link,
//               not idle, authorization not expired → capsule header equal to the flow's template
//               of its packet type (the header JavaScript validated; type I's and II's with the
//               AUTH and CODE it verified) except the DATA value, the TRANSPORT protocol and
//               ports (which a program reads per packet) and the PATH hop index (≤ hop count) →
//               type III: the flow's cached action (read from JavaScript's own per-flow arrays:
//               a cache JavaScript clears is seen at once), or its program's verdict; type I and
//               II: its program's verdict (its CACHE stored as the pipeline stores it) → hop index
//               advanced when this hop is ours, hop limit decremented → per egress link: sealed with
//               that link's current
//               session (its send counter, shared with JavaScript) and queued;
//   counters    the engine's and the link layer's, as deltas in shared Float64Arrays (JavaScript
//               folds them into its own counters when it reads them) and the per-flow arrays.
// At the end of each receive batch the queued frames go out with sendmmsg, adjacent frames of one
// size to one address as one UDP GSO buffer — or before, when it hands up an authenticated frame
// (JavaScript forwards it after the batch): then the later frames of that flow in the batch go up
// behind it, so each flow leaves in its order (OrderBarrier).
//
// JavaScript API (all on Node's loop thread):
//   new FastPath()   (takes nothing until an engine is bound and a socket attaches it)
//   bindEngine(shared: { engine: Float64Array(ENGINE_SLOTS), flowLastSeenMs: Float64Array,
//     flowPackets: Float64Array, flowBytes: Float64Array, flowLastVerdict: Uint8Array,
//     flowLastReason: Uint16Array, cacheVerdict: Uint8Array, cacheCount: Uint8Array,
//     cacheLinks: Uint32Array, and for programs run per packet (all or none): flowDrops:
//     Float64Array, flowProgramReason: Uint32Array, flowMemory: Uint8Array(256 per flow),
//     engineRecord: Uint8Array(4096), engineState: Int32Array(2), flowProgramState: Uint8Array,
//     cacheDropReason: Uint32Array },
//     engineId, idleTimeoutMs)
//   addSession(localIndex, linkId, receiveKey, counters: Float64Array(2), replayBits: Uint32Array)
//   removeSession(localIndex)
//   setSending(linkId, peerIndex, sendKey, counters: Float64Array(2), host, port, rekeyAfterPackets)
//   clearSending(linkId)
//   setLink(programId, linkId, kind, up, peerHostId: Uint8Array(16))   clearLinks()
//   setFlow(flowId, packet, offset, ingressLinkId, notAfterSeconds, pathOffset, dataOffset,
//     dataLength, transportOffset)    (a packet of any type: its header is the template of its
//     type; offsets relative to the packet start; -1 for an absent chunk; see SetFlow)
//   setFlowProgram(flowId, words, lengthBytes, entryOffsets, contract, contractId, budget, record,
//     pathLength, dataLength)   (after setFlow; see SetFlowProgram)
//   removeFlow(flowId)   clearFlows()
//   drainLinkTraffic() → Float64Array of [linkId, packetsIn, bytesIn, packetsOut, bytesOut,
//     lastReceiveMs, lastSendMs] per link that moved since the last call
//   stats() → [taken, offered, sent, sendErrors, flows, sessions, held, packets offered]
//   handUpStats() → the datagrams handed up by why (HandUp; @capsule/wire's FastPathHandUp)
//
// The agent's egress (the same object, its link-layer sessions and send queue): a TUN Reader given
// this object as its filter (tun-device.cc) offers it each batch of application packets before
// JavaScript sees them (PacketFilter). It takes a packet only when packages/agent/src/egress.ts
// would send it, unchanged, as a packet of an installed flow, and does what egress and the
// link layer do, in their order: flow by destination (the peer's CGA, its IPv4 alias, or a peer
// role's address; the kernel's ND/MLD/RS and multicast go up) → TRANSPORT value from the packet
// (transport.ts) → the Out ACL's rules for the flow's peer allow it (acl.ts isAllowed; denied: up
// as ACL) → the first hop's link has a sending session → the packet type from the flow's shared
// state, or for a role-addressed flow from its connection's (the connection's label from the
// protocol and ports: connectionLabel; a new connection added at the commit, ConnectionAdd) (type
// I when the authorization interval is over: it restarts; type II while packets since AUTH <
// codePackets; else type III; packets since AUTH advanced) → no TRACE armed → the e2e send epoch
// from the flow's shared state, the next one when a rekey is due (isSendRekeyDue: moved at the
// commit as advanceSendEpoch moves it, counted in the plane's e2eRekeys), its key derived from the
// direction's epoch-0 key when the context is keyed for another (sealed-payload.h); a
// role-addressed flow's: its group epoch's sender key as installed, never rekeyed → that type's
// prebuilt header copied (a role-addressed flow's connection label written into it and the AAD),
// the TRANSPORT value written, the payload sealed (AES-256-GCM,
// sealed-payload.h; the flow's send counter + 1, shared) and the payload length set → framed and
// tagged on the link's session (FinishFrame, as the engine's packets), its counter at the rekey
// limit going up → queued; a type I packet over maxOverlayPacketBytes goes as egress splits it: its
// type I header alone (AUTH-only, no payload) framed first, the data behind it as type II;
// counters: the flow's and the epoch's arrays, the endpoint's statistics, the plane's packets by
// type (index 0: AUTH-only packets), the link's traffic. The frames of a batch go out
// (sendmmsg, UDP GSO) before JavaScript gets the packets left, so no packet of a flow it took
// overtakes one JavaScript sends. JavaScript API:
//   bindAgent(sentByType: Float64Array(4), e2eRekeys: Float64Array(2), options: Float64Array
//     [authIntervalMs, codePackets, e2eRekeyAfterMs, e2eRekeyAfterPackets, ownIpv4,
//     maxOverlayPacketBytes, e2eRekeyGraceMs, authRepeatMs, authRepeatForMs])
//   setEgressFlow(destination[16|4], flowState: Float64Array(5), e2eState: Float64Array(7),
//     statistics: Float64Array(2+), sendBase[32], headers: [typeI, typeII, typeIII],
//     transportAt: Int32Array(3), aad[35], linkId, acl: Int32Array (the Out ACL's rules for the
//     peer, AclWord; a packet they deny is handed up: ACL), connections?: Float64Array(24577) (a
//     role-addressed flow's ConnectionTable; sendBase is then its group epoch's key itself))
//   clearEgressFlows()
//   offerTunPackets(buffer, meta: Int32Array, count) → packets left (the Reader's call, for tests)
//   agentStats() → [offered, taken, egress destinations, frames offered to ingress, frames it took,
//     ingress flows, TUN packets its writes lost, egress packets held, ingress frames held,
//     ingress packets offered]
//   agentHandUpStats() → the packets handed up by why (AgentHandUp; @capsule/wire's
//     AgentFastPathHandUp): egress's, then ingress's
//
// The agent's ingress (the same object; an agent binds no engine, so the UDP socket's datagrams
// come here instead of Forward): a DATA frame is taken only when the link layer and
// packages/agent/src/ingress.ts would deliver its packet to the TUN, unchanged, and every check
// comes before anything changes (a frame handed up after its link window was marked would be
// refused by JavaScript as a replay): the link layer's session, replay window and tag
// (CheckLinkFrame, the engine path's) → inner IPv6 from an installed flow's peer (its CGA) →
// the inner header equal to the flow's template of its packet type (I, II or III: AUTH and CODE
// compared too) but for the payload length, the hop limit, the PATH hop index (≤ hop count), the
// DATA value and the TRANSPORT protocol and ports (a type I header with no payload, an AUTH-only
// packet, is then taken as ingress takes it: the link window and traffic committed, nothing
// delivered) → the sealed payload: its epoch the flow's current receive epoch, the previous one in
// its grace, or the next (receiveCipherOf; the flow's shared e2e state), the e2e replay window
// (JavaScript's ReplayWindow storage) → opened (AES-256-GCM, sealed-payload.h; the key of each
// epoch derived once from the direction's epoch-0 key) into the TUN ring → IPv6: our CGA as destination, the peer's CGA
// or its role's address as source; IPv4: rewritten as ingress.ts's rewriteIpv4 (RFC 1624) →
// TRANSPORT matches the packet (transportMatches) → the In ACL's rules for the peer allow it
// (denied: up as ACL, ingress drops it as aclIn) → commit: the link window and traffic
// (CommitLinkReceive), the e2e window, the next epoch's first packet moving the flow to it (the
// current one previous until the grace ends: acceptCandidate; counted in e2eRekeys), the
// endpoint's statistics; the batch's packets are written
// to the TUN at the end of the receive batch (tun-writer.h: coalesced with offloads). A
// role-addressed packet (ingress.ts processGroupIngress: to a role address of a local endpoint,
// from one of its peers) likewise, installed per (role address, sender): its template with the
// flow label free too (each connection has its own), its sealed payload of a group epoch of that
// sender installed here (the two latest, as the member keeps them) while the endpoint opens that
// epoch (its grace: openKeyOf), that sender epoch's replay window, the sender's key of the epoch
// as derived by JavaScript; IPv6 from the sender to the role address only. JavaScript API:
//   setIngressFlow(source[16], header, hopIndexAt, dataAt, dataLength, transportAt, receiveBase[32],
//     e2eState: Float64Array(7), replayState: Float64Array(2+), replayBits: Uint32Array,
//     statistics: Float64Array(4+), ipv4Alias, roleSource[0|16], acl: Int32Array)   (the template of header's
//     packet type, beside the flow's others when its key, arrays and addresses are the ones
//     installed; else the flow anew)
//   setGroupIngressFlow(address[16], source[16], header, hopIndexAt, dataAt, dataLength, transportAt,
//     epoch, key[32], untilMs, replayState, replayBits, statistics, acl)   (that type's template and
//     that epoch beside the pair's others; a third epoch replaces the older)
//   clearIngressFlows()   (unicast and role-addressed)
//   attachTun(fd, vnetHeader, offloadStats: Float64Array(6)) | attachTun(-1)
//   bindAgent's fifth option: our IPv4 overlay address (the IPv4 rewrite's destination); its
//   seventh: e2eRekeyGraceMs (how long a receiver keeps the previous epoch)
#include "fast-path.h"

#include <arpa/inet.h>
#include <errno.h>
#include <napi.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <openssl/evp.h>
#include <string.h>
#if defined(CAPSULE_LIBSODIUM)
#include <sodium.h>
#endif
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "addon.h"
#include "fast-path-program.h"
#include "sealed-payload.h"
#include "signature-verifier.h"
#include "tun-writer.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace capsule_native {
namespace {

// Slots of the shared engine counters array (the order of ENGINE_SLOTS in src/fast-path.ts).
enum EngineSlot : int {
  kPacketsIn = 0,
  kBytesIn = 1,
  kPacketsOut = 2,
  kBytesOut = 3,
  kTypeIII = 4,
  kCachedActions = 5,
  kVerdictForward = 6,
  kVerdictReplicate = 7,
  kVerdictDeliver = 8,
  kProgramRuns = 9,
  kFuelUsed = 10,
  kVerdictDrop = 11,
  kProgramDropCodes = 12,  // pairs used in the program drop table below
  kTypeI = 13,
  kTypeII = 14,
  kAuthorizationCacheHits = 15,  // a type I packet's AUTH: the verified authorization JavaScript cached
  kLinkBase = 16,  // then per program link id: packets in, bytes in, packets out, bytes out
};
constexpr int kMaxProgramLinks = 4096;
// After the links: drops per program link id, drops per reason (0..63), then the program drop
// table: (program's reason, count) pairs.
constexpr int kLinkDropBase = kLinkBase + 4 * kMaxProgramLinks;
constexpr int kDropBase = kLinkDropBase + kMaxProgramLinks;
constexpr int kDropReasons = 64;
constexpr int kProgramDropBase = kDropBase + kDropReasons;
constexpr int kProgramDropPairs = 16;
constexpr int kEngineSlots = kProgramDropBase + 2 * kProgramDropPairs;
// The engine's drop reason of a program's own DROP (packages/engine/src/drop-reason.ts).
constexpr uint32_t kDropProgram = 50;
// Slots of the engine's state array (src/fast-path.ts ENGINE_STATE).
enum StateSlot : int { kEventsActive = 0, kShownContract = 1, kStateSlots = 2 };
// A flow's program registration state (the engine's flowProgramState array).
enum ProgramState : uint8_t { kProgramNone = 0, kProgramRegistered = 1, kProgramDeclined = 2 };
constexpr int kEgressMax = 16;
// @capsule/wire's link frame (link-frame.ts): version 2, type DATA 2, a 16-byte header, a 16-byte tag.
constexpr uint8_t kFrameVersion = 2;
constexpr uint8_t kFrameData = 2;
constexpr size_t kHeader = 16;
constexpr size_t kTag = 16;
constexpr uint64_t kMaxSafe = (uint64_t{1} << 53) - 1;
constexpr size_t kTemplateMax = 256;
constexpr size_t kSendRingBytes = 1 << 20;
constexpr size_t kSendMax = 256;
constexpr size_t kMaxGsoSegments = 64;
constexpr size_t kMaxGsoBytes = 65507;
// A type I packet's AUTH chunk, the capsule header's first (after its 4 fixed bytes): chunk header
// (type 1, length 148), then the value, a flow authorization.
constexpr uint8_t kAuthChunkHeader[2] = {0x10, 0x94};
constexpr uint8_t kTypeIHeader = 0x11;  // the capsule header's version 1 and packet type I
constexpr size_t kAuthValueAt = 40 + 4 + 2;

// The length of the IPv6 packet with a capsule header (next header 253) at inner[0, innerLength),
// or 0 when it is not one or claims more than is there (innerLength >= 40).
size_t CapsulePacketLength(const uint8_t* inner, size_t innerLength) {
  if ((inner[0] >> 4) != 6 || inner[6] != 253) return 0;
  const size_t packetLength = 40 + ((size_t{inner[4]} << 8) | inner[5]);
  return packetLength <= innerLength ? packetLength : 0;
}

uint32_t Be32(const uint8_t* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }
void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

double NowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1000.0 + static_cast<double>(ts.tv_nsec / 1000000);
}

// A DATA frame with a packet in it (not a handshake, a cookie or a keep-alive, whose body is
// empty), as it arrives, before its tag is checked: what the `packets offered` counts count.
bool CarriesPacket(const uint8_t* frame, size_t length) {
  return length > kHeader + kTag && frame[1] == kFrameData;
}

// Why the engine's fast path handed a datagram up to JavaScript, one reason a datagram, in the
// order Forward checks them: @capsule/wire's FastPathHandUp owns the names (the same indexes).
enum HandUp : uint8_t {
  kHandUpNotReady,       // no socket or engine bound yet
  kHandUpControl,        // not a DATA frame with a packet: a handshake, a cookie or a keep-alive
  kHandUpLink,           // a DATA frame no confirmed session takes: unknown receiver, replayed, bad tag, short
  kHandUpPacket,         // not a capsule packet the engine forwards here: malformed, hop limit 1
  kHandUpUnknownFlow,    // no flow registered for it (a new flow, or one the engine has not registered)
  kHandUpFlowState,      // its flow's: another ingress link, idle, authorization expired
  kHandUpNoTemplate,     // no template for its packet type yet (the first packet of a type)
  kHandUpHeaderChanged,  // a capsule header unlike the template of its type (TRACE, another AUTH or CODE, …)
  kHandUpProgram,        // the program: not registered here, or a run that needs JavaScript
  kHandUpEgress,         // an egress link not present, up or sendable (rekey limit, family), no room to queue
  kHandUpHeld,           // behind an earlier datagram of its flow handed up in the same batch
  kHandUpReasons
};

// Why an agent's fast path handed a packet up (egress: from the TUN; ingress: from the socket), one
// reason a packet, in the order Egress and Ingress check them: @capsule/wire's AgentFastPathHandUp
// owns the names (the same indexes).
enum AgentHandUp : uint8_t {
  kAgentUpLocalControl,   // egress: the kernel's own ND, MLD, router solicitations, multicast
  kAgentUpControl,        // ingress: not a DATA frame with a packet (handshake, cookie, keep-alive)
  kAgentUpLink,           // ingress: no confirmed session takes it; egress: no sending session, family
  kAgentUpPacket,         // not a packet it carries: not IPv4 or IPv6, too short, another type, lengths
  kAgentUpUnknownFlow,    // no flow installed for it (egress: destination; ingress: source, or role address and sender)
  kAgentUpNoTemplate,     // ingress: no template for its packet type
  kAgentUpHeaderChanged,  // ingress: a capsule header unlike its type's template
  kAgentUpTrace,          // egress: a traced packet (TRACE, a trace event)
  kAgentUpE2e,            // the e2e epoch: its space spent, no key; ingress: an epoch not current, previous or next, replayed, tag
  kAgentUpSize,           // too large (out: over 64 KiB sealed; in: over the TUN write ring)
  kAgentUpInner,          // ingress: the opened packet unlike its header (addresses, TRANSPORT, IPv4)
  kAgentUpSend,           // egress: the link's send counter at its rekey limit, no room, a seal refused
  kAgentUpHeld,           // behind an earlier packet of its flow handed up in the same batch
  kAgentUpAcl,            // the host's ACL denies it (JavaScript drops it: aclOut, aclIn)
  kAgentUpReasons
};

// @capsule/wire's linkFrameAadEnd over body [start, end): the end of the authenticated range, or < 0.
long AadEnd(const uint8_t* bytes, size_t start, size_t end) {
  if (end == start) return static_cast<long>(end);
  size_t capsuleAt = start + 40;
  if (capsuleAt > end) return -1;
  if ((bytes[start] >> 4) != 6) return -2;
  if (bytes[start + 6] != 253) return static_cast<long>(end);
  if (capsuleAt + 2 > end) return -1;
  size_t capsuleEnd = capsuleAt + (static_cast<size_t>(bytes[capsuleAt + 1]) + 1) * 8;
  if (capsuleEnd > end) return -1;
  return static_cast<long>(bytes[capsuleAt] == 59 ? capsuleEnd : end);
}

// ChaCha20-Poly1305 for one key: the link MAC is its tag over an AAD with an empty plaintext,
// nonce 0x00000000 ‖ counter (u64 big-endian), as @capsule/identity's computeLinkMac. libsodium's
// one-shot call when UsesLibsodium (about 100 ns less per tag than an EVP context's re-init,
// update, final and tag control: two tags per frame an engine forwards), else OpenSSL's EVP.
class LinkMac {
 public:
  explicit LinkMac(const uint8_t* key) {
#if defined(CAPSULE_LIBSODIUM)
    if (UsesLibsodium()) {
      memcpy(key_, key, sizeof key_);
      return;
    }
#endif
    ctx_ = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(ctx_, EVP_chacha20_poly1305(), nullptr, key, nullptr);
  }
  ~LinkMac() {
    if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
#if defined(CAPSULE_LIBSODIUM)
    sodium_memzero(key_, sizeof key_);
#endif
  }
  LinkMac(const LinkMac&) = delete;
  LinkMac& operator=(const LinkMac&) = delete;

  bool Tag(uint64_t counter, const uint8_t* aad, size_t aadLength, uint8_t* tag) {
    uint8_t nonce[12] = {0};
    for (int i = 0; i < 8; i++) nonce[4 + i] = static_cast<uint8_t>(counter >> (56 - 8 * i));
#if defined(CAPSULE_LIBSODIUM)
    if (ctx_ == nullptr) {
      uint8_t noCiphertext[1];  // an empty plaintext: nothing is written here
      unsigned long long tagLength = 0;
      return crypto_aead_chacha20poly1305_ietf_encrypt_detached(noCiphertext, tag, &tagLength, nullptr, 0, aad,
                                                                aadLength, nullptr, nonce, key_) == 0;
    }
#endif
    int length = 0;
    if (EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) != 1) return false;
    if (EVP_EncryptUpdate(ctx_, nullptr, &length, aad, static_cast<int>(aadLength)) != 1) return false;
    if (EVP_EncryptFinal_ex(ctx_, nullptr, &length) != 1) return false;
    return EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
  }

  bool Verify(uint64_t counter, const uint8_t* aad, size_t aadLength, const uint8_t* tag) {
    uint8_t expected[16];
    if (!Tag(counter, aad, aadLength, expected)) return false;
    uint8_t difference = 0;
    for (int i = 0; i < 16; i++) difference |= expected[i] ^ tag[i];
    return difference == 0;
  }

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;  // OpenSSL's, when not libsodium's
#if defined(CAPSULE_LIBSODIUM)
  uint8_t key_[32] = {0};
#endif
};

// Pointer into a typed array argument (its memory pinned by a reference the owner keeps).
template <typename T>
T* TypedData(const Napi::Value& value, napi_typedarray_type type, size_t* count) {
  if (!value.IsTypedArray()) return nullptr;
  Napi::TypedArray typed = value.As<Napi::TypedArray>();
  if (typed.TypedArrayType() != type) return nullptr;
  *count = typed.ElementLength();
  return reinterpret_cast<T*>(static_cast<uint8_t*>(typed.ArrayBuffer().Data()) + typed.ByteOffset());
}

// The replay window of a session, over JavaScript's ReplayWindow storage: counters[1] is the
// highest accepted counter (-1 before the first), bits the bitmap (RFC 6479). Same arithmetic as
// packages/overlay/src/replay-window.ts.
struct ReplayView {
  double* counters = nullptr;
  uint32_t* bits = nullptr;
  size_t words = 0;

  bool Check(uint64_t counter) const {
    if (counter >= kMaxSafe) return false;
    const double highest = counters[1];
    if (static_cast<double>(counter) > highest) return true;
    const uint64_t high = static_cast<uint64_t>(highest);
    if (high - counter >= (words - 1) * 32) return false;
    const uint64_t bit = counter % (words * 32);
    return (bits[bit >> 5] & (uint32_t{1} << (bit & 31))) == 0;
  }

  void Mark(uint64_t counter) {
    const double highest = counters[1];
    if (static_cast<double>(counter) > highest) {
      const int64_t oldWord = highest < 0 ? -1 : static_cast<int64_t>(static_cast<uint64_t>(highest) / 32);
      const int64_t newWord = static_cast<int64_t>(counter / 32);
      int64_t clear = newWord - oldWord;
      if (clear > static_cast<int64_t>(words)) clear = static_cast<int64_t>(words);
      for (int64_t step = 1; step <= clear; step++) bits[(oldWord + step) % static_cast<int64_t>(words)] = 0;
      counters[1] = static_cast<double>(counter);
    }
    const uint64_t bit = counter % (words * 32);
    bits[bit >> 5] |= uint32_t{1} << (bit & 31);
  }
};

// The byte ranges a packet may differ from its flow's template in (at most 6, sorted, disjoint).
struct FreeRanges {
  size_t at[6] = {};
  size_t length[6] = {};
  int count = 0;
  void Add(size_t start, size_t bytes) {
    if (bytes == 0 || count == 6) return;
    int i = count++;
    while (i > 0 && at[i - 1] > start) {
      at[i] = at[i - 1];
      length[i] = length[i - 1];
      i--;
    }
    at[i] = start;
    length[i] = bytes;
  }
  // The capsule header's bytes a flow's later packets may change (offsets from the template's
  // start; -1: the chunk is absent): the PATH hop index, the DATA value, the TRANSPORT protocol
  // and ports (its reserved byte stays compared).
  void AddCapsule(long hopIndexAt, long dataAt, long dataLength, long transportAt) {
    if (hopIndexAt >= 0) Add(static_cast<size_t>(hopIndexAt), 1);
    if (dataAt >= 0) Add(static_cast<size_t>(dataAt), static_cast<size_t>(dataLength));
    if (transportAt >= 0) {
      Add(static_cast<size_t>(transportAt), 1);      // protocol
      Add(static_cast<size_t>(transportAt) + 2, 4);  // source and destination ports
    }
  }
};

// Whether a[0, n) equals b[0, n) outside the free ranges (which lie inside [0, n)).
bool EqualOutside(const uint8_t* a, const uint8_t* b, size_t n, const FreeRanges& free) {
  size_t from = 0;
  for (int i = 0; i < free.count; i++) {
    if (free.at[i] > from && memcmp(a + from, b + from, free.at[i] - from) != 0) return false;
    from = std::max(from, free.at[i] + free.length[i]);
  }
  return from >= n || memcmp(a + from, b + from, n - from) == 0;
}

// transport.ts isLengthAsDeclared: the IP packet ip[0, length) of `version` (its header there) is
// as long as its header says (IPv4 total length, 40 + IPv6 payload length).
bool IsLengthAsDeclared(const uint8_t* ip, size_t length, int version) {
  const size_t declared = version == 6 ? 40 + ((size_t{ip[4]} << 8) | ip[5]) : (size_t{ip[2]} << 8) | ip[3];
  return declared == length;
}

// transport.ts transportOf on the IP packet ip[0, length) of `version` (its header there): the
// protocol and the TCP/UDP ports, 0 when absent (writeTransportValue's and transportMatches'
// rule: -1 counts as 0; a later IPv4 fragment has none). True when the packet has ports.
bool TransportOf(const uint8_t* ip, size_t length, int version, uint8_t* protocol, uint32_t* sourcePort,
                 uint32_t* port) {
  size_t l4;
  if (version == 6) {
    *protocol = ip[6];
    l4 = 40;
  } else {
    *protocol = ip[9];
    l4 = static_cast<size_t>(ip[0] & 0x0f) * 4;
  }
  *port = 0;
  *sourcePort = 0;
  const bool laterFragment = version == 4 && (((uint32_t{ip[6]} << 8) | ip[7]) & 0x1fff) != 0;
  if (!laterFragment && (*protocol == 6 || *protocol == 17) && l4 + 4 <= length) {
    *sourcePort = (uint32_t{ip[l4]} << 8) | ip[l4 + 1];
    *port = (uint32_t{ip[l4 + 2]} << 8) | ip[l4 + 3];
    return true;
  }
  return false;
}

// The ACL rules of one peer's flow, as packages/agent acl.ts aclRuleWords writes them (wire's
// AclRuleWords: allow, protocol, lowest and highest port; 4 int32 each).
enum AclWord { kAclAllow, kAclProtocol, kAclPortLow, kAclPortHigh, kAclWords };

// acl.ts isAllowed on `rules` for a packet of `protocol` to `port` (TransportOf's; without ports,
// isAllowed's -1): the first rule that matches decides; none (no rules) allows. ICMPv6 (58)
// counts as icmp (1).
bool AclAllows(const std::vector<int32_t>& rules, uint8_t protocol, bool hasPorts, uint32_t destinationPort) {
  const int32_t matched = protocol == 58 ? 1 : protocol;
  const int32_t port = hasPorts ? static_cast<int32_t>(destinationPort) : -1;
  for (size_t at = 0; at + kAclWords <= rules.size(); at += kAclWords) {
    const int32_t* rule = rules.data() + at;
    if (rule[kAclProtocol] != -1 && rule[kAclProtocol] != matched) continue;
    if ((rule[kAclPortLow] != 0 || rule[kAclPortHigh] != 65535) &&
        (port < rule[kAclPortLow] || port > rule[kAclPortHigh]))
      continue;
    return rule[kAclAllow] == 1;
  }
  return true;
}

// The ACL rules in `value` (an Int32Array of whole rules, each as acl.ts writes one), copied into
// `rules`; false (nothing copied) when it is not that.
bool ReadAclRules(const Napi::Value& value, std::vector<int32_t>* rules) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) return false;
  size_t count = 0;
  const int32_t* words = TypedData<int32_t>(value, napi_int32_array, &count);
  if (count == 0) {  // no rules (an empty array may have no memory behind it)
    rules->clear();
    return true;
  }
  if (words == nullptr || count % kAclWords != 0) return false;
  for (size_t at = 0; at < count; at += kAclWords) {
    const int32_t* rule = words + at;
    const int32_t protocol = rule[kAclProtocol];
    if ((rule[kAclAllow] != 0 && rule[kAclAllow] != 1) ||
        (protocol != -1 && protocol != 1 && protocol != 6 && protocol != 17) || rule[kAclPortLow] < 0 ||
        rule[kAclPortLow] > rule[kAclPortHigh] || rule[kAclPortHigh] > 65535)
      return false;
  }
  rules->assign(words, words + count);
  return true;
}

struct Session {
  uint32_t linkId = 0;
  LinkMac* mac = nullptr;
  ReplayView replay;
  Napi::ObjectReference countersRef;
  Napi::ObjectReference bitsRef;
};

struct Sending {
  uint32_t peerIndex = 0;
  LinkMac* mac = nullptr;
  double* counters = nullptr;  // [0]: the session's send counter
  double rekeyAfterPackets = 0;
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  bool isV4 = true;
  Napi::ObjectReference countersRef;
};

// Link-layer traffic per link, drained by JavaScript.
struct Traffic {
  double packetsIn = 0, bytesIn = 0, packetsOut = 0, bytesOut = 0, lastReceiveMs = 0, lastSendMs = 0;
  bool moved = false;
};

struct EngineLink {
  bool present = false;
  uint32_t linkId = 0;
  uint32_t kind = 0;
  bool up = false;
  uint8_t peerHostId[16] = {0};
};

// A key of N bytes for the hash maps below, compared and hashed (FNV-1a) over all of them.
template <size_t N>
struct ByteKey {
  uint8_t bytes[N];
  bool operator==(const ByteKey& other) const { return memcmp(bytes, other.bytes, N) == 0; }
};
template <size_t N>
struct ByteKeyHash {
  size_t operator()(const ByteKey<N>& key) const {
    uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (uint8_t byte : key.bytes) hash = (hash ^ byte) * 1099511628211ull;
    return static_cast<size_t>(hash);
  }
};
// An engine flow: inner source, destination and flow label (KeyOfPacket).
using FlowKey = ByteKey<36>;
using FlowKeyHash = ByteKeyHash<36>;

// Where a capsule header's values are (offsets relative to the capsule header; -1: absent).
struct CapsuleShape {
  int hopIndexAt = -1;
  int hopCountAt = -1;
  int hopsAt = -1;
  int dataAt = -1;
  int dataLength = 0;
  int transportAt = -1;  // the TRANSPORT value
  // The bytes later packets may change, sorted [start, length] (MatchesTemplate): the PATH hop
  // index, the DATA value, the TRANSPORT protocol and ports (its reserved byte stays compared).
  FreeRanges free;
};

// The capsule header of a type I or II packet of a flow the pipeline handled (setFlow): AUTH and
// CODE included, so a packet equal to it carries what JavaScript verified for the flow.
struct TypedTemplate {
  std::vector<uint8_t> bytes;
  CapsuleShape shape;
};

struct Flow {
  uint32_t id = 0;
  uint32_t ingressLinkId = 0;
  double notAfterSeconds = 0;
  // The type III packets' template (the capsule header of the type III packet registered last);
  // empty until one is (a flow registered from its type I or II packets: its type III packets,
  // never of length 0, go up).
  uint8_t templateBytes[kTemplateMax];
  size_t templateLength = 0;
  CapsuleShape shape;
  std::unique_ptr<TypedTemplate> typed[2];  // types I and II, once registered
  struct RegisteredProgram* program = nullptr;  // its program runs per packet here (setFlowProgram)
  bool contractKnown = false;  // its contract (from setFlowProgram; kept when its program is declined)
  double contractId = 0;
};

// A template of a flow: its type III one, or until there is one a type I or II one (ReferenceOf).
struct HeaderRef {
  const uint8_t* bytes = nullptr;  // nullptr: none
  size_t length = 0;
  const CapsuleShape* shape = nullptr;
};

// The template whose PATH and DATA lengths are the flow's (every template of a flow has them).
HeaderRef ReferenceOf(const Flow& flow) {
  if (flow.templateLength > 0) return {flow.templateBytes, flow.templateLength, &flow.shape};
  for (const auto& typed : flow.typed)
    if (typed != nullptr) return {typed->bytes.data(), typed->bytes.size(), &typed->shape};
  return {};
}

// A flow's program as JavaScript registered it, with the JavaScript memory it points into pinned.
struct RegisteredProgram {
  FlowProgram program;
  Napi::ObjectReference wordsRef;
  Napi::ObjectReference contractRef;
};

// ---- the agent's egress (see the file comment) --------------------------------------------------

// Slots of the arrays the agent shares per flow (packages/agent/src/flows.ts FlowSlot, E2eSlot and
// the endpoint's StatisticsSlot name the same).
enum FlowSlotIndex : int {
  kFlowSendCounter = 0,
  kFlowPacketsSinceAuth = 1,
  kFlowLastAuthMs = 2,
  kFlowTracePackets = 3,
  kFlowFirstAuthMs = 4,
};
constexpr size_t kFlowSlots = 5;
enum E2eSlotIndex : int {
  kE2eSendEpoch = 0,
  kE2eSendPackets = 1,
  kE2eSendSinceMs = 2,
  kE2eRekeyRequested = 3,
  kE2eReceiveEpoch = 4,
  kE2ePreviousEpoch = 5,
  kE2ePreviousUntilMs = 6,
};
constexpr size_t kE2eSlots = 7;
enum StatisticsSlotIndex : int {
  kStatisticsPacketsOut = 0,
  kStatisticsBytesOut = 1,
  kStatisticsPacketsIn = 2,
  kStatisticsBytesIn = 3
};
// The agent's overlay buffer (data-plane.ts OUT_BUFFER_BYTES) and the link layer's largest inner
// packet (overlay's MAX_INNER_PACKET_LENGTH): a packet over either is JavaScript's (it drops it).
constexpr size_t kAgentOutBytes = 65536 + 4096;
constexpr size_t kMaxInnerPacket = 65535;
constexpr size_t kAgentHeaderMax = 4096;
// Where a capsule chunk's value can start at the earliest in an inner packet: the IPv6 header (40),
// the capsule header's fixed bytes (4), the first chunk's type and length (2). A role-addressed
// flow's type III header has no PATH, so its DATA or TRANSPORT value may be there.
constexpr int64_t kChunkValueMin = 46;

// A host's 16-byte address (a peer's CGA, an agent flow's destination or source).
using HostKey = ByteKey<16>;
using HostKeyHash = ByteKeyHash<16>;
// A peer's CGA and a flow label (its 20 bits in the IPv6 header's bytes 1-3, the traffic class's
// nibble cleared): one of several ingress flows from a host (endpoints of several contracts).
using LabelKey = ByteKey<19>;
using LabelKeyHash = ByteKeyHash<19>;
// The LabelKey of the IPv6 header at `ip`: its source and its flow label.
inline LabelKey LabelKeyOf(const uint8_t* ip) {
  LabelKey key;
  memcpy(key.bytes, ip + 8, 16);
  key.bytes[16] = ip[1] & 0x0f;
  key.bytes[17] = ip[2];
  key.bytes[18] = ip[3];
  return key;
}
// Whether an IPv6 address is no role address: the universal/local bit of its interface id (0x02
// of byte 8) clear, as every CGA has it (RFC 3972) and no role address (packages/agent roleAddress).
inline bool IsCgaShaped(const uint8_t* address) { return (address[8] & 0x02) == 0; }

// Where a batch must keep its order. JavaScript handles what a fast path hands up only after the
// fast path has gone through the whole batch (the datagrams of a receive batch, the packets of a
// TUN read batch), while what the fast path takes leaves at once or at the batch's end. So once a
// packet that JavaScript may pass on is handed up — an authenticated frame, an application packet
// — everything the fast path queued before it leaves first, and every later packet of the same
// flow in the batch goes up after it: a flow's packets leave in their order, with the fast path on
// as off. The key of a flow: for a link frame, the session it came under (its receiver index) and
// the engine's flow (inner source, destination and flow label) or an agent ingress flow's peer
// (the inner source) — so a frame under one peer's session never holds back another's, whatever
// its inner addresses say; for an agent's egress, the packet's destination.
class OrderBarrier {
 public:
  static constexpr size_t kKeyBytes = 39;
  using Key = uint8_t[kKeyBytes];

  // The engine's flow of a link frame's inner IPv6 packet; false when it has none.
  static bool KeyOfEngineFlow(const uint8_t* frame, size_t length, Key key) {
    if (length < kHeader + 40 || frame[kHeader] >> 4 != 6) return false;
    const uint8_t* inner = frame + kHeader;
    memcpy(key, frame + 4, 4);
    memcpy(key + 4, inner + 8, 32);
    key[36] = inner[1] & 0x0f;
    key[37] = inner[2];
    key[38] = inner[3];
    return true;
  }

  // An agent's ingress flow of a link frame: the inner packet's source; false when it has none.
  static bool KeyOfPeer(const uint8_t* frame, size_t length, Key key) {
    if (length < kHeader + 40) return false;
    memset(key, 0, kKeyBytes);
    memcpy(key, frame + 4, 4);
    memcpy(key + 4, frame + kHeader + 8, 16);
    return true;
  }

  // An application packet's destination (IPv4 as IPv4-mapped); false when it has none.
  static bool KeyOfDestination(const uint8_t* ip, size_t length, Key key) {
    memset(key, 0, kKeyBytes);
    if (length >= 40 && ip[0] >> 4 == 6) {
      memcpy(key, ip + 24, 16);
      return true;
    }
    if (length >= 20 && ip[0] >> 4 == 4) {
      key[10] = key[11] = 0xff;
      memcpy(key + 12, ip + 16, 4);
      return true;
    }
    return false;
  }

  bool Holds(const Key key) const {
    if (all_) return true;
    for (int i = 0; i < count_; i++)
      if (memcmp(keys_[i], key, kKeyBytes) == 0) return true;
    for (int i = 0; i < prefixCount_; i++)
      if (memcmp(prefixes_[i], key, kPrefixBytes) == 0) return true;
    return false;
  }

  // Past kKeys flows in one batch, every later packet under the same first 4 bytes (a link
  // frame's session: one peer cannot hold back another's frames) goes up; past kPrefixes of
  // those, every later packet of the batch. (A peer's burst of new flows — type I packets, which
  // go up anyway — fills the list first: 32 keeps its other flows on the fast path up to then.)
  void Add(const Key key) {
    if (Holds(key)) return;
    if (count_ < kKeys) {
      memcpy(keys_[count_++], key, kKeyBytes);
    } else if (prefixCount_ < kPrefixes) {
      memcpy(prefixes_[prefixCount_++], key, kPrefixBytes);
    } else {
      all_ = true;
    }
  }

  void Clear() {
    count_ = 0;
    prefixCount_ = 0;
    all_ = false;
  }

 private:
  static constexpr int kKeys = 32;
  static constexpr int kPrefixes = 8;
  static constexpr size_t kPrefixBytes = 4;
  uint8_t keys_[kKeys][kKeyBytes];
  uint8_t prefixes_[kPrefixes][kPrefixBytes];
  int count_ = 0;
  int prefixCount_ = 0;
  bool all_ = false;
};

// A packet type's prebuilt header of an egress flow (flows.ts headers / transportAt).
struct EgressHeader {
  std::vector<uint8_t> bytes;  // inner IPv6 + capsule header
  size_t transportAt = 0;      // the TRANSPORT value's offset in it
};

// An AES-256-GCM context keyed for one e2e epoch of a direction, keyed again when asked for another
// (its key derived from the direction's epoch-0 key: sealed-payload.h KeyForEpoch): an egress
// flow's one, an ingress flow's three.
struct EpochContext {
  int64_t epoch = -1;  // the epoch it is keyed for (-1: none yet)
  EVP_CIPHER_CTX* ctx = nullptr;
  EpochContext() = default;
  EpochContext(const EpochContext&) = delete;
  EpochContext& operator=(const EpochContext&) = delete;
  ~EpochContext() {
    if (ctx != nullptr) EVP_CIPHER_CTX_free(ctx);
  }
  // The context keyed for `keyEpoch` from `base` (derived only when it is keyed for another), to
  // encrypt or decrypt; nullptr when OpenSSL refuses.
  EVP_CIPHER_CTX* For(const uint8_t* base, uint32_t keyEpoch, bool encrypt) {
    if (epoch == static_cast<int64_t>(keyEpoch)) return ctx;
    if (ctx == nullptr && (ctx = EVP_CIPHER_CTX_new()) == nullptr) return nullptr;
    epoch = -1;
    if (!sealed_payload::KeyForEpoch(ctx, base, keyEpoch, encrypt)) return nullptr;
    epoch = keyEpoch;
    return ctx;
  }
  // Keys it with `key` itself as epoch `keyEpoch`'s (a role-addressed flow's group key, not derived
  // from a base); false when OpenSSL refuses.
  bool KeyAs(const uint8_t* key, uint32_t keyEpoch, bool encrypt) {
    if (ctx == nullptr && (ctx = EVP_CIPHER_CTX_new()) == nullptr) return false;
    epoch = -1;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key, nullptr, encrypt ? 1 : 0) != 1) return false;
    epoch = keyEpoch;
    return true;
  }
};

// A role-addressed flow's application connections (packages/agent flows.ts ConnectionTable, the
// array shared with JavaScript): [0] the connections held, then kConnectionCapacity entries of
// label (0: free), packets since AUTH, last AUTH time; open addressing from the label's low bits,
// linear probing. ConnectionFind and ConnectionAdd are ConnectionTable.stateAt split in two, so
// that nothing changes before a packet is taken.
constexpr size_t kConnectionsMax = 4096;
constexpr size_t kConnectionCapacity = 2 * kConnectionsMax;
constexpr size_t kConnectionSlots = 1 + 3 * kConnectionCapacity;

// Where connection `label`'s entry is in `table`, or 0 when it holds none. (At most one pass over
// the table: the table never holds more than kConnectionsMax, so a free entry ends the probe.)
size_t ConnectionFind(const double* table, uint32_t label) {
  size_t at = 1 + 3 * (label & (kConnectionCapacity - 1));
  for (size_t probes = 0; probes < kConnectionCapacity; probes++) {
    const double held = table[at];
    if (held == static_cast<double>(label)) return at;
    if (held == 0) return 0;
    at = at + 3 == kConnectionSlots ? 1 : at + 3;
  }
  return 0;
}

// Adds connection `label` (not held) with a type I due, the table emptied first when it holds
// kConnectionsMax; where its entry is.
size_t ConnectionAdd(double* table, uint32_t label) {
  if (table[0] >= static_cast<double>(kConnectionsMax)) std::fill(table, table + kConnectionSlots, 0.0);
  const size_t home = 1 + 3 * (label & (kConnectionCapacity - 1));
  size_t at = home;
  for (size_t probes = 0; table[at] != 0; probes++) {
    if (probes == kConnectionCapacity) {  // no free entry: not a table stateAt keeps; start it over
      std::fill(table, table + kConnectionSlots, 0.0);
      at = home;
      break;
    }
    at = at + 3 == kConnectionSlots ? 1 : at + 3;
  }
  table[at] = static_cast<double>(label);
  table[at + 1] = 0;
  table[at + 2] = -std::numeric_limits<double>::infinity();
  table[0] += 1;
  return at;
}

// packages/agent flows.ts connectionLabel: the flow label of one application connection of a
// role-addressed flow (FNV-1a over the flow's label, the protocol and the ports, folded to 20 bits,
// never 0). `base` is the flow's 20-bit label; a packet without ports hashes 0xffff for each (the
// low bytes of transport.ts's -1).
uint32_t ConnectionLabel(uint32_t base, uint8_t protocol, uint32_t sourcePort, uint32_t port) {
  uint32_t hash = 0x811c9dc5u;
  const uint32_t parts[] = {base & 0xff, base >> 8, protocol, (sourcePort >> 8) & 0xff, sourcePort & 0xff,
                            (port >> 8) & 0xff, port & 0xff};
  for (const uint32_t part : parts) hash = (hash ^ part) * 0x01000193u;
  const uint32_t label = (hash ^ (hash >> 20)) & 0xfffff;
  return label == 0 ? 1 : label;
}

// A unicast flow JavaScript installed for native egress, under one destination (its peer's CGA,
// or its IPv4 alias): the headers of its three packet types, the AAD, the direction's epoch-0 key
// (each epoch's derived from it: sealed-payload.h DeriveEpochKey), the first hop's link, and the
// arrays it shares with JavaScript.
struct EgressFlow {
  double* state = nullptr;       // FlowSlotIndex
  double* e2e = nullptr;         // E2eSlotIndex
  double* statistics = nullptr;  // StatisticsSlotIndex (the endpoint's)
  Napi::ObjectReference stateRef, e2eRef, statisticsRef;
  uint8_t base[sealed_payload::kKeyBytes] = {0};
  EpochContext seal;  // keyed at its first packet, for the epoch the shared state has then
  EgressHeader headers[3];  // packet types I, II, III
  uint8_t aad[35] = {0};
  uint32_t linkId = 0;
  std::vector<int32_t> acl;  // the Out ACL's rules for its peer (AclWord); empty: every packet allowed
  // A role-addressed flow's connections (ConnectionTable; its packet types per connection, its
  // label per packet) and its group epoch (`seal` keyed with `base` as that epoch's key, never
  // rekeyed); nullptr for a unicast flow.
  double* connections = nullptr;
  Napi::ObjectReference connectionsRef;
  // The default flow of several to one host (EgressFlowSelector cgaSources): it takes only packets
  // from an address that is no role address (IsCgaShaped); one from a role address another flow's
  // source install did not take goes up.
  bool cgaSourcesOnly = false;
  EgressFlow() = default;
  EgressFlow(const EgressFlow&) = delete;
  EgressFlow& operator=(const EgressFlow&) = delete;
  ~EgressFlow() { OPENSSL_cleanse(base, sizeof base); }
};

// A header ingress.ts accepted for a packet type of an ingress flow (inner IPv6 + capsule header)
// and where packets may differ from it; empty: none installed for that type.
struct IngressTemplate {
  std::vector<uint8_t> header;
  FreeRanges free;  // the payload length, the hop limit, the PATH hop index, the DATA value, TRANSPORT's
  int hopIndexAt = -1;  // relative to the inner packet
  int hopCountAt = -1;
  size_t transportAt = 0;
};

// A unicast flow JavaScript installed for native ingress, under its peer's CGA (the packets' inner
// source): a template per packet type (I, II, III), the direction's epoch-0 key and the flow's e2e
// state (its receive epochs: E2eSlotIndex), the opening contexts of up to three epochs (the current
// one, the previous in its grace, the next), the flow's e2e replay window and its endpoint's
// statistics (JavaScript's arrays), and how ingress.ts restores its packets.
struct IngressFlow {
  IngressTemplate templates[3];
  uint8_t base[sealed_payload::kKeyBytes] = {0};
  double* e2e = nullptr;
  EpochContext openers[3];
  ReplayView replay;
  double* statistics = nullptr;
  Napi::ObjectReference e2eRef, replayStateRef, replayBitsRef, statisticsRef;
  uint32_t ipv4Alias = 0;
  bool hasRoleSource = false;
  uint8_t roleSource[16] = {0};
  std::vector<int32_t> acl;  // the In ACL's rules for its peer (AclWord); empty: every packet allowed
  IngressFlow() = default;
  IngressFlow(const IngressFlow&) = delete;
  IngressFlow& operator=(const IngressFlow&) = delete;
  ~IngressFlow() { OPENSSL_cleanse(base, sizeof base); }
  // The context of receive epoch `epoch`, keyed for it now if none is (in a slot of neither the
  // current epoch nor the previous one: with three slots one always is); nullptr when OpenSSL
  // refuses. A key is derived once per epoch and slot, however many forged packets name it.
  EVP_CIPHER_CTX* OpenerFor(uint32_t epoch) {
    const double current = e2e[kE2eReceiveEpoch], previous = e2e[kE2ePreviousEpoch];
    EpochContext* spare = nullptr;
    for (EpochContext& opener : openers) {
      if (opener.epoch == static_cast<int64_t>(epoch)) return opener.ctx;
      const double keyed = static_cast<double>(opener.epoch);
      if (spare == nullptr && (opener.epoch < 0 || (keyed != current && keyed != previous))) spare = &opener;
    }
    return spare == nullptr ? nullptr : spare->For(base, epoch, false);
  }
};
// One group epoch of a sender as a member keeps it (flows.ts GroupSenderEpoch): the context keyed
// with the sender's key of that epoch, until when the endpoint opens the epoch, its replay window.
struct GroupEpoch {
  EpochContext opener;  // its epoch: the group epoch (-1: none installed in this slot)
  uint8_t key[sealed_payload::kKeyBytes] = {0};
  double untilMs = 0;
  ReplayView replay;
  Napi::ObjectReference replayStateRef, replayBitsRef;
  GroupEpoch() = default;
  GroupEpoch(const GroupEpoch&) = delete;
  GroupEpoch& operator=(const GroupEpoch&) = delete;
  ~GroupEpoch() { OPENSSL_cleanse(key, sizeof key); }
};

// One sender's role-addressed packets to a role address of a local endpoint (ingress.ts
// processGroupIngress), installed under (address, sender): a template per packet type (the flow
// label free: each connection has its own), the sender's two latest epochs as JavaScript keeps
// them (current and previous), the endpoint's statistics and the In ACL's rules for the sender.
struct GroupIngressFlow {
  IngressTemplate templates[3];
  GroupEpoch epochs[2];
  double* statistics = nullptr;
  Napi::ObjectReference statisticsRef;
  std::vector<int32_t> acl;
  // The epoch `epoch` while the endpoint opens it at `now`, or nullptr.
  GroupEpoch* Open(uint32_t epoch, double now) {
    for (GroupEpoch& slot : epochs)
      if (slot.opener.epoch == static_cast<int64_t>(epoch) && now <= slot.untilMs) return &slot;
    return nullptr;
  }
};

// Two 16-byte addresses: a role address and a sender's CGA (a GroupIngressFlow's key: the inner
// destination, then source), or a source and a destination (an egress flow among several to a host).
using AddressPair = ByteKey<32>;
using AddressPairHash = ByteKeyHash<32>;
// The AddressPair of two 16-byte addresses, `first` then `second`.
inline AddressPair AddressPairOf(const uint8_t* first, const uint8_t* second) {
  AddressPair pair;
  memcpy(pair.bytes, first, 16);
  memcpy(pair.bytes + 16, second, 16);
  return pair;
}

// TAP mode's Ethernet II header (ethernet.ts): dst MAC, src MAC, EtherType.
constexpr size_t kEthernetHeader = 14;
constexpr uint32_t kEtherTypeIpv4 = 0x0800, kEtherTypeArp = 0x0806, kEtherTypeIpv6 = 0x86dd;
// The TUN ring the ingress path writes a receive batch through (tun-writer.h).
constexpr size_t kTunRingBytes = 1 << 20;
constexpr size_t kTunRingPackets = 1024;

// ingress.ts rewriteIpv4's checksum update (wire's updateChecksumBytes, RFC 1624): `checksum` with
// the 8 bytes at `from` replaced by the 8 at `to`.
uint16_t UpdateChecksum8(uint16_t checksum, const uint8_t* from, const uint8_t* to) {
  uint32_t sum = static_cast<uint16_t>(~checksum);
  for (int i = 0; i < 8; i += 2) {
    sum += static_cast<uint16_t>(~((uint32_t{from[i]} << 8) | from[i + 1]));
    sum += (uint32_t{to[i]} << 8) | to[i + 1];
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// ingress.ts rewriteIpv4 on packet[0, length) (IHL ≥ 5 checked): source and destination replaced,
// the header and TCP/UDP checksums updated. False (nothing changed) when the header is longer
// than the packet.
bool RewriteIpv4(uint8_t* packet, size_t length, uint32_t source, uint32_t destination) {
  const size_t headerLength = static_cast<size_t>(packet[0] & 0x0f) * 4;
  if (headerLength < 20 || length < headerLength) return false;
  uint8_t addresses[8];
  PutBe32(addresses, source);
  PutBe32(addresses + 4, destination);
  const uint16_t header = UpdateChecksum8((uint16_t{packet[10]} << 8) | packet[11], packet + 12, addresses);
  packet[10] = static_cast<uint8_t>(header >> 8);
  packet[11] = static_cast<uint8_t>(header);
  const bool firstFragment = (((uint32_t{packet[6]} << 8) | packet[7]) & 0x1fff) == 0;
  const uint8_t protocol = packet[9];
  if (firstFragment) {
    const size_t at = protocol == 6 ? headerLength + 16 : protocol == 17 ? headerLength + 6 : 0;
    if (at > 0 && at + 2 <= length) {
      const uint16_t old = (uint16_t{packet[at]} << 8) | packet[at + 1];
      if (!(protocol == 17 && old == 0)) {  // UDP checksum 0: none (RFC 768)
        uint16_t updated = UpdateChecksum8(old, packet + 12, addresses);
        if (protocol == 17 && updated == 0) updated = 0xffff;
        packet[at] = static_cast<uint8_t>(updated >> 8);
        packet[at + 1] = static_cast<uint8_t>(updated);
      }
    }
  }
  memcpy(packet + 12, addresses, 8);
  return true;
}

class FastPath;
// The live FastPath objects: UnwrapDatagramFilter accepts only these (napi_unwrap of another
// class's object would hand back a pointer of another type).
std::unordered_set<FastPath*> liveFastPaths;

class FastPath : public Napi::ObjectWrap<FastPath>, public DatagramFilter, public PacketFilter {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FastPath",
                       {InstanceMethod("bindEngine", &FastPath::BindEngine),
                        InstanceMethod("addSession", &FastPath::AddSession),
                        InstanceMethod("removeSession", &FastPath::RemoveSession),
                        InstanceMethod("setSending", &FastPath::SetSending),
                        InstanceMethod("clearSending", &FastPath::ClearSending),
                        InstanceMethod("setLink", &FastPath::SetLink),
                        InstanceMethod("clearLinks", &FastPath::ClearLinks),
                        InstanceMethod("setFlow", &FastPath::SetFlow),
                        InstanceMethod("setFlowProgram", &FastPath::SetFlowProgram),
                        InstanceMethod("removeFlow", &FastPath::RemoveFlow),
                        InstanceMethod("clearFlows", &FastPath::ClearFlows),
                        InstanceMethod("drainLinkTraffic", &FastPath::DrainLinkTraffic),
                        InstanceMethod("stats", &FastPath::Stats),
                        InstanceMethod("handUpStats", &FastPath::HandUpStats),
                        InstanceMethod("agentHandUpStats", &FastPath::AgentHandUpStats),
                        InstanceMethod("setControllerKeys", &FastPath::SetControllerKeys),
                        InstanceMethod("signatureResult", &FastPath::SignatureResult),
                        InstanceMethod("signatureStats", &FastPath::SignatureStats),
                        InstanceMethod("bindAgent", &FastPath::BindAgent),
                        InstanceMethod("setEgressFlow", &FastPath::SetEgressFlow),
                        InstanceMethod("clearEgressFlows", &FastPath::ClearEgressFlows),
                        InstanceMethod("offerTunPackets", &FastPath::OfferTunPackets),
                        InstanceMethod("agentStats", &FastPath::AgentStats),
                        InstanceMethod("setIngressFlow", &FastPath::SetIngressFlow),
                        InstanceMethod("setGroupIngressFlow", &FastPath::SetGroupIngressFlow),
                        InstanceMethod("clearIngressFlows", &FastPath::ClearIngressFlows),
                        InstanceMethod("attachTun", &FastPath::AttachTun),
                        InstanceMethod("setTap", &FastPath::SetTap)});
  }

  explicit FastPath(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FastPath>(info) {
    links_.resize(kMaxProgramLinks);
    sendRing_.resize(kSendRingBytes);
    sendHeaders_.resize(kSendMax);
    sendIov_.resize(kSendMax);
    sendControl_.resize(kSendMax);
    queued_.reserve(kSendMax);
    tunMeta_.resize(2 * kTunRingPackets);
    liveFastPaths.insert(this);
  }

  // bindEngine(shared, engineId, idleTimeoutMs): the engine's arrays (see the file comment).
  Napi::Value BindEngine(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsNumber() || !info[2].IsNumber()) {
      Napi::TypeError::New(env, "bindEngine(shared, engineId, idleTimeoutMs)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Object shared = info[0].As<Napi::Object>();
    size_t count = 0, flowCount = 0, n = 0;
    double* engine = TypedData<double>(shared.Get("engine"), napi_float64_array, &count);
    double* lastSeen = TypedData<double>(shared.Get("flowLastSeenMs"), napi_float64_array, &flowCount);
    bool ok = engine != nullptr && count >= static_cast<size_t>(kEngineSlots) && lastSeen != nullptr;
    double* packets = TypedData<double>(shared.Get("flowPackets"), napi_float64_array, &n);
    ok = ok && packets && n >= flowCount;
    double* bytes = TypedData<double>(shared.Get("flowBytes"), napi_float64_array, &n);
    ok = ok && bytes && n >= flowCount;
    uint8_t* lastVerdict = TypedData<uint8_t>(shared.Get("flowLastVerdict"), napi_uint8_array, &n);
    ok = ok && lastVerdict && n >= flowCount;
    uint16_t* lastReason = TypedData<uint16_t>(shared.Get("flowLastReason"), napi_uint16_array, &n);
    ok = ok && lastReason && n >= flowCount;
    uint8_t* cacheVerdict = TypedData<uint8_t>(shared.Get("cacheVerdict"), napi_uint8_array, &n);
    ok = ok && cacheVerdict && n >= flowCount;
    uint8_t* cacheCount = TypedData<uint8_t>(shared.Get("cacheCount"), napi_uint8_array, &n);
    ok = ok && cacheCount && n >= flowCount;
    uint32_t* cacheLinks = TypedData<uint32_t>(shared.Get("cacheLinks"), napi_uint32_array, &n);
    ok = ok && cacheLinks && n >= flowCount * kEgressMax;
    // Per-packet programs (optional: without these arrays flows without a cached action go up).
    size_t engineRecordLength = 0, stateLength = 0;
    double* flowDrops = TypedData<double>(shared.Get("flowDrops"), napi_float64_array, &n);
    const bool dropsOk = flowDrops != nullptr && n >= flowCount;
    uint32_t* programReason = TypedData<uint32_t>(shared.Get("flowProgramReason"), napi_uint32_array, &n);
    const bool reasonOk = programReason != nullptr && n >= flowCount;
    uint8_t* flowMemory = TypedData<uint8_t>(shared.Get("flowMemory"), napi_uint8_array, &n);
    const bool memoryOk = flowMemory != nullptr && n >= flowCount * abi::kFlowBytes;
    uint8_t* programState = TypedData<uint8_t>(shared.Get("flowProgramState"), napi_uint8_array, &n);
    const bool programStateOk = programState != nullptr && n >= flowCount;
    uint32_t* cacheDropReason = TypedData<uint32_t>(shared.Get("cacheDropReason"), napi_uint32_array, &n);
    const bool cacheDropReasonOk = cacheDropReason != nullptr && n >= flowCount;
    const uint8_t* engineRecord = TypedData<uint8_t>(shared.Get("engineRecord"), napi_uint8_array, &engineRecordLength);
    int32_t* state = TypedData<int32_t>(shared.Get("engineState"), napi_int32_array, &stateLength);
    const bool programs = dropsOk && reasonOk && memoryOk && programStateOk && cacheDropReasonOk && engineRecord != nullptr &&
                          engineRecordLength >= static_cast<size_t>(abi::kEngineMaxBytes) && state != nullptr &&
                          stateLength >= static_cast<size_t>(kStateSlots);
    if (!ok) {
      Napi::TypeError::New(env, "bindEngine: shared arrays missing, of the wrong type or too short")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    FlushQueued();
    flows_.clear();
    keyOf_.clear();
    programs_.clear();
    flowDrops_ = programs ? flowDrops : nullptr;
    programReason_ = programs ? programReason : nullptr;
    flowMemory_ = programs ? flowMemory : nullptr;
    programState_ = programs ? programState : nullptr;
    cacheDropReason_ = programs ? cacheDropReason : nullptr;
    engineRecord_ = programs ? engineRecord : nullptr;
    state_ = programs ? state : nullptr;
    if (programState_ != nullptr) memset(programState_, 0, flowCount);
    engine_ = engine;
    lastSeen_ = lastSeen;
    packets_ = packets;
    bytes_ = bytes;
    lastVerdict_ = lastVerdict;
    lastReason_ = lastReason;
    cacheVerdict_ = cacheVerdict;
    cacheCount_ = cacheCount;
    cacheLinks_ = cacheLinks;
    flowCapacity_ = flowCount;
    sharedRef_ = Napi::Persistent(shared);
    engineId_ = info[1].As<Napi::Number>().Uint32Value();
    idleTimeoutMs_ = info[2].As<Napi::Number>().DoubleValue();
    return env.Undefined();
  }

  ~FastPath() override {
    liveFastPaths.erase(this);
    for (auto& entry : sessions_) delete entry.second.mac;
    for (auto& entry : sending_) delete entry.second.mac;
    ClearEgress();
    ClearIngress();
  }

  // ---- DatagramFilter -----------------------------------------------------------------------------

  void Attach(int fd, bool isV6) override {
    fd_ = fd;
    isV6_ = isV6;
  }

  bool Take(uint8_t* data, size_t length, const sockaddr_storage&) override {
    OrderBarrier::Key flowKey;
    authentic_ = false;
    if (!inBatch_) {  // JavaScript handled the last batch: what it did not ask for is forgotten
      inBatch_ = true;
      if (verifier_ != nullptr) verifier_->NewBatch();
    }
    if (engine_ == nullptr) {  // an agent's: its ingress
      if (!agentBound_ || tunFd_ < 0 || (ingressBySource_.empty() && ingressByLabel_.empty() && groupBySender_.empty()))
        return false;
      ingressOffered_++;
      if (CarriesPacket(data, length)) ingressPacketsOffered_++;
      const bool keyed = OrderBarrier::KeyOfPeer(data, length, flowKey);
      if (keyed && ordered_.Holds(flowKey)) {
        ingressHandedUp_[kAgentUpHeld]++;
        return false;
      }
      if (Ingress(data, length)) {
        ingressTaken_++;
        return true;
      }
      if (keyed && authentic_) {  // JavaScript may deliver it: what came before is written first
        FlushTun();
        ordered_.Add(flowKey);
      }
      return false;
    }
    offered_++;
    if (CarriesPacket(data, length)) packetsOffered_++;
    const bool keyed = OrderBarrier::KeyOfEngineFlow(data, length, flowKey);
    // Held behind its flow's packet handed up (whose contract's program runs HandedUp already stopped).
    if (keyed && ordered_.Holds(flowKey)) {
      handedUp_[kHandUpHeld]++;
      if (verifier_ != nullptr && length > kHeader + kAuthValueAt && data[kHeader + 42] == kTypeIHeader) {
        uint64_t counter = 0;
        size_t bodyEnd = 0;
        if (CheckLinkFrame(data, length, &counter, &bodyEnd) != nullptr)
          PrefetchSignature(data + kHeader, bodyEnd - kHeader);
      }
      return false;
    }
    upScope_ = kUpNone;
    if (!Forward(data, length)) {
      HandedUp();
      if (authentic_ && verifier_ != nullptr) PrefetchSignature(data + kHeader, length - kHeader - kTag);
      if (keyed && authentic_) {  // JavaScript may forward it: what came before leaves first
        FlushQueued();
        ordered_.Add(flowKey);
      }
      return false;
    }
    taken_++;
    return true;
  }

  bool Authentic() const override { return authentic_; }

  void EndOfBatch() override {
    inBatch_ = false;
    FlushQueued();
    FlushTun();
    barrierAll_ = false;
    barrierCount_ = 0;
    ordered_.Clear();
  }

 private:
  struct Queued {
    size_t offset;
    size_t length;
    const Sending* to;
  };

  // What JavaScript may change by handling a datagram handed up: nothing (it is not an
  // authenticated frame: a counted drop), the memory of one contract (a packet of a flow whose
  // program is registered here), or of any contract (another authenticated frame: a type I
  // packet, a flow whose contract the fast path does not know).
  enum UpScope { kUpNone, kUpContract, kUpAll };
  static constexpr int kBarrierContracts = 8;

  // JavaScript handles the handed-up datagrams of a receive batch after the batch: a program run
  // here for a later datagram of the batch would come before theirs. So a packet handed up stops
  // program runs of its contract (or of every contract) until the end of the batch: programs see
  // their FLOW and CONTRACT memory in arrival order, as with the fast path off.
  void HandedUp() {
    if (upScope_ == kUpAll || (upScope_ == kUpContract && barrierCount_ == kBarrierContracts)) {
      barrierAll_ = true;
    } else if (upScope_ == kUpContract) {
      for (int i = 0; i < barrierCount_; i++)
        if (barrierContracts_[i] == upContract_) return;
      barrierContracts_[barrierCount_++] = upContract_;
    }
  }

  // A type I packet handed up (JavaScript verifies its AUTH, the capsule header's first chunk): its
  // signature is verified on the verifier's thread meanwhile (signature-verifier.h). Only for an
  // inner packet of a frame whose tag is good: a forged frame costs no verification.
  void PrefetchSignature(const uint8_t* inner, size_t innerLength) {
    if (CapsulePacketLength(inner, innerLength) < kAuthValueAt + SignatureVerifier::kAuthorizationBytes) return;
    if (inner[42] != kTypeIHeader || inner[44] != kAuthChunkHeader[0] || inner[45] != kAuthChunkHeader[1]) return;
    verifier_->Prefetch(inner + kAuthValueAt);
  }

  bool Barred(double contractId) const {
    if (barrierAll_) return true;
    for (int i = 0; i < barrierCount_; i++)
      if (barrierContracts_[i] == contractId) return true;
    return false;
  }

  // The whole decision, then the whole commit: false (nothing changed) whenever JavaScript must see it.
  // The link layer's receive of a DATA frame (create-link-layer.ts receive, openDataFrame): a
  // confirmed session JavaScript registered, the replay window, the tag. Changes nothing: the
  // session, or nullptr when JavaScript must see the frame. *bodyEnd: where the tag starts.
  Session* CheckLinkFrame(const uint8_t* frame, size_t length, uint64_t* counter, size_t* bodyEnd) {
    authentic_ = false;
    if (length < kHeader + kTag + 40) return nullptr;
    if (frame[0] != kFrameVersion || frame[1] != kFrameData || frame[3] != 0) return nullptr;
    auto sessionAt = sessions_.find(Be32(frame + 4));
    if (sessionAt == sessions_.end()) return nullptr;
    Session& session = sessionAt->second;
    *counter = (uint64_t{Be32(frame + 8)} << 32) | Be32(frame + 12);
    *bodyEnd = length - kTag;
    const long aadEnd = AadEnd(frame, kHeader, *bodyEnd);
    if (aadEnd < 0) return nullptr;
    if (!session.replay.Check(*counter)) return nullptr;
    if (!session.mac->Verify(*counter, frame, static_cast<size_t>(aadEnd), frame + *bodyEnd)) return nullptr;
    authentic_ = true;
    return &session;
  }

  // The link layer's commit of a frame CheckLinkFrame passed: the window marked, the link's traffic.
  void CommitLinkReceive(Session& session, uint64_t counter, size_t innerLength, double now) {
    session.replay.Mark(counter);
    Traffic& in = traffic_[session.linkId];
    in.packetsIn += 1;
    in.bytesIn += static_cast<double>(innerLength);
    in.lastReceiveMs = now;
    in.moved = true;
  }

  // Counts a datagram Forward hands up, by why; false (Forward's answer).
  bool Up(HandUp reason) {
    handedUp_[reason]++;
    return false;
  }

  bool Forward(uint8_t* frame, size_t length) {
    if (fd_ < 0 || engine_ == nullptr) return Up(kHandUpNotReady);
    uint64_t counter = 0;
    size_t bodyEnd = 0;
    Session* checked = CheckLinkFrame(frame, length, &counter, &bodyEnd);
    if (checked == nullptr) return Up(CarriesPacket(frame, length) ? kHandUpLink : kHandUpControl);
    Session& session = *checked;
    upScope_ = kUpAll;

    // The engine's checks (handlePacket), none of which may fail for a datagram taken here.
    uint8_t* inner = frame + kHeader;
    const size_t innerLength = bodyEnd - kHeader;
    const size_t packetLength = CapsulePacketLength(inner, innerLength);
    if (packetLength == 0 || inner[7] <= 1) return Up(kHandUpPacket);
    auto flowAt = flows_.find(KeyOfPacket(inner));
    if (flowAt == flows_.end()) return Up(kHandUpUnknownFlow);
    Flow& flow = flowAt->second;
    const uint32_t id = flow.id;
    // Its capsule header's packet type (0 when the packet ends before it: refused below).
    const int packetType = packetLength > 42 ? inner[42] & 0x0f : 0;
    // Handed up, a packet of a flow whose contract is known bars that contract's program runs for
    // the rest of the batch — but a type I packet may bind the flow to another contract (another
    // AUTH): it bars them all.
    if (flow.contractKnown && packetType != 1) {
      upScope_ = kUpContract;
      upContract_ = flow.contractId;
    }
    if (flow.ingressLinkId != session.linkId) return Up(kHandUpFlowState);
    const double now = BatchNowMs();
    if (now - lastSeen_[id] > idleTimeoutMs_) return Up(kHandUpFlowState);
    if (static_cast<double>(static_cast<int64_t>(now / 1000)) > flow.notAfterSeconds) return Up(kHandUpFlowState);
    uint8_t* capsule = inner + 40;
    const size_t capsuleLength = (size_t{capsule[1]} + 1) * 8;
    if (40 + capsuleLength > packetLength) return Up(kHandUpPacket);
    // The packet type's template: type III's, or the type I or II header the pipeline handled for
    // this flow (its AUTH verified and cached, its CODE the flow's program).
    const uint8_t* templateBytes = flow.templateBytes;
    size_t templateLength = flow.templateLength;
    const CapsuleShape* shape = &flow.shape;
    if (packetType == 1 || packetType == 2) {
      const TypedTemplate* typed = flow.typed[packetType - 1].get();
      if (typed == nullptr) return Up(kHandUpNoTemplate);
      templateBytes = typed->bytes.data();
      templateLength = typed->bytes.size();
      shape = &typed->shape;
    } else if (packetType != 3) {
      return Up(kHandUpPacket);
    } else if (templateLength == 0) {
      return Up(kHandUpNoTemplate);
    }
    if (capsuleLength != templateLength || !MatchesTemplate(capsule, templateBytes, templateLength, *shape))
      return Up(kHandUpHeaderChanged);
    auto programAt = programOf_.find(session.linkId);
    const uint32_t ingressProgram = programAt == programOf_.end() ? 0 : programAt->second;
    // Type I and II packets run the program whatever is cached (the pipeline's rule).
    uint8_t verdict = packetType == 3 ? cacheVerdict_[id] : 0;
    // No cached action: the flow's program, when registered, runs here (nothing committed yet).
    const ProgramOutcome* ran = nullptr;
    ProgramDecision decision;
    if (verdict == 0) {
      ran = RunProgram(flow, *shape, packetType, id, inner, packetLength, capsule, capsuleLength, now, ingressProgram,
                       &decision);
      if (ran == nullptr) return Up(kHandUpProgram);
      verdict = static_cast<uint8_t>(ran->verdict);
    } else if (verdict > 3) {
      return Up(kHandUpProgram);
    }
    // Which links, each present, up and sendable.
    uint32_t programIds[kEgressMax];
    int egressCount = 0;
    if (verdict == abi::kDrop) {
      // A drop sends nothing.
    } else if (ran != nullptr && verdict != 3) {
      egressCount = static_cast<int>(ran->egressCount);
      for (int i = 0; i < egressCount; i++) {
        uint32_t p;
        memcpy(&p, ran->egressLinks + 4 * i, 4);
        programIds[i] = p;
      }
    } else if (verdict == 3) {  // DELIVER: the link of the destination host
      for (uint32_t p = 1; p <= maxProgramId_ && egressCount == 0; p++) {
        const EngineLink& link = links_[p];
        if (link.present && link.kind == 1 && link.up && memcmp(link.peerHostId, inner + 24, 16) == 0) {
          programIds[0] = p;
          egressCount = 1;
        }
      }
      if (egressCount == 0) return Up(kHandUpEgress);
    } else {
      egressCount = verdict == 1 ? 1 : cacheCount_[id];
      if (egressCount < 1 || egressCount > kEgressMax) return Up(kHandUpEgress);
      for (int i = 0; i < egressCount; i++) programIds[i] = cacheLinks_[id * kEgressMax + i];
    }
    const size_t frameOut = kHeader + packetLength + kTag;
    for (int i = 0; i < egressCount; i++) {
      const uint32_t p = programIds[i];
      if (p == 0 || p >= static_cast<uint32_t>(kMaxProgramLinks) || !links_[p].present || !links_[p].up)
        return Up(kHandUpEgress);
      auto sendAt = sending_.find(links_[p].linkId);
      if (sendAt == sending_.end()) return Up(kHandUpEgress);
      const Sending& to = sendAt->second;
      // A send counter within this packet's copies of the rekey limit goes up to JavaScript, which
      // starts the rekey; one past 2^53 - 2 is never used.
      const double next = to.counters[0] + egressCount;
      if (next >= to.rekeyAfterPackets || next >= static_cast<double>(kMaxSafe)) return Up(kHandUpEgress);
      if (!isV6_ && !to.isV4) return Up(kHandUpEgress);
    }
    if (egressCount > 0 &&
        (queued_.size() + egressCount > kSendMax || ringUsed_ + egressCount * frameOut > kSendRingBytes)) {
      FlushQueued();
      if (ringUsed_ + egressCount * frameOut > kSendRingBytes) return Up(kHandUpEgress);
    }

    // Commit: the link layer's receive.
    CommitLinkReceive(session, counter, innerLength, now);
    // The engine's receive and the cached action (or the program's run).
    engine_[kPacketsIn] += 1;
    engine_[kBytesIn] += static_cast<double>(innerLength);
    if (ingressProgram > 0 && ingressProgram < static_cast<uint32_t>(kMaxProgramLinks)) {
      engine_[kLinkBase + 4 * ingressProgram] += 1;
      engine_[kLinkBase + 4 * ingressProgram + 1] += static_cast<double>(innerLength);
    }
    engine_[packetType == 3 ? kTypeIII : packetType == 2 ? kTypeII : kTypeI] += 1;
    if (packetType == 1) engine_[kAuthorizationCacheHits] += 1;
    lastSeen_[id] = now;
    packets_[id] += 1;
    bytes_[id] += static_cast<double>(packetLength);
    if (ran != nullptr) {
      if (CommitProgram(flow, *shape, id, capsule, *ran, decision, ingressProgram)) return true;  // a drop
    } else {
      engine_[kCachedActions] += 1;
      if (shape->hopIndexAt >= 0) {
        const uint8_t hopIndex = capsule[shape->hopIndexAt];
        const uint8_t hopCount = capsule[shape->hopCountAt];
        if (hopIndex < hopCount) {
          const uint8_t* hop = capsule + shape->hopsAt + 4 * hopIndex;
          if (((uint32_t{hop[0]} << 8) | hop[1]) == engineId_) capsule[shape->hopIndexAt] = hopIndex + 1;
        }
      }
    }
    inner[7] -= 1;
    for (int i = 0; i < egressCount; i++) {
      const uint32_t p = programIds[i];
      Sending& to = sending_.find(links_[p].linkId)->second;
      Seal(to, inner, packetLength);
      engine_[kPacketsOut] += 1;
      engine_[kBytesOut] += static_cast<double>(packetLength);
      engine_[kLinkBase + 4 * p + 2] += 1;
      engine_[kLinkBase + 4 * p + 3] += static_cast<double>(packetLength);
      Traffic& out = traffic_[links_[p].linkId];
      out.packetsOut += 1;
      out.bytesOut += static_cast<double>(packetLength);
      out.lastSendMs = now;
      out.moved = true;
    }
    engine_[verdict == 1 ? kVerdictForward : verdict == 2 ? kVerdictReplicate : kVerdictDeliver] += 1;
    lastVerdict_[id] = verdict;
    lastReason_[id] = 0;
    return true;
  }

  // What RunProgram found before the run that its commit needs (egress.ts advanceHopIndex).
  struct ProgramDecision {
    bool isThisHop = false;
    int hopIndexOriginal = -1;
    int programDropSlot = -1;  // the program drop table pair a program's DROP counts in
  };

  // The flow's program on this packet (the pipeline's steps from "Which PATH hop this is" to the
  // action, fast-path-program.h): its outcome when the fast path can apply it, else nullptr (the
  // packet goes up; nothing changed, except that a flow whose program needs a service JavaScript
  // owns is not tried here again).
  const ProgramOutcome* RunProgram(Flow& flow, const CapsuleShape& shape, int packetType, uint32_t id,
                                   const uint8_t* inner, size_t packetLength, const uint8_t* capsule,
                                   size_t capsuleLength, double now, uint32_t ingressProgram,
                                   ProgramDecision* decision) {
    if (flow.program == nullptr || state_ == nullptr) return nullptr;
    if (ingressProgram == 0 || ingressProgram >= static_cast<uint32_t>(kMaxProgramLinks)) return nullptr;
    // Flow events are built by JavaScript; the ENGINE record must show this flow's contract.
    if (state_[kEventsActive] != 0) return nullptr;
    const FlowProgram& program = flow.program->program;
    if (static_cast<double>(state_[kShownContract]) != program.contractId) return nullptr;
    if (Barred(program.contractId)) return nullptr;
    *decision = ProgramDecision{};
    uint32_t entryIndex = 0;
    const uint8_t* path = nullptr;
    if (shape.hopIndexAt >= 0) {
      path = capsule + shape.hopIndexAt - 4;
      const uint8_t hopIndex = path[4];
      decision->hopIndexOriginal = hopIndex;
      entryIndex = (uint32_t{path[6]} << 8) | path[7];
      if (hopIndex < path[5]) {
        const uint8_t* hop = path + 8 + 4 * hopIndex;
        if (((uint32_t{hop[0]} << 8) | hop[1]) == engineId_) {
          decision->isThisHop = true;
          entryIndex = hop[2];
        }
      }
    }
    // An entry the pipeline refuses (BAD_ENTRY): its drop is JavaScript's to count.
    if (entryIndex >= program.entryOffsets.size()) return nullptr;
    const int32_t entryOffset = program.entryOffsets[entryIndex];
    if (entryOffset < 0 || static_cast<uint32_t>(entryOffset) >= program.lengthBytes || (entryOffset & 1) != 0)
      return nullptr;
    const ProgramInput input{inner,
                             packetLength,
                             capsuleLength,
                             path,
                             shape.dataAt >= 0 ? capsule + shape.dataAt : nullptr,
                             shape.transportAt >= 0 ? capsule + shape.transportAt : nullptr,
                             flowMemory_ + static_cast<size_t>(id) * abi::kFlowBytes,
                             engineRecord_,
                             now,
                             static_cast<uint32_t>(entryOffset),
                             static_cast<uint8_t>(packetType)};
    const ProgramOutcome& out = runner_.Run(program, input);
    if (out.status == ProgramOutcome::kUnsupported) {
      programs_.erase(id);
      flow.program = nullptr;
      programState_[id] = kProgramDeclined;
      return nullptr;
    }
    // A TRACE record is built by JavaScript; a CACHE is stored as the pipeline stores it (CommitProgram).
    if (out.verdict != abi::kDrop && (out.flags & abi::kFlagTrace) != 0) return nullptr;
    if ((out.flags & abi::kFlagCache) != 0 && out.egressCount > static_cast<uint32_t>(kEgressMax)) return nullptr;
    if (out.verdict == abi::kDrop) {
      if (out.trap >= static_cast<uint32_t>(kDropReasons)) return nullptr;
      if (out.trap == abi::kTrapNone) {
        const int used = static_cast<int>(engine_[kProgramDropCodes]);
        int slot = 0;
        while (slot < used && engine_[kProgramDropBase + 2 * slot] != static_cast<double>(out.dropReason)) slot++;
        if (slot == kProgramDropPairs) return nullptr;  // the table is full until JavaScript takes it
        decision->programDropSlot = slot;
      }
    }
    return &out;
  }

  // Commits a run RunProgram accepted (after the receive's counters): its memory, its counters; a
  // DROP counted as egress.ts drop counts it (true: nothing to send); else PATH and DATA written
  // back and the hop index advanced.
  bool CommitProgram(Flow& flow, const CapsuleShape& shape, uint32_t id, uint8_t* capsule, const ProgramOutcome& out,
                     const ProgramDecision& decision, uint32_t ingressProgram) {
    const FlowProgram& program = flow.program->program;
    engine_[kProgramRuns] += 1;
    engine_[kFuelUsed] += out.fuelUsed;
    const bool dropped = out.verdict == abi::kDrop;
    uint8_t* path = shape.hopIndexAt >= 0 ? capsule + shape.hopIndexAt - 4 : nullptr;
    uint8_t* data = shape.dataAt >= 0 ? capsule + shape.dataAt : nullptr;
    runner_.Commit(program, flowMemory_ + static_cast<size_t>(id) * abi::kFlowBytes, path, data, !dropped);
    // The flow's cached action, as the pipeline leaves it (flows.ts cacheAction): the run's, when
    // it asked for CACHE without a trap; else none.
    if (out.trap == abi::kTrapNone && (out.flags & abi::kFlagCache) != 0) {
      const uint32_t count = out.verdict == abi::kForward ? 1 : out.verdict == abi::kReplicate ? out.egressCount : 0;
      cacheVerdict_[id] = static_cast<uint8_t>(out.verdict);
      cacheCount_[id] = static_cast<uint8_t>(count);
      cacheDropReason_[id] = out.dropReason;
      for (uint32_t i = 0; i < count; i++) memcpy(&cacheLinks_[id * kEgressMax + i], out.egressLinks + 4 * i, 4);
    } else {
      cacheVerdict_[id] = 0;
    }
    if (dropped) {
      const uint32_t reason = out.trap != abi::kTrapNone ? out.trap : kDropProgram;
      engine_[kDropBase + reason] += 1;
      engine_[kVerdictDrop] += 1;
      engine_[kLinkDropBase + ingressProgram] += 1;
      flowDrops_[id] += 1;
      lastVerdict_[id] = abi::kDrop;
      lastReason_[id] = static_cast<uint16_t>(reason);
      if (out.trap == abi::kTrapNone) {
        programReason_[id] = out.dropReason;
        const int slot = decision.programDropSlot;
        if (slot == static_cast<int>(engine_[kProgramDropCodes])) {
          engine_[kProgramDropBase + 2 * slot] = static_cast<double>(out.dropReason);
          engine_[kProgramDropBase + 2 * slot + 1] = 0;
          engine_[kProgramDropCodes] += 1;
        }
        engine_[kProgramDropBase + 2 * slot + 1] += 1;
      }
      return true;
    }
    if (path != nullptr && decision.isThisHop) {
      const int original = decision.hopIndexOriginal;
      if (path[4] == original && original < path[5]) path[4] = static_cast<uint8_t>(original + 1);
    }
    return false;
  }

  // The capsule header equals a template of the flow outside its free ranges (the pipeline's
  // cached action and the program's PACKET record do not depend on anything else), and the hop
  // index is within the hop count.
  static bool MatchesTemplate(const uint8_t* capsule, const uint8_t* bytes, size_t length, const CapsuleShape& shape) {
    if (!EqualOutside(capsule, bytes, length, shape.free)) return false;
    return shape.hopIndexAt < 0 || capsule[shape.hopIndexAt] <= capsule[shape.hopCountAt];
  }

  // The link layer's send of the inner packet `inner[0, packetLength)` on `to`: copied into the
  // send ring behind a frame header, then framed and tagged (FinishFrame).
  void Seal(Sending& to, const uint8_t* inner, size_t packetLength) {
    memcpy(sendRing_.data() + ringUsed_ + kHeader, inner, packetLength);
    FinishFrame(to, packetLength);
  }

  // The inner packet is in the send ring at ringUsed_ + kHeader, packetLength bytes (its headers
  // checked: AadEnd ≥ 0): the frame header with the session's next send counter (advanced), the
  // tag, and the frame queued for the end of the batch. @capsule/overlay's sealDataFrame, byte
  // for byte.
  void FinishFrame(Sending& to, size_t packetLength) {
    uint8_t* out = sendRing_.data() + ringUsed_;
    const uint64_t counter = static_cast<uint64_t>(to.counters[0]);
    to.counters[0] = static_cast<double>(counter + 1);
    out[0] = kFrameVersion;
    out[1] = kFrameData;
    out[2] = 0;
    out[3] = 0;
    PutBe32(out + 4, to.peerIndex);
    PutBe32(out + 8, static_cast<uint32_t>(counter >> 32));
    PutBe32(out + 12, static_cast<uint32_t>(counter));
    const size_t bodyEnd = kHeader + packetLength;
    const long aadEnd = AadEnd(out, kHeader, bodyEnd);  // ≥ 0: the same headers passed above
    to.mac->Tag(counter, out, static_cast<size_t>(aadEnd), out + bodyEnd);
    queued_.push_back({ringUsed_, bodyEnd + kTag, &to});
    ringUsed_ += bodyEnd + kTag;
  }

  const sockaddr* AddressOf(const Sending& to, socklen_t* length) const {
    if (isV6_) {
      *length = sizeof(sockaddr_in6);
      return reinterpret_cast<const sockaddr*>(&to.v6);
    }
    *length = sizeof(sockaddr_in);
    return reinterpret_cast<const sockaddr*>(&to.v4);
  }

  // The batch's time: read once per batch, at its first packet that needs it (FlushQueued ends it).
  double BatchNowMs() { return batchNowMs_ > 0 ? batchNowMs_ : (batchNowMs_ = NowMs()); }

  void FlushQueued() {
    batchNowMs_ = 0;
    if (queued_.empty()) return;
    size_t messages = 0;
    std::vector<size_t>& counts = messageCounts_;
    counts.clear();
    for (size_t first = 0; first < queued_.size();) {
      const size_t segment = queued_[first].length;
      size_t total = segment;
      size_t end = first + 1;
      while (end < queued_.size() && end - first < kMaxGsoSegments && queued_[end].to == queued_[first].to &&
             queued_[end].length <= segment && queued_[end - 1].length == segment &&
             queued_[end].offset == queued_[end - 1].offset + segment && total + queued_[end].length <= kMaxGsoBytes) {
        total += queued_[end].length;
        end++;
      }
      sendIov_[messages] = {sendRing_.data() + queued_[first].offset, total};
      msghdr& header = sendHeaders_[messages].msg_hdr;
      memset(&header, 0, sizeof header);
      header.msg_iov = &sendIov_[messages];
      header.msg_iovlen = 1;
      socklen_t nameLength;
      header.msg_name = const_cast<sockaddr*>(AddressOf(*queued_[first].to, &nameLength));
      header.msg_namelen = nameLength;
      if (end - first > 1 && segmentation_) {
        header.msg_control = sendControl_[messages].bytes;
        header.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
        cmsghdr* control = CMSG_FIRSTHDR(&header);
        control->cmsg_level = SOL_UDP;
        control->cmsg_type = UDP_SEGMENT;
        control->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        const uint16_t size = static_cast<uint16_t>(segment);
        memcpy(CMSG_DATA(control), &size, sizeof size);
      } else if (end - first > 1) {
        end = first + 1;  // no GSO: one datagram per message
        sendIov_[messages].iov_len = segment;
      }
      counts.push_back(end - first);
      messages++;
      first = end;
    }
    size_t done = 0;
    while (done < messages) {
      int sent = sendmmsg(fd_, sendHeaders_.data() + done, static_cast<unsigned>(messages - done), MSG_DONTWAIT);
      if (sent > 0) {
        for (size_t m = done; m < done + static_cast<size_t>(sent); m++) sent_ += counts[m];
        done += static_cast<size_t>(sent);
        continue;
      }
      const int err = sent < 0 ? errno : EIO;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        for (size_t m = done; m < messages; m++) sendErrors_ += counts[m];  // never block: dropped
        break;
      }
      if (counts[done] > 1 && (err == EIO || err == EOPNOTSUPP || err == ENOPROTOOPT || err == EINVAL)) {
        if (err != EINVAL) segmentation_ = false;
        // Resend this run datagram by datagram.
        const msghdr& header = sendHeaders_[done].msg_hdr;
        const uint8_t* base = static_cast<const uint8_t*>(sendIov_[done].iov_base);
        const size_t total = sendIov_[done].iov_len;
        size_t segment = 0;
        memcpy(&segment, CMSG_DATA(CMSG_FIRSTHDR(&header)), sizeof(uint16_t));
        for (size_t at = 0; at < total; at += segment) {
          const size_t piece = std::min(segment, total - at);
          if (sendto(fd_, base + at, piece, MSG_DONTWAIT, static_cast<const sockaddr*>(header.msg_name),
                     header.msg_namelen) < 0)
            sendErrors_++;
          else
            sent_++;
        }
      } else {
        sendErrors_ += counts[done];
      }
      done++;
    }
    queued_.clear();
    ringUsed_ = 0;
  }

  // ---- registration from JavaScript ---------------------------------------------------------------

  Napi::Value AddSession(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t keyLength = 0, counterCount = 0, words = 0;
    const uint8_t* key = info.Length() >= 5 ? TypedData<uint8_t>(info[2], napi_uint8_array, &keyLength) : nullptr;
    double* counters = info.Length() >= 5 ? TypedData<double>(info[3], napi_float64_array, &counterCount) : nullptr;
    uint32_t* bits = info.Length() >= 5 ? TypedData<uint32_t>(info[4], napi_uint32_array, &words) : nullptr;
    if (!info[0].IsNumber() || !info[1].IsNumber() || key == nullptr || keyLength != 32 || counters == nullptr ||
        counterCount < 2 || bits == nullptr || words < 2) {
      Napi::TypeError::New(env, "addSession(localIndex, linkId, key[32], counters: Float64Array(2), bits: Uint32Array)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const uint32_t localIndex = info[0].As<Napi::Number>().Uint32Value();
    RemoveSessionAt(localIndex);
    Session& session = sessions_[localIndex];
    session.linkId = info[1].As<Napi::Number>().Uint32Value();
    session.mac = new LinkMac(key);
    session.replay = {counters, bits, words};
    session.countersRef = Napi::Persistent(info[3].As<Napi::Object>());
    session.bitsRef = Napi::Persistent(info[4].As<Napi::Object>());
    return env.Undefined();
  }

  void RemoveSessionAt(uint32_t localIndex) {
    auto at = sessions_.find(localIndex);
    if (at == sessions_.end()) return;
    delete at->second.mac;
    sessions_.erase(at);
  }

  Napi::Value RemoveSession(const Napi::CallbackInfo& info) {
    if (info.Length() >= 1 && info[0].IsNumber()) RemoveSessionAt(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  Napi::Value SetSending(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t keyLength = 0, counterCount = 0;
    const uint8_t* key = info.Length() >= 7 ? TypedData<uint8_t>(info[2], napi_uint8_array, &keyLength) : nullptr;
    double* counters = info.Length() >= 7 ? TypedData<double>(info[3], napi_float64_array, &counterCount) : nullptr;
    if (key == nullptr || keyLength != 32 || counters == nullptr || counterCount < 2 || !info[0].IsNumber() ||
        !info[1].IsNumber() || !info[4].IsString() || !info[5].IsNumber() || !info[6].IsNumber()) {
      Napi::TypeError::New(env, "setSending(linkId, peerIndex, key[32], counters, host, port, rekeyAfterPackets)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const uint32_t linkId = info[0].As<Napi::Number>().Uint32Value();
    ClearSendingAt(linkId);
    Sending to;
    to.peerIndex = info[1].As<Napi::Number>().Uint32Value();
    to.counters = counters;
    to.rekeyAfterPackets = info[6].As<Napi::Number>().DoubleValue();
    const std::string host = info[4].As<Napi::String>().Utf8Value();
    const uint16_t port = htons(static_cast<uint16_t>(info[5].As<Napi::Number>().Uint32Value()));
    to.v4.sin_family = AF_INET;
    to.v4.sin_port = port;
    to.v6.sin6_family = AF_INET6;
    to.v6.sin6_port = port;
    if (inet_pton(AF_INET, host.c_str(), &to.v4.sin_addr) == 1) {
      to.isV4 = true;
      to.v6.sin6_addr.s6_addr[10] = 0xff;
      to.v6.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&to.v6.sin6_addr.s6_addr[12], &to.v4.sin_addr, 4);
    } else if (inet_pton(AF_INET6, host.c_str(), &to.v6.sin6_addr) == 1) {
      to.isV4 = false;
    } else {
      return env.Undefined();  // not an address literal: this link's packets stay in JavaScript
    }
    Sending& stored = sending_[linkId];
    stored = std::move(to);
    stored.mac = new LinkMac(key);
    stored.countersRef = Napi::Persistent(info[3].As<Napi::Object>());
    return env.Undefined();
  }

  void ClearSendingAt(uint32_t linkId) {
    auto at = sending_.find(linkId);
    if (at == sending_.end()) return;
    FlushQueued();  // queued frames point at this link's address
    delete at->second.mac;
    sending_.erase(at);
  }

  Napi::Value ClearSending(const Napi::CallbackInfo& info) {
    if (info.Length() >= 1 && info[0].IsNumber()) ClearSendingAt(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  Napi::Value SetLink(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t idLength = 0;
    const uint8_t* peer = info.Length() >= 5 ? TypedData<uint8_t>(info[4], napi_uint8_array, &idLength) : nullptr;
    if (!info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || peer == nullptr || idLength != 16) {
      Napi::TypeError::New(env, "setLink(programId, linkId, kind, up, peerHostId[16])").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const uint32_t programId = info[0].As<Napi::Number>().Uint32Value();
    if (programId == 0 || programId >= static_cast<uint32_t>(kMaxProgramLinks)) return env.Undefined();
    EngineLink& link = links_[programId];
    link.present = true;
    link.linkId = info[1].As<Napi::Number>().Uint32Value();
    link.kind = info[2].As<Napi::Number>().Uint32Value();
    link.up = info[3].ToBoolean().Value();
    memcpy(link.peerHostId, peer, 16);
    programOf_[link.linkId] = programId;
    if (programId > maxProgramId_) maxProgramId_ = programId;
    return env.Undefined();
  }

  Napi::Value ClearLinks(const Napi::CallbackInfo& info) {
    for (EngineLink& link : links_) link.present = false;
    programOf_.clear();
    maxProgramId_ = 0;
    return info.Env().Undefined();
  }

  // setFlow: the pipeline just handled a packet of flow `flowId` — a type III packet whose cached
  // action it applied or whose program it ran, or a type I or II packet whose AUTH it verified (or
  // found cached) and whose CODE is the flow's program — that came on `ingressLinkId`, under an
  // authorization that ends at `notAfterSeconds`. Its capsule header becomes the template of the
  // flow's later packets of its type. The same flow (addresses, flow label) registered again with
  // PATH and DATA of the same lengths keeps its other templates and its program (its authorization
  // or program changing removes the flow first: the engine's withdraw); otherwise it starts anew
  // with this one template, so every template of a flow has the PATH and DATA lengths its
  // registered program was given. A packet cut short, of another type or with a value outside its
  // capsule header removes the flow.
  Napi::Value SetFlow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t packetLength = 0;
    const uint8_t* packet = info.Length() >= 8 ? TypedData<uint8_t>(info[1], napi_uint8_array, &packetLength) : nullptr;
    if (packet == nullptr || !info[0].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsNumber() ||
        !info[5].IsNumber() || !info[6].IsNumber() || !info[7].IsNumber()) {
      Napi::TypeError::New(env, "setFlow(flowId, packet, offset, ingressLinkId, notAfterSeconds, pathOffset, dataOffset, dataLength, transportOffset)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    const int64_t offset = info[2].As<Napi::Number>().Int64Value();
    if (id >= flowCapacity_) return env.Undefined();
    if (offset < 0 || static_cast<size_t>(offset) + 48 > packetLength) {
      RemoveFlowId(id);
      return env.Undefined();
    }
    const uint8_t* inner = packet + offset;
    const uint8_t* capsule = inner + 40;
    const size_t capsuleLength = (size_t{inner[41]} + 1) * 8;
    const int packetType = capsule[2] & 0x0f;
    const int64_t transportAt = info.Length() > 8 && info[8].IsNumber() ? info[8].As<Napi::Number>().Int64Value() : -1;
    CapsuleShape shape;
    if (packetType < 1 || packetType > 3 || (packetType == 3 && capsuleLength > kTemplateMax) ||
        static_cast<size_t>(offset) + 40 + capsuleLength > packetLength ||
        !ShapeOf(info[5].As<Napi::Number>().Int64Value(), info[6].As<Napi::Number>().Int64Value(),
                 info[7].As<Napi::Number>().Int64Value(), transportAt, capsuleLength, &shape)) {
      RemoveFlowId(id);
      return env.Undefined();
    }
    const FlowKey key = KeyOfPacket(inner);
    auto was = keyOf_.find(id);
    Flow* flow = nullptr;
    if (was != keyOf_.end() && was->second == key) {
      Flow& old = flows_.find(key)->second;
      const HeaderRef reference = ReferenceOf(old);
      if (reference.bytes != nullptr && SameValueLengths(reference.bytes, *reference.shape, capsule, shape))
        flow = &old;
    }
    if (flow == nullptr) {
      RemoveFlowId(id);
      auto other = flows_.find(key);  // the key under another id (one the engine let go)
      if (other != flows_.end()) RemoveFlowId(other->second.id);
      flow = &flows_[key];
      flow->id = id;
      keyOf_[id] = key;
    }
    flow->ingressLinkId = info[3].As<Napi::Number>().Uint32Value();
    flow->notAfterSeconds = info[4].As<Napi::Number>().DoubleValue();
    if (packetType == 3) {
      memcpy(flow->templateBytes, capsule, capsuleLength);
      flow->templateLength = capsuleLength;
      flow->shape = std::move(shape);
    } else {
      auto typed = std::make_unique<TypedTemplate>();
      typed->bytes.assign(capsule, capsule + capsuleLength);
      typed->shape = std::move(shape);
      flow->typed[packetType - 1] = std::move(typed);
    }
    return env.Undefined();
  }

  // A flow's key in the table: its inner packet's source, destination and flow label.
  static FlowKey KeyOfPacket(const uint8_t* inner) {
    FlowKey key;
    memcpy(key.bytes, inner + 8, 32);
    memcpy(key.bytes + 32, inner, 4);
    key.bytes[32] = 0;
    key.bytes[33] &= 0x0f;
    return key;
  }

  // Where the PATH, DATA and TRANSPORT values of a capsule header of `capsuleLength` bytes are
  // (offsets relative to the inner packet, as JavaScript gives them; -1: absent): false when one
  // lies outside the capsule header.
  static bool ShapeOf(int64_t pathAt, int64_t dataAt, int64_t dataLength, int64_t transportAt, size_t capsuleLength,
                      CapsuleShape* shape) {
    auto inside = [&](int64_t at, int64_t length) {
      // after the capsule header's first 4 bytes and the value's chunk header
      return at >= 46 && length >= 0 && at + length <= 40 + static_cast<int64_t>(capsuleLength);
    };
    *shape = CapsuleShape{};
    if (pathAt >= 0) {
      if (!inside(pathAt, 8)) return false;
      shape->hopIndexAt = static_cast<int>(pathAt - 40 + 4);
      shape->hopCountAt = static_cast<int>(pathAt - 40 + 5);
      shape->hopsAt = static_cast<int>(pathAt - 40 + 8);
    }
    if (dataAt >= 0) {
      if (!inside(dataAt, dataLength)) return false;
      shape->dataAt = static_cast<int>(dataAt - 40);
      shape->dataLength = static_cast<int>(dataLength);
    }
    if (transportAt >= 0) {
      if (!inside(transportAt, 6)) return false;
      shape->transportAt = static_cast<int>(transportAt - 40);
    }
    shape->free.AddCapsule(shape->hopIndexAt, shape->dataAt, shape->dataLength, shape->transportAt);
    return true;
  }

  // The length of a capsule header's PATH value (its chunk header: 4 bits of type, 12 of length).
  static int PathValueLength(const uint8_t* capsule, const CapsuleShape& shape) {
    const uint8_t* chunk = capsule + shape.hopIndexAt - 6;
    return ((chunk[0] & 0x0f) << 8) | chunk[1];
  }

  // Whether two capsule headers have PATH and DATA values of the same lengths (or neither).
  static bool SameValueLengths(const uint8_t* a, const CapsuleShape& aShape, const uint8_t* b,
                               const CapsuleShape& bShape) {
    // A DATA chunk absent and one with no bytes are the same to a program (DATA_LENGTH 0, nothing
    // copied): the agents send an empty one in type I and II packets and none in type III.
    if ((aShape.hopIndexAt >= 0) != (bShape.hopIndexAt >= 0) || aShape.dataLength != bShape.dataLength) return false;
    return aShape.hopIndexAt < 0 || PathValueLength(a, aShape) == PathValueLength(b, bShape);
  }

  void RemoveFlowId(uint32_t id) {
    if (programs_.erase(id) > 0 && programState_ != nullptr && id < flowCapacity_) programState_[id] = kProgramNone;
    auto at = keyOf_.find(id);
    if (at == keyOf_.end()) return;
    flows_.erase(at->second);
    keyOf_.erase(at);
  }

  // setFlowProgram(flowId, words: Int32Array, lengthBytes, entryOffsets: Int32Array, contract:
  // DataView(4096), contractId, budget, record: Uint8Array(≥ 0x44), pathLength, dataLength): the
  // program of flow `flowId` (registered by setFlow first) runs here per packet.
  Napi::Value SetFlowProgram(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t wordCount = 0, entryCount = 0, recordLength = 0;
    const int32_t* words = info.Length() >= 10 ? TypedData<int32_t>(info[1], napi_int32_array, &wordCount) : nullptr;
    const int32_t* entries = info.Length() >= 10 ? TypedData<int32_t>(info[3], napi_int32_array, &entryCount) : nullptr;
    const uint8_t* record = info.Length() >= 10 ? TypedData<uint8_t>(info[7], napi_uint8_array, &recordLength) : nullptr;
    if (words == nullptr || entries == nullptr || record == nullptr || recordLength < abi::kRecordBytes ||
        !info[0].IsNumber() || !info[2].IsNumber() || !info[4].IsDataView() || !info[5].IsNumber() ||
        !info[6].IsNumber() || !info[8].IsNumber() || !info[9].IsNumber()) {
      Napi::TypeError::New(env,
                           "setFlowProgram(flowId, words, lengthBytes, entryOffsets, contract, contractId, budget, "
                           "record, pathLength, dataLength)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    const int64_t lengthBytes = info[2].As<Napi::Number>().Int64Value();
    Napi::DataView contract = info[4].As<Napi::DataView>();
    const int64_t budget = info[6].As<Napi::Number>().Int64Value();
    const int64_t pathLength = info[8].As<Napi::Number>().Int64Value();
    const int64_t dataLength = info[9].As<Napi::Number>().Int64Value();
    auto at = keyOf_.find(id);
    // Refused (the flow's packets keep going up): no such flow or no per-packet arrays, a program
    // whose words are shorter than its code says (rv-core would read past them), a CONTRACT
    // memory other than the region's size, lengths the flow's template does not have.
    if (at == keyOf_.end() || state_ == nullptr || lengthBytes <= 0 || lengthBytes % 2 != 0 ||
        wordCount < static_cast<size_t>(lengthBytes) + 2 || contract.ByteLength() != abi::kContractBytes ||
        budget < 1 || budget > 1000000 || pathLength < 0 || pathLength > abi::kPathMaxBytes || dataLength < 0 ||
        dataLength > abi::kDataMaxBytes)
      return env.Undefined();
    Flow& flow = flows_.find(at->second)->second;
    const HeaderRef reference = ReferenceOf(flow);
    if (reference.bytes == nullptr) return env.Undefined();
    const CapsuleShape& shape = *reference.shape;
    if ((shape.hopIndexAt >= 0) != (pathLength > 0) || (shape.dataAt >= 0 ? shape.dataLength : 0) != dataLength)
      return env.Undefined();
    if (shape.hopIndexAt >= 0 && shape.hopIndexAt - 4 + pathLength > static_cast<int64_t>(reference.length))
      return env.Undefined();
    RegisteredProgram& registered = programs_[id];
    FlowProgram& program = registered.program;
    program.words = words;
    program.lengthBytes = static_cast<uint32_t>(lengthBytes);
    program.entryOffsets.assign(entries, entries + entryCount);
    program.contract = static_cast<uint8_t*>(contract.ArrayBuffer().Data()) + contract.ByteOffset();
    program.contractId = info[5].As<Napi::Number>().DoubleValue();
    program.budget = static_cast<int32_t>(budget);
    memcpy(program.record, record, abi::kRecordBytes);
    program.pathLength = static_cast<int>(pathLength);
    program.dataLength = static_cast<int>(dataLength);
    registered.wordsRef = Napi::Persistent(info[1].As<Napi::Object>());
    registered.contractRef = Napi::Persistent(info[4].As<Napi::Object>());
    flow.program = &registered;
    flow.contractKnown = true;
    flow.contractId = program.contractId;
    programState_[id] = kProgramRegistered;
    return env.Undefined();
  }

  Napi::Value RemoveFlow(const Napi::CallbackInfo& info) {
    if (info.Length() >= 1 && info[0].IsNumber()) RemoveFlowId(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  Napi::Value ClearFlows(const Napi::CallbackInfo& info) {
    flows_.clear();
    keyOf_.clear();
    programs_.clear();
    if (programState_ != nullptr) memset(programState_, 0, flowCapacity_);
    return info.Env().Undefined();
  }

  Napi::Value DrainLinkTraffic(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t moved = 0;
    for (auto& entry : traffic_) moved += entry.second.moved ? 1 : 0;
    Napi::Float64Array out = Napi::Float64Array::New(env, moved * 7);
    size_t at = 0;
    for (auto& entry : traffic_) {
      Traffic& t = entry.second;
      if (!t.moved) continue;
      double values[7] = {static_cast<double>(entry.first), t.packetsIn, t.bytesIn, t.packetsOut, t.bytesOut,
                          t.lastReceiveMs, t.lastSendMs};
      for (double value : values) out[at++] = value;
      t = Traffic{};
    }
    return out;
  }

  // setControllerKeys(keyIds: number[], publicKeys: Uint8Array of 32 bytes each): the keys whose
  // flow authorizations' signatures the engine's verifier thread checks ahead (signature-verifier.h).
  Napi::Value SetControllerKeys(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t length = 0;
    const bool shaped = info.Length() >= 2 && info[0].IsArray();
    const uint8_t* raw = shaped ? TypedData<uint8_t>(info[1], napi_uint8_array, &length) : nullptr;
    const Napi::Array ids = shaped ? info[0].As<Napi::Array>() : Napi::Array::New(env);
    if (raw == nullptr || length != ids.Length() * SignatureVerifier::kKeyBytes || ids.Length() > 64) {
      Napi::TypeError::New(env, "setControllerKeys(keyIds, publicKeys): at most 64 ids and 32 bytes of key each")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::vector<std::pair<uint16_t, std::array<uint8_t, SignatureVerifier::kKeyBytes>>> keys;
    for (uint32_t i = 0; i < ids.Length(); i++) {
      const Napi::Value id = ids.Get(i);
      const double value = id.IsNumber() ? id.As<Napi::Number>().DoubleValue() : -1;
      if (!(value >= 0 && value <= 0xffff && value == static_cast<double>(static_cast<uint16_t>(value)))) {
        Napi::TypeError::New(env, "setControllerKeys: a key id is not an integer in 0..65535")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
      std::array<uint8_t, SignatureVerifier::kKeyBytes> key{};
      memcpy(key.data(), raw + i * SignatureVerifier::kKeyBytes, key.size());
      keys.emplace_back(static_cast<uint16_t>(value), key);
    }
    if (verifier_ == nullptr) verifier_ = std::make_unique<SignatureVerifier>();
    if (!verifier_->SetKeys(keys)) {
      Napi::TypeError::New(env, "setControllerKeys: a key is not an Ed25519 public key").ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  // signatureResult(publicKey: 32 bytes, message: 84 bytes, signature: 64 bytes): 1 valid, 0 not,
  // -1 not verified (no keys given yet, or not queued and no libsodium: the caller verifies it).
  Napi::Value SignatureResult(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t keyLength = 0, messageLength = 0, signatureLength = 0;
    const uint8_t* key = info.Length() >= 3 ? TypedData<uint8_t>(info[0], napi_uint8_array, &keyLength) : nullptr;
    const uint8_t* message = key ? TypedData<uint8_t>(info[1], napi_uint8_array, &messageLength) : nullptr;
    const uint8_t* signature = message ? TypedData<uint8_t>(info[2], napi_uint8_array, &signatureLength) : nullptr;
    if (signature == nullptr || keyLength != SignatureVerifier::kKeyBytes ||
        messageLength != SignatureVerifier::kSignedBytes || signatureLength != SignatureVerifier::kSignatureBytes) {
      Napi::TypeError::New(env, "signatureResult(publicKey, message, signature): 32, 84 and 64 bytes")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Number::New(env, verifier_ == nullptr ? -1 : verifier_->Result(key, message, signature));
  }

  // signatureStats() → {queued, ahead, here, waited, unused, full, repeated, direct, library}: the
  // verifier thread's counts by name (@capsule/wire's SignaturesAheadStats) and its Ed25519 library.
  Napi::Value SignatureStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const SignatureVerifier::Stats stats = verifier_ ? verifier_->stats() : SignatureVerifier::Stats{};
    Napi::Object result = Napi::Object::New(env);
    const std::pair<const char*, double> counts[] = {
        {"queued", stats.queued}, {"ahead", stats.ahead}, {"here", stats.here},         {"waited", stats.waited},
        {"unused", stats.unused}, {"full", stats.full},   {"repeated", stats.repeated}, {"direct", stats.direct}};
    for (const auto& [name, value] : counts) result.Set(name, Napi::Number::New(env, value));
    result.Set("library", Napi::String::New(env, UsesLibsodium() ? "libsodium" : "openssl"));
    return result;
  }

  Napi::Value AgentHandUpStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array result = Napi::Array::New(env, 2 * kAgentUpReasons);
    for (uint32_t i = 0; i < kAgentUpReasons; i++) {
      result.Set(i, Napi::Number::New(env, static_cast<double>(egressHandedUp_[i])));
      result.Set(kAgentUpReasons + i, Napi::Number::New(env, static_cast<double>(ingressHandedUp_[i])));
    }
    return result;
  }

  Napi::Value HandUpStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array result = Napi::Array::New(env, kHandUpReasons);
    for (uint32_t i = 0; i < kHandUpReasons; i++)
      result.Set(i, Napi::Number::New(env, static_cast<double>(handedUp_[i])));
    return result;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array result = Napi::Array::New(env, 8);
    result.Set(0u, Napi::Number::New(env, static_cast<double>(taken_)));
    result.Set(1u, Napi::Number::New(env, static_cast<double>(offered_)));
    result.Set(2u, Napi::Number::New(env, static_cast<double>(sent_)));
    result.Set(3u, Napi::Number::New(env, static_cast<double>(sendErrors_)));
    result.Set(4u, Napi::Number::New(env, static_cast<double>(flows_.size())));
    result.Set(5u, Napi::Number::New(env, static_cast<double>(sessions_.size())));
    result.Set(6u, Napi::Number::New(env, static_cast<double>(handedUp_[kHandUpHeld])));
    result.Set(7u, Napi::Number::New(env, static_cast<double>(packetsOffered_)));
    return result;
  }

  // ---- the agent's egress ---------------------------------------------------------------------------

  // PacketFilter: the TUN reader's batch. Each packet Egress takes is framed into the send ring;
  // the frames go out (FlushQueued) before JavaScript sees the rest of the batch, and a packet
  // handed up holds back the later ones to its destination (OrderBarrier: they stay in order).
  size_t TakePackets(const uint8_t* data, int32_t* meta, size_t count) override {
    if (!agentBound_ || fd_ < 0 || (egressByHost_.empty() && egressByPair_.empty() && egressByIpv4_.empty()))
      return count;
    size_t kept = 0;
    OrderBarrier ordered;  // destinations with a packet handed up in this batch
    for (size_t i = 0; i < count; i++) {
      const int32_t offset = meta[2 * i];
      const int32_t length = meta[2 * i + 1];
      egressOffered_++;
      // In TAP mode an IPv4 or IPv6 data frame's packet follows its Ethernet header (ethernet.ts).
      AgentHandUp notData = kAgentUpReasons;
      const bool isData = offset >= 0 && length > 0 &&
                         (tapPeerMac_ == nullptr || IsTapDataFrame(data + offset, static_cast<size_t>(length), &notData));
      const size_t ipAt = tapPeerMac_ != nullptr ? kEthernetHeader : 0;
      const uint8_t* ip = isData ? data + offset + ipAt : data;
      const size_t ipLength = isData ? static_cast<size_t>(length) - ipAt : 0;
      OrderBarrier::Key destination;
      const bool addressed = isData && OrderBarrier::KeyOfDestination(ip, ipLength, destination);
      const bool held = addressed && ordered.Holds(destination);
      if (addressed && !held && Egress(ip, ipLength)) {
        // The kernel's MAC, as TapSegment.receive learns it from every frame.
        if (tapPeerMac_ != nullptr) memcpy(tapPeerMac_, data + offset + 6, 6);
        egressTaken_++;
        continue;
      }
      if (held) {
        egressHandedUp_[kAgentUpHeld]++;
      } else if (notData != kAgentUpReasons) {
        egressHandedUp_[notData]++;  // TAP: ARP, another EtherType, a frame too short
      } else if (!addressed) {
        egressHandedUp_[kAgentUpPacket]++;  // not an IPv4 or IPv6 packet with a destination
      }
      if (addressed) ordered.Add(destination);
      meta[2 * kept] = offset;
      meta[2 * kept + 1] = length;
      kept++;
    }
    FlushQueued();
    return kept;
  }

  // Whether the frame frame[0, length) a TAP device gave carries IPv4 or IPv6 (ethernet.ts's
  // TapSegment.receive); else why it goes up: ARP (JavaScript answers it) as LOCAL_CONTROL, a frame
  // too short or of another EtherType as PACKET. (A Neighbor Solicitation, which the segment
  // answers, is IPv6: Egress hands it up with the kernel's other ND as LOCAL_CONTROL.)
  static bool IsTapDataFrame(const uint8_t* frame, size_t length, AgentHandUp* why) {
    if (length < kEthernetHeader) {
      *why = kAgentUpPacket;
      return false;
    }
    const uint32_t type = (uint32_t{frame[12]} << 8) | frame[13];
    if (type == kEtherTypeIpv6 || type == kEtherTypeIpv4) return true;
    *why = type == kEtherTypeArp ? kAgentUpLocalControl : kAgentUpPacket;
    return false;
  }

  // Counts a packet Egress or Ingress hands up, by why; false (their answer).
  bool EgressUp(AgentHandUp reason) {
    egressHandedUp_[reason]++;
    return false;
  }
  bool IngressUp(AgentHandUp reason) {
    ingressHandedUp_[reason]++;
    return false;
  }

  // egress.ts writeFlowLabel: the 20-bit `label` into the IPv6 header at `ip` and the AAD's bytes 32..34.
  static void WriteFlowLabel(uint8_t* ip, uint8_t* aad, uint32_t label) {
    ip[1] = static_cast<uint8_t>((ip[1] & 0xf0) | (label >> 16));
    ip[2] = static_cast<uint8_t>(label >> 8);
    ip[3] = static_cast<uint8_t>(label);
    aad[32] = static_cast<uint8_t>(label >> 16);
    aad[33] = static_cast<uint8_t>(label >> 8);
    aad[34] = static_cast<uint8_t>(label);
  }

  // The TRANSPORT chunk's value (wire's writeTransportValue): protocol, 0, source port, port.
  static void WriteTransport(uint8_t* at, uint8_t protocol, uint32_t sourcePort, uint32_t port) {
    at[0] = protocol;
    at[1] = 0;
    at[2] = static_cast<uint8_t>(sourcePort >> 8);
    at[3] = static_cast<uint8_t>(sourcePort);
    at[4] = static_cast<uint8_t>(port >> 8);
    at[5] = static_cast<uint8_t>(port);
  }

  // One application packet, as packages/agent/src/egress.ts handles a packet of a unicast
  // flow in TUN mode (its steps, in its order), or false with nothing changed.
  bool Egress(const uint8_t* ip, size_t ipLength) {
    const int version = ip[0] >> 4;
    EgressFlow* flow = nullptr;
    if (version == 6) {
      if (ipLength < 40) return EgressUp(kAgentUpPacket);
      const uint8_t nextHeader = ip[6];
      // The kernel's own ND, MLD and router solicitations: JavaScript counts them (localControl).
      if (ip[24] == 0xff || (nextHeader == 58 && ipLength > 40 && ip[40] >= 130 && ip[40] <= 143) || nextHeader == 0)
        return EgressUp(kAgentUpLocalControl);
      // One of several flows to the host (endpoints of several contracts) by its source first.
      if (!egressByPair_.empty()) {
        auto at = egressByPair_.find(AddressPairOf(ip + 8, ip + 24));
        if (at != egressByPair_.end()) flow = at->second.get();
      }
      if (flow == nullptr) {
        HostKey key;
        memcpy(key.bytes, ip + 24, 16);
        auto at = egressByHost_.find(key);
        if (at == egressByHost_.end()) return EgressUp(kAgentUpUnknownFlow);
        flow = at->second.get();
        if (flow->cgaSourcesOnly && !IsCgaShaped(ip + 8)) return EgressUp(kAgentUpUnknownFlow);
      }
    } else if (version == 4) {
      if (ipLength < 20 || (ip[0] & 0x0f) < 5) return EgressUp(kAgentUpPacket);
      auto at = egressByIpv4_.find(Be32(ip + 16));
      if (at == egressByIpv4_.end()) return EgressUp(kAgentUpUnknownFlow);
      flow = at->second.get();
    } else {
      return EgressUp(kAgentUpPacket);
    }
    uint8_t protocol;
    uint32_t port, sourcePort;  // written as 0 when absent (writeTransportValue)
    const bool hasPorts = TransportOf(ip, ipLength, version, &protocol, &sourcePort, &port);
    // The Out ACL (egress.ts isAllowed on the destination port; -1 when the packet has none).
    if (!AclAllows(flow->acl, protocol, hasPorts, port)) return EgressUp(kAgentUpAcl);
    // The first hop's link: up, with a session JavaScript registered (LinkDataPath.sending).
    auto sendAt = sending_.find(flow->linkId);
    if (sendAt == sending_.end()) return EgressUp(kAgentUpLink);
    Sending& to = sendAt->second;
    if (!isV6_ && !to.isV4) return EgressUp(kAgentUpLink);
    const double now = BatchNowMs();
    double* state = flow->state;
    double* e2e = flow->e2e;
    // Where the packet types are (egress.ts): types[typesAt] packets since AUTH, the last AUTH time
    // next — the flow's state, or a role-addressed flow's connection (its own label; a new one, not
    // in the table yet, has a type I due and is added at the commit).
    double* types = state;
    size_t typesAt = kFlowPacketsSinceAuth;
    uint32_t label = 0;
    double sinceAuth = state[kFlowPacketsSinceAuth], lastAuthMs = state[kFlowLastAuthMs];
    if (flow->connections != nullptr) {
      const uint32_t base = ((uint32_t{flow->headers[0].bytes[1]} & 0x0f) << 16) |
                            (uint32_t{flow->headers[0].bytes[2]} << 8) | flow->headers[0].bytes[3];
      label = ConnectionLabel(base, protocol, hasPorts ? sourcePort : 0xffff, hasPorts ? port : 0xffff);
      types = flow->connections;
      const size_t entry = ConnectionFind(types, label);
      typesAt = entry == 0 ? 0 : entry + 1;
      sinceAuth = entry == 0 ? 0 : types[typesAt];
      lastAuthMs = entry == 0 ? -std::numeric_limits<double>::infinity() : types[typesAt + 1];
    }
    // Packet type (egress.ts): type I (AUTH + CODE) every authIntervalMs — every authRepeatMs for
    // authRepeatForMs after the flow's first — type II (CODE) for the next codePackets, then type
    // III; each from its own prebuilt header.
    const double firstAuthMs = state[kFlowFirstAuthMs];
    const bool authDue =
        now - lastAuthMs >= (now - firstAuthMs < authRepeatForMs_ ? authRepeatMs_ : authIntervalMs_);
    const int packetType = authDue ? 1 : sinceAuth < codePackets_ ? 2 : 3;
    if (state[kFlowTracePackets] > 0) return EgressUp(kAgentUpTrace);  // TRACE flag, trace event
    // The e2e epoch (e2e-epochs.ts): the next one when a rekey is due (isSendRekeyDue; moved at the
    // commit as advanceSendEpoch moves it, its spent space left to JavaScript), its key derived
    // when the context is keyed for another epoch. A role-addressed flow seals under its group
    // epoch's key only, and never rekeys.
    double epoch = e2e[kE2eSendEpoch];
    double sealed = e2e[kE2eSendPackets];
    const bool rekey = flow->connections == nullptr && sealed > 0 &&
                       (e2e[kE2eRekeyRequested] != 0 || sealed >= e2eRekeyAfterPackets_ ||
                        now - e2e[kE2eSendSinceMs] >= e2eRekeyAfterMs_);
    if (rekey) {
      epoch += 1;
      sealed = 0;
    }
    if (!(epoch >= 0 && epoch <= sealed_payload::kEpochMax)) return EgressUp(kAgentUpE2e);
    EVP_CIPHER_CTX* seal = flow->connections == nullptr
                               ? flow->seal.For(flow->base, static_cast<uint32_t>(epoch), true)
                               : flow->seal.epoch == static_cast<int64_t>(epoch) ? flow->seal.ctx : nullptr;
    if (seal == nullptr) return EgressUp(kAgentUpE2e);
    const double counter = state[kFlowSendCounter] + 1;
    if (counter >= static_cast<double>(kMaxSafe)) return EgressUp(kAgentUpE2e);
    const size_t sealedLength = ipLength + static_cast<size_t>(sealed_payload::kOverhead);
    // A type I packet over maxOverlayPacketBytes goes as an AUTH-only packet (its type I header,
    // no payload) ahead of the data, which goes as type II (egress.ts).
    const EgressHeader* authOnly = nullptr;
    int dataType = packetType;
    if (packetType == 1 && static_cast<double>(flow->headers[0].bytes.size() + sealedLength) > maxOverlayPacketBytes_) {
      authOnly = &flow->headers[0];
      dataType = 2;
    }
    const EgressHeader& header = flow->headers[dataType - 1];
    const size_t headerLength = header.bytes.size();
    const size_t total = headerLength + sealedLength;
    if (total > kAgentOutBytes || total - 40 > 0xffff || total > kMaxInnerPacket) return EgressUp(kAgentUpSize);
    // The link layer's send (the engine path's rule): a counter at its rekey limit is JavaScript's.
    const size_t frames = authOnly != nullptr ? 2 : 1;
    const double last = to.counters[0] + static_cast<double>(frames);
    if (last >= to.rekeyAfterPackets || last >= static_cast<double>(kMaxSafe)) return EgressUp(kAgentUpSend);
    const size_t authFrame = authOnly != nullptr ? kHeader + authOnly->bytes.size() + kTag : 0;
    const size_t frameOut = authFrame + kHeader + total + kTag;
    if (queued_.size() + frames > kSendMax || ringUsed_ + frameOut > kSendRingBytes) {
      FlushQueued();
      if (ringUsed_ + frameOut > kSendRingBytes) return EgressUp(kAgentUpSend);
      batchNowMs_ = now;
    }
    // Build the data packet (behind the AUTH-only frame's room): the header, the TRANSPORT value,
    // the sealed payload, the length. Nothing is committed until its seal succeeded.
    uint8_t* inner = sendRing_.data() + ringUsed_ + authFrame + kHeader;
    memcpy(inner, header.bytes.data(), headerLength);
    WriteTransport(inner + header.transportAt, protocol, sourcePort, port);
    // A connection's label, in its header and in the AAD (egress.ts writeFlowLabel).
    uint8_t labelledAad[sizeof flow->aad];
    const uint8_t* aad = flow->aad;
    if (flow->connections != nullptr) {
      memcpy(labelledAad, flow->aad, sizeof labelledAad);
      WriteFlowLabel(inner, labelledAad, label);
      aad = labelledAad;
    }
    uint8_t* payload = inner + headerLength;
    sealed_payload::WriteHeader(payload, static_cast<uint32_t>(epoch), static_cast<uint64_t>(counter));
    if (!sealed_payload::Seal(seal, payload, aad, sizeof flow->aad, ip, ipLength)) return EgressUp(kAgentUpSend);
    inner[4] = static_cast<uint8_t>((total - 40) >> 8);
    inner[5] = static_cast<uint8_t>(total - 40);
    // Commit: the AUTH-only frame ahead, the flow's and the epoch's counters, the link's frames and
    // traffic, the statistics.
    Traffic& out = traffic_[flow->linkId];
    if (authOnly != nullptr) {
      const size_t authLength = authOnly->bytes.size();
      uint8_t* auth = sendRing_.data() + ringUsed_ + kHeader;
      memcpy(auth, authOnly->bytes.data(), authLength);
      if (flow->connections != nullptr) WriteFlowLabel(auth, labelledAad, label);
      WriteTransport(auth + authOnly->transportAt, protocol, sourcePort, port);
      auth[4] = static_cast<uint8_t>((authLength - 40) >> 8);
      auth[5] = static_cast<uint8_t>(authLength - 40);
      FinishFrame(to, authLength);
      out.packetsOut += 1;
      out.bytesOut += static_cast<double>(authLength);
      sentByType_[0] += 1;  // authorization-only packets
      sentByType_[1] += 1;
    }
    if (typesAt == 0) typesAt = ConnectionAdd(types, label) + 1;
    if (packetType == 1) {
      types[typesAt + 1] = now;
      types[typesAt] = 0;
      if (firstAuthMs == -std::numeric_limits<double>::infinity()) state[kFlowFirstAuthMs] = now;
    } else {
      types[typesAt] += 1;
    }
    state[kFlowSendCounter] = counter;
    if (rekey) {
      e2e[kE2eSendEpoch] = epoch;
      e2e[kE2eRekeyRequested] = 0;
      e2eRekeys_[0] += 1;
    }
    if (sealed == 0) e2e[kE2eSendSinceMs] = now;  // countSealed: an epoch's first packet starts its time
    e2e[kE2eSendPackets] = sealed + 1;
    FinishFrame(to, total);
    out.packetsOut += 1;
    out.bytesOut += static_cast<double>(total);
    out.lastSendMs = now;
    out.moved = true;
    sentByType_[dataType] += 1;
    flow->statistics[kStatisticsPacketsOut] += 1;
    flow->statistics[kStatisticsBytesOut] += static_cast<double>(ipLength);
    return true;
  }

  void ClearEgress() {
    egressByHost_.clear();
    egressByPair_.clear();
    egressByIpv4_.clear();
  }

  void ClearIngress() {
    ingressBySource_.clear();
    ingressByLabel_.clear();
    groupBySender_.clear();
  }

  // bindAgent(sentByType: Float64Array(4), e2eRekeys: Float64Array(2), options: Float64Array
  // [authIntervalMs, codePackets, e2eRekeyAfterMs, e2eRekeyAfterPackets, ownIpv4,
  // maxOverlayPacketBytes, e2eRekeyGraceMs, authRepeatMs, authRepeatForMs]).
  Napi::Value BindAgent(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t typeCount = 0, rekeyCount = 0, optionCount = 0;
    const bool enough = info.Length() >= 3;
    double* sentByType = enough ? TypedData<double>(info[0], napi_float64_array, &typeCount) : nullptr;
    double* rekeys = enough ? TypedData<double>(info[1], napi_float64_array, &rekeyCount) : nullptr;
    double* options = enough ? TypedData<double>(info[2], napi_float64_array, &optionCount) : nullptr;
    if (sentByType == nullptr || typeCount < 4 || rekeys == nullptr || rekeyCount < 2 || options == nullptr ||
        optionCount < 9) {
      Napi::TypeError::New(env,
                           "bindAgent(sentByType: Float64Array(4), e2eRekeys: Float64Array(2), options: Float64Array(9))")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    FlushQueued();
    ClearEgress();
    ClearIngress();
    ownIpv4_ = static_cast<uint32_t>(options[4]);
    maxOverlayPacketBytes_ = options[5];
    sentByType_ = sentByType;
    sentByTypeRef_ = Napi::Persistent(info[0].As<Napi::Object>());
    authIntervalMs_ = options[0];
    codePackets_ = options[1];
    e2eRekeyAfterMs_ = options[2];
    e2eRekeyAfterPackets_ = options[3];
    e2eRekeyGraceMs_ = options[6];
    authRepeatMs_ = options[7];
    authRepeatForMs_ = options[8];
    e2eRekeys_ = rekeys;
    e2eRekeysRef_ = Napi::Persistent(info[1].As<Napi::Object>());
    agentBound_ = true;
    return env.Undefined();
  }

  // setEgressFlow(destination: 16 bytes (IPv6) | 4 bytes (IPv4), flowState: Float64Array(5),
  //   e2eState: Float64Array(7), statistics: Float64Array(2+), sendBase[32],
  //   headers: [typeI, typeII, typeIII], transportAt: Int32Array(3), aad[35], linkId, acl: Int32Array,
  //   connections?: Float64Array(24577), selector?: source[16] | 'cga-sources' (EgressFlowSelector))
  Napi::Value SetEgressFlow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t destinationLength = 0, stateCount = 0, e2eCount = 0, statisticsCount = 0, keyLength = 0,
           transportCount = 0, aadLength = 0;
    const bool enough = info.Length() >= 10;
    const uint8_t* destination = enough ? TypedData<uint8_t>(info[0], napi_uint8_array, &destinationLength) : nullptr;
    double* state = enough ? TypedData<double>(info[1], napi_float64_array, &stateCount) : nullptr;
    double* e2e = enough ? TypedData<double>(info[2], napi_float64_array, &e2eCount) : nullptr;
    double* statistics = enough ? TypedData<double>(info[3], napi_float64_array, &statisticsCount) : nullptr;
    const uint8_t* base = enough ? TypedData<uint8_t>(info[4], napi_uint8_array, &keyLength) : nullptr;
    const int32_t* transportAt = enough ? TypedData<int32_t>(info[6], napi_int32_array, &transportCount) : nullptr;
    const uint8_t* aad = enough ? TypedData<uint8_t>(info[7], napi_uint8_array, &aadLength) : nullptr;
    const uint8_t* header[3] = {nullptr, nullptr, nullptr};
    size_t headerLength[3] = {0, 0, 0};
    std::vector<int32_t> acl;
    if (enough && info[5].IsArray() && info[5].As<Napi::Array>().Length() == 3) {
      Napi::Array headers = info[5].As<Napi::Array>();
      for (uint32_t t = 0; t < 3; t++) header[t] = TypedData<uint8_t>(headers.Get(t), napi_uint8_array, &headerLength[t]);
    }
    if (destination == nullptr || (destinationLength != 16 && destinationLength != 4) || state == nullptr ||
        stateCount < kFlowSlots || e2e == nullptr || e2eCount < kE2eSlots || statistics == nullptr ||
        statisticsCount < 2 || base == nullptr || keyLength != sealed_payload::kKeyBytes || header[0] == nullptr ||
        header[1] == nullptr || header[2] == nullptr || transportAt == nullptr || transportCount != 3 ||
        aad == nullptr || aadLength != 35 || !info[8].IsNumber() || !ReadAclRules(info[9], &acl)) {
      Napi::TypeError::New(env,
                           "setEgressFlow(destination[16|4], flowState, e2eState: Float64Array(7), statistics, "
                           "sendBase[32], headers[3], transportAt: Int32Array(3), aad[35], linkId, "
                           "acl: Int32Array(4 per rule: allow 0|1, protocol -1|1|6|17, ports 0..65535 low to high), "
                           "connections?: Float64Array(24577), selector?: source[16] | 'cga-sources')")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // A role-addressed flow: its connections' table, its group epoch (an IPv6 destination only).
    double* connections = nullptr;
    if (info.Length() >= 11 && !info[10].IsUndefined()) {
      size_t connectionCount = 0;
      connections = TypedData<double>(info[10], napi_float64_array, &connectionCount);
      const double groupEpoch = e2e[kE2eSendEpoch];
      if (connections == nullptr || connectionCount != kConnectionSlots || destinationLength != 16 ||
          !sealed_payload::IsEpoch(groupEpoch)) {
        Napi::TypeError::New(env,
                             "setEgressFlow: connections must be a role-addressed flow's ConnectionTable slots "
                             "(Float64Array(24577)), for an IPv6 destination, its e2e state at its group epoch")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    // One of several flows to an IPv6 destination's host (EgressFlowSelector): the source's 16
    // bytes, or 'cga-sources' (the default flow's host install); a unicast flow's only.
    const uint8_t* selectSource = nullptr;
    bool cgaSourcesOnly = false;
    if (info.Length() >= 12 && !info[11].IsUndefined()) {
      size_t selectLength = 0;
      if (info[11].IsString() && info[11].As<Napi::String>().Utf8Value() == "cga-sources")
        cgaSourcesOnly = true;
      else
        selectSource = TypedData<uint8_t>(info[11], napi_uint8_array, &selectLength);
      if ((!cgaSourcesOnly && (selectSource == nullptr || selectLength != 16)) || destinationLength != 16 ||
          connections != nullptr) {
        Napi::TypeError::New(env,
                             "setEgressFlow: selector must be a source address (16 bytes) or 'cga-sources', "
                             "for a unicast flow to an IPv6 destination")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    // Not headers this path builds: the flow stays in JavaScript.
    for (int t = 0; t < 3; t++)
      if (headerLength[t] < 48 || headerLength[t] > kAgentHeaderMax || transportAt[t] < kChunkValueMin ||
          static_cast<size_t>(transportAt[t]) + 6 > headerLength[t])
        return env.Undefined();
    auto flow = std::make_unique<EgressFlow>();
    flow->state = state;
    flow->e2e = e2e;
    flow->statistics = statistics;
    flow->stateRef = Napi::Persistent(info[1].As<Napi::Object>());
    flow->e2eRef = Napi::Persistent(info[2].As<Napi::Object>());
    flow->statisticsRef = Napi::Persistent(info[3].As<Napi::Object>());
    memcpy(flow->base, base, sealed_payload::kKeyBytes);
    for (int t = 0; t < 3; t++) {
      flow->headers[t].bytes.assign(header[t], header[t] + headerLength[t]);
      flow->headers[t].transportAt = static_cast<size_t>(transportAt[t]);
    }
    memcpy(flow->aad, aad, 35);
    flow->linkId = info[8].As<Napi::Number>().Uint32Value();
    flow->acl = std::move(acl);
    if (connections != nullptr) {
      if (!flow->seal.KeyAs(base, static_cast<uint32_t>(e2e[kE2eSendEpoch]), true)) return env.Undefined();
      flow->connections = connections;
      flow->connectionsRef = Napi::Persistent(info[10].As<Napi::Object>());
    }
    flow->cgaSourcesOnly = cgaSourcesOnly;
    FlushQueued();  // a queued frame may point at nothing of the replaced flow, but keep it simple
    if (selectSource != nullptr) {
      egressByPair_[AddressPairOf(selectSource, destination)] = std::move(flow);
    } else if (destinationLength == 16) {
      HostKey hostKey;
      memcpy(hostKey.bytes, destination, 16);
      egressByHost_[hostKey] = std::move(flow);
    } else {
      egressByIpv4_[Be32(destination)] = std::move(flow);
    }
    return env.Undefined();
  }

  Napi::Value ClearEgressFlows(const Napi::CallbackInfo& info) {
    ClearEgress();
    return info.Env().Undefined();
  }

  // offerTunPackets(buffer, meta: Int32Array, count) → the count left for JavaScript (meta
  // compacted): the TUN reader's call, for tests without a device.
  Napi::Value OfferTunPackets(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t bytes = 0, metaCount = 0;
    const uint8_t* data = info.Length() >= 3 ? TypedData<uint8_t>(info[0], napi_uint8_array, &bytes) : nullptr;
    int32_t* meta = info.Length() >= 3 ? TypedData<int32_t>(info[1], napi_int32_array, &metaCount) : nullptr;
    if (data == nullptr || meta == nullptr || !info[2].IsNumber()) {
      Napi::TypeError::New(env, "offerTunPackets(buffer, meta: Int32Array, count)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const size_t count = std::min<size_t>(info[2].As<Napi::Number>().Uint32Value(), metaCount / 2);
    for (size_t i = 0; i < count; i++) {
      const int64_t offset = meta[2 * i], length = meta[2 * i + 1];
      if (offset < 0 || length < 0 || static_cast<uint64_t>(offset + length) > bytes) {
        Napi::RangeError::New(env, "a packet outside the buffer").ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    return Napi::Number::New(env, static_cast<double>(TakePackets(data, meta, count)));
  }

  // agentStats() → [offered, taken, egress flows, ingress offered, ingress taken, ingress flows,
  //   TUN packets its writes lost, egress held, ingress held]
  Napi::Value AgentStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array result = Napi::Array::New(env, 10);
    result.Set(0u, Napi::Number::New(env, static_cast<double>(egressOffered_)));
    result.Set(1u, Napi::Number::New(env, static_cast<double>(egressTaken_)));
    const size_t egressFlows = egressByHost_.size() + egressByPair_.size() + egressByIpv4_.size();
    const size_t ingressFlows = ingressBySource_.size() + ingressByLabel_.size() + groupBySender_.size();
    result.Set(2u, Napi::Number::New(env, static_cast<double>(egressFlows)));
    result.Set(3u, Napi::Number::New(env, static_cast<double>(ingressOffered_)));
    result.Set(4u, Napi::Number::New(env, static_cast<double>(ingressTaken_)));
    result.Set(5u, Napi::Number::New(env, static_cast<double>(ingressFlows)));
    result.Set(6u, Napi::Number::New(env, static_cast<double>(tunWriteErrors_)));
    result.Set(7u, Napi::Number::New(env, static_cast<double>(egressHandedUp_[kAgentUpHeld])));
    result.Set(8u, Napi::Number::New(env, static_cast<double>(ingressHandedUp_[kAgentUpHeld])));
    result.Set(9u, Napi::Number::New(env, static_cast<double>(ingressPacketsOffered_)));
    return result;
  }

  // ---- the agent's ingress --------------------------------------------------------------------------

  // One DATA frame, as the link layer and packages/agent/src/ingress.ts handle a packet of
  // an installed unicast flow in TUN mode (their steps; every check before anything is changed),
  // or false with nothing changed.
  bool Ingress(uint8_t* frame, size_t length) {
    uint64_t linkCounter = 0;
    size_t bodyEnd = 0;
    Session* session = CheckLinkFrame(frame, length, &linkCounter, &bodyEnd);
    if (session == nullptr) return IngressUp(CarriesPacket(frame, length) ? kAgentUpLink : kAgentUpControl);
    const uint8_t* inner = frame + kHeader;
    const size_t innerLength = bodyEnd - kHeader;
    // The inner packet: to a role address of ours from a sender installed there (a role-addressed
    // packet), else from an installed flow's peer (its CGA); its header the flow's but for the free
    // bytes.
    IngressFlow* flow = nullptr;
    GroupIngressFlow* group = nullptr;
    if (!groupBySender_.empty()) {
      auto at = groupBySender_.find(AddressPairOf(inner + 24, inner + 8));
      if (at != groupBySender_.end()) group = at->second.get();
    }
    if (group == nullptr && !ingressByLabel_.empty()) {  // one of several flows from the host: by label
      auto at = ingressByLabel_.find(LabelKeyOf(inner));
      if (at != ingressByLabel_.end()) flow = at->second.get();
    }
    if (group == nullptr && flow == nullptr) {
      HostKey key;
      memcpy(key.bytes, inner + 8, 16);
      auto at = ingressBySource_.find(key);
      if (at == ingressBySource_.end()) return IngressUp(kAgentUpUnknownFlow);
      flow = at->second.get();
    }
    // The template of the packet's type (the type is in it, so a packet of another type differs).
    const uint8_t packetType = innerLength > 42 ? inner[42] & 0x0f : 0;
    if (packetType < 1 || packetType > 3) return IngressUp(kAgentUpPacket);
    const IngressTemplate& shape = (group != nullptr ? group->templates : flow->templates)[packetType - 1];
    const size_t headerLength = shape.header.size();
    if (headerLength == 0) return IngressUp(kAgentUpNoTemplate);
    // (0 when not a capsule packet or longer than the frame: below any template's length.)
    const size_t packetLength = CapsulePacketLength(inner, innerLength);
    // A type I header alone: the AUTH-only packet a sender puts ahead of a packet too large to
    // carry the AUTH; ingress takes it as control (the link counts it, nothing is delivered).
    const bool authOnly = packetType == 1 && packetLength == headerLength;
    if (!authOnly && packetLength < headerLength + static_cast<size_t>(sealed_payload::kOverhead))
      return IngressUp(kAgentUpPacket);
    if (!EqualOutside(inner, shape.header.data(), headerLength, shape.free)) return IngressUp(kAgentUpHeaderChanged);
    if (shape.hopIndexAt >= 0 && inner[shape.hopIndexAt] > inner[shape.hopCountAt])
      return IngressUp(kAgentUpHeaderChanged);
    if (authOnly) {
      CommitLinkReceive(*session, linkCounter, innerLength, BatchNowMs());
      return true;
    }
    // The sealed payload: a zero nonce prefix, a counter the e2e window takes, and an epoch. A
    // unicast flow's (e2e-epochs.ts receiveCipherOf): the current one, the previous in its grace, or
    // the next — its first packet moves the flow there at the commit, as acceptCandidate does; any
    // other (a restarted sender's, one further ahead, a stale one) is JavaScript's. (The flow opened
    // a packet before it was installed, so the lookahead's bound holds.) A role-addressed packet's:
    // a group epoch of its sender installed here that the endpoint still opens (openKeyOf), with
    // that epoch's window; any other (a new epoch: its key is derived by JavaScript) goes up.
    const uint8_t* sealed = inner + headerLength;
    const size_t sealedLength = packetLength - headerLength;
    if (Be32(sealed + 4) != 0) return IngressUp(kAgentUpE2e);
    const uint32_t epoch = Be32(sealed);
    const double now = BatchNowMs();
    const uint64_t counter = (uint64_t{Be32(sealed + 8)} << 32) | Be32(sealed + 12);
    bool moves = false;
    ReplayView* replay;
    EVP_CIPHER_CTX* opener = nullptr;
    if (group != nullptr) {
      GroupEpoch* open = group->Open(epoch, now);
      if (open == nullptr) return IngressUp(kAgentUpE2e);
      replay = &open->replay;
      opener = open->opener.ctx;
    } else {
      const double* e2e = flow->e2e;
      const double current = e2e[kE2eReceiveEpoch], previous = e2e[kE2ePreviousEpoch];
      moves = epoch != current && !(epoch == previous && now <= e2e[kE2ePreviousUntilMs]);
      if (moves && (epoch != current + 1 || epoch == previous)) return IngressUp(kAgentUpE2e);
      replay = &flow->replay;
    }
    if (!replay->Check(counter)) return IngressUp(kAgentUpE2e);
    if (flow != nullptr) opener = flow->OpenerFor(epoch);  // after the window: a replay derives no key
    if (opener == nullptr) return IngressUp(kAgentUpE2e);
    // Opened into the TUN ring (taken only if everything below passes).
    const size_t plainLength = sealedLength - static_cast<size_t>(sealed_payload::kOverhead);
    const size_t linkHeader = tapPeerMac_ != nullptr ? kEthernetHeader : 0;  // TAP: an Ethernet header first
    if (plainLength + linkHeader > kTunRingBytes) return IngressUp(kAgentUpSize);
    if (tunQueued_ == kTunRingPackets || tunUsed_ + linkHeader + plainLength > kTunRingBytes) FlushTun();
    uint8_t* packet = tunRing_.data() + tunUsed_ + linkHeader;
    uint8_t aad[35];
    memcpy(aad, inner + 8, 32);
    aad[32] = inner[1] & 0x0f;
    aad[33] = inner[2];
    aad[34] = inner[3];
    if (!sealed_payload::Open(opener, sealed, sealedLength, aad, sizeof aad, packet)) return IngressUp(kAgentUpE2e);
    // The original packet: IPv6 from the peer (or its role's address) to us, or IPv4 rewritten; a
    // role-addressed one IPv6 from the sender to the role address.
    const int version = plainLength > 0 ? packet[0] >> 4 : 0;
    if (version == 6 && plainLength >= 40) {
      if (memcmp(packet + 24, inner + 24, 16) != 0) return IngressUp(kAgentUpInner);
      if (memcmp(packet + 8, inner + 8, 16) != 0 &&
          !(flow != nullptr && flow->hasRoleSource && memcmp(packet + 8, flow->roleSource, 16) == 0))
        return IngressUp(kAgentUpInner);
    } else if (flow != nullptr && version == 4 && plainLength >= 20 && (packet[0] & 0x0f) >= 5) {
      if (!RewriteIpv4(packet, plainLength, flow->ipv4Alias, ownIpv4_)) return IngressUp(kAgentUpInner);
    } else {
      return IngressUp(kAgentUpInner);
    }
    if (!IsLengthAsDeclared(packet, plainLength, version)) return IngressUp(kAgentUpInner);
    // TRANSPORT: what the engines were shown is what the packet is (transportMatches).
    uint8_t protocol;
    uint32_t sourcePort, port;
    const bool hasPorts = TransportOf(packet, plainLength, version, &protocol, &sourcePort, &port);
    const uint8_t* transport = inner + shape.transportAt;
    if (transport[0] != protocol || ((uint32_t{transport[2]} << 8) | transport[3]) != sourcePort ||
        ((uint32_t{transport[4]} << 8) | transport[5]) != port)
      return IngressUp(kAgentUpInner);
    // The In ACL (ingress.ts isAllowed on the opened packet's destination port).
    if (!AclAllows(group != nullptr ? group->acl : flow->acl, protocol, hasPorts, port)) return IngressUp(kAgentUpAcl);
    // Commit: the link's window and traffic, the e2e window (and a unicast flow's epoch), the
    // statistics, the TUN write.
    CommitLinkReceive(*session, linkCounter, innerLength, now);
    replay->Mark(counter);
    if (moves) {
      double* e2e = flow->e2e;
      e2e[kE2ePreviousEpoch] = e2e[kE2eReceiveEpoch];
      e2e[kE2ePreviousUntilMs] = now + e2eRekeyGraceMs_;
      e2e[kE2eReceiveEpoch] = epoch;
      e2eRekeys_[1] += 1;
    }
    double* statistics = group != nullptr ? group->statistics : flow->statistics;
    statistics[kStatisticsPacketsIn] += 1;
    statistics[kStatisticsBytesIn] += static_cast<double>(plainLength);
    if (linkHeader != 0) {  // TapSegment.writeHeader: dst the kernel's MAC, src ours, the IP version's type
      uint8_t* ethernet = packet - kEthernetHeader;
      memcpy(ethernet, tapPeerMac_, 6);
      memcpy(ethernet + 6, tapAgentMac_, 6);
      const uint32_t type = version == 6 ? kEtherTypeIpv6 : kEtherTypeIpv4;
      ethernet[12] = static_cast<uint8_t>(type >> 8);
      ethernet[13] = static_cast<uint8_t>(type);
    }
    tunMeta_[2 * tunQueued_] = static_cast<int32_t>(tunUsed_);
    tunMeta_[2 * tunQueued_ + 1] = static_cast<int32_t>(linkHeader + plainLength);
    tunQueued_++;
    tunUsed_ += linkHeader + plainLength;
    return true;
  }

  // Writes the packets Ingress queued (one write each, or coalesced: tun-writer.h).
  void FlushTun() {
    if (tunQueued_ == 0) return;
    int lastError = 0;
    tunWriteErrors_ += static_cast<uint64_t>(WriteTunPackets(tunFd_, tunRing_.data(), tunUsed_, tunMeta_.data(),
                                                             tunQueued_, tunVnetHeader_, tunStats_, &lastError));
    tunQueued_ = 0;
    tunUsed_ = 0;
  }

  // setIngressFlow(source[16], header, hopIndexAt, dataAt, dataLength, transportAt, receiveBase[32],
  //   e2eState: Float64Array(7), replayState: Float64Array(2+), replayBits: Uint32Array(2+),
  //   statistics: Float64Array(4+), ipv4Alias, roleSource[0|16], acl: Int32Array (AclWord),
  //   byLabel?: boolean (under the source and the header's flow label)); offsets relative to the
  //   header (the inner packet), -1: absent.
  Napi::Value SetIngressFlow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t sourceLength = 0, headerLength = 0, keyLength = 0, e2eCount = 0, stateCount = 0, words = 0,
           statisticsCount = 0, roleLength = 0;
    const bool enough = info.Length() >= 14;
    std::vector<int32_t> acl;
    const uint8_t* source = enough ? TypedData<uint8_t>(info[0], napi_uint8_array, &sourceLength) : nullptr;
    const uint8_t* header = enough ? TypedData<uint8_t>(info[1], napi_uint8_array, &headerLength) : nullptr;
    const uint8_t* base = enough ? TypedData<uint8_t>(info[6], napi_uint8_array, &keyLength) : nullptr;
    double* e2e = enough ? TypedData<double>(info[7], napi_float64_array, &e2eCount) : nullptr;
    double* replayState = enough ? TypedData<double>(info[8], napi_float64_array, &stateCount) : nullptr;
    uint32_t* replayBits = enough ? TypedData<uint32_t>(info[9], napi_uint32_array, &words) : nullptr;
    double* statistics = enough ? TypedData<double>(info[10], napi_float64_array, &statisticsCount) : nullptr;
    const uint8_t* role = enough ? TypedData<uint8_t>(info[12], napi_uint8_array, &roleLength) : nullptr;
    if (source == nullptr || sourceLength != 16 || header == nullptr || !info[2].IsNumber() || !info[3].IsNumber() ||
        !info[4].IsNumber() || !info[5].IsNumber() || base == nullptr || keyLength != sealed_payload::kKeyBytes ||
        e2e == nullptr || e2eCount < kE2eSlots ||
        replayState == nullptr || stateCount < 2 || replayBits == nullptr || words < 2 || statistics == nullptr ||
        statisticsCount < 4 || !info[11].IsNumber() || !enough || !info[12].IsTypedArray() ||
        (roleLength != 0 && (role == nullptr || roleLength != 16)) || !ReadAclRules(info[13], &acl)) {
      Napi::TypeError::New(env,
                           "setIngressFlow(source[16], header, hopIndexAt, dataAt, dataLength, transportAt, "
                           "receiveBase[32], e2eState: Float64Array(7), replayState, replayBits, statistics, "
                           "ipv4Alias, roleSource[0|16], acl: Int32Array(4 per rule), byLabel?: boolean)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    IngressTemplate made;
    int packetType = 0;
    if (!MakeTemplate(info, 1, source, nullptr, false, &made, &packetType)) return env.Undefined();
    const uint32_t ipv4Alias = info[11].As<Napi::Number>().Uint32Value();
    // One of several flows from the host (byLabel): under (source, the header's flow label).
    const bool byLabel = info.Length() >= 15 && info[14].IsBoolean() && info[14].As<Napi::Boolean>().Value();
    HostKey hostKey;
    memcpy(hostKey.bytes, source, 16);
    const LabelKey labelKey = LabelKeyOf(header);
    std::unique_ptr<IngressFlow>* slot = nullptr;
    if (byLabel) {
      auto found = ingressByLabel_.find(labelKey);
      if (found != ingressByLabel_.end()) slot = &found->second;
    } else {
      auto found = ingressBySource_.find(hostKey);
      if (found != ingressBySource_.end()) slot = &found->second;
    }
    // The same flow (its key, arrays and addresses unchanged): this packet type's template added or
    // replaced beside the others (its epochs are the shared state's: a header does not carry the
    // epoch); else the flow replaced with it alone.
    IngressFlow* flow = nullptr;
    if (slot != nullptr) {
      IngressFlow& was = **slot;
      if (was.e2e == e2e && memcmp(was.base, base, sealed_payload::kKeyBytes) == 0 &&
          was.replay.counters == replayState && was.replay.bits == replayBits && was.statistics == statistics &&
          was.ipv4Alias == ipv4Alias && was.hasRoleSource == (roleLength == 16) &&
          (roleLength != 16 || memcmp(was.roleSource, role, 16) == 0))
        flow = &was;
    }
    if (flow == nullptr) {
      auto fresh = std::make_unique<IngressFlow>();
      memcpy(fresh->base, base, sealed_payload::kKeyBytes);
      fresh->e2e = e2e;
      fresh->e2eRef = Napi::Persistent(info[7].As<Napi::Object>());
      fresh->replay = {replayState, replayBits, words};
      fresh->statistics = statistics;
      fresh->replayStateRef = Napi::Persistent(info[8].As<Napi::Object>());
      fresh->replayBitsRef = Napi::Persistent(info[9].As<Napi::Object>());
      fresh->statisticsRef = Napi::Persistent(info[10].As<Napi::Object>());
      fresh->ipv4Alias = ipv4Alias;
      fresh->hasRoleSource = roleLength == 16;
      if (fresh->hasRoleSource) memcpy(fresh->roleSource, role, 16);
      flow = fresh.get();
      if (byLabel)
        ingressByLabel_[labelKey] = std::move(fresh);
      else
        ingressBySource_[hostKey] = std::move(fresh);
    }
    flow->acl = std::move(acl);  // the agent's In ACL for this peer (the same until it clears every flow)
    flow->templates[packetType - 1] = std::move(made);
    return env.Undefined();
  }

  // The template of a header ingress.ts accepted: info[at] the header (inner IPv6 + capsule), then
  // its PATH hop index, DATA value, DATA length and TRANSPORT value offsets (relative to it; -1:
  // absent), numbers already checked. False when it is not a header this path takes (the flow
  // stays in JavaScript): not an IPv6 capsule header of its length from `source` (to
  // `destination`, unless nullptr), or offsets outside its capsule header. `labelFree`: a
  // role-addressed sender's, whose connections each have their own flow label.
  static bool MakeTemplate(const Napi::CallbackInfo& info, size_t at, const uint8_t* source, const uint8_t* destination,
                           bool labelFree, IngressTemplate* shape, int* packetType) {
    size_t headerLength = 0;
    const uint8_t* header = TypedData<uint8_t>(info[at], napi_uint8_array, &headerLength);
    const int64_t hopIndexAt = info[at + 1].As<Napi::Number>().Int64Value();
    const int64_t dataAt = info[at + 2].As<Napi::Number>().Int64Value();
    const int64_t dataLength = info[at + 3].As<Napi::Number>().Int64Value();
    const int64_t transportAt = info[at + 4].As<Napi::Number>().Int64Value();
    const int64_t n = static_cast<int64_t>(headerLength);
    const bool shaped = header != nullptr && n >= 48 && n <= static_cast<int64_t>(kAgentHeaderMax) &&
                        (header[0] >> 4) == 6 && header[6] == 253 && 40 + (int64_t{header[41]} + 1) * 8 == n &&
                        memcmp(header + 8, source, 16) == 0 &&
                        (destination == nullptr || memcmp(header + 24, destination, 16) == 0);
    const bool offsets = transportAt >= kChunkValueMin && transportAt + 6 <= n &&
                         (hopIndexAt < 0 || (hopIndexAt >= kChunkValueMin && hopIndexAt + 1 < n)) &&
                         (dataAt < 0 || (dataAt >= kChunkValueMin && dataLength >= 0 && dataAt + dataLength <= n));
    *packetType = shaped ? header[42] & 0x0f : 0;
    if (!shaped || !offsets || *packetType < 1 || *packetType > 3) return false;
    shape->header.assign(header, header + headerLength);
    if (labelFree)
      shape->free.Add(1, 5);  // the flow label (with the traffic class's low bits) and the payload length
    else
      shape->free.Add(4, 2);  // the payload length
    shape->free.Add(7, 1);    // the hop limit
    if (hopIndexAt >= 0) {
      shape->hopIndexAt = static_cast<int>(hopIndexAt);
      shape->hopCountAt = static_cast<int>(hopIndexAt + 1);
    }
    shape->transportAt = static_cast<size_t>(transportAt);
    shape->free.AddCapsule(hopIndexAt, dataAt, dataLength, transportAt);
    return true;
  }

  // setGroupIngressFlow(address[16], source[16], header, hopIndexAt, dataAt, dataLength, transportAt,
  //   epoch, key[32], untilMs, replayState: Float64Array(2+), replayBits: Uint32Array(2+),
  //   statistics: Float64Array(4+), acl: Int32Array (AclWord)); offsets relative to the header.
  Napi::Value SetGroupIngressFlow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t addressLength = 0, sourceLength = 0, headerLength = 0, keyLength = 0, stateCount = 0, words = 0,
           statisticsCount = 0;
    const bool enough = info.Length() >= 14;
    std::vector<int32_t> acl;
    const uint8_t* address = enough ? TypedData<uint8_t>(info[0], napi_uint8_array, &addressLength) : nullptr;
    const uint8_t* source = enough ? TypedData<uint8_t>(info[1], napi_uint8_array, &sourceLength) : nullptr;
    const uint8_t* header = enough ? TypedData<uint8_t>(info[2], napi_uint8_array, &headerLength) : nullptr;
    const uint8_t* key = enough ? TypedData<uint8_t>(info[8], napi_uint8_array, &keyLength) : nullptr;
    double* replayState = enough ? TypedData<double>(info[10], napi_float64_array, &stateCount) : nullptr;
    uint32_t* replayBits = enough ? TypedData<uint32_t>(info[11], napi_uint32_array, &words) : nullptr;
    double* statistics = enough ? TypedData<double>(info[12], napi_float64_array, &statisticsCount) : nullptr;
    const double epoch = enough && info[7].IsNumber() ? info[7].As<Napi::Number>().DoubleValue() : -1;
    if (address == nullptr || addressLength != 16 || source == nullptr || sourceLength != 16 || header == nullptr ||
        !info[3].IsNumber() || !info[4].IsNumber() || !info[5].IsNumber() || !info[6].IsNumber() ||
        !sealed_payload::IsEpoch(epoch) || key == nullptr ||
        keyLength != sealed_payload::kKeyBytes || !info[9].IsNumber() || replayState == nullptr || stateCount < 2 ||
        replayBits == nullptr || words < 2 || statistics == nullptr || statisticsCount < 4 ||
        !ReadAclRules(info[13], &acl)) {
      Napi::TypeError::New(env,
                           "setGroupIngressFlow(address[16], source[16], header, hopIndexAt, dataAt, dataLength, "
                           "transportAt, epoch: 0..2^32-1, key[32], untilMs, replayState, replayBits, statistics, "
                           "acl: Int32Array(4 per rule))")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    IngressTemplate made;
    int packetType = 0;
    if (!MakeTemplate(info, 2, source, address, true, &made, &packetType)) return env.Undefined();
    const AddressPair pair = AddressPairOf(address, source);
    // The same pair (its endpoint's statistics unchanged): this type's template and this epoch beside
    // the others; else the pair anew.
    auto at = groupBySender_.find(pair);
    if (at == groupBySender_.end() || at->second->statistics != statistics) {
      auto fresh = std::make_unique<GroupIngressFlow>();
      fresh->statistics = statistics;
      fresh->statisticsRef = Napi::Persistent(info[12].As<Napi::Object>());
      at = groupBySender_.insert_or_assign(pair, std::move(fresh)).first;
    }
    GroupIngressFlow& group = *at->second;
    // The epoch's slot: the one keyed for it, else the one keyed for the older epoch (or none).
    GroupEpoch* slot = nullptr;
    for (GroupEpoch& each : group.epochs)
      if (each.opener.epoch == static_cast<int64_t>(epoch)) slot = &each;
    if (slot == nullptr)
      slot = group.epochs[0].opener.epoch <= group.epochs[1].opener.epoch ? &group.epochs[0] : &group.epochs[1];
    if (slot->opener.epoch != static_cast<int64_t>(epoch) || memcmp(slot->key, key, sizeof slot->key) != 0) {
      memcpy(slot->key, key, sizeof slot->key);
      if (!slot->opener.KeyAs(key, static_cast<uint32_t>(epoch), false)) return env.Undefined();
    }
    slot->untilMs = info[9].As<Napi::Number>().DoubleValue();
    slot->replay = {replayState, replayBits, words};
    slot->replayStateRef = Napi::Persistent(info[10].As<Napi::Object>());
    slot->replayBitsRef = Napi::Persistent(info[11].As<Napi::Object>());
    group.acl = std::move(acl);
    group.templates[packetType - 1] = std::move(made);
    return env.Undefined();
  }

  Napi::Value ClearIngressFlows(const Napi::CallbackInfo& info) {
    ClearIngress();
    return info.Env().Undefined();
  }

  // setTap(peerMac: Uint8Array(6), agentMac: Uint8Array(6)) — TAP mode, as ethernet.ts's TapSegment:
  // the frames read carry an Ethernet header (egress takes IPv4 and IPv6 data frames, learning the
  // kernel's MAC into peerMac; ARP and other types go up, Neighbor Solicitations with the kernel's
  // other ND), and every packet ingress writes gets one (dst peerMac, src agentMac, the EtherType
  // of its IP version).
  // setTap(undefined): TUN mode (bare IP packets), the default.
  Napi::Value SetTap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    FlushTun();
    if (info.Length() >= 1 && info[0].IsUndefined()) {
      tapPeerMac_ = nullptr;
      tapPeerMacRef_.Reset();
      return env.Undefined();
    }
    size_t peerLength = 0, agentLength = 0;
    uint8_t* peer = info.Length() >= 2 ? TypedData<uint8_t>(info[0], napi_uint8_array, &peerLength) : nullptr;
    const uint8_t* agent = info.Length() >= 2 ? TypedData<uint8_t>(info[1], napi_uint8_array, &agentLength) : nullptr;
    if (peer == nullptr || peerLength != 6 || agent == nullptr || agentLength != 6) {
      Napi::TypeError::New(env, "setTap(peerMac: Uint8Array(6), agentMac: Uint8Array(6)) or setTap(undefined)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    tapPeerMac_ = peer;
    tapPeerMacRef_ = Napi::Persistent(info[0].As<Napi::Object>());
    memcpy(tapAgentMac_, agent, 6);
    return env.Undefined();
  }

  // attachTun(fd, vnetHeader, offloadStats: Float64Array(6)) — the TUN the ingress path writes to
  // (the device's own stats array: coalesced writes counted there); attachTun(-1) detaches it.
  Napi::Value AttachTun(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() >= 1 && info[0].IsNumber() && info[0].As<Napi::Number>().Int32Value() < 0) {
      FlushTun();
      tunFd_ = -1;
      tunStatsRef_.Reset();
      return env.Undefined();
    }
    size_t statsCount = 0;
    double* stats = info.Length() >= 3 ? TypedData<double>(info[2], napi_float64_array, &statsCount) : nullptr;
    if (!info[0].IsNumber() || !info[1].IsBoolean() || stats == nullptr || statsCount < 6) {
      Napi::TypeError::New(env, "attachTun(fd, vnetHeader, offloadStats: Float64Array(6)) or attachTun(-1)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    FlushTun();
    if (tunRing_.empty()) tunRing_.resize(kTunRingBytes);
    tunFd_ = info[0].As<Napi::Number>().Int32Value();
    tunVnetHeader_ = info[1].As<Napi::Boolean>().Value();
    tunStats_ = stats;
    tunStatsRef_ = Napi::Persistent(info[2].As<Napi::Object>());
    return env.Undefined();
  }

  // The agent's side.
  bool agentBound_ = false;
  double* sentByType_ = nullptr;
  Napi::ObjectReference sentByTypeRef_;
  double authIntervalMs_ = 0, authRepeatMs_ = 0, authRepeatForMs_ = 0, codePackets_ = 0, e2eRekeyAfterMs_ = 0,
         e2eRekeyAfterPackets_ = 0, e2eRekeyGraceMs_ = 0, maxOverlayPacketBytes_ = 0;
  double* e2eRekeys_ = nullptr;  // the plane's e2e rekeys: [0] sent, [1] received
  Napi::ObjectReference e2eRekeysRef_;
  std::unordered_map<HostKey, std::unique_ptr<EgressFlow>, HostKeyHash> egressByHost_;
  // Flows among several to one host, by (source, destination): EgressFlowSelector source.
  std::unordered_map<AddressPair, std::unique_ptr<EgressFlow>, AddressPairHash> egressByPair_;
  std::unordered_map<uint32_t, std::unique_ptr<EgressFlow>> egressByIpv4_;
  uint64_t egressOffered_ = 0, egressTaken_ = 0;
  uint32_t ownIpv4_ = 0;
  std::unordered_map<HostKey, std::unique_ptr<IngressFlow>, HostKeyHash> ingressBySource_;
  // Flows among several from one host, by (source, flow label): AgentIngressFlow byLabel.
  std::unordered_map<LabelKey, std::unique_ptr<IngressFlow>, LabelKeyHash> ingressByLabel_;
  // Role-addressed senders installed for native ingress, by (role address, sender).
  std::unordered_map<AddressPair, std::unique_ptr<GroupIngressFlow>, AddressPairHash> groupBySender_;
  uint64_t ingressOffered_ = 0, ingressTaken_ = 0, tunWriteErrors_ = 0;
  uint64_t ingressPacketsOffered_ = 0;  // of ingressOffered_: DATA frames with a packet (CarriesPacket)
  // Offered minus taken by why (AgentHandUp): packets from the TUN, frames from the socket; the
  // held ones (kAgentUpHeld: behind an earlier one of their flow in the batch) are agentStats' too.
  uint64_t egressHandedUp_[kAgentUpReasons] = {}, ingressHandedUp_[kAgentUpReasons] = {};
  int tunFd_ = -1;
  bool tunVnetHeader_ = false;
  // TAP mode (setTap): the kernel's MAC (JavaScript's TapSegment.peerMac, learned from the frames
  // either side takes) and the agent's; unset, the device carries bare IP packets.
  uint8_t* tapPeerMac_ = nullptr;
  Napi::ObjectReference tapPeerMacRef_;
  uint8_t tapAgentMac_[6] = {0};
  double* tunStats_ = nullptr;
  Napi::ObjectReference tunStatsRef_;
  std::vector<uint8_t> tunRing_;
  std::vector<int32_t> tunMeta_;
  size_t tunQueued_ = 0, tunUsed_ = 0;

  // Shared with JavaScript.
  double* engine_ = nullptr;
  double* flowDrops_ = nullptr;
  uint32_t* programReason_ = nullptr;
  uint8_t* flowMemory_ = nullptr;
  uint8_t* programState_ = nullptr;
  uint32_t* cacheDropReason_ = nullptr;  // with the per-packet program arrays
  const uint8_t* engineRecord_ = nullptr;
  int32_t* state_ = nullptr;
  double* lastSeen_ = nullptr;
  double* packets_ = nullptr;
  double* bytes_ = nullptr;
  uint8_t* lastVerdict_ = nullptr;
  uint16_t* lastReason_ = nullptr;
  uint8_t* cacheVerdict_ = nullptr;
  uint8_t* cacheCount_ = nullptr;
  uint32_t* cacheLinks_ = nullptr;
  size_t flowCapacity_ = 0;
  Napi::ObjectReference sharedRef_;
  uint32_t engineId_ = 0;
  double idleTimeoutMs_ = 0;
  // Registered by JavaScript.
  std::unordered_map<uint32_t, Session> sessions_;
  std::unordered_map<uint32_t, Sending> sending_;
  std::unordered_map<uint32_t, Traffic> traffic_;
  std::unordered_map<uint32_t, uint32_t> programOf_;  // link-layer id → program link id
  std::vector<EngineLink> links_;
  uint32_t maxProgramId_ = 0;  // the highest program link id set since clearLinks
  std::unordered_map<FlowKey, Flow, FlowKeyHash> flows_;
  std::unordered_map<uint32_t, FlowKey> keyOf_;
  std::unordered_map<uint32_t, RegisteredProgram> programs_;  // by flow id
  ProgramRunner runner_;
  // Sending.
  int fd_ = -1;
  bool isV6_ = false;
  bool segmentation_ = true;
  double batchNowMs_ = 0;
  std::vector<uint8_t> sendRing_;
  size_t ringUsed_ = 0;
  std::vector<Queued> queued_;
  std::vector<mmsghdr> sendHeaders_;
  std::vector<iovec> sendIov_;
  struct alignas(cmsghdr) Control {
    char bytes[CMSG_SPACE(sizeof(int))];
  };
  std::vector<Control> sendControl_;
  std::vector<size_t> messageCounts_;
  uint64_t taken_ = 0, offered_ = 0, sent_ = 0, sendErrors_ = 0;
  uint64_t packetsOffered_ = 0;  // of offered_: DATA frames with a packet (CarriesPacket)
  uint64_t handedUp_[kHandUpReasons] = {};  // offered_ - taken_, by why (HandUp; stats' held is kHandUpHeld)
  // The receive batch's program barrier (HandedUp).
  UpScope upScope_ = kUpNone;
  double upContract_ = 0;
  bool barrierAll_ = false;
  int barrierCount_ = 0;
  double barrierContracts_[kBarrierContracts] = {0};
  // The receive batch's flows with an authenticated frame handed up (Take).
  OrderBarrier ordered_;
  bool authentic_ = false;  // the frame CheckLinkFrame last looked at has a good tag
  bool inBatch_ = false;    // between a receive batch's first Take and its EndOfBatch
  std::unique_ptr<SignatureVerifier> verifier_;  // made by setControllerKeys
};

}  // namespace

DatagramFilter* UnwrapDatagramFilter(const Napi::Value& value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object object = value.As<Napi::Object>();
  void* unwrapped = nullptr;
  if (napi_unwrap(value.Env(), object, &unwrapped) != napi_ok) return nullptr;
  for (FastPath* candidate : liveFastPaths)
    if (static_cast<void*>(candidate) == unwrapped) return candidate;
  return nullptr;
}

PacketFilter* UnwrapPacketFilter(const Napi::Value& value) {
  if (!value.IsObject()) return nullptr;
  void* unwrapped = nullptr;
  if (napi_unwrap(value.Env(), value.As<Napi::Object>(), &unwrapped) != napi_ok) return nullptr;
  for (FastPath* candidate : liveFastPaths)
    if (static_cast<void*>(candidate) == unwrapped) return candidate;
  return nullptr;
}

void InitFastPath(Napi::Env env, Napi::Object exports) { exports.Set("FastPath", FastPath::Define(env)); }

}  // namespace capsule_native
