// TUN offloads: TSO split and GRO-style coalescing (tun-offload.h has the contracts).
#include "tun-offload.h"

#include <string.h>

namespace capsule_native {
namespace {

constexpr uint8_t kProtocolTcp = 6;
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kTcpCwr = 0x80;
constexpr size_t kTcpChecksumOffset = 16;
constexpr size_t kMaxIpPacket = 65535;

uint16_t Read16(const uint8_t* at) { return static_cast<uint16_t>((at[0] << 8) | at[1]); }
uint32_t Read32(const uint8_t* at) {
  return (static_cast<uint32_t>(at[0]) << 24) | (static_cast<uint32_t>(at[1]) << 16) |
         (static_cast<uint32_t>(at[2]) << 8) | at[3];
}
void Write16(uint8_t* at, uint16_t value) {
  at[0] = static_cast<uint8_t>(value >> 8);
  at[1] = static_cast<uint8_t>(value);
}
void Write32(uint8_t* at, uint32_t value) {
  at[0] = static_cast<uint8_t>(value >> 24);
  at[1] = static_cast<uint8_t>(value >> 16);
  at[2] = static_cast<uint8_t>(value >> 8);
  at[3] = static_cast<uint8_t>(value);
}

// The pseudo-header sum (RFC 793 / RFC 8200 8.1) of a TCP segment of `tcpLength` bytes in the
// IP packet at `ip` (version 4 or 6), not folded.
uint64_t PseudoHeaderSum(const uint8_t* ip, size_t tcpLength) {
  uint64_t sum = (ip[0] >> 4) == 4 ? ChecksumAdd(ip + 12, 8, 0) : ChecksumAdd(ip + 8, 32, 0);
  return sum + kProtocolTcp + tcpLength;
}

// The IPv4 header checksum of the header at `ip`, written into it.
void WriteIpv4HeaderChecksum(uint8_t* ip, size_t headerLength) {
  Write16(ip + 10, 0);
  Write16(ip + 10, static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(ip, headerLength, 0))));
}

// Whether the TCP checksum of the segment ip[l4, length) verifies.
bool TcpChecksumValid(const uint8_t* ip, size_t l4, size_t length) {
  return ChecksumFold(ChecksumAdd(ip + l4, length - l4, PseudoHeaderSum(ip, length - l4))) == 0xffff;
}

// What a packet is for coalescing: a TCP segment of IPv4 without options (not fragmented) or IPv6
// without extension headers, whose lengths agree with the bytes, with a payload; else false.
struct Segment {
  size_t ipLength;   // 20 or 40
  size_t headerLength;  // IP + TCP
  size_t payload;
  uint32_t sequence;
  uint8_t flags;
};

bool AsSegment(const uint8_t* ip, size_t length, Segment* segment) {
  if (length < 40 || length > kMaxIpPacket) return false;
  uint8_t version = ip[0] >> 4;
  size_t ipLength;
  if (version == 4) {
    if ((ip[0] & 0x0f) != 5 || ip[9] != kProtocolTcp || Read16(ip + 2) != length) return false;
    if ((ip[6] & 0x20) != 0 || (Read16(ip + 6) & 0x1fff) != 0) return false;  // a fragment
    ipLength = 20;
  } else if (version == 6) {
    if (length < 60 || ip[6] != kProtocolTcp || Read16(ip + 4) != length - 40) return false;
    ipLength = 40;
  } else {
    return false;
  }
  size_t tcpLength = static_cast<size_t>(ip[ipLength + 12] >> 4) * 4;
  if (tcpLength < 20 || ipLength + tcpLength >= length) return false;  // no payload: not merged
  segment->ipLength = ipLength;
  segment->headerLength = ipLength + tcpLength;
  segment->payload = length - ipLength - tcpLength;
  segment->sequence = Read32(ip + ipLength + 4);
  segment->flags = ip[ipLength + 13];
  return true;
}

