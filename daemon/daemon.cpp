#include "daemon/daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <filesystem>
#include <thread>

#include "daemon/logging.h"
#include "daemon/setup_warnings.h"
#include "monitor/atomic_file.h"
#include "monitor/internal_transport.h"
#include "monitor/retirement.h"
#include "monitor/metrics.h"
#include "monitor/selfsigned.h"
#include "monitor/store_change.h"

namespace transportcertd {
namespace {

constexpr std::uint64_t kDebounceMs = 100;  // coalesces a burst of store events
constexpr std::int64_t kFirstRetryMs = 10'000;
constexpr std::int64_t kMaxRetryMs = 3'600'000;

UnixTimeMs NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatTime(UnixTime t) {
  const auto tt = static_cast<time_t>(t);
  struct tm tm {};
  char buf[40] = {};
  gmtime_r(&tt, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

AlertFields FieldsOf(const Certificate& cert) {
  AlertFields fields;
  fields.thumbprint = cert.thumbprint;
  fields.subject = cert.subject;
  fields.not_after = FormatTime(cert.not_after);
  return fields;
}

// A failed reload: the whole message goes to the log; a caller over D-Bus learns where the
// error is but never what the file says there ("FILE:LINE: unknown keyword 'X'" quotes it).
Status ReloadFailed(const std::string& message, const std::string& file, ErrorCode code) {
  spdlog::error("reload failed, keeping the running configuration: {}", message);
  const std::string prefix = file + ":";
  const std::size_t digits = message.starts_with(prefix)
                                 ? message.find_first_not_of("0123456789", prefix.size())
                                 : std::string::npos;
  if (digits == std::string::npos || digits == prefix.size() ||
      message.compare(prefix.size(), digits - prefix.size(), "0") == 0) {
    return Error{message, code};  // not about a line of the file: "FILE: why", ours alone
  }
  return Error{message.substr(0, digits) +
                   ": not valid, keeping the running configuration (the daemon's log says why)",
               code};
}

// "1 certificate", "2 certificates".
std::string CountOf(std::size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

Status MakeDirectory(const std::string& path, mode_t mode) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return {};
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return Error{path + ": cannot create directory: " + std::strerror(errno), ErrorCode::kStore};
  }
  return {};
}

}  // namespace

// One self-signed generation: queued on the loop thread, run on the thread pool, finished on
// the loop thread.
struct Daemon::Generation {
  uv_work_t work{};
  Daemon* daemon = nullptr;
  SelfSignedRequest request;
  std::string store;
  std::string reason;
  UnixTime newer_than = 0;  // the newest NotBefore in the store when it was started
  std::vector<GenerationDone> done;
  bool started = false;  // handed to the thread pool
  Result<GeneratedCertificate> generated{Error{}};
  Result<std::string> written{Error{}};
};

Daemon::Daemon(Config config, DaemonOptions options)
    : config_(std::move(config)), options_(std::move(options)), expiry_(config_.warn_before) {}

Daemon::~Daemon() {
  if (clock_fd_ >= 0) close(clock_fd_);
  if (store_fd_ >= 0) close(store_fd_);
  if (loop_ready_) uv_loop_close(&loop_);
}

int Daemon::Run() {
  if (uv_loop_init(&loop_) != 0) {
    spdlog::critical("cannot create the event loop");
    return 1;
  }
  loop_ready_ = true;
  if (Status started = StartUp(); !started) {
    spdlog::critical("{}", started.error().message);
    Shutdown(1, "");
  } else if (generations_.empty()) {
    SendReady();
  } else {
    // No usable internal transport certificate yet: READY=1 once the first one is published
    // (or its generation failed and was alerted), so a mail server started after us finds it.
    ready_after_generation_ = true;
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Shutdown closed every handle; run the loop dry so close callbacks and pending work finish.
  uv_run(&loop_, UV_RUN_DEFAULT);
  return exit_code_;
}

Status Daemon::StartUp() {
  notifier_ = std::make_unique<SystemdNotifier>(&loop_);
  auto on_signal = [](uv_signal_t* handle, int signum) {
    auto* self = static_cast<Daemon*>(handle->data);
    if (signum == SIGHUP) {
      (void)self->Reload();  // a failure is logged there
      return;
    }
    self->Shutdown(0, signum == SIGTERM ? "SIGTERM" : "SIGINT");
  };
  for (auto [handle, signum] :
       {std::pair{&sigterm_, SIGTERM}, std::pair{&sigint_, SIGINT}, std::pair{&sighup_, SIGHUP}}) {
    handle->Init([this](uv_signal_t* s) { return uv_signal_init(&loop_, s); }, this);
    uv_signal_start(handle->get(), on_signal, signum);
  }
  debounce_.Init([this](uv_timer_t* t) { return uv_timer_init(&loop_, t); }, this);
  deadline_.Init([this](uv_timer_t* t) { return uv_timer_init(&loop_, t); }, this);
  retry_.Init([this](uv_timer_t* t) { return uv_timer_init(&loop_, t); }, this);
  publisher_ = std::make_unique<Publisher>(&loop_, config_);
  expired_selected_ = std::make_unique<ExpiredSelectionAlerts>(&loop_);
  publisher_->OnReloadDone([this] {
    WriteMetrics();
    VerifyAfterReload();
  });
  // after_reload itself is read at each reload: a configuration reload may change it.
  if (VerifyAfterReloadWanted(RunningUnderSystemd(), options_.bus == BusKind::kSystem,
                              Milliseconds{1})) {
    verify_trigger_ = std::make_unique<VerifyTrigger>(&loop_, [this] {
      if (!bus_) return;
      bus_->StartUnit(kVerifyUnit, [](const std::string& error) {
        if (error.empty()) {
          spdlog::info("started {} to check what the mail server serves", kVerifyUnit);
        } else {
          spdlog::warn("could not start {}: {}", kVerifyUnit, error);
        }
      });
    });
  }

  if (Status dirs = PrepareDirectories(); !dirs) return dirs;
  auto bindings = LoadBindings(config_.BindingsPath());
  if (!bindings) return bindings.error();
  bindings_ = std::move(bindings).value();
  scanner_ = std::make_unique<StoreScanner>(config_.store, StoreScanOptions(config_));
  if (Status scanned = Rescan(); !scanned) return scanned;  // also starts watching the store
  WarnAboutSetup(config_, inventory_);
  StartClockChangeWatch();
  if (options_.bus) {
    auto bus = BusService::Start(&loop_, *options_.bus, *this, [this](const std::string& why) {
      Shutdown(1, "lost the D-Bus connection (" + why + "); exiting so that systemd restarts us");
    });
    if (!bus) return bus.error();
    bus_ = std::move(bus).value();
  }
  Evaluate();
  return {};
}

Status Daemon::PrepareDirectories() {
  for (const auto& dir : {config_.state, config_.store, config_.publish_dir}) {
    if (Status made = MakeDirectory(dir, 0700); !made) return made;
    if (const int stale = RemoveStaleTempFiles(dir); stale > 0) {
      spdlog::info("removed {} unfinished temporary file(s) from {}", stale, dir);
    }
  }
  metrics_.Configure(config_.metrics_textfile);
  // With publish.group, the group must be able to reach the published files: 0750 root:group.
  if (!config_.publish_group.empty()) {
    const struct group* g = getgrnam(config_.publish_group.c_str());
    if (g != nullptr &&
        (chown(config_.publish_dir.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0 ||
         chmod(config_.publish_dir.c_str(), 0750) != 0)) {
      spdlog::error("{}: cannot give group {} access: {}", config_.publish_dir,
                    config_.publish_group, std::strerror(errno));
    }
  }
  return {};
}

void Daemon::StartWatching() {
  watcher_.Close();
  if (store_fd_ >= 0) close(store_fd_);
  store_fd_ = -1;
  const int rc =
      watcher_.Init([this](uv_fs_event_t* w) { return uv_fs_event_init(&loop_, w); }, this);
  if (rc != 0) {
    spdlog::error("cannot watch {}: {}", config_.store, uv_strerror(rc));
    return;
  }
  const int started = uv_fs_event_start(
      watcher_.get(),
      [](uv_fs_event_t* handle, const char*, int, int) {
        auto* self = static_cast<Daemon*>(handle->data);
        // The first event of a burst arms the timer; later ones ride along, so a rescan
        // follows within kDebounceMs however busy the directory is.
        if (uv_is_active(reinterpret_cast<uv_handle_t*>(self->debounce_.get()))) return;
        uv_timer_start(
            self->debounce_.get(), [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->Refresh(); },
            kDebounceMs, 0);
      },
      config_.store.c_str(), 0);
  if (started != 0) {
    spdlog::error("cannot watch {}: {}", config_.store, uv_strerror(started));
    return;
  }
  // Held open so that the directory's inode cannot be reused while it is watched: a store
  // directory removed and made again then always has another inode than the watched one.
  store_fd_ = open(config_.store.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

bool Daemon::WatchingStoreDirectory() const {
  struct stat watched {};
  struct stat current {};
  return store_fd_ >= 0 && fstat(store_fd_, &watched) == 0 &&
         stat(config_.store.c_str(), &current) == 0 && watched.st_dev == current.st_dev &&
         watched.st_ino == current.st_ino;
}

// A timerfd with TFD_TIMER_CANCEL_ON_SET becomes readable when the wall clock is set, so clock
// jumps re-evaluate every deadline without any periodic wake-up.
void Daemon::StartClockChangeWatch() {
  clock_fd_ = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
  if (clock_fd_ < 0) return;
  auto arm = [](int fd) {
    itimerspec far{};
    far.it_value.tv_sec = INT_MAX;
    timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &far, nullptr);
  };
  arm(clock_fd_);
  clock_change_.Init([this](uv_poll_t* p) { return uv_poll_init(&loop_, p, clock_fd_); }, this);
  uv_poll_start(clock_change_.get(), UV_READABLE, [](uv_poll_t* handle, int, int) {
    auto* self = static_cast<Daemon*>(handle->data);
    uint64_t expirations = 0;
    while (read(self->clock_fd_, &expirations, sizeof expirations) > 0) {
    }
    itimerspec far{};
    far.it_value.tv_sec = INT_MAX;
    timerfd_settime(self->clock_fd_, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &far, nullptr);
    spdlog::info("the system clock was set; re-checking every deadline");
    self->Evaluate();
  });
}

Status Daemon::Rescan() {
  // The watch follows the directory's inode, not its path: when the store directory was
  // removed, or moved away and replaced by a new one, the watch is armed again on whatever is
  // at the path now, before the scan, so nothing dropped in meanwhile goes unnoticed.
  const bool first = store_fd_ < 0;
  if (struct stat st{}; stat(config_.store.c_str(), &st) != 0 && errno == ENOENT) {
    spdlog::warn("the store directory {} disappeared; creating it again", config_.store);
    if (Status made = MakeDirectory(config_.store, 0700); !made) return made;
    StartWatching();
  } else if (!WatchingStoreDirectory()) {
    if (!first) {
      spdlog::warn("the store directory {} was replaced by another directory; watching the new one",
                   config_.store);
    }
    StartWatching();
  }
  auto inventory = scanner_->Scan();
  if (!inventory) return Error{inventory.error().message, ErrorCode::kStore};
  inventory_ = std::move(inventory).value();
  names_ = NameIndex(inventory_);
  if (expired_selected_) expired_selected_->ForgetNames();

  // One line per file, listing every reason; a file is logged again only when what is wrong
  // with it changes (or after it was fine or gone for a scan).
  std::map<std::string, std::string> current;
  for (const auto& problem : inventory_.problems) {
    auto [it, inserted] = current.try_emplace(problem.file, problem.reason);
    if (!inserted) it->second += "; " + problem.reason;
  }
  for (const auto& [file, reasons] : current) {
    if (const auto logged = logged_problems_.find(file);
        logged != logged_problems_.end() && logged->second == reasons) {
      continue;
    }
    AlertFields fields;
    fields.file = file;
    Alert(AlertKind::kStoreFileUnusable, spdlog::level::warn, fields,
          "skipping " + EscapeControlCharacters(file) + ": " + EscapeControlCharacters(reasons));
  }
  logged_problems_ = std::move(current);
  // A rescan frees the previous inventory, most of the heap at once: give those pages back
  // rather than keep the high-water mark of two inventories for the daemon's lifetime.
  malloc_trim(0);
  return {};
}

void Daemon::Refresh() {
  if (Status scanned = Rescan(); !scanned) {
    spdlog::error("{}", scanned.error().message);
    return;
  }
  Evaluate();
}

void Daemon::Evaluate() {
  if (exit_code_ != 0 || !sigterm_) return;  // shutting down
  const UnixTimeMs now = NowMs();
  RaiseExpiryAlerts(now);
  PruneRemovedFiles(now);
  CheckInternalTransport(now);
  if (RetireSuperseded(now)) return;  // it evaluated the store again after the removals
  // While a replacement is generated, the published files stay as they are: FinishGeneration
  // publishes once the new certificate is designated, so the mail server reloads once.
  if (generations_.empty()) PublishAll();
  ArmDeadline(now);
  notifier_->Status(Summary());
  if (bus_) bus_->InventoryChanged();
  WriteMetrics();
}

void Daemon::RaiseExpiryAlerts(UnixTimeMs now) {
  for (const auto& alert : expiry_.Update(inventory_, now)) {
    const Certificate& cert = alert.certificate->cert();
    AlertFields fields = FieldsOf(cert);
    const std::uint64_t not_after_usec = static_cast<std::uint64_t>(cert.not_after) * 1'000'000;
    if (alert.kind == ExpiryAlert::Kind::kExpired) {
      Alert(AlertKind::kCertificateExpired, spdlog::level::err, fields,
            "certificate " + cert.thumbprint + " (" + cert.subject + ") expired at " +
                fields.not_after);
      if (bus_) bus_->EmitCertificateExpired(cert.thumbprint, cert.subject, not_after_usec);
    } else {
      fields.threshold = FormatDuration(alert.threshold);
      Alert(AlertKind::kCertificateExpiring, spdlog::level::warn, fields,
            "certificate " + cert.thumbprint + " (" + cert.subject + ") expires at " +
                fields.not_after + ", within " + fields.threshold);
      if (bus_) {
        bus_->EmitCertificateExpiring(cert.thumbprint, cert.subject, not_after_usec,
                                      fields.threshold);
      }
    }
  }
}

void Daemon::PruneRemovedFiles(UnixTimeMs now) {
  const PruneResult pruned =
      PruneRemoved(config_.RemovedPath(), config_.keep_removed.count() / 1000, now / 1000);
  if (pruned.deleted > 0) {
    spdlog::info("deleted {} removed certificate(s) kept longer than keep_removed ({}) from {}",
                 pruned.deleted, FormatDuration(config_.keep_removed), config_.RemovedPath());
  }
  for (const auto& error : pruned.errors) spdlog::error("{}", error);
  removed_due_ = pruned.next_due;
}

bool Daemon::RetireSuperseded(UnixTimeMs now) {
  const std::int64_t hold = config_.retire_superseded.count() / 1000;
  if (hold <= 0 || retiring_) return false;
  const std::vector<std::string> due = superseded_.Update(
      SupersededCertificates(inventory_, bindings_, config_.default_services, config_.wildcard,
                             now / 1000, names_),
      now / 1000, hold);
  if (due.empty()) return false;
  retiring_ = true;
  for (const std::string& thumbprint : due) {
    const std::string verb = "retired superseded (for " +
                             FormatDuration(config_.retire_superseded) + ")";
    if (Status removed = RemoveFromStore(thumbprint, verb); !removed) {
      spdlog::error("cannot retire superseded certificate {}: {}", thumbprint,
                    removed.error().message);
    }
  }
  Refresh();
  retiring_ = false;
  return true;
}

bool Daemon::ReplacementPending() const {
  return !generations_.empty() ||
         (retry_ && uv_is_active(reinterpret_cast<uv_handle_t*>(retry_.get())));
}

void Daemon::CheckInternalTransport(UnixTimeMs now) {
  if (ReplacementPending()) return;  // a replacement is under way or waiting for its retry
  auto reason =
      InternalTransportReplacementReason(inventory_, bindings_, config_.renew_before, now);
  if (reason) Enqueue({}, *reason, nullptr);
}

void Daemon::PublishAll() {
  std::map<std::string, std::optional<std::string>> files;
  if (const StoredCertificate* internal = inventory_.Find(bindings_.internal_transport);
      internal != nullptr && internal->HasPrivateKey()) {
    auto bundle = BuildPemBundle(*internal);
    if (bundle) files["internal-transport.pem"] = std::move(bundle).value();
  }
  std::vector<std::string> names = {config_.fqdn};
  for (const auto& name : config_.publish_names) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  // sni-map lists "<name> <file>" for Postfix tls_server_sni_maps (postmap -F builds the
  // map from it; run that in reload_command).
  std::string sni_map;
  for (const auto& name : names) {
    const Selection selection = Select(name, Service::kSmtp);
    const std::string path = config_.publish_dir + "/" + name + ".pem";
    if (selection.winner == nullptr) {
      // While the internal transport certificate waits for a replacement (say a failed
      // generation waits for its retry), the mail server keeps the file it has.
      std::error_code ec;
      if (ReplacementPending() && std::filesystem::exists(path, ec)) {
        sni_map += name + " " + path + "\n";
      } else {
        files[name + ".pem"] = std::nullopt;
      }
      continue;
    }
    auto bundle = BuildPemBundle(*selection.winner);
    if (!bundle) {
      AlertFields fields = FieldsOf(selection.winner->cert());
      Alert(AlertKind::kPublishFailed, spdlog::level::err, fields,
            "cannot publish " + name + ": " + bundle.error().message);
      continue;
    }
    files[name + ".pem"] = std::move(bundle).value();
    sni_map += name + " " + path + "\n";
  }
  // Written even when empty, so that `postmap -F` in reload_command always finds it.
  files["sni-map"] = std::move(sni_map);
  publisher_->Publish(files);
}

void Daemon::ArmDeadline(UnixTimeMs now) {
  std::optional<UnixTimeMs> next = expiry_.NextCrossing(inventory_, now);
  auto consider = [&](std::optional<UnixTimeMs> t) {
    if (t && *t > now && (!next || *t < *next)) next = t;
  };
  consider(InternalTransportRenewalTime(inventory_, bindings_, config_.renew_before, now));
  if (removed_due_) consider(*removed_due_ * 1000);
  if (config_.retire_superseded.count() > 0) {
    if (auto due = superseded_.NextDue(config_.retire_superseded.count() / 1000)) {
      consider(*due * 1000);
    }
  }
  for (const auto& stored : inventory_.certificates) {
    consider(stored.cert().not_before * 1000);  // a certificate becoming valid changes selection
  }
  if (!next) {
    uv_timer_stop(deadline_.get());
    return;
  }
  const auto delay = static_cast<std::uint64_t>(*next - now);
  spdlog::debug("next deadline in {} ms", delay);
  uv_timer_start(
      deadline_.get(), [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->Evaluate(); }, delay, 0);
}

void Daemon::Enqueue(std::vector<std::string> names, std::string reason, GenerationDone done) {
  auto generation = std::make_unique<Generation>();
  generation->daemon = this;
  generation->request.fqdn = config_.fqdn;
  generation->request.extra_names = config_.selfsigned_names;
  for (auto& name : names) generation->request.extra_names.push_back(std::move(name));
  generation->request.key = config_.key;
  generation->request.validity_seconds = config_.validity.count() / 1000;
  generation->store = config_.store;
  generation->reason = std::move(reason);
  if (done) generation->done.push_back(std::move(done));
  generations_.push_back(std::move(generation));
  if (generations_.size() == 1) StartNextGeneration();
}

void Daemon::StartNextGeneration() {
  // FinishGeneration's rescan may already have queued and started the next one.
  if (generations_.empty() || generations_.front()->started) return;
  Generation& generation = *generations_.front();
  generation.started = true;
  spdlog::info("generating a self-signed {} certificate for {}: {}",
               generation.request.key.ToString(), generation.request.fqdn, generation.reason);
  generation.work.data = &generation;
  // The new certificate must be strictly newer than every one in the store, or a renewal in
  // the same second as the last one would tie on NotBefore and lose the tie-break.
  for (const auto& stored : inventory_.certificates) {
    generation.newer_than = std::max(generation.newer_than, stored.cert().not_before);
  }
  uv_queue_work(
      &loop_, &generation.work,
      [](uv_work_t* work) {  // on a pool thread: nothing here touches the daemon
        auto& g = *static_cast<Generation*>(work->data);
        while (NowMs() / 1000 <= g.newer_than && NowMs() / 1000 + 2 > g.newer_than) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));  // at most one second
        }
        g.request.now = NowMs() / 1000;
        g.generated = GenerateSelfSigned(g.request);
        if (g.generated) g.written = WriteToStore(g.store, *g.generated);
      },
      [](uv_work_t* work, int) {
        auto& g = *static_cast<Generation*>(work->data);
        g.daemon->FinishGeneration(g);
      });
}

void Daemon::FinishGeneration(Generation& generation) {
  std::unique_ptr<Generation> owned = std::move(generations_.front());
  generations_.pop_front();
  Result<std::string> outcome{Error{}};
  const std::string previous_internal = bindings_.internal_transport;
  if (!generation.generated || !generation.written) {
    const std::string why = !generation.generated ? generation.generated.error().message
                                                  : generation.written.error().message;
    retry_backoff_ms_ = std::clamp(retry_backoff_ms_ * 2, kFirstRetryMs, kMaxRetryMs);
    ++generation_failures_;
    Alert(AlertKind::kGenerationFailed, spdlog::level::err, {},
          "generating a self-signed certificate failed: " + why + "; retrying in " +
              FormatDuration(Milliseconds{retry_backoff_ms_}));
    if (exit_code_ == 0 && sigterm_) {
      uv_timer_start(
          retry_.get(), [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->Evaluate(); },
          static_cast<std::uint64_t>(retry_backoff_ms_), 0);
    }
    outcome = Error{"generation failed: " + why, ErrorCode::kStore};
  } else {
    retry_backoff_ms_ = 0;
    const std::string thumbprint = generation.generated->thumbprint;
    const Bindings previous = bindings_;
    const std::string& old = previous_internal;
    bindings_.internal_transport = thumbprint;
    bindings_.services[thumbprint] = config_.default_services | Bit(Service::kSmtp);
    if (Status saved = SaveBindingsOrRevert(previous); !saved) {
      outcome = saved.error();
    } else {
      AlertFields fields;
      if (auto parsed = ParseStoreFile(generation.generated->certificate_pem);
          parsed && !parsed->certificates.empty()) {
        fields = FieldsOf(parsed->certificates.front());
      }
      fields.thumbprint = thumbprint;
      fields.old_thumbprint = old;
      fields.file = *generation.written;
      Alert(AlertKind::kInternalTransportReplaced, spdlog::level::warn, fields,
            "new internal transport certificate " + thumbprint + " (" + *generation.written + ")" +
                (old.empty() ? "" : ", replacing " + old) + ": " + generation.reason);
      outcome = thumbprint;
    }
  }
  // Rescan first, so the new certificate's object exists when clients hear of it.
  if (exit_code_ == 0 && sigterm_) Refresh();
  if (ready_after_generation_ && exit_code_ == 0 && sigterm_) SendReady();
  if (outcome && bus_) {
    bus_->EmitInternalTransportCertificateChanged(previous_internal, *outcome);
  }
  for (auto& done : generation.done) done(outcome);
  StartNextGeneration();
}

Status Daemon::SaveBindingsOrRevert(const Bindings& previous) {
  Status saved = SaveBindings(config_.BindingsPath(), bindings_);
  if (!saved) {
    bindings_ = previous;
    spdlog::error("{}", saved.error().message);
    return Error{saved.error().message, ErrorCode::kStore};
  }
  return {};
}

ServiceSet Daemon::ServicesOf(const std::string& thumbprint) const {
  return bindings_.ServicesOf(thumbprint, config_.default_services);
}

std::string Daemon::StatusOf(const StoredCertificate& stored) const {
  const UnixTimeMs now = NowMs();
  if (UnusableReason(stored.cert())) return "Unusable";
  if (!stored.HasPrivateKey()) return "NoPrivateKey";
  if (IsExpired(stored.cert(), now)) return "Expired";
  if (IsNotYetValid(stored.cert(), now)) return "NotYetValid";
  if (expiry_.IsExpiring(stored.cert(), now)) return "Expiring";
  return "Valid";
}

std::uint64_t Daemon::NextExpiryUsec() const {
  std::optional<UnixTime> next;
  for (const auto& stored : inventory_.certificates) {
    if (!next || stored.cert().not_after < *next) next = stored.cert().not_after;
  }
  return next && *next > 0 ? static_cast<std::uint64_t>(*next) * 1'000'000 : 0;
}

SelectionInput Daemon::SelectionFor(const std::string& fqdn, Service service) const {
  return {inventory_, bindings_, config_.default_services, fqdn, service, config_.wildcard,
          NowMs() / 1000};
}

Selection Daemon::Select(const std::string& fqdn, Service service) {
  return AlertIfExpired(SelectWinner(SelectionFor(fqdn, service), names_), fqdn, service);
}

Selection Daemon::Explain(const std::string& fqdn, Service service) {
  return AlertIfExpired(transportcertd::Select(SelectionFor(fqdn, service)), fqdn, service);
}

Selection Daemon::AlertIfExpired(Selection selection, const std::string& fqdn, Service service) {
  if (selection.winner != nullptr && selection.winner_expired &&
      expired_selected_ &&
      expired_selected_->ShouldAlert(selection.winner->cert().thumbprint, fqdn)) {
    Alert(AlertKind::kExpiredCertificateSelected, spdlog::level::err,
          FieldsOf(selection.winner->cert()),
          "no valid certificate is eligible for " + fqdn + " (" + ServiceName(service) +
              "); the expired certificate " + selection.winner->cert().thumbprint +
              " is used until one is: " + selection.reason);
  }
  return selection;
}

long Daemon::AdminGroupId() const {
  if (config_.admin_group.empty()) return -1;
  const struct group* g = getgrnam(config_.admin_group.c_str());
  return g != nullptr ? static_cast<long>(g->gr_gid) : -1;
}

Status Daemon::EnableCertificate(const std::string& thumbprint, ServiceSet services,
                                 bool make_internal_transport) {
  const StoredCertificate* stored = inventory_.Find(thumbprint);
  if (stored == nullptr) {
    return Error{"no certificate " + thumbprint + " in the store", ErrorCode::kNoSuchCertificate};
  }
  const Bindings previous = bindings_;
  bindings_.services[thumbprint] = ServicesOf(thumbprint) | services;
  if (make_internal_transport && bindings_.internal_transport != thumbprint) {
    Bindings candidate = bindings_;
    candidate.internal_transport = thumbprint;
    if (auto why = InternalTransportReplacementReason(inventory_, candidate, config_.renew_before,
                                                      NowMs())) {
      bindings_ = previous;
      return Error{"cannot make it the internal transport certificate: " + *why,
                   ErrorCode::kInvalidArgument};
    }
    bindings_.internal_transport = thumbprint;
  }
  if (Status saved = SaveBindingsOrRevert(previous); !saved) return saved;
  if (previous.internal_transport != bindings_.internal_transport) {
    AlertFields fields = FieldsOf(stored->cert());
    fields.old_thumbprint = previous.internal_transport;
    Alert(AlertKind::kInternalTransportReplaced, spdlog::level::warn, fields,
          "certificate " + thumbprint + " is now the internal transport certificate" +
              (previous.internal_transport.empty() ? ""
                                                   : ", replacing " + previous.internal_transport));
  }
  spdlog::info("certificate {} enabled for {}", thumbprint,
               fmt::format("{}", fmt::join(ServiceNames(services), " ")));
  Evaluate();
  if (bus_ && previous.internal_transport != bindings_.internal_transport) {
    bus_->EmitInternalTransportCertificateChanged(previous.internal_transport, thumbprint);
  }
  return {};
}

Status Daemon::DisableCertificate(const std::string& thumbprint, ServiceSet services) {
  if (inventory_.Find(thumbprint) == nullptr) {
    return Error{"no certificate " + thumbprint + " in the store", ErrorCode::kNoSuchCertificate};
  }
  const Bindings previous = bindings_;
  bindings_.services[thumbprint] = ServicesOf(thumbprint) & ~services;
  if (Status saved = SaveBindingsOrRevert(previous); !saved) return saved;
  spdlog::info("certificate {} disabled for {}", thumbprint,
               fmt::format("{}", fmt::join(ServiceNames(services), " ")));
  Evaluate();
  return {};
}

Result<std::string> Daemon::ImportCertificate(const std::string& pem, ServiceSet services) {
  // The decision (what is new, where it goes) is the store's: monitor/store_change.h.
  if (Status scanned = Rescan(); !scanned) return Error{scanned.error().message, ErrorCode::kStore};
  auto plan = PlanImport(inventory_, pem, config_.store);
  if (!plan) return plan.error();
  auto written = ApplyImport(*plan);
  if (!written) return written.error();
  if (written->empty()) {
    spdlog::info("import of certificate {}: the store already holds it; nothing changed",
                 plan->thumbprint);
    return plan->thumbprint;
  }
  const Bindings previous = bindings_;
  bindings_.services[plan->thumbprint] = services != 0 ? services : config_.default_services;
  if (Status saved = SaveBindingsOrRevert(previous); !saved) return saved.error();
  spdlog::info("imported certificate {} into {}", plan->thumbprint, *written);
  Refresh();
  return plan->thumbprint;
}

Status Daemon::RemoveCertificate(const std::string& thumbprint) {
  Status removed = RemoveFromStore(thumbprint, "removed");
  if (removed) Refresh();
  return removed;
}

Status Daemon::RemoveFromStore(const std::string& thumbprint, std::string_view verb) {
  // The decision (what goes, what stays, where it is kept) is the store's:
  // monitor/store_change.h. A file that changes between the scan and the removal is noticed
  // there; then the store is scanned again and the removal decided again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (Status scanned = Rescan(); !scanned) {
      return Error{scanned.error().message, ErrorCode::kStore};
    }
    std::map<std::string, std::string> contents;
    for (const auto& file : FilesToReadForRemoval(inventory_, thumbprint)) {
      if (auto text = ReadStoreFile(file, ScanOptions{}.max_file_size)) contents[file] = *text;
    }
    auto plan = PlanRemoval(inventory_, thumbprint, bindings_.internal_transport, contents);
    if (!plan) return plan.error();
    if (plan->stale) continue;
    auto applied = ApplyRemoval(*plan, config_.RemovedPath(), NowMs() / 1000);
    if (!applied) {
      spdlog::error("removing certificate {} failed: {}", thumbprint, applied.error().message);
      return applied.error();
    }
    if (applied->changed) continue;
    // What the decision could not see: a certificate with the same key, or another copy of
    // this one, dropped in between the scan and the removal.
    bool another_copy = false;
    if (Status scanned = Rescan(); scanned) {
      auto restored = RestoreKeyStillNeeded(inventory_, *plan, *applied, config_.store);
      if (!restored) {
        spdlog::error("{}", restored.error().message);
      } else if (!restored->empty()) {
        spdlog::warn("a certificate with the same key arrived while {} was being removed; the "
                     "key was put back as {}",
                     thumbprint, *restored);
      }
      another_copy = inventory_.Find(thumbprint) != nullptr;
    }
    std::vector<std::string> rewritten;
    std::vector<std::string> taken_out;
    for (const auto& change : plan->files) {
      (change.rewritten ? rewritten : taken_out).push_back(change.path);
    }
    spdlog::info("{} certificate {}{}; the original files are kept in {}{}{}", verb, thumbprint,
                 plan->removes_key ? " and its private key" : "", applied->kept_in,
                 taken_out.empty() ? "" : fmt::format("; taken out of the store: {}",
                                                      fmt::join(taken_out, " ")),
                 rewritten.empty() ? "" : fmt::format("; rewritten without it: {}",
                                                      fmt::join(rewritten, " ")));
    if (another_copy) continue;
    const Bindings previous = bindings_;
    bindings_.services.erase(thumbprint);
    (void)SaveBindingsOrRevert(previous);
    return {};
  }
  return Error{"the store kept changing while certificate " + thumbprint +
                   " was being removed; try again",
               ErrorCode::kStore};
}

