#include "daemon/next_key.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "daemon/logging.h"
#include "monitor/atomic_file.h"
#include "monitor/dane.h"
#include "monitor/selfsigned.h"

namespace transportcertd {
namespace {

constexpr std::int64_t kFirstRetryMs = 10'000;
constexpr std::int64_t kMaxRetryMs = 3'600'000;

// Whether a certificate or key of `inventory` has the public key `sha256` (lowercase hex).
// Compared as bytes: this runs on every evaluation, over every certificate and key.
bool InStore(const Inventory& inventory, const std::string& sha256) {
  KeyId id{};
  if (sha256.size() != id.size() * 2) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    unsigned value = 0;
    for (const char c : {sha256[2 * i], sha256[2 * i + 1]}) {
      unsigned digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<unsigned>(c - 'a' + 10);
      } else {
        return false;  // HexLower never writes it: nothing in the store has it
      }
      value = value * 16 + digit;
    }
    id[i] = static_cast<unsigned char>(value);
  }
  const auto key =
      std::lower_bound(inventory.keys.begin(), inventory.keys.end(), id,
                       [](const auto& k, const KeyId& wanted) { return k.first < wanted; });
  if (key != inventory.keys.end() && key->first == id) return true;  // keys are sorted
  return std::any_of(
      inventory.certificates.begin(), inventory.certificates.end(),
      [&](const StoredCertificate& stored) { return stored.cert().public_key_id == id; });
}

}  // namespace

const std::optional<NextKey::Key> NextKey::kNone;

// One key generation: started on the loop thread, run on the thread pool (key generation and
// the atomic write), finished on the loop thread.
struct NextKey::Work {
  uv_work_t work{};
  NextKey* owner = nullptr;
  KeySpec spec;
  std::string path;
  Status written;
};

NextKey::NextKey(uv_loop_t* loop, const Config& config, std::function<void()> changed)
    : loop_(loop), config_(config), changed_(std::move(changed)) {
  retry_.Init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
}

NextKey::~NextKey() {
  // The loop ran dry before the daemon went away, so no generation is still running; were one
  // running, its memory must stay valid for the thread pool.
  if (work_) static_cast<void>(work_.release());
}

bool NextKey::Load() {
  const std::string path = config_.NextKeyPath();
  key_.reset();
  auto text = ReadFile(path, std::uint64_t{64} * 1024);
  if (!text) {
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
      spdlog::warn("cannot use the next key: {}; generating a new one", text.error().message);
    }
    return false;
  }
  auto sha256 = SpkiSha256OfPrivateKey(*text);
  auto spec = KeySpecOfPrivateKeyPem(*text);
  if (!sha256 || !spec) {
    spdlog::warn("cannot use the next key {}: {}; generating a new one", path,
                 !sha256 ? sha256.error().message : spec.error().message);
    return false;
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return false;
  if ((st.st_mode & 077) != 0 && chmod(path.c_str(), 0600) == 0) {
    spdlog::warn("{} was readable by others; made it 0600", path);
  }
  key_ = Key{std::move(text).value(), std::move(sha256).value(),
             static_cast<UnixTimeMs>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000,
             *spec};
  return true;
}

void NextKey::Update(const Inventory& inventory) {
  if (!config_.NextKeyEnabled() || stopped_ || work_ || handed_out_) return;
  if (retry_ && uv_is_active(reinterpret_cast<uv_handle_t*>(retry_.get()))) return;
  EnsureLoaded();
  if (!key_) {
    StartGeneration("there is none");
  } else if (!(key_->spec == config_.key)) {
    StartGeneration("it is " + key_->spec.ToString() + ", [selfsigned] key is " +
                    config_.key.ToString());
  } else if (InStore(inventory, key_->sha256)) {
    StartGeneration("a certificate in the store has the current one");
  }
}

void NextKey::EnsureLoaded() {
  if (loaded_ || !config_.NextKeyEnabled()) return;
  loaded_ = true;
  Load();
}

std::string NextKey::HandOut(Refill& refill) {
  EnsureLoaded();
  refill = Refill{};
  if (!config_.NextKeyEnabled() || handed_out_ || work_) return {};
  refill.path = config_.NextKeyPath();
  refill.spec = config_.key;
  handed_out_ = true;  // until Used or Returned: no generation of its own meanwhile
  if (!key_ || !(key_->spec == config_.key)) return {};
  spdlog::info("the new certificate gets the next key (TLSA 3 1 1 {})", key_->sha256);
  return key_->pem;
}

void NextKey::Refill::Run() {
  if (path.empty()) return;
  auto pem = GeneratePrivateKeyPem(spec);
  written = pem ? WriteFileAtomically(path, *pem, 0600) : Status(pem.error());
}

void NextKey::Used(const Refill& refill) {
  handed_out_ = false;
  key_.reset();
  if (!config_.NextKeyEnabled() || stopped_ || work_) return;
  if (!refill.path.empty() && refill.written && Load()) {
    spdlog::info("new next key {} (TLSA 3 1 1 {})", refill.path, key_->sha256);
    return;
  }
  if (!refill.path.empty() && !refill.written) {
    spdlog::warn("{}", refill.written.error().message);
  }
  StartGeneration("the last one is in use now");
}

void NextKey::StartGeneration(const std::string& why) {
  work_ = std::make_unique<Work>();
  work_->owner = this;
  work_->spec = config_.key;
  work_->path = config_.NextKeyPath();
  work_->work.data = work_.get();
  spdlog::info("generating a {} next key for the internal transport certificate in {}: {}",
               work_->spec.ToString(), work_->path, why);
  uv_queue_work(
      loop_, &work_->work,
      [](uv_work_t* work) {  // on a pool thread: nothing here touches the NextKey
        auto& w = *static_cast<Work*>(work->data);
        auto pem = GeneratePrivateKeyPem(w.spec);
        w.written = pem ? WriteFileAtomically(w.path, *pem, 0600) : Status(pem.error());
      },
      [](uv_work_t* work, int) { static_cast<Work*>(work->data)->owner->FinishGeneration(); });
}

void NextKey::FinishGeneration() {
  std::unique_ptr<Work> done = std::move(work_);
  if (stopped_) return;
  if (done->written && Load()) {
    retry_ms_ = 0;
    spdlog::info("new next key {} (TLSA 3 1 1 {})", done->path, key_->sha256);
    if (changed_) changed_();
    return;
  }
  const std::string why =
      !done->written ? done->written.error().message : done->path + ": cannot be read back";
  retry_ms_ = std::clamp(retry_ms_ * 2, kFirstRetryMs, kMaxRetryMs);
  AlertFields fields;
  fields.file = done->path;
  Alert(AlertKind::kGenerationFailed, spdlog::level::err, fields,
        "generating the next key failed: " + why + "; retrying in " +
            FormatDuration(Milliseconds{retry_ms_}));
  uv_timer_start(
      retry_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<NextKey*>(t->data);
        if (!self->work_ && !self->handed_out_) self->StartGeneration("retrying");
      },
      static_cast<std::uint64_t>(retry_ms_), 0);
  if (changed_) changed_();  // the records no longer wait for the key
}

void NextKey::Stop() {
  stopped_ = true;
  retry_.Close();
}

}  // namespace transportcertd
