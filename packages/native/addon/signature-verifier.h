// Flow authorizations' Ed25519 signatures verified ahead, on a thread of the engine's own.
//
// A type I packet's AUTH costs the engine one Ed25519 verification (~77 µs on one core here with
// OpenSSL, ~57 with libsodium; 80% of a new flow's CPU), on Node's loop thread. The engine's fast path sees every authenticated
// type I datagram of a receive batch before JavaScript handles any (it hands them up), so it queues
// each one's signature here (`Prefetch`); this thread verifies from the newest end of the queue
// while JavaScript, handling the batch from the oldest end, asks for each result (`Result`): done,
// it takes it; queued and not started, it verifies the signature itself at once; being verified,
// it waits for it. Two cores then share a batch's verifications.
//
// Nothing is trusted from here but a result for the exact bytes asked about: `Result` compares
// the public key, the signed bytes and the signature with the job's, and answers -1 (not known:
// verify it yourself) for anything it did not queue. Which key an authorization names, whether that
// key is still trusted, the validity window and revocation stay JavaScript's checks
// (@capsule/identity checkFlowAuthorization). A batch's unclaimed jobs are forgotten at the next
// batch (`NewBatch`): JavaScript handles a batch's datagrams before the socket reads the next.
//
// The verification itself is libsodium's (`crypto_sign_verify_detached`) when the addon was built
// with it (binding.gyp: `pkg-config libsodium`, Debian's libsodium-dev), else OpenSSL's that Node
// links. libsodium's is ~1.35x as fast here (17.6 k against 13.1 k verifications/s on one core) and
// stricter: it also refuses a small-order public key or R, which no honest signer produces; a
// signature one of them accepts and the other refuses is never the controller's.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace capsule_native {

class SignatureVerifier {
 public:
  static constexpr size_t kKeyBytes = 32;
  // @capsule/identity's flow authorization: 84 signed bytes, then the 64-byte signature.
  static constexpr size_t kSignedBytes = 84;
  static constexpr size_t kSignatureBytes = 64;
  static constexpr size_t kAuthorizationBytes = kSignedBytes + kSignatureBytes;
  // Jobs held at once (a receive batch has at most 64 datagrams a recvmmsg; more are not queued).
  static constexpr size_t kJobs = 256;

  struct Stats {
    double queued = 0;   // signatures queued by Prefetch
    double ahead = 0;    // results JavaScript took that this thread had verified
    double here = 0;     // queued ones JavaScript verified itself (asked for before this thread began)
    double waited = 0;   // results JavaScript waited for (this thread was verifying them)
    double unused = 0;   // queued or verified, never asked for (forgotten at the next batch)
    double full = 0;     // not queued: every job in use
    double repeated = 0;  // not queued: the same authorization was queued not long ago (JavaScript caches it)
    double direct = 0;    // not queued, verified when asked for (libsodium's, on the caller's thread)
  };

  SignatureVerifier();
  ~SignatureVerifier();
  SignatureVerifier(const SignatureVerifier&) = delete;
  SignatureVerifier& operator=(const SignatureVerifier&) = delete;

  // The controller keys by key id (the engine's trusted set); false when a key is not a valid
  // Ed25519 public key (the set is then left as it was).
  bool SetKeys(const std::vector<std::pair<uint16_t, std::array<uint8_t, kKeyBytes>>>& keys);
  // An authenticated type I packet's AUTH value (kAuthorizationBytes): queued when it is version 1,
  // Ed25519, names a key of the set and its signature was not queued recently (an agent sends the
  // same authorization again every few seconds per flow; the engine has it cached by then, and a
  // signature it no longer has is verified there). Engine thread.
  void Prefetch(const uint8_t* authorization);
  // A new receive batch: the last batch's jobs nobody asked for are forgotten. Engine thread.
  void NewBatch();
  // The signature over `message` (kSignedBytes) by `key` (raw): 1 valid, 0 not; one not queued is
  // verified now with libsodium (UsesLibsodium), else -1 (the caller verifies it).
  int Result(const uint8_t* key, const uint8_t* message, const uint8_t* signature);
  Stats stats() const;

  // A trusted key: its raw bytes (libsodium) and OpenSSL's object of them.
  struct Key {
    uint16_t id;
    std::array<uint8_t, kKeyBytes> raw;
    std::shared_ptr<EVP_PKEY> pkey;
  };

  // One Ed25519 verification (any thread): libsodium's when UsesLibsodium (addon.h), else OpenSSL's.
  static bool Verify(const Key& key, const uint8_t* message, size_t length, const uint8_t* signature);

 private:
  enum class State : uint8_t { kFree, kQueued, kWorking, kClaimed, kDone };
  struct Job {
    State state = State::kFree;
    bool valid = false;
    uint64_t sequence = 0;
    std::shared_ptr<const Key> key;  // held while queued or verified
    std::array<uint8_t, kAuthorizationBytes> authorization{};
  };

  void Run();
  // Stops and joins the thread (after the verification in progress); idempotent.
  void StopThread();
  // std::atexit: every running thread stopped before OpenSSL's own exit handler frees its state.
  static void StopAllAtExit();
  Job* Find(const uint8_t* key, const uint8_t* message, const uint8_t* signature);

  mutable std::mutex mutex_;
  std::condition_variable work_;  // a job queued, or stop
  std::condition_variable done_;  // a job this thread verified
  std::vector<std::shared_ptr<const Key>> keys_;
  std::array<Job, kJobs> jobs_{};
  // Authorizations queued recently, whole (so one forged with a copied signature cannot stand for a
  // genuine one), by their signature's first two bytes (direct-mapped).
  static constexpr size_t kRecent = 4096;
  std::vector<std::array<uint8_t, kAuthorizationBytes>> recent_ =
      std::vector<std::array<uint8_t, kAuthorizationBytes>>(kRecent);
  size_t queued_ = 0;
  uint64_t sequence_ = 0;
  bool stop_ = false;
  Stats stats_{};
  std::thread thread_;  // started at the first Prefetch that queues
};

}  // namespace capsule_native
