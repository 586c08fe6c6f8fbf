// The e2e sealed payload in C++: packages/wire/src/sealed-payload.ts owns the format (byte diagram
// there, and the header codec that writes and parses it); this is its one C++ copy, used by the
// PayloadCipher (payload-cipher.cc) and the agent's fast path (fast-path.cc), tested against that
// codec byte for byte (packages/native/test/payload-cipher.test.ts, agent-fast-path.test.ts):
//   key epoch (u32 BE) | nonce = 0x00000000 | counter (u64 BE) | ciphertext | tag (16)
// AES-256-GCM's nonce is the header's bytes 4..16, its additional data the 16-byte header and
// then the caller's AAD (so the epoch is authenticated too).
#pragma once

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace capsule_native {
namespace sealed_payload {

constexpr int64_t kHeaderLength = 16;
constexpr int64_t kNonceOffset = 4;
constexpr int64_t kTagLength = 16;
constexpr int64_t kOverhead = kHeaderLength + kTagLength;
constexpr size_t kKeyBytes = 32;
// The last key epoch (the header's epoch is 32 bits; packages/identity E2E_EPOCH_MAX).
constexpr uint32_t kEpochMax = 0xffffffff;

// Whether `value` (a JavaScript number) is a key epoch: a whole number 0..kEpochMax.
inline bool IsEpoch(double value) {
  return value >= 0 && value <= kEpochMax && value == static_cast<double>(static_cast<uint64_t>(value));
}

// packages/identity/src/link-keys.ts deriveE2eEpochKey: the key of e2e epoch `epoch` from a
// direction's epoch-0 key `base` (32 bytes), HKDF-SHA256 (RFC 5869) with no salt and the info
// "capsule-e2e-epoch-v1" ‖ epoch (u32 BE); epoch 0's key is the base itself. False when OpenSSL
// refuses. Tested against that function by sealing under keys derived on both sides.
inline bool DeriveEpochKey(const uint8_t* base, uint32_t epoch, uint8_t* out) {
  if (epoch == 0) {
    memcpy(out, base, kKeyBytes);
    return true;
  }
  static constexpr char kLabel[] = "capsule-e2e-epoch-v1";
  uint8_t info[sizeof kLabel - 1 + 4];
  memcpy(info, kLabel, sizeof kLabel - 1);
  for (int i = 0; i < 4; i++) info[sizeof kLabel - 1 + i] = static_cast<uint8_t>(epoch >> (24 - 8 * i));
  static EVP_KDF* const hkdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (hkdf == nullptr) return false;
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(hkdf);
  if (ctx == nullptr) return false;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(base), kKeyBytes),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
      OSSL_PARAM_construct_end(),
  };
  const bool ok = EVP_KDF_derive(ctx, out, kKeyBytes, params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

// Keys the AES-256-GCM context `ctx` (created, cipher set or not) with e2e epoch `epoch`'s key
// from `base`, to encrypt (`encrypt`) or decrypt. False when OpenSSL refuses.
inline bool KeyForEpoch(EVP_CIPHER_CTX* ctx, const uint8_t* base, uint32_t epoch, bool encrypt) {
  uint8_t key[kKeyBytes];
  const bool ok = DeriveEpochKey(base, epoch, key) &&
                  EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key, nullptr, encrypt ? 1 : 0) == 1;
  OPENSSL_cleanse(key, sizeof key);
  return ok;
}

// Writes the 16-byte header at out: the epoch, four zero bytes, the counter (< 2^53 by the codec's rule).
inline void WriteHeader(uint8_t* out, uint32_t epoch, uint64_t counter) {
  for (int i = 0; i < 4; i++) out[i] = static_cast<uint8_t>(epoch >> (24 - 8 * i));
  for (int i = 4; i < 8; i++) out[i] = 0;
  for (int i = 0; i < 8; i++) out[8 + i] = static_cast<uint8_t>(counter >> (56 - 8 * i));
}

// Seals source[0, length) behind the header at `header` (written already) with the encrypting
// context `ctx` (AES-256-GCM, key set): ciphertext at header + 16, then the tag. False when
// OpenSSL refuses.
inline bool Seal(EVP_CIPHER_CTX* ctx, uint8_t* header, const uint8_t* aad, size_t aadLength,
                 const uint8_t* source, size_t length) {
  uint8_t* ciphertext = header + kHeaderLength;
  int written = 0;
  int ok = EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, header + kNonceOffset, 1);
  ok = ok && EVP_CipherUpdate(ctx, nullptr, &written, header, kHeaderLength);
  if (aadLength > 0) ok = ok && EVP_CipherUpdate(ctx, nullptr, &written, aad, static_cast<int>(aadLength));
  int total = 0;
  if (length > 0) {
    ok = ok && EVP_CipherUpdate(ctx, ciphertext, &written, source, static_cast<int>(length));
    total = written;
  }
  ok = ok && EVP_CipherFinal_ex(ctx, ciphertext + total, &written);
  total += written;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagLength, ciphertext + total);
  return ok && static_cast<size_t>(total) == length;
}

// Opens the sealed payload sealed[0, length) (header ‖ ciphertext ‖ tag; length ≥ kOverhead) with
// the decrypting context `ctx` (AES-256-GCM, key set): the plaintext (length - kOverhead bytes)
// into out. False when the tag does not verify (out then holds garbage) or OpenSSL refuses. The
// epoch and counter are the caller's to check.
inline bool Open(EVP_CIPHER_CTX* ctx, const uint8_t* sealed, size_t length, const uint8_t* aad, size_t aadLength,
                 uint8_t* out) {
  const size_t plainLength = length - kOverhead;
  const uint8_t* ciphertext = sealed + kHeaderLength;
  int written = 0;
  int ok = EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, sealed + kNonceOffset, 0);
  ok = ok && EVP_CipherUpdate(ctx, nullptr, &written, sealed, kHeaderLength);
  if (aadLength > 0) ok = ok && EVP_CipherUpdate(ctx, nullptr, &written, aad, static_cast<int>(aadLength));
  int total = 0;
  if (plainLength > 0) {
    ok = ok && EVP_CipherUpdate(ctx, out, &written, ciphertext, static_cast<int>(plainLength));
    total = written;
  }
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagLength, const_cast<uint8_t*>(ciphertext + plainLength));
  ok = ok && EVP_CipherFinal_ex(ctx, out + total, &written) == 1;
  return ok;
}

}  // namespace sealed_payload
}  // namespace capsule_native
