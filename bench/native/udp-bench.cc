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
// With `batched` as the last argument each one batches as an agent's socket does (UDP GSO and GRO,
// Linux ≥ 5.0): the blaster sends each run of up to 64 consecutive datagrams of one length as ONE
// sendmmsg entry with a UDP_SEGMENT control message; the sink and the forwarder set UDP_GRO, so
// such a run arrives as one buffer (loopback keeps it whole: nothing is segmented on the way),
// the sink counting its datagrams (length / segment size, rounded up) and the forwarder sending it
// on as it came (UDP_SEGMENT of the received segment size): per run, not per datagram, work.
//
// Loopback only (the bench's rule): every address is 127.0.0.1. No allocation per datagram.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
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
/** A receive slot when batched: one coalesced run (UDP_GRO) is at most 64 KiB. */
constexpr int kBatchedSlot = 65536;

/** One control message per mmsghdr: UDP_SEGMENT (uint16_t) sent, UDP_GRO (int) received. */
union Control {
  char bytes[CMSG_SPACE(sizeof(int))];
  cmsghdr align;
};

void EnableGro(int fd) {
  int on = 1;
  if (setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof on) != 0) {
    perror("setsockopt UDP_GRO");
    exit(1);
  }
}

/** The segment size of a coalesced receive (its UDP_GRO control message), or 0. */
int ReceivedSegmentSize(msghdr* message) {
  for (cmsghdr* control = CMSG_FIRSTHDR(message); control; control = CMSG_NXTHDR(message, control)) {
    if (control->cmsg_level == SOL_UDP && control->cmsg_type == UDP_GRO) {
      int size;
      memcpy(&size, CMSG_DATA(control), sizeof size);
      return size;
    }
  }
  return 0;
}

/** Sets `message`'s control to one UDP_SEGMENT of `size` (in `control`), or none when 0. */
void SetSegmentSize(msghdr* message, Control* control, int size) {
  if (size == 0) {
    message->msg_control = nullptr;
    message->msg_controllen = 0;
    return;
  }
  message->msg_control = control->bytes;
  message->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
  cmsghdr* header = CMSG_FIRSTHDR(message);
  header->cmsg_level = SOL_UDP;
  header->cmsg_type = UDP_SEGMENT;
  header->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t segment = static_cast<uint16_t>(size);
  memcpy(CMSG_DATA(header), &segment, sizeof segment);
}

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// 8 MiB socket buffers: past net.core.[rw]mem_max when allowed (root: SO_*BUFFORCE), else up to it.
void SetBuffers(int fd) {
  int size = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

int OpenBound(int port = 0) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    perror("socket");
    exit(1);
  }
  SetBuffers(fd);
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

int Forward(int targetPort, bool batched) {
  int fd = OpenBound();
  if (batched) EnableGro(fd);
  const int slot = batched ? kBatchedSlot : kSlot;
  sockaddr_in to = Loopback(targetPort);
  static std::vector<char> slots;
  slots.resize(static_cast<size_t>(kBatch) * slot);
  static Control inControl[kBatch], outControl[kBatch];
  mmsghdr in[kBatch], out[kBatch];
  iovec inVec[kBatch], outVec[kBatch];
  for (int i = 0; i < kBatch; i++) {
    inVec[i] = {slots.data() + static_cast<size_t>(i) * slot, static_cast<size_t>(slot)};
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
    if (batched) {
      for (int i = 0; i < kBatch; i++) {
        in[i].msg_hdr.msg_control = inControl[i].bytes;
        in[i].msg_hdr.msg_controllen = sizeof inControl[i].bytes;
      }
    }
    int count = recvmmsg(fd, in, kBatch, MSG_WAITFORONE, nullptr);
    if (count < 0) {
      if (errno == EINTR) continue;
      perror("recvmmsg");
      return 1;
    }
    for (int i = 0; i < count; i++) {
      outVec[i] = {inVec[i].iov_base, in[i].msg_len};
      int segment = batched ? ReceivedSegmentSize(&in[i].msg_hdr) : 0;
      SetSegmentSize(&out[i].msg_hdr, &outControl[i], segment > 0 && in[i].msg_len > static_cast<unsigned>(segment) ? segment : 0);
    }
    int done = 0;
    while (done < count) {
      int sent = sendmmsg(fd, out + done, count - done, 0);
      if (sent <= 0) break;  // dropped, as a router would
      done += sent;
    }
  }
}