// Whether `next` may follow `head` in one coalesced packet, header fields only (sequence, sizes
// and checksums are the caller's): same connection, ack, window, options and IP fields.
bool SameStream(const uint8_t* head, const Segment& h, const uint8_t* next, const Segment& n) {
  if (h.ipLength != n.ipLength || h.headerLength != n.headerLength) return false;
  size_t ip = h.ipLength;
  if (ip == 20) {
    // TOS, DF and reserved bits, TTL; addresses.
    if (head[1] != next[1] || (head[6] >> 5) != (next[6] >> 5) || head[8] != next[8]) return false;
    if (memcmp(head + 12, next + 12, 8) != 0) return false;
  } else {
    // Traffic class (across bytes 0 and 1), hop limit; addresses.
    if (head[0] != next[0] || (head[1] >> 4) != (next[1] >> 4) || head[7] != next[7]) return false;
    if (memcmp(head + 8, next + 8, 32) != 0) return false;
  }
  // Ports (0..4), ack (8..12), data offset (12), window (14..16), options (20..).
  const uint8_t* a = head + ip;
  const uint8_t* b = next + ip;
  return memcmp(a, b, 4) == 0 && memcmp(a + 8, b + 8, 5) == 0 && memcmp(a + 14, b + 14, 2) == 0 &&
         memcmp(a + 20, b + 20, h.headerLength - ip - 20) == 0;
}

// Whether `next` surely belongs to another connection than the segment `head` (so a run of `head`
// may skip over it): another IP version or other addresses, a protocol that is not TCP (IPv4, or
// IPv6 with ICMPv6 or UDP next), or TCP with other ports. False when it may be the same
// connection (same addresses and ports, or an IPv6 extension header hides the protocol).
bool OtherConnection(const uint8_t* head, const Segment& h, const uint8_t* next, size_t length) {
  if (length < 20 || (next[0] >> 4) != (head[0] >> 4)) return true;
  size_t ports;
  if (h.ipLength == 20) {
    if (memcmp(head + 12, next + 12, 8) != 0 || next[9] != kProtocolTcp) return true;
    ports = static_cast<size_t>(next[0] & 0x0f) * 4;
    if ((Read16(next + 6) & 0x1fff) != 0) return false;  // a later fragment: no ports to compare
  } else {
    if (length < 40 || memcmp(head + 8, next + 8, 32) != 0) return true;
    if (next[6] == 58 || next[6] == 17) return true;
    if (next[6] != kProtocolTcp) return false;
    ports = 40;
  }
  if (ports + 4 > length) return false;
  return memcmp(head + h.ipLength, next + ports, 4) != 0;
}

}  // namespace

