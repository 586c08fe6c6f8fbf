// Shared by the addon's files: the Init function of each part, and the helpers two of them use.
#pragma once

#include <napi.h>
#include <uv.h>

#include <string>

namespace capsule_native {

// Exports open, Reader and writePackets (tun-device.cc).
void InitTunDevice(Napi::Env env, Napi::Object exports);
// Exports UdpSocket (udp-socket.cc).
void InitUdpSocket(Napi::Env env, Napi::Object exports);
// Exports PayloadCipher (payload-cipher.cc).
void InitPayloadCipher(Napi::Env env, Napi::Object exports);
// Exports FastPath, the engine's fast path (fast-path.cc).
void InitFastPath(Napi::Env env, Napi::Object exports);
// Exports VmExecutor, the native VM tier for JavaScript machine states (vm-executor.cc).
void InitVmExecutor(Napi::Env env, Napi::Object exports);

// Throws a JavaScript Error "what: strerror(err)" with errno and code (TUN_PERMISSION for
// EPERM/EACCES, else TUN_OPEN_FAILED); returns undefined.
Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err);

// Whether libsodium does the crypto it does better than OpenSSL here (Ed25519 verification, the
// link MAC): built with it (binding.gyp's `libsodium`, CAPSULE_LIBSODIUM) and sodium_init()
// succeeded. Thread-safe; the first call initializes.
bool UsesLibsodium();

// Polls `fd` for readability on Node's loop, calling `onPoll` with handle->data = `data`. Returns
// the handle, or nullptr after throwing a JavaScript error (the caller still owns `fd`).
uv_poll_t* StartPolling(Napi::Env env, int fd, void* data, uv_poll_cb onPoll);

}  // namespace capsule_native
