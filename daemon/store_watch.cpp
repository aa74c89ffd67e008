// The daemon watching its store: inotify on the store directory (through libuv), a debounce
// timer so that a burst of changes means one rescan, the store directory held open so that a
// replaced or re-created directory is noticed and watched again, and a timerfd that wakes the
// loop when the wall clock is set, so that every deadline is checked again without polling.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <map>
#include <memory>

#include "daemon/daemon.h"
#include "daemon/logging.h"
#include "monitor/atomic_file.h"

namespace transportcertd {
namespace {

constexpr std::uint64_t kDebounceMs = 100;  // coalesces a burst of store events

}  // namespace

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
        static_cast<Daemon*>(handle->data)->StoreEvent();
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

void Daemon::StoreEvent() {
  // The first event of a burst arms the timer; later ones ride along, so a rescan follows
  // within kDebounceMs however busy the directory is. After a rescan whose inventory took the
  // loop longer than that to take in and evaluate (a large store), the next one waits until
  // as much time has passed again since it ended: a store that never stops changing takes at
  // most half of the loop's time, and D-Bus callers get the rest. A change after a quiet
  // spell waits kDebounceMs as before.
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(debounce_.get()))) return;
  const std::uint64_t now = uv_now(&loop_);
  const std::uint64_t free_until = rescan_free_until_ms_;
  uv_timer_start(
      debounce_.get(),
      [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->StoreDirectoryChanged(); },
      std::max(kDebounceMs, free_until > now ? free_until - now : 0), 0);
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
    self->ClockSet();
  });
}

void Daemon::StoreDirectoryChanged() {
  if (exit_code_ != 0 || !sigterm_) return;  // shutting down
  if (Status watched = CheckStoreDirectory(); !watched) {
    spdlog::error("{}", watched.error().message);
    return;
  }
  if (!scanner_->Request()) return;  // one runs; another follows it
  // The scan (a stat of every store file, reading and parsing what changed, building the
  // inventory) runs on the thread pool; the loop answers from the current inventory
  // meanwhile. The work holds the scanner: a reload may replace scanner_ before it is done.
  struct Work {
    uv_work_t request{};
    Daemon* daemon = nullptr;
    std::shared_ptr<BackgroundScanner> scanner;
  };
  auto work = std::make_unique<Work>();
  work->request.data = work.get();
  work->daemon = this;
  work->scanner = scanner_;
  const int queued = uv_queue_work(
      &loop_, &work->request,
      [](uv_work_t* request) { static_cast<Work*>(request->data)->scanner->BackgroundScan(); },
      [](uv_work_t* request, int) {
        const std::unique_ptr<Work> done(static_cast<Work*>(request->data));
        done->daemon->BackgroundScanDone(*done->scanner);
      });
  if (queued != 0) {
    scanner_->Finished();
    spdlog::error("cannot rescan {} in the background: {}", config_.store, uv_strerror(queued));
    return;
  }
  (void)work.release();  // the after-work callback frees it
}

void Daemon::BackgroundScanDone(BackgroundScanner& scanner) {
  // A reload replaced the scanner meanwhile (and rescanned with the new one): nothing to take.
  if (&scanner != scanner_.get()) return;
  const bool again = scanner.Finished();
  if (exit_code_ != 0 || !sigterm_) return;  // shutting down
  const std::uint64_t start = uv_hrtime();
  if (auto outcome = scanner.TakeBackgroundResult()) {
    auto changed = TakeScan(std::move(*outcome), true);
    if (!changed) {
      spdlog::error("{}", changed.error().message);
    } else if (*changed) {
      Evaluate();
    }
  } else {
    // A scan on the loop (before an import or a removal, say) took this one's outcome in with
    // its own, and may have ended without evaluating it (an import of what the store already
    // held): evaluate now, as for any change.
    Evaluate();
  }
  const std::uint64_t took = (uv_hrtime() - start) / 1'000'000;
  uv_update_time(&loop_);
  rescan_free_until_ms_ = uv_now(&loop_) + took;
  if (again) StoreEvent();  // the store changed while the scan ran
}

Status Daemon::Rescan() {
  auto rescanned = RescanStore(false);
  if (!rescanned) return rescanned.error();
  return {};
}

Status Daemon::CheckStoreDirectory() {
  // The watch follows the directory's inode, not its path: when the store directory was
  // removed, or moved away and replaced by a new one, the watch is armed again on whatever is
  // at the path now, before the scan, so nothing dropped in meanwhile goes unnoticed.
  const bool first = store_fd_ < 0;
  if (struct stat st{}; stat(config_.store.c_str(), &st) != 0 && errno == ENOENT) {
    spdlog::warn("the store directory {} disappeared; creating it again", config_.store);
    if (Status made = MakeDirectory(config_.store, 0700); !made) return made.error();
    StartWatching();
  } else if (!WatchingStoreDirectory()) {
    if (!first) {
      spdlog::warn("the store directory {} was replaced by another directory; watching the new one",
                   config_.store);
    }
    StartWatching();
  }
  return {};
}

Result<bool> Daemon::RescanStore(bool only_if_changed) {
  if (Status watched = CheckStoreDirectory(); !watched) return watched.error();
  // Waits for a background scan that runs, and takes in what it found.
  return TakeScan(scanner_->ScanNow(), only_if_changed);
}

Result<bool> Daemon::TakeScan(ScanOutcome scanned, bool only_if_changed) {
  if (!scanned) return Error{scanned.error().message, ErrorCode::kStore};
  if (!scanned->has_value()) {
    // No store file changed since the last scan: inventory_ is what a scan would build.
    if (only_if_changed) return false;
  } else {
    inventory_ = std::move(scanned.value().value().inventory);
    names_ = std::move(scanned.value().value().names);
  }
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
  return true;
}

}  // namespace transportcertd
