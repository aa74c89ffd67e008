#include "daemon/daemon.h"

#include <grp.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "daemon/generation.h"
#include "daemon/logging.h"
#include "daemon/setup_warnings.h"
#include "monitor/atomic_file.h"
#include "monitor/internal_transport.h"

namespace transportcertd {
namespace {

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

}  // namespace

Daemon::Daemon(Config config, DaemonOptions options, const Clock& clock)
    : clock_(clock),
      config_(std::move(config)),
      options_(std::move(options)),
      expiry_(config_.warn_before) {}

Daemon::~Daemon() {
  if (clock_fd_ >= 0) close(clock_fd_);
  if (store_fd_ >= 0) close(store_fd_);
  if (loop_ready_) uv_loop_close(&loop_);
}

int Daemon::Run() {
  if (Status started = Start(); !started) {
    spdlog::critical("{}", started.error().message);
    if (!loop_ready_) return 1;
    Shutdown(1, "");
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Shutdown closed every handle; run the loop dry so close callbacks and pending work finish.
  uv_run(&loop_, UV_RUN_DEFAULT);
  return exit_code_;
}

Status Daemon::Start() {
  if (uv_loop_init(&loop_) != 0) return Error{"cannot create the event loop"};
  loop_ready_ = true;
  if (Status started = StartUp(); !started) return started;
  if (generations_.empty()) {
    SendReady();
  } else {
    // No usable internal transport certificate yet: READY=1 once the first one is published
    // (or its generation failed and was alerted), so a mail server started after us finds it.
    ready_after_generation_ = true;
  }
  return {};
}

int Daemon::Stop() {
  if (!loop_ready_) return 1;
  Shutdown(0, "stopped");
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
  publisher_ = std::make_unique<Publisher>(&loop_, config_, clock_);
  dane_ = std::make_unique<Dane>(&loop_, config_, [this] { Evaluate(); });
  expired_selected_ = std::make_unique<ExpiredSelectionAlerts>(&loop_, clock_);
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
  scanner_ = std::make_shared<BackgroundScanner>(
      std::make_unique<StoreScanner>(config_.store, StoreScanOptions(config_)));
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

void Daemon::Refresh() {
  if (Status scanned = Rescan(); !scanned) {
    spdlog::error("{}", scanned.error().message);
    return;
  }
  Evaluate();
}

// The central step: brings everything that follows from the inventory and the clock up to
// date. Called after every rescan (Refresh: a store change, a reload, a changing D-Bus call, a
// finished generation), when the deadline timer fires (the next expiry threshold, renewal
// time, NotBefore, removed-area expiry or retirement), when a generation waits out its retry,
// and when the wall clock is set. Its order is fixed: alerts first (they report what is);
// then the internal transport certificate (which may queue a generation); retirement (which
// removes and evaluates again); publishing (skipped while a generation runs, so that the mail
// server reloads once, for the new certificate); the next deadline; then what others read of
// it (sd_notify STATUS, D-Bus properties and signals, the metrics file).
void Daemon::Evaluate() {
  if (exit_code_ != 0 || !sigterm_) return;  // shutting down
  const UnixTimeMs now = clock_.Now();
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
  // A rescan frees the previous inventory, and the steps above their transient copies: give
  // those pages back, once all of it is freed, rather than keep the high-water mark.
  malloc_trim(0);
}

void Daemon::ArmDeadline(UnixTimeMs now) {
  std::optional<UnixTimeMs> next = expiry_.NextCrossing(inventory_, now);
  auto consider = [&](std::optional<UnixTimeMs> t) {
    if (t && *t > now && (!next || *t < *next)) next = t;
  };
  consider(InternalTransportRenewalTime(inventory_, bindings_, config_.renew_before, now));
  consider(dane_->HeldUntil(now));
  if (removed_due_) consider(*removed_due_ * 1000);
  if (config_.retire_superseded.count() > 0) {
    if (auto due = superseded_.NextDue(config_.retire_superseded.count() / 1000)) {
      consider(*due * 1000);
    }
  }
  for (const auto& stored : inventory_.certificates) {
    consider(stored.cert().not_before * 1000);  // a certificate becoming valid changes selection
  }
  next_deadline_ = next;
  if (!next) {
    uv_timer_stop(deadline_.get());
    return;
  }
  // The timer counts from the loop's time, cached when this loop turn began: before this
  // evaluation, which may have taken a while. Counted from there, it would fire early, and an
  // evaluation a few ms before a NotBefore would see the certificate not yet valid in one step
  // and valid in the next (its DANE record left for one more evaluation and reload). So the
  // delay counts from the time now, plus one millisecond for the timer's millisecond rounding:
  // the evaluation it starts never runs before the deadline.
  uv_update_time(&loop_);
  const auto delay = static_cast<std::uint64_t>(std::max<UnixTimeMs>(*next - clock_.Now(), 0) + 1);
  spdlog::debug("next deadline in {} ms", delay);
  uv_timer_start(
      deadline_.get(), [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->Evaluate(); }, delay, 0);
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
    scanner_ = std::make_shared<BackgroundScanner>(
        std::make_unique<StoreScanner>(config_.store, StoreScanOptions(config_)));
  }
  if (store_moved) StartWatching();
  Refresh();
  WarnAboutSetup(config_, inventory_);
  notifier_->Ready(Summary());
  return {};
}

void Daemon::ClockSet() {
  spdlog::info("the system clock was set; re-checking every deadline");
  Evaluate();
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
         CountOf(inventory_.problems.size(), "unusable file") + ", internal transport " + internal;
}

void Daemon::VerifyAfterReload() {
  const std::uint64_t successes = publisher_->reload_successes();
  if (successes == reload_successes_seen_) return;
  reload_successes_seen_ = successes;
  if (verify_trigger_ && config_.verify_after_reload.count() > 0) {
    verify_trigger_->ReloadSucceeded(config_.verify_after_reload);
  }
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
  if (dane_) dane_->Stop();
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