int Sink(int port, bool batched) {
  int fd = OpenBound(port);
  if (batched) EnableGro(fd);
  const int slot = batched ? kBatchedSlot : kSlot;
  static std::vector<char> slots;
  slots.resize(static_cast<size_t>(kBatch) * slot);
  static Control control[kBatch];
  mmsghdr in[kBatch];
  iovec inVec[kBatch];
  for (int i = 0; i < kBatch; i++) {
    inVec[i] = {slots.data() + static_cast<size_t>(i) * slot, static_cast<size_t>(slot)};
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
    if (batched) {
      for (int i = 0; i < kBatch; i++) {
        in[i].msg_hdr.msg_control = control[i].bytes;
        in[i].msg_hdr.msg_controllen = sizeof control[i].bytes;
      }
    }
    int got = recvmmsg(fd, in, kBatch, MSG_DONTWAIT, nullptr);
    if (got <= 0) continue;
    double now = NowSeconds();
    if (count == 0) first = now;
    last = now;
    if (!batched) {
      count += got;
      continue;
    }
    for (int i = 0; i < got; i++) {
      long segment = ReceivedSegmentSize(&in[i].msg_hdr);
      count += segment > 0 ? (in[i].msg_len + segment - 1) / segment : 1;
    }
  }
}

int Blast(int port, const char* file, int repeat, bool batched) {
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
  // What one sendmmsg entry carries: one datagram, or (batched) a run of up to kBatch consecutive
  // datagrams of one length, at most 65,000 bytes, as one UDP GSO buffer.
  struct Entry {
    size_t first;
    int count;
  };
  std::vector<Entry> entries;
  for (size_t at = 0; at < datagrams.size();) {
    int count = 1;
    if (batched) {
      size_t length = datagrams[at].iov_len;
      while (count < kBatch && at + count < datagrams.size() && datagrams[at + count].iov_len == length &&
             (count + 1) * length <= 65000)
        count++;
    }
    entries.push_back({at, count});
    at += count;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  SetBuffers(fd);
  sockaddr_in to = Loopback(port);
  mmsghdr out[kBatch];
  static Control control[kBatch];
  long sent = 0;
  double start = NowSeconds();
  for (int r = 0; r < repeat; r++) {
    for (size_t at = 0; at < entries.size();) {
      int count = 0;
      for (; count < kBatch && at + count < entries.size(); count++) {
        const Entry& entry = entries[at + count];
        out[count] = {};
        out[count].msg_hdr.msg_iov = &datagrams[entry.first];
        out[count].msg_hdr.msg_iovlen = entry.count;
        out[count].msg_hdr.msg_name = &to;
        out[count].msg_hdr.msg_namelen = sizeof to;
        SetSegmentSize(&out[count].msg_hdr, &control[count], entry.count > 1 ? datagrams[entry.first].iov_len : 0);
      }
      int done = sendmmsg(fd, out, count, 0);
      if (done <= 0) {
        if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
        perror("sendmmsg");
        return 1;
      }
      for (int i = 0; i < done; i++) sent += entries[at + i].count;
      at += done;
    }
  }
  printf("{\"sent\":%ld,\"seconds\":%.6f}\n", sent, NowSeconds() - start);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // `batched` is the last argument when given (see the top of this file).
  bool batched = argc >= 3 && strcmp(argv[argc - 1], "batched") == 0;
  if (batched) argc--;
  if (argc >= 3 && strcmp(argv[1], "forward") == 0) return Forward(atoi(argv[2]), batched);
  if (argc >= 2 && strcmp(argv[1], "sink") == 0) return Sink(argc >= 3 ? atoi(argv[2]) : 0, batched);
  if (argc >= 4 && strcmp(argv[1], "blast") == 0)
    return Blast(atoi(argv[2]), argv[3], argc >= 5 ? atoi(argv[4]) : 1, batched);
  fprintf(stderr, "usage: udp-bench forward TARGET_PORT | sink [PORT] | blast PORT FILE [REPEAT]  [batched]\n");
  return 2;
}