uint64_t ChecksumAdd(const uint8_t* bytes, size_t length, uint64_t sum) {
  // 16 bytes a step as 32-bit words in the machine's byte order, folded to 16 bits and put in
  // network order at the end: a ones' complement sum does not depend on the byte order of its
  // words (RFC 1071, 2(B)), and a nonzero sum folds to a nonzero one, so the result is the same.
  uint64_t native = 0;
  size_t i = 0;
  for (; i + 16 <= length; i += 16) {
    uint32_t words[4];
    memcpy(words, bytes + i, 16);
    native += static_cast<uint64_t>(words[0]) + words[1] + words[2] + words[3];
  }
  for (; i + 4 <= length; i += 4) {
    uint32_t word;
    memcpy(&word, bytes + i, 4);
    native += word;
  }
  while (native >> 16) native = (native & 0xffff) + (native >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  sum += __builtin_bswap16(static_cast<uint16_t>(native));
#else
  sum += native;
#endif
  for (; i + 2 <= length; i += 2) sum += Read16(bytes + i);
  if (i < length) sum += static_cast<uint64_t>(bytes[i]) << 8;
  return sum;
}

uint16_t ChecksumFold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

int SplitVirtioPacket(const VirtioNetHeader& header, uint8_t* buffer, size_t at, size_t length, size_t capacity,
                      int32_t* meta, size_t metaPairs) {
  if (metaPairs == 0) return kSplitNoRoom;
  uint8_t* packet = buffer + at;
  uint8_t gsoType = header.gsoType & static_cast<uint8_t>(~kVirtioGsoEcn);
  if (gsoType == kVirtioGsoNone) {
    if ((header.flags & kVirtioNeedsChecksum) != 0) {
      size_t start = header.csumStart;
      size_t field = start + header.csumOffset;
      if (start >= length || field + 2 > length || header.csumOffset < 2 || (header.csumOffset & 1) != 0)
        return kSplitMalformed;
      // The field holds the pseudo-header sum: the checksum of [start, end) with it is the answer.
      Write16(packet + field, static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(packet + start, length - start, 0))));
    }
    meta[0] = static_cast<int32_t>(at);
    meta[1] = static_cast<int32_t>(length);
    return 1;
  }
  if ((gsoType != kVirtioGsoTcpV4 && gsoType != kVirtioGsoTcpV6) || (header.flags & kVirtioNeedsChecksum) == 0 ||
      header.csumOffset != kTcpChecksumOffset || header.gsoSize == 0 || length > kMaxIpPacket || length < 40)
    return kSplitMalformed;
  size_t ipLength = header.csumStart;
  if (gsoType == kVirtioGsoTcpV4) {
    if ((packet[0] >> 4) != 4 || (packet[0] & 0x0f) < 5 || ipLength != static_cast<size_t>(packet[0] & 0x0f) * 4 ||
        packet[9] != kProtocolTcp)
      return kSplitMalformed;
  } else if ((packet[0] >> 4) != 6 || ipLength != 40 || packet[6] != kProtocolTcp) {
    return kSplitMalformed;  // IPv6 extension headers: the kernel does not make TSO packets with them here
  }
  if (ipLength + 20 > length) return kSplitMalformed;
  size_t tcpLength = static_cast<size_t>(packet[ipLength + 12] >> 4) * 4;
  size_t headerLength = ipLength + tcpLength;
  if (tcpLength < 20 || headerLength > length) return kSplitMalformed;
  size_t gso = header.gsoSize;
  size_t payload = length - headerLength;
  size_t segments = payload == 0 ? 1 : (payload + gso - 1) / gso;
  if (headerLength + (payload < gso ? payload : gso) > kMaxIpPacket) return kSplitMalformed;
  if (segments > metaPairs || length + (segments - 1) * headerLength > capacity) return kSplitNoRoom;
  uint16_t firstId = Read16(packet + 4);
  uint32_t firstSequence = Read32(packet + ipLength + 4);
  // Last segment first: each one's new place starts at or after where its payload is now, so
  // moving them back to front never overwrites a payload not moved yet (segment 0 stays put).
  for (size_t k = segments; k-- > 0;) {
    size_t from = headerLength + k * gso;
    size_t chunk = payload - k * gso < gso ? payload - k * gso : gso;
    if (payload == 0) chunk = 0;
    uint8_t* out = packet + k * (headerLength + gso);
    if (k > 0) {
      memmove(out + headerLength, packet + from, chunk);
      memcpy(out, packet, headerLength);
    }
    size_t segmentLength = headerLength + chunk;
    if (gsoType == kVirtioGsoTcpV4) {
      Write16(out + 2, static_cast<uint16_t>(segmentLength));
      Write16(out + 4, static_cast<uint16_t>(firstId + k));
      WriteIpv4HeaderChecksum(out, ipLength);
    } else {
      Write16(out + 4, static_cast<uint16_t>(segmentLength - 40));
    }
    uint8_t* tcp = out + ipLength;
    Write32(tcp + 4, firstSequence + static_cast<uint32_t>(k * gso));
    if (k + 1 < segments) tcp[13] &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (k > 0) tcp[13] &= static_cast<uint8_t>(~kTcpCwr);
    Write16(tcp + kTcpChecksumOffset, 0);
    uint64_t sum = ChecksumAdd(tcp, segmentLength - ipLength, PseudoHeaderSum(out, segmentLength - ipLength));
    Write16(tcp + kTcpChecksumOffset, static_cast<uint16_t>(~ChecksumFold(sum)));
    meta[2 * k] = static_cast<int32_t>(at + k * (headerLength + gso));
    meta[2 * k + 1] = static_cast<int32_t>(segmentLength);
  }
  return static_cast<int>(segments);
}

