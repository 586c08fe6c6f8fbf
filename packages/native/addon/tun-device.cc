// TUN/TAP devices, read and written in batches on Node's loop (one call into JavaScript per batch).
//
// open(name, {tap, multiQueue, offloads}) -> {fd, name, vnetHeader, offloads}
//   Opens /dev/net/tun (O_RDWR | O_NONBLOCK | O_CLOEXEC) and attaches it to interface `name`
//   (created if absent; the kernel picks a name for an empty string) with IFF_NO_PI. Without
//   offloads each read or write is exactly one IP packet (TUN) or Ethernet frame (TAP). With
//   `offloads` (TUN only) the device is opened with IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM |
//   TUN_F_TSO4 | TUN_F_TSO6): every read and write starts with a virtio-net header
//   (tun-offload.h), the kernel hands over TCP super-packets of up to 64 KiB and packets whose
//   checksum is left to us, and takes coalesced ones. `vnetHeader` says whether the header is on,
//   `offloads` whether the kernel accepted the offloads (without them it still sends headers,
//   all empty).
//
// new Reader(fd, buffer, meta: Int32Array, vnetHeader, stats: Float64Array, onPackets(count, errno)
//            [, filter])
//   Polls fd for readability. On each wake-up it reads packets back to back into `buffer` in C
//   (one read() each, no allocation) until the device is empty, `buffer` has less than 64 KiB
//   left or `meta` is full, writes [offset, length] of packet i into meta[2i], meta[2i+1], then
//   calls onPackets(count, 0) once; the callback must consume the packets before it returns,
//   because the next batch reuses the buffer. With vnetHeader each read is a virtio header and a
//   packet: a TCP super-packet is split in place into its segments, a packet whose checksum the
//   kernel left is completed (SplitVirtioPacket), and the JavaScript side sees plain IP packets
//   only; a read the split refuses is dropped and counted. stats (6 doubles, shared with
//   writePackets): [super-packets read, segments they held, checksums completed, reads dropped,
//   coalesced writes, segments in them]. A read error other than EAGAIN/EINTR (EIO once the
//   interface is deleted, say) stops the reader and calls onPackets(count, errno).
//   With `filter` (a FastPath: the agent's egress fast path, fast-path.cc) each batch is offered to
//   it first: the packets it takes JavaScript never sees (meta is compacted to the others, and a
//   batch it takes whole calls nothing).
//   reader.stop() ends polling; it is idempotent.
//
// writePackets(fd, buffer, meta: Int32Array, count, vnetHeader, stats) -> failed
//   Writes `count` packets, packet i being buffer[meta[2i], meta[2i] + meta[2i+1]) (a TUN write
//   is one packet and never blocks). With vnetHeader each write starts with a virtio header, and
//   the packets of the batch that are consecutive segments of one TCP connection are written as
//   ONE coalesced super-packet (PlanCoalescedWrite; the first packet's headers are rewritten in
//   `buffer`; other connections' packets in between are written after it, in their order), so the
//   kernel's TCP receive path runs once per run instead of once per segment.
//   Returns how many packets were not written; meta[0] gets the errno of the last failure.
//
// splitVirtioPacket(header: 10 bytes, buffer, at, length, capacity, meta) -> count | -1 | -2
// coalescePackets(buffer, meta, count, out, outMeta) -> writes
//   The offload functions on their own, for tests: the split as the reader does it, and the
//   writes writePackets would make (each as virtio header + packet bytes in `out`, [offset,
//   length] pairs in outMeta), without a device.
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "addon.h"
#include "fast-path.h"
#include "tun-offload.h"
#include "tun-writer.h"

