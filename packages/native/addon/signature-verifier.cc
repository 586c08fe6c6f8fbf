// Flow authorizations' Ed25519 signatures verified ahead on a thread (signature-verifier.h).
#include "signature-verifier.h"

#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "addon.h"

#if defined(CAPSULE_LIBSODIUM)
#include <sodium.h>
#endif

namespace capsule_native {
namespace {

// @capsule/identity's flow authorization: version 1, algorithm Ed25519 (1), key id (u16, big-endian).
constexpr uint8_t kAuthorizationVersion = 1;
constexpr uint8_t kAlgorithmEd25519 = 1;

// Every verifier alive. process.exit() runs no finalizer, so a thread could still be
// inside OpenSSL while exit() tears OpenSSL down (its own atexit handler): StopAllAtExit, registered
// with atexit after OpenSSL's (handlers run last registered first), stops and joins every thread
// first. Leaked on purpose: it must outlive static destruction.
struct Running {
  std::mutex mutex;
  std::unordered_set<SignatureVerifier*> verifiers;
};
Running& running() {
  static Running* const instance = new Running();
  return *instance;
}

}  // namespace

SignatureVerifier::SignatureVerifier() {
  static const bool registered = std::atexit(StopAllAtExit) == 0;
  (void)registered;
  std::lock_guard<std::mutex> lock(running().mutex);
  running().verifiers.insert(this);
}

SignatureVerifier::~SignatureVerifier() {
  {
    std::lock_guard<std::mutex> lock(running().mutex);
    running().verifiers.erase(this);
  }
  StopThread();
}

void SignatureVerifier::StopThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SignatureVerifier::StopAllAtExit() {
  std::lock_guard<std::mutex> lock(running().mutex);
  for (SignatureVerifier* verifier : running().verifiers) verifier->StopThread();
}

bool SignatureVerifier::Verify(const Key& key, const uint8_t* message, size_t length, const uint8_t* signature) {
#if defined(CAPSULE_LIBSODIUM)
  if (UsesLibsodium()) return crypto_sign_verify_detached(signature, message, length, key.raw.data()) == 0;
#endif
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  if (context == nullptr) return false;
  const bool valid = EVP_DigestVerifyInit(context, nullptr, nullptr, nullptr, key.pkey.get()) == 1 &&
                     EVP_DigestVerify(context, signature, kSignatureBytes, message, length) == 1;
  EVP_MD_CTX_free(context);
  return valid;
}

bool SignatureVerifier::SetKeys(const std::vector<std::pair<uint16_t, std::array<uint8_t, kKeyBytes>>>& keys) {
  std::vector<std::shared_ptr<const Key>> next;
  for (const auto& [id, raw] : keys) {
    EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size());
    if (pkey == nullptr) return false;
    next.push_back(std::make_shared<const Key>(Key{id, raw, std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free)}));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  keys_ = std::move(next);
  return true;
}

void SignatureVerifier::Prefetch(const uint8_t* authorization) {
  if (authorization[0] != kAuthorizationVersion || authorization[1] != kAlgorithmEd25519) return;
  const uint16_t keyId = static_cast<uint16_t>((authorization[2] << 8) | authorization[3]);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::shared_ptr<const Key>* key = nullptr;
    for (const std::shared_ptr<const Key>& candidate : keys_)
      if (candidate->id == keyId) key = &candidate;
    if (key == nullptr) return;
    const uint8_t* signature = authorization + kSignedBytes;
    std::array<uint8_t, kAuthorizationBytes>& recent = recent_[((signature[0] << 8) | signature[1]) % kRecent];
    if (memcmp(recent.data(), authorization, recent.size()) == 0) {
      stats_.repeated += 1;
      return;
    }
    Job* slot = nullptr;
    for (Job& job : jobs_)
      if (job.state == State::kFree) {
        slot = &job;
        break;
      }
    if (slot == nullptr) {
      stats_.full += 1;
      return;
    }
    memcpy(recent.data(), authorization, recent.size());
    slot->state = State::kQueued;
    slot->sequence = ++sequence_;
    slot->key = *key;
    memcpy(slot->authorization.data(), authorization, kAuthorizationBytes);
    queued_ += 1;
    stats_.queued += 1;
    if (!thread_.joinable() && !stop_) thread_ = std::thread(&SignatureVerifier::Run, this);
  }
  work_.notify_one();
}

void SignatureVerifier::NewBatch() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Job& job : jobs_) {
    if (job.state != State::kQueued && job.state != State::kDone) continue;
    if (job.state == State::kQueued) queued_ -= 1;
    job.state = State::kFree;
    job.key.reset();
    stats_.unused += 1;
  }
}

SignatureVerifier::Job* SignatureVerifier::Find(const uint8_t* key, const uint8_t* message, const uint8_t* signature) {
  for (Job& job : jobs_) {
    if (job.state == State::kFree || job.state == State::kClaimed) continue;
    if (memcmp(job.key->raw.data(), key, kKeyBytes) == 0 && memcmp(job.authorization.data(), message, kSignedBytes) == 0 &&
        memcmp(job.authorization.data() + kSignedBytes, signature, kSignatureBytes) == 0)
      return &job;
  }
  return nullptr;
}

int SignatureVerifier::Result(const uint8_t* key, const uint8_t* message, const uint8_t* signature) {
  std::unique_lock<std::mutex> lock(mutex_);
  Job* job = Find(key, message, signature);
  if (job == nullptr) {
#if defined(CAPSULE_LIBSODIUM)
    // Not queued (every job in use under a flood, queued recently, a key beyond the thread's set):
    // libsodium's verification, still faster than the caller's OpenSSL one.
    if (UsesLibsodium()) {
      stats_.direct += 1;
      lock.unlock();
      return crypto_sign_verify_detached(signature, message, kSignedBytes, key) == 0 ? 1 : 0;
    }
#endif
    return -1;
  }
  if (job->state == State::kQueued) {  // not begun: verified here, now
    job->state = State::kClaimed;
    queued_ -= 1;
    const std::shared_ptr<const Key> verifying = std::move(job->key);
    lock.unlock();
    const bool valid = Verify(*verifying, message, kSignedBytes, signature);
    lock.lock();
    job->state = State::kFree;
    stats_.here += 1;
    return valid ? 1 : 0;
  }
  if (job->state == State::kWorking) {
    stats_.waited += 1;
    done_.wait(lock, [job] { return job->state == State::kDone; });
  } else {
    stats_.ahead += 1;
  }
  const bool valid = job->valid;
  job->state = State::kFree;
  job->key.reset();
  return valid ? 1 : 0;
}

SignatureVerifier::Stats SignatureVerifier::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void SignatureVerifier::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return stop_ || queued_ > 0; });
    if (stop_) return;
    // The newest queued job: JavaScript asks for the oldest first.
    Job* next = nullptr;
    for (Job& job : jobs_)
      if (job.state == State::kQueued && (next == nullptr || job.sequence > next->sequence)) next = &job;
    next->state = State::kWorking;
    queued_ -= 1;
    const std::shared_ptr<const Key> key = next->key;
    std::array<uint8_t, kAuthorizationBytes> authorization = next->authorization;
    lock.unlock();
    const bool valid = Verify(*key, authorization.data(), kSignedBytes, authorization.data() + kSignedBytes);
    lock.lock();
    next->valid = valid;
    next->state = State::kDone;
    done_.notify_all();
  }
}

}  // namespace capsule_native