void Daemon::NewSelfSignedCertificate(const std::vector<std::string>& names, GenerationDone done) {
  Enqueue(names, "requested over D-Bus", std::move(done));
}

void Daemon::RenewInternalTransportCertificate(GenerationDone done) {
  Enqueue({}, "renewal requested over D-Bus", std::move(done));
}

Status Daemon::Reload() {
  notifier_->Reloading();
  spdlog::info("reloading configuration and store");
  auto config = LoadConfig(options_.config_path, options_.config_explicit);
  // SIGHUP, `systemctl reload` (D-Bus Reload) alike: the reason goes to the journal
  // (ReloadFailed logs it); a D-Bus caller learns where the error is.
  auto failed = [this](const std::string& message, const std::string& file, ErrorCode code) {
    notifier_->Ready(Summary());
    return ReloadFailed(message, file, code);
  };
  if (!config) {
    return failed(config.error().message, options_.config_path, ErrorCode::kInvalidArgument);
  }
  auto bindings = LoadBindings(config->BindingsPath());
  if (!bindings) return failed(bindings.error().message, config->BindingsPath(), ErrorCode::kStore);
  const bool store_moved = config->store != config_.store;
  const bool trust_changed = config->trust_anchors != config_.trust_anchors;
  config_ = std::move(config).value();
  bindings_ = std::move(bindings).value();
  if (expiry_.thresholds() != ExpiryTracker(config_.warn_before).thresholds()) {
    expiry_ = ExpiryTracker(config_.warn_before);  // new thresholds: announce afresh
  }
  spdlog::set_level(ParseLogLevel(options_.log_level.value_or(config_.log_level)));
  if (Status dirs = PrepareDirectories(); !dirs) spdlog::error("{}", dirs.error().message);
  if (store_moved || trust_changed) {
    scanner_ = std::make_unique<StoreScanner>(config_.store, StoreScanOptions(config_));
  }
  if (store_moved) StartWatching();
  Refresh();
  WarnAboutSetup(config_, inventory_);
  notifier_->Ready(Summary());
  return {};
}

