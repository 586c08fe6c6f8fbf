// UDP sockets read with recvmmsg() and written with sendmmsg() in batches on Node's loop, with
// Linux UDP GSO/GRO where the kernel has them (one call into JavaScript per batch).
//
// new UdpSocket(host, port, receiveBufferBytes, sendBufferBytes,
//               receiveBuffer, receiveSlotBytes, receiveMeta: Int32Array,
//               sendBuffer, sendMeta: Int32Array, onDatagrams(count, errno))
//   A UDP socket (IPv6 and dual-stack when host contains ':', else IPv4), bound, non-blocking,
//   SO_RCVBUF/SO_SNDBUF set when > 0, polled with uv_poll. On each wake-up it reads up to
//   receiveMeta.length / 8 datagrams with one recvmmsg() into fixed slots of receiveSlotBytes and
//   calls onDatagrams(count, 0) for each full metadata array or the rest of one recvmmsg (at most
//   16 recvmmsg per wake-up). Per datagram i, receiveMeta[8i ...] = [offset in receiveBuffer,
//   length (-1: longer than its slot, truncated), port, family (4|6), address bytes (4 or 16,
//   network order, in the next 4 int32s)]; the family has 0x100 added when the attached filter
//   handed up a frame whose link tag it verified (DatagramFilter::Authentic). A pending socket
//   error (an ICMP unreachable for an earlier send, say) is reported as onDatagrams(0, errno) and
//   reading goes on. The callback must consume the datagrams before it returns.
//   flush(count) sends datagrams 0..count-1 of sendMeta: sendMeta[8i ...] = [offset in sendBuffer,
//   length, port, family, address bytes]. Never blocks: on EAGAIN the rest is dropped; a datagram
//   the kernel refuses (EMSGSIZE, unreachable) is skipped. Returns how many were not sent.
//   Offloads (Linux UDP GSO/GRO, used when the kernel has them): flush() sends a run of datagrams
//   that are adjacent in sendBuffer, go to the same address and have one size (the last may be
//   shorter) as ONE sendmmsg entry with a UDP_SEGMENT control message: the stack carries one
//   buffer through IP, veth and bridges and cuts it into datagrams only where it must. With
//   receiveSlotBytes >= 65,535 the socket sets UDP_GRO: such a run arrives as one buffer that
//   OnPoll splits back into datagrams (the UDP_GRO control message gives the segment size), so
//   the receiver sees exactly the datagrams that were sent. A GSO send the kernel refuses
//   (EINVAL: segment over the path MTU, say) is retried datagram by datagram; EIO (no checksum
//   offload on the route) turns GSO off for the socket.
//   offloads() -> [segmentation on, coalescing on, GSO sends, datagrams in GSO sends,
//   coalesced receives, datagrams in coalesced receives].
//   address() -> [host, port, receiveBufferBytes, sendBufferBytes] (granted, as getsockopt says).
//   close() stops polling and closes the socket; idempotent.
//   attachFilter(filter | undefined) offers every received datagram to a DatagramFilter (the
//   engine's fast path, fast-path.cc) before JavaScript; what it takes JavaScript never sees.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "addon.h"
#include "fast-path.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace capsule_native {
namespace {

constexpr int kMetaInts = 8;
// Set in a received datagram's family word (meta[3]) when the filter verified its link tag.
constexpr int32_t kMetaAuthenticated = 0x100;
// The largest IP packet, so the largest coalesced (GRO) receive; a slot at least this big gets one whole.
constexpr size_t kMaxIpPacket = 65535;
// A GSO send: at most this many datagrams (UDP_MAX_SEGMENTS is 64 before Linux 6.9, 128 after)
// and this many payload bytes (the IPv4 UDP limit, so one rule serves both families).
constexpr size_t kMaxGsoSegments = 64;
constexpr size_t kMaxGsoBytes = 65507;

// One control message buffer per mmsghdr: UDP_SEGMENT (uint16_t) to send, UDP_GRO (int) received.
struct alignas(cmsghdr) ControlBuffer {
  char bytes[CMSG_SPACE(sizeof(int))];
};

void WriteAddressMeta(int32_t* meta, const sockaddr_storage& name) {
  memset(meta + 4, 0, 16);
  if (name.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&name);
    meta[2] = ntohs(v6->sin6_port);
    meta[3] = 6;
    memcpy(meta + 4, &v6->sin6_addr, 16);
  } else {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&name);
    meta[2] = ntohs(v4->sin_port);
    meta[3] = 4;
    memcpy(meta + 4, &v4->sin_addr, 4);
  }
}

