// The hook between a UdpSocket and a filter that takes some datagrams before JavaScript sees
// them (the engine's fast path, fast-path.cc). Called on Node's loop thread, inside the socket's
// poll callback: no locking.
#pragma once

#include <napi.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace capsule_native {

class DatagramFilter {
 public:
  virtual ~DatagramFilter() = default;
  // The socket the filter sends on (its fd and whether it is an IPv6, dual-stack socket).
  virtual void Attach(int fd, bool isV6) = 0;
  // Offered every received datagram (GRO buffers already split): true when the filter took it
  // (JavaScript does not see it). It may modify the bytes only when it takes the datagram.
  virtual bool Take(uint8_t* data, size_t length, const sockaddr_storage& from) = 0;
  // After Take returned false: whether the datagram is a DATA frame whose link tag the filter
  // verified with the session its receiver index names, the replay window checked but not marked.
  // The socket passes it on (kMetaAuthenticated) so that JavaScript does not compute the tag again.
  virtual bool Authentic() const = 0;
  // The end of one receive batch: send what the taken datagrams produced.
  virtual void EndOfBatch() = 0;
};

// The filter behind a JavaScript FastPath object, or nullptr.
DatagramFilter* UnwrapDatagramFilter(const Napi::Value& value);

// The hook between a TUN Reader and a filter that takes some packets before JavaScript sees them
// (the agent's egress fast path, fast-path.cc). Called on Node's loop thread, inside the reader's
// poll callback, once per batch: no locking.
class PacketFilter {
 public:
  virtual ~PacketFilter() = default;
  // Offered the batch's packets in order (packet i = data[meta[2i], + meta[2i+1])): takes some,
  // compacts meta to the ones JavaScript must see (in their order) and returns their count. It
  // sends what it took before it returns, so that nothing it took is sent after a packet of the
  // batch JavaScript sends.
  virtual size_t TakePackets(const uint8_t* data, int32_t* meta, size_t count) = 0;
};

// The packet filter behind a JavaScript FastPath object, or nullptr.
PacketFilter* UnwrapPacketFilter(const Napi::Value& value);

}  // namespace capsule_native
