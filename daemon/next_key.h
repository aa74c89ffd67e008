// The next key of the internal transport certificate (docs/dane.md): one pre-generated private
// key in <state>/next-key.pem (mode 0600, written atomically, never in the store), whose TLSA
// record is published ahead of time, so that the next replacement of the internal transport
// certificate keeps matching the records already in DNS. Generated on the thread pool; a failed
// generation is alerted and retried with backoff, as certificate generation is. Once a
// replacement used the key, a new one is generated at once. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/config.h"
#include "daemon/uv_handle.h"
#include "monitor/expiry.h"
#include "monitor/store.h"

namespace transportcertd {

class NextKey {
 public:
  struct Key {
    std::string pem;       // PKCS#8, unencrypted
    std::string sha256;    // lowercase hex SHA-256 of its SubjectPublicKeyInfo (the 3 1 1 data)
    KeyId id{};            // the same SHA-256 as bytes: its key id in the store
    UnixTimeMs since = 0;  // when it was made (the file's modification time)
    KeySpec spec;          // its type and size
  };

  // `loop` and `config` must outlive the NextKey. `changed` runs on the loop thread whenever a
  // new next key has been written.
  NextKey(uv_loop_t* loop, const Config& config, std::function<void()> changed);
  ~NextKey();
  NextKey(const NextKey&) = delete;
  NextKey& operator=(const NextKey&) = delete;

  // With [dane] next_key on: reads the key file when it has not yet, and starts generating a
  // new key when there is none, when it cannot be read, when it is not of the [selfsigned] key
  // type, or when a certificate or key in `inventory` already has it (a replacement used it).
  void Update(const Inventory& inventory);

  // Reads the key file once, when it has not yet (Update does too).
  void EnsureLoaded();

  // The next key, when there is one and no replacement has it right now.
  const std::optional<Key>& Current() const { return handed_out_ ? kNone : key_; }
  // A generation runs now (the records wait for it rather than change twice).
  bool Generating() const { return work_ != nullptr; }

  // The new next key a replacement of the internal transport certificate makes on the thread
  // pool right after the certificate (Run), so that the new certificate and the records with
  // the new next key are published together, with one reload.
  struct Refill {
    std::string path;  // empty: nothing to do
    KeySpec spec;
    Status written{Error{"not run"}};
    void Run();  // any thread
  };

  // Hands the key to a replacement of the internal transport certificate: its PEM, or empty
  // when there is none. Until Used or Returned, Current() is empty. `refill` is what the
  // replacement runs after making its certificate.
  std::string HandOut(Refill& refill);
  // The replacement succeeded (with the handed-out key, if any): the refill's key becomes the
  // next key, or, when it failed, a new one is generated at once.
  void Used(const Refill& refill);
  // The replacement failed: the key stays the next key.
  void Returned() { handed_out_ = false; }

  // At shutdown: stops the retry timer; a running generation finishes on its own.
  void Stop();

 private:
  struct Work;
  bool Load();  // reads the file into key_; false when missing or unusable (logged)
  void StartGeneration(const std::string& why);
  void FinishGeneration();

  static const std::optional<Key> kNone;

  uv_loop_t* loop_;
  const Config& config_;
  std::function<void()> changed_;
  std::optional<Key> key_;
  bool loaded_ = false;      // the file was read at least once
  bool handed_out_ = false;  // a replacement has the key
  std::unique_ptr<Work> work_;
  std::int64_t retry_ms_ = 0;
  UvHandle<uv_timer_t> retry_;
  bool stopped_ = false;
};

}  // namespace transportcertd
