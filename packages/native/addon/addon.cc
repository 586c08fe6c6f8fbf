// @capsule/native: the repository's one native addon (N-API), its parts on Node's own libuv
// loop, each in its file, so that JavaScript runs once per batch, not once per packet:
//   tun-device.cc      TUN/TAP devices: open, a batched reader, batched writes (tun-offload.cc:
//                      the TSO split and GRO-style coalescing behind IFF_VNET_HDR);
//   udp-socket.cc      UDP sockets read with recvmmsg() and written with sendmmsg() (GSO/GRO);
//   payload-cipher.cc  AES-256-GCM contexts for the e2e payload (identity's PayloadCipher port);
//   fast-path.cc       the engine's fast path for established flows, in the UDP socket's poll
//                      callback (link MAC, replay window, flow, cached action, reseal);
//   vm-executor.cc     the native VM tier (rv-core.h, the RV32IMAC interpreter in C++) for
//                      @capsule/vm machine states.
// Each file documents its entry points. This file holds the helpers several share and the
// module's Init.
#include "addon.h"

#include <errno.h>
#include <string.h>

#if defined(CAPSULE_LIBSODIUM)
#include <sodium.h>
#endif

namespace capsule_native {

bool UsesLibsodium() {
#if defined(CAPSULE_LIBSODIUM)
  static const bool ready = sodium_init() >= 0;  // 1: already done; a static's init is thread-safe
  return ready;
#else
  return false;
#endif
}

Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error error = Napi::Error::New(env, what + ": " + strerror(err));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("code", Napi::String::New(env, err == EPERM || err == EACCES ? "TUN_PERMISSION" : "TUN_OPEN_FAILED"));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

uv_poll_t* StartPolling(Napi::Env env, int fd, void* data, uv_poll_cb onPoll) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* handle = new uv_poll_t;
  handle->data = data;
  int status = uv_poll_init(loop, handle, fd);
  if (status == 0) status = uv_poll_start(handle, UV_READABLE, onPoll);
  if (status != 0) {
    delete handle;
    Napi::Error::New(env, std::string("uv_poll: ") + uv_strerror(status)).ThrowAsJavaScriptException();
    return nullptr;
  }
  return handle;
}

}  // namespace capsule_native

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  capsule_native::InitTunDevice(env, exports);
  capsule_native::InitUdpSocket(env, exports);
  capsule_native::InitPayloadCipher(env, exports);
  capsule_native::InitVmExecutor(env, exports);
  capsule_native::InitFastPath(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(capsule_native, Init)