namespace capsule_native {
namespace {

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "open(name, options): name must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  bool tap = false;
  bool multiQueue = false;
  bool wantOffloads = false;
  if (info[1].IsObject()) {
    Napi::Object options = info[1].As<Napi::Object>();
    tap = options.Get("tap").ToBoolean();
    multiQueue = options.Get("multiQueue").ToBoolean();
    wantOffloads = options.Get("offloads").ToBoolean() && !tap;
  }
  if (name.size() >= IFNAMSIZ) {
    Napi::RangeError::New(env, "interface name longer than 15 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open /dev/net/tun", errno);
  struct ifreq request;
  memset(&request, 0, sizeof request);
  request.ifr_flags = static_cast<short>((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (multiQueue ? IFF_MULTI_QUEUE : 0) |
                                        (wantOffloads ? IFF_VNET_HDR : 0));
  strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &request) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "ioctl TUNSETIFF " + name, err);
  }
  bool offloads = false;
  if (wantOffloads) {
    unsigned long flags = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    offloads = ioctl(fd, TUNSETOFFLOAD, flags) == 0;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, fd));
  result.Set("name", Napi::String::New(env, request.ifr_name));
  result.Set("vnetHeader", Napi::Boolean::New(env, wantOffloads));
  result.Set("offloads", Napi::Boolean::New(env, offloads));
  return result;
}

// Largest read: an IP packet of 64 KiB, or a TAP frame with its Ethernet header.
constexpr size_t kMaxRead = 65535 + 14;

// Offload statistics slots (the JavaScript side's Float64Array, 6 doubles).
enum OffloadStat { kSuperPackets, kSegmentsSplit, kChecksumsCompleted, kReadDrops, kCoalescedWrites, kSegmentsCoalesced };
constexpr size_t kOffloadStats = 6;

