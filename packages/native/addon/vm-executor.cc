// The native VM tier for JavaScript machines: class VmExecutor runs rv-core.h over a machine state
// of @capsule/vm (its register file and page table, which are JavaScript typed arrays, and its
// page views, which JavaScript maps here page by page as it maps them in the state).
//
//   new VmExecutor(regFile: Int32Array(33), pageTable: Int32Array(4 × 65536), io: Int32Array(4))
//   mapPage(page, view: DataView | undefined)   the state's view of `page` (undefined: unmapped)
//   run(words: Int32Array, base, lengthBytes) → Exit code; io = [pc, fuel, faultAddress, reservation]
//     in and out
//
// The typed arrays' memory is pinned by references held here; so are the mapped views' buffers. A
// page's limits live in the page table, which JavaScript keeps at most its view's length (state.ts
// mapPage and the sandbox's bind clamp them), so rv-core never reads or writes past a view.
#include <napi.h>

#include <cstdint>
#include <vector>

#include "addon.h"
#include "rv-core.h"

namespace capsule_native {
namespace {

// Pointer and element count of an Int32Array argument, or nullptr.
int32_t* Int32Data(const Napi::Value& value, size_t* count) {
  if (!value.IsTypedArray()) return nullptr;
  Napi::TypedArray typed = value.As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_int32_array) return nullptr;
  *count = typed.ElementLength();
  return reinterpret_cast<int32_t*>(static_cast<uint8_t*>(typed.ArrayBuffer().Data()) + typed.ByteOffset());
}

class VmExecutor : public Napi::ObjectWrap<VmExecutor> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "VmExecutor",
                       {InstanceMethod("mapPage", &VmExecutor::MapPage), InstanceMethod("run", &VmExecutor::Run)});
  }

  explicit VmExecutor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VmExecutor>(info) {
    size_t regCount = 0, tableCount = 0, ioCount = 0;
    int32_t* regs = info.Length() >= 3 ? Int32Data(info[0], &regCount) : nullptr;
    int32_t* table = info.Length() >= 3 ? Int32Data(info[1], &tableCount) : nullptr;
    int32_t* io = info.Length() >= 3 ? Int32Data(info[2], &ioCount) : nullptr;
    if (regs == nullptr || regCount < 33 || table == nullptr || tableCount < 4 * kPageCount || io == nullptr ||
        ioCount < 4) {
      Napi::TypeError::New(info.Env(), "VmExecutor(regFile: Int32Array(33), pageTable: Int32Array(262144), io: Int32Array(4))")
          .ThrowAsJavaScriptException();
      return;
    }
    for (int i = 0; i < 3; i++) pinned_.push_back(Napi::Persistent(info[i].As<Napi::Object>()));
    pageBase_.assign(kPageCount, nullptr);
    pageRefs_.resize(kPageCount);
    machine_ = {regs, table, pageBase_.data()};
    io_ = io;
  }

 private:
  Napi::Value MapPage(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      Napi::TypeError::New(env, "mapPage(page, view)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const int64_t page = info[0].As<Napi::Number>().Int64Value();
    if (page < 0 || page >= kPageCount) {
      Napi::RangeError::New(env, "page out of range").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 2 || !info[1].IsDataView()) {
      pageBase_[page] = nullptr;
      pageRefs_[page].Reset();
      return env.Undefined();
    }
    Napi::DataView view = info[1].As<Napi::DataView>();
    pageBase_[page] = static_cast<uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset();
    pageRefs_[page] = Napi::Persistent(view.As<Napi::Object>());
    return env.Undefined();
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t count = 0;
    const int32_t* words = info.Length() >= 3 ? Int32Data(info[0], &count) : nullptr;
    if (words == nullptr || !info[1].IsNumber() || !info[2].IsNumber()) {
      Napi::TypeError::New(env, "run(words: Int32Array, base, lengthBytes)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const uint32_t base = info[1].As<Napi::Number>().Uint32Value();
    const uint32_t lengthBytes = info[2].As<Napi::Number>().Uint32Value();
    // words holds one packed word and one immediate per slot, then the END slot: a program whose
    // words are shorter than that is refused rather than read past.
    if (lengthBytes % 2 != 0 || count < static_cast<size_t>(lengthBytes) + 2) {
      Napi::RangeError::New(env, "words shorter than the program").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    RvRegisters r{io_[0], io_[1], io_[2], io_[3]};
    const int32_t exit = RvRun(machine_, words, base, lengthBytes, r);
    io_[0] = r.pc;
    io_[1] = r.fuel;
    io_[2] = r.faultAddress;
    io_[3] = r.reservation;
    return Napi::Number::New(env, exit);
  }

  RvMachine machine_{};
  int32_t* io_ = nullptr;
  std::vector<uint8_t*> pageBase_;
  std::vector<Napi::ObjectReference> pageRefs_;
  std::vector<Napi::ObjectReference> pinned_;
};

}  // namespace

void InitVmExecutor(Napi::Env env, Napi::Object exports) { exports.Set("VmExecutor", VmExecutor::Define(env)); }

}  // namespace capsule_native
