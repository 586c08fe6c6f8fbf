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
  // The end of one receive batch: send what the taken datagrams produced.
  virtual void EndOfBatch() = 0;
};

// The filter behind a JavaScript FastPath object, or nullptr.
DatagramFilter* UnwrapDatagramFilter(const Napi::Value& value);

}  // namespace capsule_native