class Reader : public Napi::ObjectWrap<Reader> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Reader", {InstanceMethod("stop", &Reader::Stop)});
  }

  explicit Reader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Reader>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsTypedArray() || !info[3].IsBoolean() ||
        !info[4].IsTypedArray() || !info[5].IsFunction()) {
      Napi::TypeError::New(env, "Reader(fd, buffer, meta: Int32Array, vnetHeader, stats: Float64Array, onPackets)")
          .ThrowAsJavaScriptException();
      return;
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    Napi::Buffer<uint8_t> buffer = info[1].As<Napi::Buffer<uint8_t>>();
    if (info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        info[4].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[4].As<Napi::TypedArray>().ElementLength() < kOffloadStats || buffer.Length() < kMaxRead) {
      Napi::TypeError::New(env, "meta must be an Int32Array, stats a Float64Array of 6, buffer at least 64 KiB")
          .ThrowAsJavaScriptException();
      return;
    }
    Napi::Int32Array meta = info[2].As<Napi::Int32Array>();
    Napi::Float64Array stats = info[4].As<Napi::Float64Array>();
    bufferRef_ = Napi::Persistent(buffer);
    metaRef_ = Napi::Persistent(meta);
    statsRef_ = Napi::Persistent(stats);
    data_ = buffer.Data();
    length_ = buffer.Length();
    meta_ = meta.Data();
    maxPackets_ = meta.ElementLength() / 2;
    stats_ = stats.Data();
    vnetHeader_ = info[3].As<Napi::Boolean>().Value();
    callback_ = Napi::Persistent(info[5].As<Napi::Function>());
    if (maxPackets_ == 0) {
      Napi::TypeError::New(env, "meta must hold at least one [offset, length] pair").ThrowAsJavaScriptException();
      return;
    }
    if (info.Length() >= 7 && !info[6].IsUndefined()) {
      filter_ = UnwrapPacketFilter(info[6]);
      if (filter_ == nullptr) {
        Napi::TypeError::New(env, "filter must be a FastPath").ThrowAsJavaScriptException();
        return;
      }
      filterRef_ = Napi::Persistent(info[6].As<Napi::Object>());
    }
    handle_ = StartPolling(env, fd_, this, OnPoll);
    if (handle_ == nullptr) return;
    active_ = true;
    Ref();  // the reader stays alive while it polls, even when JS drops it
  }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    Reader* self = static_cast<Reader*>(handle->data);
    if (status < 0) {
      self->Finish(0, EIO);
      return;
    }
    // Bound the work per wake-up so that one busy device cannot starve the event loop.
    for (int round = 0; round < 16 && self->active_; round++) {
      size_t count = 0;
      size_t used = 0;
      int error = 0;
      bool drained = false;
      while (count < self->maxPackets_ && self->length_ - used >= kMaxRead) {
        VirtioNetHeader header;
        ssize_t bytes;
        if (self->vnetHeader_) {
          iovec parts[2] = {{&header, kVirtioNetHeaderLength}, {self->data_ + used, kMaxRead}};
          bytes = readv(self->fd_, parts, 2);
        } else {
          bytes = read(self->fd_, self->data_ + used, kMaxRead);
        }
        if (bytes < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) error = errno;
          drained = true;
          break;
        }
        if (!self->vnetHeader_) {
          self->meta_[2 * count] = static_cast<int32_t>(used);
          self->meta_[2 * count + 1] = static_cast<int32_t>(bytes);
          count++;
          used += static_cast<size_t>(bytes);
          continue;
        }
        if (static_cast<size_t>(bytes) < kVirtioNetHeaderLength) {
          self->stats_[kReadDrops] += 1;
          continue;
        }
        size_t length = static_cast<size_t>(bytes) - kVirtioNetHeaderLength;
        int segments = SplitVirtioPacket(header, self->data_, used, length, self->length_ - used,
                                         self->meta_ + 2 * count, self->maxPackets_ - count);
        if (segments == kSplitNoRoom && count > 0) {
          // Hand over what is read, then split this one at the start of the buffer.
          self->Deliver(count);
          if (!self->active_) return;
          memmove(self->data_, self->data_ + used, length);
          count = 0;
          used = 0;
          segments = SplitVirtioPacket(header, self->data_, 0, length, self->length_, self->meta_, self->maxPackets_);
        }
        if (segments < 0) {
          self->stats_[kReadDrops] += 1;
          continue;
        }
        if ((header.gsoType & static_cast<uint8_t>(~kVirtioGsoEcn)) != kVirtioGsoNone) {
          self->stats_[kSuperPackets] += 1;
          self->stats_[kSegmentsSplit] += segments;
        } else if ((header.flags & kVirtioNeedsChecksum) != 0) {
          self->stats_[kChecksumsCompleted] += 1;
        }
        size_t last = count + static_cast<size_t>(segments) - 1;
        used = static_cast<size_t>(self->meta_[2 * last]) + static_cast<size_t>(self->meta_[2 * last + 1]);
        count += static_cast<size_t>(segments);
      }
      if (error != 0) {
        self->Finish(count, error);
        return;
      }
      if (count > 0) self->Deliver(count);
      if (drained || count == 0) break;
    }
  }

  void Deliver(size_t count) {
    if (filter_ != nullptr) count = filter_->TakePackets(data_, meta_, count);
    if (count == 0) return;
    // The handle scope only around the call into JavaScript: N-API allocates one on the heap, and
    // a batch the filter takes whole calls nothing.
    Napi::HandleScope scope(env_);
    callback_.MakeCallback(env_.Global(),
                           {Napi::Number::New(env_, static_cast<double>(count)), Napi::Number::New(env_, 0)});
  }

  void Finish(size_t count, int error) {
    StopPolling();
    if (filter_ != nullptr) count = filter_->TakePackets(data_, meta_, count);
    Napi::HandleScope scope(env_);
    callback_.MakeCallback(env_.Global(), {Napi::Number::New(env_, static_cast<double>(count)),
                                           Napi::Number::New(env_, error)});
  }

  void StopPolling() {
    if (!active_) return;
    active_ = false;
    uv_poll_stop(handle_);
    uv_close(reinterpret_cast<uv_handle_t*>(handle_),
             [](uv_handle_t* closing) { delete reinterpret_cast<uv_poll_t*>(closing); });
    handle_ = nullptr;
    Unref();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  Napi::Env env_;
  int fd_ = -1;
  uint8_t* data_ = nullptr;
  size_t length_ = 0;
  int32_t* meta_ = nullptr;
  double* stats_ = nullptr;
  size_t maxPackets_ = 0;
  bool vnetHeader_ = false;
  Napi::Reference<Napi::Buffer<uint8_t>> bufferRef_;
  Napi::Reference<Napi::Int32Array> metaRef_;
  Napi::Reference<Napi::Float64Array> statsRef_;
  Napi::FunctionReference callback_;
  PacketFilter* filter_ = nullptr;  // the agent's fast path, offered each batch first
  Napi::ObjectReference filterRef_;
  uv_poll_t* handle_ = nullptr;
  bool active_ = false;
};