void PlanCoalescedWrite(uint8_t* data, const int32_t* meta, size_t count, size_t first, uint8_t* written,
                        CoalescedWrite* plan) {
  memset(&plan->header, 0, sizeof plan->header);
  plan->count = 1;
  plan->packets[0] = first;
  plan->payloadOffset = 0;
  written[first] = 1;
  uint8_t* head = data + meta[2 * first];
  size_t headLength = static_cast<size_t>(meta[2 * first + 1]);
  Segment h;
  // The head must be a plain ACK (a PSH, FIN, SYN, RST, URG or CWR segment ends a run at once).
  if (!AsSegment(head, headLength, &h) || h.flags != kTcpAck || !TcpChecksumValid(head, h.ipLength, headLength))
    return;
  size_t total = headLength;
  bool lastHasPush = false;
  size_t scanEnd = first + 1 + kCoalesceScanPackets < count ? first + 1 + kCoalesceScanPackets : count;
  for (size_t j = first + 1; j < scanEnd && plan->count < kMaxCoalescedSegments; j++) {
    if (written[j]) continue;
    uint8_t* next = data + meta[2 * j];
    size_t nextLength = static_cast<size_t>(meta[2 * j + 1]);
    if (OtherConnection(head, h, next, nextLength)) continue;
    Segment n;
    if (!AsSegment(next, nextLength, &n) || (n.flags != kTcpAck && n.flags != (kTcpAck | kTcpPsh)) ||
        n.payload > h.payload || !SameStream(head, h, next, n) ||
        n.sequence != h.sequence + static_cast<uint32_t>(total - h.headerLength) ||
        total + n.payload > kMaxIpPacket + (h.ipLength == 40 ? 40 : 0) ||
        (h.ipLength == 20 && Read16(next + 4) != static_cast<uint16_t>(Read16(head + 4) + plan->count)) ||
        !TcpChecksumValid(next, n.ipLength, nextLength))
      break;  // the same connection's next packet does not extend the run: it must come after it
    total += n.payload;
    plan->packets[plan->count++] = j;
    written[j] = 1;
    if (n.flags != kTcpAck || n.payload < h.payload) {
      lastHasPush = n.flags != kTcpAck;
      break;  // PSH or a short segment ends the run
    }
  }
  if (plan->count < 2) return;
  plan->payloadOffset = h.headerLength;
  size_t ip = h.ipLength;
  if (ip == 20) {
    Write16(head + 2, static_cast<uint16_t>(total));
    WriteIpv4HeaderChecksum(head, 20);
  } else {
    Write16(head + 4, static_cast<uint16_t>(total - 40));
  }
  uint8_t* tcp = head + ip;
  if (lastHasPush) tcp[13] |= kTcpPsh;
  Write16(tcp + kTcpChecksumOffset, ChecksumFold(PseudoHeaderSum(head, total - ip)));
  plan->header.flags = kVirtioNeedsChecksum;
  plan->header.gsoType = ip == 20 ? kVirtioGsoTcpV4 : kVirtioGsoTcpV6;
  plan->header.hdrLen = static_cast<uint16_t>(h.headerLength);
  plan->header.gsoSize = static_cast<uint16_t>(h.payload);
  plan->header.csumStart = static_cast<uint16_t>(ip);
  plan->header.csumOffset = kTcpChecksumOffset;
}

}  // namespace capsule_native
