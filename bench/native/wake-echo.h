// The UDP echo of `npm run bench -- wake`, shared by the C process (wake.cc) and the Node addon
// (wake-addon.cc): a socket on 127.0.0.1, and the two ways it answers what it reads.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

namespace wake_echo {

inline sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A UDP socket bound to 127.0.0.1:`port` (0: any); -1 when it cannot be.
inline int OpenSocket(int port) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in address = Loopback(port);
  if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) return -1;
  return fd;
}

// The port `fd` is bound to.
inline int BoundPort(int fd) {
  sockaddr_in bound{};
  socklen_t length = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  return ntohs(bound.sin_port);
}

// Reads one datagram (blocking when `flags` is 0, else as they say) and sends it back; false when
// nothing was read.
inline bool EchoOne(int fd, int flags) {
  unsigned char buffer[2048];
  sockaddr_in from{};
  socklen_t length = sizeof from;
  const ssize_t n = recvfrom(fd, buffer, sizeof buffer, flags, reinterpret_cast<sockaddr*>(&from), &length);
  if (n < 0) return false;
  sendto(fd, buffer, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), length);
  return true;
}

// Answers forever, blocked in recvfrom between datagrams.
[[noreturn]] inline void EchoBlocking(int fd) {
  for (;;) EchoOne(fd, 0);
}

// Answers what is queued on `fd` without blocking.
inline void EchoQueued(int fd) {
  while (EchoOne(fd, MSG_DONTWAIT)) {
  }
}

}  // namespace wake_echo
