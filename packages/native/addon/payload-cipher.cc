// new PayloadCipher(key: 32 bytes)
//   The AES-256-GCM half of @capsule/native's PayloadCipher (src/payload-cipher.ts; the port is
//   @capsule/identity's): one OpenSSL context per key and direction, reused for every packet
//   (node:crypto creates a cipher object per call). seal(out, at, aad, source, sourceOffset,
//   length) seals behind the 16-byte header the caller wrote at out[at] with wire's codec and
//   returns the whole sealed payload's length, or -1; open(sealed, at, length, aad, out,
//   outOffset) is the reverse: plaintext length, or -1. Node exports its OpenSSL.
//   The epoch and counter stay in JavaScript: a counter above 2^31 crossing into C++ as a number
//   would be boxed (a heap number, allocated per packet); the header bytes cost nothing to pass.
#include <openssl/evp.h>

#include <cstdint>

#include "addon.h"
#include "sealed-payload.h"

namespace capsule_native {
namespace {

class PayloadCipher : public Napi::ObjectWrap<PayloadCipher> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "PayloadCipher",
                       {InstanceMethod("seal", &PayloadCipher::Seal), InstanceMethod("open", &PayloadCipher::Open)});
  }

  explicit PayloadCipher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PayloadCipher>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().ByteLength() != 32) {
      Napi::TypeError::New(env, "PayloadCipher(key: 32 bytes)").ThrowAsJavaScriptException();
      return;
    }
    ctx_ = EVP_CIPHER_CTX_new();
    openCtx_ = EVP_CIPHER_CTX_new();
    uint8_t* key = Bytes(info[0]);
    if (ctx_ == nullptr || openCtx_ == nullptr ||
        EVP_CipherInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, key, nullptr, 1) != 1 ||
        EVP_CipherInit_ex(openCtx_, EVP_aes_256_gcm(), nullptr, key, nullptr, 0) != 1) {
      Napi::Error::New(env, "AES-256-GCM context").ThrowAsJavaScriptException();
      return;
    }
  }

  ~PayloadCipher() override {
    if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
    if (openCtx_ != nullptr) EVP_CIPHER_CTX_free(openCtx_);
  }

 private:
  static uint8_t* Bytes(const Napi::Value& value, size_t* length = nullptr) {
    napi_typedarray_type type;
    size_t count = 0;
    void* data = nullptr;
    napi_value arrayBuffer;
    size_t byteOffset = 0;
    napi_get_typedarray_info(value.Env(), value, &type, &count, &data, &arrayBuffer, &byteOffset);
    if (length != nullptr) *length = count;
    return static_cast<uint8_t*>(data);
  }

  // seal(out, at, aad, source, sourceOffset, length): out[at, at + 16) holds the header (wire's
  // codec wrote it); writes the ciphertext of source[sourceOffset, + length) and the tag after it.
  // Returns the sealed payload's length (length + 32), or -1 (a range outside its buffer).
  Napi::Value Seal(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t outLength = 0;
    size_t aadLength = 0;
    size_t sourceBytes = 0;
    uint8_t* out = Bytes(info[0], &outLength);
    int64_t at = info[1].As<Napi::Number>().Int64Value();
    uint8_t* aad = Bytes(info[2], &aadLength);
    uint8_t* source = Bytes(info[3], &sourceBytes);
    int64_t sourceOffset = info[4].As<Napi::Number>().Int64Value();
    int64_t length = info[5].As<Napi::Number>().Int64Value();
    if (ctx_ == nullptr || at < 0 || sourceOffset < 0 || length < 0 || length > 0x7fffffff ||
        static_cast<uint64_t>(sourceOffset + length) > sourceBytes ||
        static_cast<uint64_t>(at + sealed_payload::kOverhead + length) > outLength)
      return Napi::Number::New(env, -1);
    if (!sealed_payload::Seal(ctx_, out + at, aad, aadLength, source + sourceOffset, static_cast<size_t>(length)))
      return Napi::Number::New(env, -1);
    return Napi::Number::New(env, static_cast<double>(length + sealed_payload::kOverhead));
  }

  // open(sealed, at, length, aad, out, outOffset): sealed[at, at + length) is header ‖
  // ciphertext ‖ tag; decrypts into out[outOffset …]; returns the plaintext length, or -1
  // (too short, buffers too small, or the tag does not verify: then out holds garbage). The
  // epoch and counter are the caller's to check (wire's SealedPayloadView parsed them).
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t sealedBytes = 0;
    size_t aadLength = 0;
    size_t outLength = 0;
    uint8_t* sealed = Bytes(info[0], &sealedBytes);
    int64_t at = info[1].As<Napi::Number>().Int64Value();
    int64_t length = info[2].As<Napi::Number>().Int64Value();
    uint8_t* aad = Bytes(info[3], &aadLength);
    uint8_t* out = Bytes(info[4], &outLength);
    int64_t outOffset = info[5].As<Napi::Number>().Int64Value();
    int64_t plainLength = length - sealed_payload::kOverhead;
    if (openCtx_ == nullptr || at < 0 || length < sealed_payload::kOverhead || outOffset < 0 ||
        static_cast<uint64_t>(at + length) > sealedBytes ||
        static_cast<uint64_t>(outOffset + plainLength) > outLength || length > 0x7fffffff)
      return Napi::Number::New(env, -1);
    const bool ok = sealed_payload::Open(openCtx_, sealed + at, static_cast<size_t>(length), aad, aadLength,
                                         out + outOffset);
    if (!ok) return Napi::Number::New(env, -1);
    return Napi::Number::New(env, static_cast<double>(plainLength));
  }

  EVP_CIPHER_CTX* ctx_ = nullptr;
  EVP_CIPHER_CTX* openCtx_ = nullptr;
};

}  // namespace

void InitPayloadCipher(Napi::Env env, Napi::Object exports) {
  exports.Set("PayloadCipher", PayloadCipher::Init(env));
}

}  // namespace capsule_native