// The segment size of a coalesced receive (UDP_GRO control message), or 0.
int CoalescedSegmentSize(const msghdr& header) {
  for (cmsghdr* control = CMSG_FIRSTHDR(&header); control != nullptr;
       control = CMSG_NXTHDR(const_cast<msghdr*>(&header), control)) {
    if (control->cmsg_level == SOL_UDP && control->cmsg_type == UDP_GRO) {
      int size = 0;
      memcpy(&size, CMSG_DATA(control), sizeof size);
      return size;
    }
  }
  return 0;
}

class UdpSocket : public Napi::ObjectWrap<UdpSocket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "UdpSocket",
                       {InstanceMethod("flush", &UdpSocket::Flush), InstanceMethod("address", &UdpSocket::Address),
                        InstanceMethod("offloads", &UdpSocket::Offloads), InstanceMethod("close", &UdpSocket::Close),
                        InstanceMethod("attachFilter", &UdpSocket::AttachFilter)});
  }

  explicit UdpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpSocket>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() ||
        !info[4].IsBuffer() || !info[5].IsNumber() || !info[6].IsTypedArray() || !info[7].IsBuffer() ||
        !info[8].IsTypedArray() || !info[9].IsFunction()) {
      Napi::TypeError::New(env,
                           "UdpSocket(host, port, receiveBufferBytes, sendBufferBytes, receiveBuffer, "
                           "receiveSlotBytes, receiveMeta, sendBuffer, sendMeta, onDatagrams)")
          .ThrowAsJavaScriptException();
      return;
    }
    std::string host = info[0].As<Napi::String>().Utf8Value();
    int port = info[1].As<Napi::Number>().Int32Value();
    int receiveBufferBytes = info[2].As<Napi::Number>().Int32Value();
    int sendBufferBytes = info[3].As<Napi::Number>().Int32Value();
    Napi::Buffer<uint8_t> receiveBuffer = info[4].As<Napi::Buffer<uint8_t>>();
    receiveSlotBytes_ = info[5].As<Napi::Number>().Uint32Value();
    Napi::Buffer<uint8_t> sendBuffer = info[7].As<Napi::Buffer<uint8_t>>();
    if (info[6].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        info[8].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || receiveSlotBytes_ == 0 ||
        port < 0 || port > 65535) {
      Napi::TypeError::New(env, "meta arrays must be Int32Arrays, receiveSlotBytes > 0, port 0-65535")
          .ThrowAsJavaScriptException();
      return;
    }
    Napi::Int32Array receiveMeta = info[6].As<Napi::Int32Array>();
    Napi::Int32Array sendMeta = info[8].As<Napi::Int32Array>();
    receiveRef_ = Napi::Persistent(receiveBuffer);
    receiveMetaRef_ = Napi::Persistent(receiveMeta);
    sendRef_ = Napi::Persistent(sendBuffer);
    sendMetaRef_ = Napi::Persistent(sendMeta);
    callback_ = Napi::Persistent(info[9].As<Napi::Function>());
    receiveData_ = receiveBuffer.Data();
    receiveMeta_ = receiveMeta.Data();
    sendData_ = sendBuffer.Data();
    sendLength_ = sendBuffer.Length();
    sendMeta_ = sendMeta.Data();
    maxReceive_ = std::min(receiveMeta.ElementLength() / kMetaInts, receiveBuffer.Length() / receiveSlotBytes_);
    maxSend_ = sendMeta.ElementLength() / kMetaInts;
    receiveHeaders_.resize(maxReceive_);
    receiveIov_.resize(maxReceive_);
    receiveNames_.resize(maxReceive_);
    sendHeaders_.resize(maxSend_);
    sendIov_.resize(maxSend_);
    sendNames_.resize(maxSend_);
    sendOffsets_.resize(maxSend_);
    sendLengths_.resize(maxSend_);
    sendFirst_.resize(maxSend_);
    sendCount_.resize(maxSend_);
    sendControl_.resize(maxSend_);
    receiveControl_.resize(maxReceive_);

    isV6_ = host.find(':') != std::string::npos;
    sockaddr_storage local;
    memset(&local, 0, sizeof local);
    socklen_t localLength;
    if (isV6_) {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&local);
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<uint16_t>(port));
      if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) { Fail(env, "bad IPv6 address " + host, EINVAL); return; }
      localLength = sizeof(sockaddr_in6);
    } else {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&local);
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<uint16_t>(port));
      if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) { Fail(env, "bad IPv4 address " + host, EINVAL); return; }
      localLength = sizeof(sockaddr_in);
    }
    fd_ = socket(isV6_ ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) { Fail(env, "socket", errno); return; }
    if (isV6_) {
      int off = 0;  // dual-stack, as node:dgram's udp6
      setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    if (receiveBufferBytes > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBufferBytes, sizeof receiveBufferBytes);
    if (sendBufferBytes > 0) setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sendBufferBytes, sizeof sendBufferBytes);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&local), localLength) < 0) {
      int err = errno;
      close(fd_);
      fd_ = -1;
      { Fail(env, "bind " + host + " port " + std::to_string(port), err); return; }
    }
    // Offloads: UDP_SEGMENT with size 0 is a no-op that tells whether the kernel has GSO; GRO only
    // when every slot holds a coalesced buffer whole (up to the 64 KiB IP limit).
    int noSegment = 0;
    segmentation_ = setsockopt(fd_, SOL_UDP, UDP_SEGMENT, &noSegment, sizeof noSegment) == 0;
    int on = 1;
    coalescing_ = receiveSlotBytes_ >= kMaxIpPacket &&
                  setsockopt(fd_, SOL_UDP, UDP_GRO, &on, sizeof on) == 0;
    handle_ = StartPolling(env, fd_, this, OnPoll);
    if (handle_ == nullptr) {
      close(fd_);
      fd_ = -1;
      return;
    }
    active_ = true;
    Ref();  // alive while it polls, even when JS drops it
  }

  ~UdpSocket() override {
    if (fd_ >= 0) close(fd_);
  }

 private:
  void Fail(Napi::Env env, const std::string& what, int err) {
    Napi::Error error = Napi::Error::New(env, what + ": " + strerror(err));
    error.Set("errno", Napi::Number::New(env, err));
    error.Set("code", Napi::String::New(env, "UNDERLAY_BIND_FAILED"));
    error.ThrowAsJavaScriptException();
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    UdpSocket* self = static_cast<UdpSocket*>(handle->data);
    if (status < 0) {
      self->Report(0, EIO);
      return;
    }
    // Bound the work per wake-up so that one busy socket cannot starve the event loop.
    for (int round = 0; round < 16 && self->active_; round++) {
      size_t n = self->maxReceive_;
      for (size_t i = 0; i < n; i++) {
        self->receiveIov_[i].iov_base = self->receiveData_ + i * self->receiveSlotBytes_;
        self->receiveIov_[i].iov_len = self->receiveSlotBytes_;
        msghdr& header = self->receiveHeaders_[i].msg_hdr;
        memset(&header, 0, sizeof header);
        header.msg_iov = &self->receiveIov_[i];
        header.msg_iovlen = 1;
        header.msg_name = &self->receiveNames_[i];
        header.msg_namelen = sizeof(sockaddr_storage);
        if (self->coalescing_) {
          header.msg_control = self->receiveControl_[i].bytes;
          header.msg_controllen = sizeof(ControlBuffer);
        }
      }
      int got = recvmmsg(self->fd_, self->receiveHeaders_.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
      if (got < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) break;
        self->Report(0, err);  // a queued ICMP error, say: report it and read on
        continue;
      }
      if (got == 0) break;
      // Split coalesced buffers back into datagrams; report whenever the metadata array is full.
      size_t filled = 0;
      for (int i = 0; i < got && self->active_; i++) {
        const mmsghdr& received = self->receiveHeaders_[i];
        size_t slotOffset = static_cast<size_t>(i) * self->receiveSlotBytes_;
        bool truncated = (received.msg_hdr.msg_flags & MSG_TRUNC) != 0;
        size_t length = std::min<size_t>(received.msg_len, self->receiveSlotBytes_);
        int segment = self->coalescing_ && !truncated ? CoalescedSegmentSize(received.msg_hdr) : 0;
        size_t step = segment > 0 && static_cast<size_t>(segment) < length ? static_cast<size_t>(segment) : length;
        if (step < length) {
          self->coalescedReceives_++;
          self->coalescedDatagrams_ += (length + step - 1) / step;
        }
        size_t at = 0;
        do {
          int32_t* meta = self->receiveMeta_ + filled * kMetaInts;
          size_t piece = std::min(step, length - at);
          if (self->filter_ != nullptr && !truncated &&
              self->filter_->Take(self->receiveData_ + slotOffset + at, piece, self->receiveNames_[i])) {
            at += piece;
            continue;
          }
          meta[0] = static_cast<int32_t>(slotOffset + at);
          meta[1] = truncated ? -1 : static_cast<int32_t>(piece);
          WriteAddressMeta(meta, self->receiveNames_[i]);
          if (self->filter_ != nullptr && !truncated && self->filter_->Authentic()) meta[3] |= kMetaAuthenticated;
          at += piece;
          if (++filled == self->maxReceive_) {
            self->Report(filled, 0);
            filled = 0;
            if (!self->active_) return;
          }
        } while (at < length);
      }
      if (filled > 0 && self->active_) self->Report(filled, 0);
      if (self->filter_ != nullptr) self->filter_->EndOfBatch();
      if (static_cast<size_t>(got) < n) break;
    }
  }

  // Calls into JavaScript. The handle scope is opened here, not per wake-up: N-API allocates one
  // on the heap, and a wake-up whose datagrams the filter takes all calls nothing.
  void Report(size_t count, int error) {
    Napi::HandleScope scope(env_);
    callback_.MakeCallback(env_.Global(), {Napi::Number::New(env_, static_cast<double>(count)),
                                           Napi::Number::New(env_, error)});
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t count = std::min<size_t>(info[0].As<Napi::Number>().Uint32Value(), maxSend_);
    if (fd_ < 0) return Napi::Number::New(env, static_cast<double>(count));
    size_t bad = 0;
    size_t ready = 0;  // datagrams checked and addressed, in order, skipping malformed entries
    for (size_t i = 0; i < count; i++) {
      const int32_t* meta = sendMeta_ + i * kMetaInts;
      int32_t offset = meta[0];
      int32_t length = meta[1];
      if (offset < 0 || length < 0 || static_cast<size_t>(offset) + static_cast<size_t>(length) > sendLength_ ||
          !AddressOf(meta, &sendNames_[ready])) {
        bad++;
        continue;
      }
      sendOffsets_[ready] = static_cast<size_t>(offset);
      sendLengths_[ready] = static_cast<size_t>(length);
      ready++;
    }
    // Group runs for GSO: same address, adjacent bytes, one segment size (only the last shorter).
    size_t messages = 0;
    for (size_t first = 0; first < ready;) {
      size_t segment = sendLengths_[first];
      size_t total = segment;
      size_t end = first + 1;
      if (segmentation_ && segment > 0) {
        while (end < ready && end - first < kMaxGsoSegments && sendLengths_[end] > 0 &&
               sendLengths_[end] <= segment && sendLengths_[end - 1] == segment &&
               total + sendLengths_[end] <= kMaxGsoBytes && sendOffsets_[end] == sendOffsets_[end - 1] + segment &&
               SameAddress(sendNames_[end], sendNames_[first])) {
          total += sendLengths_[end];
          end++;
        }
      }
      BuildMessage(messages, first, end - first, total, end - first > 1 ? segment : 0);
      messages++;
      first = end;
    }
    size_t done = 0;
    while (done < messages) {
      int sent = sendmmsg(fd_, sendHeaders_.data() + done, static_cast<unsigned>(messages - done), MSG_DONTWAIT);
      if (sent > 0) {
        for (size_t m = done; m < done + static_cast<size_t>(sent); m++) NoteSent(m);
        done += static_cast<size_t>(sent);
        continue;
      }
      int err = sent < 0 ? errno : EIO;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        for (size_t m = done; m < messages; m++) bad += sendCount_[m];  // never block: drop the rest
        break;
      }
      if (sendCount_[done] > 1) {
        // The kernel refused the GSO run: send its datagrams one by one, as if GSO were off.
        if (err == EIO || err == EOPNOTSUPP || err == ENOPROTOOPT) segmentation_ = false;
        bad += SendEachOf(done);
      } else {
        bad++;  // the kernel refused this datagram (EMSGSIZE, unreachable, …): skip it
      }
      done++;
    }
    return Napi::Number::New(env, static_cast<double>(bad));
  }

  // Fills `name` from sendMeta's [.., .., port, family, address]; false for a family this socket cannot reach.
  bool AddressOf(const int32_t* meta, sockaddr_storage* name) const {
    memset(name, 0, sizeof *name);
    uint16_t port = htons(static_cast<uint16_t>(meta[2]));
    if (isV6_) {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(name);
      v6->sin6_family = AF_INET6;
      v6->sin6_port = port;
      if (meta[3] == 6) {
        memcpy(&v6->sin6_addr, meta + 4, 16);
      } else {  // IPv4 through a dual-stack socket: ::ffff:a.b.c.d
        v6->sin6_addr.s6_addr[10] = 0xff;
        v6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&v6->sin6_addr.s6_addr[12], meta + 4, 4);
      }
      return true;
    }
    if (meta[3] != 4) return false;
    auto* v4 = reinterpret_cast<sockaddr_in*>(name);
    v4->sin_family = AF_INET;
    v4->sin_port = port;
    memcpy(&v4->sin_addr, meta + 4, 4);
    return true;
  }

  bool SameAddress(const sockaddr_storage& a, const sockaddr_storage& b) const {
    return memcmp(&a, &b, isV6_ ? sizeof(sockaddr_in6) : sizeof(sockaddr_in)) == 0;
  }

  // Message m: datagrams first..first+count-1 as one buffer; with segment > 0, a UDP_SEGMENT run.
  void BuildMessage(size_t m, size_t first, size_t count, size_t total, size_t segment) {
    sendFirst_[m] = first;
    sendCount_[m] = count;
    sendIov_[m].iov_base = sendData_ + sendOffsets_[first];
    sendIov_[m].iov_len = total;
    msghdr& header = sendHeaders_[m].msg_hdr;
    memset(&header, 0, sizeof header);
    header.msg_iov = &sendIov_[m];
    header.msg_iovlen = 1;
    header.msg_name = &sendNames_[first];
    header.msg_namelen = isV6_ ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (segment == 0) return;
    header.msg_control = sendControl_[m].bytes;
    header.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
    cmsghdr* control = CMSG_FIRSTHDR(&header);
    control->cmsg_level = SOL_UDP;
    control->cmsg_type = UDP_SEGMENT;
    control->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t size = static_cast<uint16_t>(segment);
    memcpy(CMSG_DATA(control), &size, sizeof size);
  }

  void NoteSent(size_t m) {
    if (sendCount_[m] < 2) return;
    segmentedSends_++;
    segmentedDatagrams_ += sendCount_[m];
  }

  // Sends message m's datagrams one sendto() each; returns how many failed.
  size_t SendEachOf(size_t m) {
    size_t failed = 0;
    const msghdr& header = sendHeaders_[m].msg_hdr;
    for (size_t i = sendFirst_[m]; i < sendFirst_[m] + sendCount_[m]; i++) {
      ssize_t sent;
      do {
        sent = sendto(fd_, sendData_ + sendOffsets_[i], sendLengths_[i], MSG_DONTWAIT,
                      reinterpret_cast<const sockaddr*>(header.msg_name), header.msg_namelen);
      } while (sent < 0 && errno == EINTR);
      if (sent < 0) failed++;
    }
    return failed;
  }

  Napi::Value Offloads(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array result = Napi::Array::New(env, 6);
    result.Set(0u, Napi::Boolean::New(env, segmentation_));
    result.Set(1u, Napi::Boolean::New(env, coalescing_));
    result.Set(2u, Napi::Number::New(env, static_cast<double>(segmentedSends_)));
    result.Set(3u, Napi::Number::New(env, static_cast<double>(segmentedDatagrams_)));
    result.Set(4u, Napi::Number::New(env, static_cast<double>(coalescedReceives_)));
    result.Set(5u, Napi::Number::New(env, static_cast<double>(coalescedDatagrams_)));
    return result;
  }

  Napi::Value Address(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array result = Napi::Array::New(env, 4);
    if (fd_ < 0) return result;
    sockaddr_storage name;
    socklen_t length = sizeof name;
    memset(&name, 0, sizeof name);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&name), &length);
    char text[INET6_ADDRSTRLEN] = {0};
    int port = 0;
    if (name.ss_family == AF_INET6) {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&name);
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
      port = ntohs(v6->sin6_port);
    } else {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&name);
      inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
      port = ntohs(v4->sin_port);
    }
    int receiveBytes = 0;
    int sendBytes = 0;
    socklen_t size = sizeof(int);
    getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBytes, &size);
    size = sizeof(int);
    getsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sendBytes, &size);
    result.Set(0u, Napi::String::New(env, text));
    result.Set(1u, Napi::Number::New(env, port));
    result.Set(2u, Napi::Number::New(env, receiveBytes));
    result.Set(3u, Napi::Number::New(env, sendBytes));
    return result;
  }

  Napi::Value AttachFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    filter_ = nullptr;
    filterRef_.Reset();
    if (info.Length() < 1 || info[0].IsUndefined() || info[0].IsNull()) return env.Undefined();
    DatagramFilter* filter = UnwrapDatagramFilter(info[0]);
    if (filter == nullptr) {
      Napi::TypeError::New(env, "attachFilter(fastPath | undefined)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    filterRef_ = Napi::Persistent(info[0].As<Napi::Object>());
    filter_ = filter;
    filter_->Attach(fd_, isV6_);
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (filter_ != nullptr) {
      filter_->Attach(-1, isV6_);
      filter_ = nullptr;
      filterRef_.Reset();
    }
    if (active_) {
      active_ = false;
      uv_poll_stop(handle_);
      uv_close(reinterpret_cast<uv_handle_t*>(handle_),
               [](uv_handle_t* closing) { delete reinterpret_cast<uv_poll_t*>(closing); });
      handle_ = nullptr;
      Unref();
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    return info.Env().Undefined();
  }

  Napi::Env env_;
  int fd_ = -1;
  bool isV6_ = false;
  bool active_ = false;
  uv_poll_t* handle_ = nullptr;
  uint8_t* receiveData_ = nullptr;
  int32_t* receiveMeta_ = nullptr;
  size_t receiveSlotBytes_ = 0;
  size_t maxReceive_ = 0;
  uint8_t* sendData_ = nullptr;
  size_t sendLength_ = 0;
  int32_t* sendMeta_ = nullptr;
  size_t maxSend_ = 0;
  std::vector<mmsghdr> receiveHeaders_;
  std::vector<iovec> receiveIov_;
  std::vector<sockaddr_storage> receiveNames_;
  std::vector<mmsghdr> sendHeaders_;
  std::vector<iovec> sendIov_;
  std::vector<sockaddr_storage> sendNames_;
  std::vector<size_t> sendOffsets_;  // per datagram
  std::vector<size_t> sendLengths_;
  std::vector<size_t> sendFirst_;  // per message: its first datagram and how many
  std::vector<size_t> sendCount_;
  std::vector<ControlBuffer> sendControl_;
  std::vector<ControlBuffer> receiveControl_;
  bool segmentation_ = false;
  bool coalescing_ = false;
  uint64_t segmentedSends_ = 0;
  uint64_t segmentedDatagrams_ = 0;
  uint64_t coalescedReceives_ = 0;
  uint64_t coalescedDatagrams_ = 0;
  Napi::Reference<Napi::Buffer<uint8_t>> receiveRef_;
  Napi::Reference<Napi::Int32Array> receiveMetaRef_;
  Napi::Reference<Napi::Buffer<uint8_t>> sendRef_;
  Napi::Reference<Napi::Int32Array> sendMetaRef_;
  Napi::FunctionReference callback_;
  DatagramFilter* filter_ = nullptr;
  Napi::ObjectReference filterRef_;
};

}  // namespace

void InitUdpSocket(Napi::Env env, Napi::Object exports) { exports.Set("UdpSocket", UdpSocket::Init(env)); }

}  // namespace capsule_native
