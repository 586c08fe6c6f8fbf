// A Node addon for `npm run bench -- wake` (bench/wake.bench.ts), built with g++ by bench/native-tools.ts:
// the same UDP echo on 127.0.0.1:PORT (0: any), woken four ways inside a Node process.
// `start(mode, port)` returns the port it is bound to:
//   'loop'    a uv_poll on Node's own loop: what the fast paths of the engine and the agent do
//             (packages/native/addon/fast-path.cc reads its socket and TUN from such a callback);
//   'thread'  a thread of its own blocked in recvfrom;
//   'epoll'   a thread of its own blocked in epoll_wait, then recvfrom (the readiness step libuv adds);
//   'uv'      a thread running a libuv loop of its own with the same uv_poll (libuv without Node).
// Each echoes every datagram queued when it wakes, then sleeps again.
#include <napi.h>
#include <sys/epoll.h>
#include <uv.h>

#include "wake-echo.h"

#include <string>
#include <thread>

namespace {

using wake_echo::EchoQueued;

// One uv_poll echo: its handle's data is the fd.
void StartPoll(uv_loop_t* loop, int fd) {
  auto* poll = new uv_poll_t;
  poll->data = reinterpret_cast<void*>(static_cast<intptr_t>(fd));
  uv_poll_init(loop, poll, fd);
  uv_poll_start(poll, UV_READABLE, [](uv_poll_t* handle, int, int) {
    EchoQueued(static_cast<int>(reinterpret_cast<intptr_t>(handle->data)));
  });
}

Napi::Value Start(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const std::string mode = info[0].As<Napi::String>().Utf8Value();
  const int fd = wake_echo::OpenSocket(info[1].As<Napi::Number>().Int32Value());
  if (fd < 0) {
    Napi::Error::New(env, "bind failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (mode == "loop") {
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    StartPoll(loop, fd);
  } else if (mode == "thread") {
    std::thread([fd] { wake_echo::EchoBlocking(fd); }).detach();
  } else if (mode == "epoll") {
    std::thread([fd] {
      const int epoll = epoll_create1(0);
      epoll_event want{};
      want.events = EPOLLIN;
      want.data.fd = fd;
      epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &want);
      for (;;) {
        epoll_event ready[8];
        if (epoll_wait(epoll, ready, 8, -1) > 0) EchoQueued(fd);
      }
    }).detach();
  } else if (mode == "uv") {
    std::thread([fd] {
      uv_loop_t loop;
      uv_loop_init(&loop);
      StartPoll(&loop, fd);
      uv_run(&loop, UV_RUN_DEFAULT);
    }).detach();
  } else {
    Napi::Error::New(env, "mode: loop, thread, epoll or uv").ThrowAsJavaScriptException();
  }
  return Napi::Number::New(env, wake_echo::BoundPort(fd));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("start", Napi::Function::New(env, Start));
  return exports;
}

}  // namespace

NODE_API_MODULE(capsule_wake_bench, Init)