// The packets of a batch that lie inside their buffer: false for any [offset, length] outside it.
bool InBuffer(const int32_t* meta, size_t i, size_t length) {
  int32_t offset = meta[2 * i];
  int32_t size = meta[2 * i + 1];
  return offset >= 0 && size >= 0 && static_cast<size_t>(offset) + static_cast<size_t>(size) <= length;
}

// A reused per-thread scratch of `count` flags (writes happen on the loop's thread only).
std::vector<uint8_t>& WrittenScratch(size_t count) {
  static thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < count) scratch.resize(count);
  return scratch;
}

}  // namespace

// tun-writer.h: the batch write of writePackets, shared with the agent's ingress fast path.
int WriteTunPackets(int fd, uint8_t* data, size_t length, int32_t* entries, size_t count, bool vnetHeader,
                    double* stats, int* lastErrorOut) {
  int failed = 0;
  int lastError = 0;
  iovec parts[kMaxCoalescedSegments + 1];
  // written[i]: packet i is planned (a run may take later packets of the batch).
  std::vector<uint8_t>& written = WrittenScratch(count);
  for (size_t i = 0; i < count; i++) written[i] = InBuffer(entries, i, length) ? 0 : 1;
  for (size_t i = 0; i < count; i++) {
    if (!InBuffer(entries, i, length)) {
      failed++;
      lastError = EINVAL;
      continue;
    }
    if (written[i]) continue;
    size_t parts_used = 0;
    CoalescedWrite plan;
    plan.count = 1;
    plan.packets[0] = i;
    plan.payloadOffset = 0;
    if (vnetHeader) {
      PlanCoalescedWrite(data, entries, count, i, written.data(), &plan);
      parts[parts_used++] = {&plan.header, kVirtioNetHeaderLength};
    } else {
      written[i] = 1;
    }
    parts[parts_used++] = {data + entries[2 * i], static_cast<size_t>(entries[2 * i + 1])};
    for (size_t k = 1; k < plan.count; k++) {
      size_t packet = plan.packets[k];
      size_t at = static_cast<size_t>(entries[2 * packet]) + plan.payloadOffset;
      parts[parts_used++] = {data + at, static_cast<size_t>(entries[2 * packet + 1]) - plan.payloadOffset};
    }
    ssize_t written_bytes;
    do {
      written_bytes = writev(fd, parts, static_cast<int>(parts_used));
    } while (written_bytes < 0 && errno == EINTR);
    if (written_bytes < 0) {
      failed += static_cast<int>(plan.count);
      lastError = errno;
    } else if (plan.count > 1) {
      stats[kCoalescedWrites] += 1;
      stats[kSegmentsCoalesced] += static_cast<double>(plan.count);
    }
  }
  *lastErrorOut = lastError;
  return failed;
}

