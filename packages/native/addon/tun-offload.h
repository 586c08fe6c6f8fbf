// TUN offloads (IFF_VNET_HDR): the virtio-net header the kernel puts before every packet a TUN
// device with offloads reads and writes, the split of a TCP super-packet (TSO) into the
// MTU-sized segments it stands for, and the coalescing of consecutive segments of one TCP
// connection into one super-packet for a write (what GRO does on a network card). Pure functions
// over caller-owned bytes, no I/O: tun-device.cc does the reads and writes, and the addon exports
// two of them for tests (splitVirtioPacket, coalescePackets).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace capsule_native {

// struct virtio_net_hdr (include/uapi/linux/virtio_net.h), host byte order (the TUN default: no
// TUNSETVNETLE/BE), 10 bytes before each packet:
//
//   0        1          2          4          6            8             10
//   | flags  | gso_type | hdr_len  | gso_size | csum_start | csum_offset |
//
// flags: NEEDS_CSUM (1): the L4 checksum at csum_start + csum_offset holds only the
// pseudo-header sum; whoever takes the packet completes it. gso_type: NONE (0), TCPV4 (1),
// TCPV6 (4), with ECN (0x80) when the stream uses ECN; gso_size is then the TCP payload of
// each segment (the MSS) and the packet is up to 64 KiB of them behind one header.
struct VirtioNetHeader {
  uint8_t flags;
  uint8_t gsoType;
  uint16_t hdrLen;
  uint16_t gsoSize;
  uint16_t csumStart;
  uint16_t csumOffset;
};
static_assert(sizeof(VirtioNetHeader) == 10, "virtio_net_hdr is 10 bytes");

constexpr size_t kVirtioNetHeaderLength = sizeof(VirtioNetHeader);
constexpr uint8_t kVirtioNeedsChecksum = 1;
constexpr uint8_t kVirtioGsoNone = 0;
constexpr uint8_t kVirtioGsoTcpV4 = 1;
constexpr uint8_t kVirtioGsoTcpV6 = 4;
constexpr uint8_t kVirtioGsoEcn = 0x80;

// Segments a coalesced write carries at most (and so a split may make, with room permitting).
constexpr size_t kMaxCoalescedSegments = 64;

// Why SplitVirtioPacket refused a packet (a negative result).
constexpr int kSplitMalformed = -1;  // the header or the packet's IP/TCP headers do not add up
constexpr int kSplitNoRoom = -2;     // the segments would not fit in `capacity` bytes or `metaPairs`

// The packet at buffer[at, at + length) came with `header`. Turns it into the packets it stands
// for, in place, laid out from `at` on: a plain packet stays as it is (its checksum completed when
// NEEDS_CSUM); a TCP super-packet becomes ceil(payload / gso_size) segments, each with its own IP
// and TCP header (lengths, IPv4 id + k and header checksum, sequence number, FIN/PSH only on the
// last, CWR only on the first, full TCP checksum). buffer[at, at + capacity) may be used. Writes
// [offset, length] pairs into meta (at most metaPairs) and returns their count, or kSplitMalformed
// / kSplitNoRoom. Never reads or writes outside buffer[at, at + max(length, capacity)).
int SplitVirtioPacket(const VirtioNetHeader& header, uint8_t* buffer, size_t at, size_t length, size_t capacity,
                      int32_t* meta, size_t metaPairs);

// One write of a batch: its packets in write order (indices into the batch; the first is the head,
// count > 1: coalesced into it, its headers rewritten, the others contributing their TCP payload
// from payloadOffset on) and the virtio header to write before them.
struct CoalescedWrite {
  size_t count;
  size_t packets[kMaxCoalescedSegments];
  size_t payloadOffset;  // IP + TCP header length of every packet of the group
  VirtioNetHeader header;
};

// Packets looked at past the head for a packet that extends its run (bounds the work per write).
constexpr size_t kCoalesceScanPackets = 128;

// Plans the write of packet `first` of a batch (packet i = data[meta[2i], + meta[2i+1]), ranges
// already checked by the caller; written[i] != 0 for packets already planned): the head and the
// later packets of the batch that are its next TCP segments, as the kernel's GRO would merge
// them — same addresses, ports, ack, window, TCP options, IP TOS/TTL/DF (IPv4, no options, not
// fragmented) or traffic class and hop limit (IPv6, no extension headers); only ACK (the last may
// add PSH); sequence numbers end to end (and IPv4 ids, so that a split gives the same packets
// back); every payload the first one's size but the last, which
// may be shorter; checksums valid; at most kMaxCoalescedSegments and 64 KiB. Packets of other
// connections in between are skipped (written later, in their order); the first packet of the
// same connection (or one whose connection cannot be told) that cannot extend the run ends it,
// so no connection's packets are reordered. A run of two or more gets its head's headers
// rewritten for the whole (lengths, IPv4 header checksum, PSH of the last, TCP checksum field =
// the pseudo-header sum) and a TCPV4/TCPV6 header with NEEDS_CSUM; anything else is one packet
// with an empty header. Marks the packets it takes in `written`.
void PlanCoalescedWrite(uint8_t* data, const int32_t* meta, size_t count, size_t first, uint8_t* written,
                        CoalescedWrite* plan);

// The Internet checksum (RFC 1071) of bytes[0, length) added to `sum`, not folded.
uint64_t ChecksumAdd(const uint8_t* bytes, size_t length, uint64_t sum);
// Folds a sum to 16 bits (not complemented).
uint16_t ChecksumFold(uint64_t sum);

}  // namespace capsule_native
