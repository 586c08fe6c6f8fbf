// TUN/TAP devices, read and written in batches on Node's loop (one call into JavaScript per batch).
//
// open(name, {tap, multiQueue}) -> {fd, name}
//   Opens /dev/net/tun (O_RDWR | O_NONBLOCK | O_CLOEXEC) and attaches it to interface `name`
//   (created if absent; the kernel picks a name for an empty string) with IFF_NO_PI: each read or
//   write is exactly one IP packet (TUN) or Ethernet frame (TAP), with no extra header.
//
// new Reader(fd, buffer, slotBytes, lengths: Int32Array, onPackets(count, errno))
//   Polls fd for readability. On each wake-up it drains up to lengths.length packets into
//   buffer[i * slotBytes ...] in C (one read() each, no allocation), writes their sizes into
//   lengths[i], then calls onPackets(count, 0) once; the callback must consume the packets before
//   it returns, because the next batch reuses the slots. A read error other than EAGAIN/EINTR
//   (EIO once the interface is deleted, say) stops the reader and calls onPackets(count, errno).
//   Packets longer than slotBytes are truncated by the kernel: make slots larger than the MTU.
//   reader.stop() ends polling; it is idempotent.
//
// writePackets(fd, buffer, meta: Int32Array, count) -> failed
//   Writes `count` packets, packet i being buffer[meta[2i], meta[2i] + meta[2i+1]), one write()
//   each (a TUN write is one packet and never blocks). Returns how many failed; meta[0] gets the
//   errno of the last failure.
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <string>

#include "addon.h"

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
  if (info[1].IsObject()) {
    Napi::Object options = info[1].As<Napi::Object>();
    tap = options.Get("tap").ToBoolean();
    multiQueue = options.Get("multiQueue").ToBoolean();
  }
  if (name.size() >= IFNAMSIZ) {
    Napi::RangeError::New(env, "interface name longer than 15 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open /dev/net/tun", errno);
  struct ifreq request;
  memset(&request, 0, sizeof request);
  request.ifr_flags = (tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (multiQueue ? IFF_MULTI_QUEUE : 0);
  strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &request) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "ioctl TUNSETIFF " + name, err);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, fd));
  result.Set("name", Napi::String::New(env, request.ifr_name));
  return result;
}

class Reader : public Napi::ObjectWrap<Reader> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Reader", {InstanceMethod("stop", &Reader::Stop)});
  }

  explicit Reader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Reader>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsNumber() || !info[3].IsTypedArray() ||
        !info[4].IsFunction()) {
      Napi::TypeError::New(env, "Reader(fd, buffer, slotBytes, lengths: Int32Array, onPackets)")
          .ThrowAsJavaScriptException();
      return;
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    Napi::Buffer<uint8_t> buffer = info[1].As<Napi::Buffer<uint8_t>>();
    slotBytes_ = info[2].As<Napi::Number>().Uint32Value();
    Napi::TypedArray typed = info[3].As<Napi::TypedArray>();
    if (typed.TypedArrayType() != napi_int32_array || slotBytes_ == 0) {
      Napi::TypeError::New(env, "lengths must be an Int32Array and slotBytes > 0").ThrowAsJavaScriptException();
      return;
    }
    Napi::Int32Array lengths = info[3].As<Napi::Int32Array>();
    bufferRef_ = Napi::Persistent(buffer);
    lengthsRef_ = Napi::Persistent(lengths);
    data_ = buffer.Data();
    lengths_ = lengths.Data();
    maxPackets_ = std::min(lengths.ElementLength(), buffer.Length() / slotBytes_);
    callback_ = Napi::Persistent(info[4].As<Napi::Function>());
    handle_ = StartPolling(env, fd_, this, OnPoll);
    if (handle_ == nullptr) return;
    active_ = true;
    Ref();  // the reader stays alive while it polls, even when JS drops it
  }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    Reader* self = static_cast<Reader*>(handle->data);
    Napi::HandleScope scope(self->env_);
    if (status < 0) {
      self->Finish(0, EIO);
      return;
    }
    // Bound the work per wake-up so that one busy device cannot starve the event loop.
    for (int round = 0; round < 16 && self->active_; round++) {
      size_t count = 0;
      int error = 0;
      while (count < self->maxPackets_) {
        ssize_t bytes = read(self->fd_, self->data_ + count * self->slotBytes_, self->slotBytes_);
        if (bytes < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) error = errno;
          break;
        }
        self->lengths_[count++] = static_cast<int32_t>(bytes);
      }
      if (error != 0) {
        self->Finish(count, error);
        return;
      }
      if (count == 0) break;
      self->callback_.MakeCallback(self->env_.Global(),
                                   {Napi::Number::New(self->env_, static_cast<double>(count)),
                                    Napi::Number::New(self->env_, 0)});
      if (count < self->maxPackets_) break;
    }
  }

  void Finish(size_t count, int error) {
    StopPolling();
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
  int32_t* lengths_ = nullptr;
  size_t slotBytes_ = 0;
  size_t maxPackets_ = 0;
  Napi::Reference<Napi::Buffer<uint8_t>> bufferRef_;
  Napi::Reference<Napi::Int32Array> lengthsRef_;
  Napi::FunctionReference callback_;
  uv_poll_t* handle_ = nullptr;
  bool active_ = false;
};


Napi::Value WritePackets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsTypedArray() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "writePackets(fd, buffer, meta: Int32Array, count)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<uint8_t> buffer = info[1].As<Napi::Buffer<uint8_t>>();
  Napi::TypedArray typed = info[2].As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_int32_array) {
    Napi::TypeError::New(env, "meta must be an Int32Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Int32Array meta = info[2].As<Napi::Int32Array>();
  size_t count = std::min<size_t>(info[3].As<Napi::Number>().Uint32Value(), meta.ElementLength() / 2);
  int32_t* entries = meta.Data();
  uint8_t* data = buffer.Data();
  size_t length = buffer.Length();
  int failed = 0;
  int lastError = 0;
  for (size_t i = 0; i < count; i++) {
    int32_t offset = entries[2 * i];
    int32_t size = entries[2 * i + 1];
    if (offset < 0 || size < 0 || static_cast<size_t>(offset) + static_cast<size_t>(size) > length) {
      failed++;
      lastError = EINVAL;
      continue;
    }
    ssize_t written;
    do {
      written = write(fd, data + offset, static_cast<size_t>(size));
    } while (written < 0 && errno == EINTR);
    if (written < 0) {
      failed++;
      lastError = errno;
    }
  }
  if (failed > 0 && meta.ElementLength() > 0) entries[0] = lastError;
  return Napi::Number::New(env, failed);
}

}  // namespace

void InitTunDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("Reader", Reader::Init(env));
  exports.Set("writePackets", Napi::Function::New(env, WritePackets));
}

}  // namespace capsule_native