namespace {

Napi::Value WritePackets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsTypedArray() || !info[3].IsNumber() ||
      !info[4].IsBoolean() || !info[5].IsTypedArray()) {
    Napi::TypeError::New(env, "writePackets(fd, buffer, meta: Int32Array, count, vnetHeader, stats: Float64Array)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<uint8_t> buffer = info[1].As<Napi::Buffer<uint8_t>>();
  Napi::TypedArray typed = info[2].As<Napi::TypedArray>();
  Napi::TypedArray statsArray = info[5].As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_int32_array || statsArray.TypedArrayType() != napi_float64_array ||
      statsArray.ElementLength() < kOffloadStats) {
    Napi::TypeError::New(env, "meta must be an Int32Array and stats a Float64Array of 6").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Int32Array meta = info[2].As<Napi::Int32Array>();
  double* stats = info[5].As<Napi::Float64Array>().Data();
  bool vnetHeader = info[4].As<Napi::Boolean>().Value();
  size_t count = std::min<size_t>(info[3].As<Napi::Number>().Uint32Value(), meta.ElementLength() / 2);
  int32_t* entries = meta.Data();
  uint8_t* data = buffer.Data();
  size_t length = buffer.Length();
  int lastError = 0;
  const int failed = WriteTunPackets(fd, data, length, entries, count, vnetHeader, stats, &lastError);
  if (failed > 0 && meta.ElementLength() > 0) entries[0] = lastError;
  return Napi::Number::New(env, failed);
}

// The bytes of a typed array argument (and their count).
uint8_t* TypedBytes(const Napi::Value& value, size_t* length) {
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  *length = array.ByteLength();
  return static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
}

Napi::Value SplitForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber() || !info[3].IsNumber() ||
      !info[4].IsNumber() || !info[5].IsTypedArray() ||
      info[5].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    Napi::TypeError::New(env, "splitVirtioPacket(header, buffer, at, length, capacity, meta: Int32Array)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t headerBytes = 0;
  size_t bufferBytes = 0;
  uint8_t* headerData = TypedBytes(info[0], &headerBytes);
  uint8_t* buffer = TypedBytes(info[1], &bufferBytes);
  int64_t at = info[2].As<Napi::Number>().Int64Value();
  int64_t length = info[3].As<Napi::Number>().Int64Value();
  int64_t capacity = info[4].As<Napi::Number>().Int64Value();
  Napi::Int32Array meta = info[5].As<Napi::Int32Array>();
  if (headerBytes < kVirtioNetHeaderLength || at < 0 || length < 0 || capacity < length ||
      static_cast<uint64_t>(at + capacity) > bufferBytes) {
    Napi::RangeError::New(env, "header of 10 bytes; at, length, capacity inside the buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  VirtioNetHeader header;
  memcpy(&header, headerData, kVirtioNetHeaderLength);
  int result = SplitVirtioPacket(header, buffer, static_cast<size_t>(at), static_cast<size_t>(length),
                                 static_cast<size_t>(capacity), meta.Data(), meta.ElementLength() / 2);
  return Napi::Number::New(env, result);
}

Napi::Value CoalesceForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber() || !info[3].IsTypedArray() ||
      !info[4].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[4].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    Napi::TypeError::New(env, "coalescePackets(buffer, meta: Int32Array, count, out, outMeta: Int32Array)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t bufferBytes = 0;
  size_t outBytes = 0;
  uint8_t* data = TypedBytes(info[0], &bufferBytes);
  Napi::Int32Array meta = info[1].As<Napi::Int32Array>();
  size_t count = std::min<size_t>(info[2].As<Napi::Number>().Uint32Value(), meta.ElementLength() / 2);
  uint8_t* out = TypedBytes(info[3], &outBytes);
  Napi::Int32Array outMeta = info[4].As<Napi::Int32Array>();
  int32_t* entries = meta.Data();
  for (size_t i = 0; i < count; i++)
    if (!InBuffer(entries, i, bufferBytes)) {
      Napi::RangeError::New(env, "a packet outside the buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  size_t writes = 0;
  size_t used = 0;
  std::vector<uint8_t> written(count, 0);
  CoalescedWrite plan;
  for (size_t i = 0; i < count; i++) {
    if (written[i]) continue;
    PlanCoalescedWrite(data, entries, count, i, written.data(), &plan);
    size_t total = kVirtioNetHeaderLength;
    for (size_t k = 0; k < plan.count; k++)
      total += static_cast<size_t>(entries[2 * plan.packets[k] + 1]) - (k > 0 ? plan.payloadOffset : 0);
    if (used + total > outBytes || 2 * (writes + 1) > outMeta.ElementLength()) {
      Napi::RangeError::New(env, "out or outMeta too small").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    outMeta[2 * writes] = static_cast<int32_t>(used);
    outMeta[2 * writes + 1] = static_cast<int32_t>(total);
    memcpy(out + used, &plan.header, kVirtioNetHeaderLength);
    used += kVirtioNetHeaderLength;
    for (size_t k = 0; k < plan.count; k++) {
      size_t packet = plan.packets[k];
      size_t skip = k > 0 ? plan.payloadOffset : 0;
      size_t piece = static_cast<size_t>(entries[2 * packet + 1]) - skip;
      memcpy(out + used, data + entries[2 * packet] + skip, piece);
      used += piece;
    }
    writes++;
  }
  return Napi::Number::New(env, static_cast<double>(writes));
}

}  // namespace

void InitTunDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("Reader", Reader::Init(env));
  exports.Set("writePackets", Napi::Function::New(env, WritePackets));
  exports.Set("splitVirtioPacket", Napi::Function::New(env, SplitForTest));
  exports.Set("coalescePackets", Napi::Function::New(env, CoalesceForTest));
}

}  // namespace capsule_native
