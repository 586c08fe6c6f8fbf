// The native UDP tools of `npm run bench -- engine`, built from this file with g++ by the bench
// (bench/native-tools.ts): the baseline forwarder the engine is compared with, and the sender and
// receiver fast enough not to be what is measured.
//
//   udp-bench forward TARGET_PORT      bind 127.0.0.1:0, print the port, then forever: recvmmsg up
//                                      to 64 datagrams, sendmmsg them unchanged to TARGET_PORT
//   udp-bench sink [PORT]              bind 127.0.0.1:PORT (default 0), print it, then count datagrams; after
//                                      each burst (nothing for 300 ms) print one JSON line
//                                      {"count":N,"seconds":S} (S: first to last datagram) and reset
//   udp-bench blast PORT FILE [REPEAT] send the datagrams of FILE (each a u16 little-endian length,
//                                      then the bytes) to 127.0.0.1:PORT with sendmmsg, 64 at a time,
//                                      REPEAT times over (default 1), then print {"sent":N,"seconds":S}
//
// Loopback only (the bench's rule): every address is 127.0.0.1. No allocation per datagram.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vector>

namespace {

constexpr int kBatch = 64;
constexpr int kSlot = 2048;

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int OpenBound(int port = 0) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    perror("socket");
    exit(1);
  }
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  local.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    perror("bind");
    exit(1);
  }
  socklen_t length = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  printf("{\"port\":%d}\n", ntohs(local.sin_port));
  fflush(stdout);
  return fd;
}

sockaddr_in Loopback(int port) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(port);
  return to;
}

int Forward(int targetPort) {
  int fd = OpenBound();
  sockaddr_in to = Loopback(targetPort);
  static char slots[kBatch][kSlot];
  mmsghdr in[kBatch], out[kBatch];
  iovec inVec[kBatch], outVec[kBatch];
  for (int i = 0; i < kBatch; i++) {
    inVec[i] = {slots[i], kSlot};
    in[i] = {};
    in[i].msg_hdr.msg_iov = &inVec[i];
    in[i].msg_hdr.msg_iovlen = 1;
    out[i] = {};
    out[i].msg_hdr.msg_iov = &outVec[i];
    out[i].msg_hdr.msg_iovlen = 1;
    out[i].msg_hdr.msg_name = &to;
    out[i].msg_hdr.msg_namelen = sizeof to;
  }
  for (;;) {
    int count = recvmmsg(fd, in, kBatch, MSG_WAITFORONE, nullptr);
    if (count < 0) {
      if (errno == EINTR) continue;
      perror("recvmmsg");
      return 1;
    }
    for (int i = 0; i < count; i++) outVec[i] = {slots[i], in[i].msg_len};
    int done = 0;
    while (done < count) {
      int sent = sendmmsg(fd, out + done, count - done, 0);
      if (sent <= 0) break;  // dropped, as a router would
      done += sent;
    }
  }
}

int Sink(int port) {
  int fd = OpenBound(port);
  static char slots[kBatch][kSlot];
  mmsghdr in[kBatch];
  iovec inVec[kBatch];
  for (int i = 0; i < kBatch; i++) {
    inVec[i] = {slots[i], kSlot};
    in[i] = {};
    in[i].msg_hdr.msg_iov = &inVec[i];
    in[i].msg_hdr.msg_iovlen = 1;
  }
  long count = 0;
  double first = 0, last = 0;
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int ready = poll(&p, 1, 300);
    if (ready == 0) {
      if (count > 0) {
        printf("{\"count\":%ld,\"seconds\":%.6f}\n", count, last - first);
        fflush(stdout);
      }
      count = 0;
      continue;
    }
    int got = recvmmsg(fd, in, kBatch, MSG_DONTWAIT, nullptr);
    if (got <= 0) continue;
    double now = NowSeconds();
    if (count == 0) first = now;
    last = now;
    count += got;
  }
}

int Blast(int port, const char* file, int repeat) {
  FILE* f = fopen(file, "rb");
  if (!f) {
    perror(file);
    return 1;
  }
  std::vector<unsigned char> bytes;
  unsigned char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, f)) > 0) bytes.insert(bytes.end(), buffer, buffer + n);
  fclose(f);
  std::vector<iovec> datagrams;
  for (size_t at = 0; at + 2 <= bytes.size();) {
    size_t length = bytes[at] | (bytes[at + 1] << 8);
    at += 2;
    if (at + length > bytes.size()) break;
    datagrams.push_back({bytes.data() + at, length});
    at += length;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  sockaddr_in to = Loopback(port);
  mmsghdr out[kBatch];
  long sent = 0;
  double start = NowSeconds();
  for (int r = 0; r < repeat; r++) {
    for (size_t at = 0; at < datagrams.size();) {
      int count = 0;
      for (; count < kBatch && at + count < datagrams.size(); count++) {
        out[count] = {};
        out[count].msg_hdr.msg_iov = &datagrams[at + count];
        out[count].msg_hdr.msg_iovlen = 1;
        out[count].msg_hdr.msg_name = &to;
        out[count].msg_hdr.msg_namelen = sizeof to;
      }
      int done = sendmmsg(fd, out, count, 0);
      if (done <= 0) {
        if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
        perror("sendmmsg");
        return 1;
      }
      at += done;
      sent += done;
    }
  }
  printf("{\"sent\":%ld,\"seconds\":%.6f}\n", sent, NowSeconds() - start);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "forward") == 0) return Forward(atoi(argv[2]));
  if (argc >= 2 && strcmp(argv[1], "sink") == 0) return Sink(argc >= 3 ? atoi(argv[2]) : 0);
  if (argc >= 4 && strcmp(argv[1], "blast") == 0) return Blast(atoi(argv[2]), argv[3], argc >= 5 ? atoi(argv[4]) : 1);
  fprintf(stderr, "usage: udp-bench forward TARGET_PORT | sink [PORT] | blast PORT FILE [REPEAT]\n");
  return 2;
}