void Daemon::SendReady() {
  ready_after_generation_ = false;
  notifier_->Ready(Summary());
  spdlog::info("ready: {}", Summary());
}

std::string Daemon::Summary() const {
  std::string internal = bindings_.internal_transport.empty()
                             ? "none"
                             : bindings_.internal_transport.substr(0, 8) + "…";
  return CountOf(inventory_.certificates.size(), "certificate") + ", " +
         CountOf(inventory_.problems.size(), "unusable file") + ", internal transport " +
         internal;
}

void Daemon::VerifyAfterReload() {
  const std::uint64_t successes = publisher_->reload_successes();
  if (successes == reload_successes_seen_) return;
  reload_successes_seen_ = successes;
  if (verify_trigger_ && config_.verify_after_reload.count() > 0) {
    verify_trigger_->ReloadSucceeded(config_.verify_after_reload);
  }
}

void Daemon::WriteMetrics() {
  if (!metrics_.enabled() || exit_code_ != 0 || !sigterm_) return;
  MetricsSnapshot snapshot;
  snapshot.now = NowMs();
  for (const auto& stored : inventory_.certificates) {
    const std::string& thumbprint = stored.cert().thumbprint;
    snapshot.certificates.push_back({&stored, StatusOf(stored), ServicesOf(thumbprint),
                                     thumbprint == bindings_.internal_transport});
  }
  std::vector<std::string> names = {config_.fqdn};
  for (const auto& name : config_.publish_names) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  for (const auto& name : names) {
    const Selection selection = SelectWinner(SelectionFor(name, Service::kSmtp), names_);
    if (selection.winner != nullptr) {
      snapshot.selected.push_back({name, Service::kSmtp, selection.winner->cert().thumbprint});
    }
  }
  std::set<std::string> unusable;
  for (const auto& problem : inventory_.problems) unusable.insert(problem.file);
  snapshot.unusable_files = unusable.size();
  snapshot.reload_failures = publisher_->reload_failures();
  snapshot.last_reload_success = publisher_->last_reload_success();
  snapshot.generation_failures = generation_failures_;
  snapshot.version = TRANSPORTCERTD_VERSION;
  metrics_.Write(RenderMetrics(snapshot));
}

void Daemon::Shutdown(int exit_code, const std::string& why) {
  if (!sigterm_) return;  // already shutting down
  if (!why.empty()) {
    (exit_code == 0 ? spdlog::info("stopping: {}", why) : spdlog::critical("stopping: {}", why));
  }
  exit_code_ = exit_code;
  if (notifier_) notifier_->Stopping();
  if (bus_) bus_->Stop();
  if (publisher_) publisher_->Stop();
  if (verify_trigger_) verify_trigger_->Stop();
  if (expired_selected_) expired_selected_->Stop();
  for (auto* signal : {&sigterm_, &sigint_, &sighup_}) signal->Close();
  watcher_.Close();
  debounce_.Close();
  deadline_.Close();
  retry_.Close();
  clock_change_.Close();
  notifier_.reset();
}

}  // namespace transportcertd
