// The daemon: one owner for all of the service's state, on one libuv loop. It inventories the
// store, keeps the internal transport certificate working (generating a replacement on the
// thread pool when needed), raises expiry alerts on one timer armed for the next crossing,
// publishes for the mail server, watches the store with inotify, and serves D-Bus through
// BusService. Everything here runs on the loop thread (but the scans of store rescans, and the
// generations, which run on the thread pool).
//
// One class, its methods in one file per concern:
//   daemon.cpp           start-up, Evaluate (the central step), deadlines, reload, shutdown
//   store_watch.cpp      inotify on the store, debounce, rescans, the clock-change watch
//   generation.cpp       the queue of self-signed generations, their retries
//   evaluation.cpp       what an evaluation does: alerts, pruning, retirement, publishing,
//                        metrics
//   manager_backend.cpp  the D-Bus answers and changing calls (ipc/backend.h)
//   daemon_dane.cpp      DANE: the names TLSA records are made for, GetTlsaRecords
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/backoff.h"
#include "daemon/config.h"
#include "daemon/dane.h"
#include "daemon/expired_selection_alerts.h"
#include "daemon/metrics_file.h"
#include "daemon/notify.h"
#include "daemon/publisher.h"
#include "daemon/uv_handle.h"
#include "daemon/verify_trigger.h"
#include "ipc/backend.h"
#include "ipc/bus_service.h"
#include "monitor/background_scan.h"
#include "monitor/clock.h"
#include "monitor/expiry.h"
#include "monitor/retirement.h"
#include "monitor/store.h"

namespace transportcertd {

struct DaemonOptions {
  std::string config_path;
  bool config_explicit = false;          // a missing explicitly named config file is an error
  std::optional<BusKind> bus;            // nullopt: run without D-Bus
  std::optional<std::string> log_level;  // --log-level, which wins over the config on reload
};

class Daemon final : public ManagerBackend {
 public:
  // `clock` is the time the daemon goes by (tests pass one of their own); it must outlive the
  // daemon.
  Daemon(Config config, DaemonOptions options, const Clock& clock = SystemClock::Instance());
  ~Daemon() override;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Start-up, then the loop until SIGTERM/SIGINT or a fatal error. Returns the exit code.
  int Run();

  // Run() in parts, for tests that drive the loop themselves on a clock of their own: Start()
  // is all that Run() does before its loop; the caller then runs loop() as it likes; Stop()
  // shuts down as SIGTERM does and runs the loop dry, returning the exit code.
  Status Start();
  uv_loop_t* loop() { return &loop_; }
  int Stop();
  // The central step (see daemon.cpp). The daemon calls it itself; a test on a clock of its
  // own calls it when that clock reaches NextDeadline(), as the deadline timer would.
  void Evaluate();
  // The wall clock was set: every deadline is checked again (the clock-change watch calls
  // this; a test calls it after moving its clock).
  void ClockSet();
  // When the deadline timer fires next (wall-clock milliseconds since the epoch); nullopt
  // when nothing is due.
  std::optional<UnixTimeMs> NextDeadline() const { return next_deadline_; }
  // Tests only: `hook` runs on the worker at the start of each background rescan of the store
  // (see monitor/background_scan.h), so that a test can hold one while the loop goes on.
  void SetBeforeBackgroundScan(std::function<void()> hook) {
    scanner_->SetBeforeBackgroundScan(std::move(hook));
  }

  // ManagerBackend (see ipc/backend.h).
  std::string Fqdn() const override { return config_.fqdn; }
  std::string StorePath() const override { return config_.store; }
  std::vector<std::string> PublishedNames() const override { return config_.publish_names; }
  std::vector<std::string> VerifyEndpoints() const override { return config_.verify_endpoints; }
  std::string MetricsTextfile() const override { return config_.metrics_textfile; }
  const Inventory& CurrentInventory() const override { return inventory_; }
  const Bindings& CurrentBindings() const override { return bindings_; }
  ServiceSet ServicesOf(std::string_view thumbprint) const override;
  std::string StatusOf(const StoredCertificate& certificate) const override;
  std::uint64_t NextExpiryUsec() const override;
  Selection Select(const std::string& fqdn, Service service) override;
  Selection Explain(const std::string& fqdn, Service service) override;
  long AdminGroupId() const override;
  Status EnableCertificate(const std::string& thumbprint, ServiceSet services,
                           bool make_internal_transport) override;
  Status DisableCertificate(const std::string& thumbprint, ServiceSet services) override;
  Result<std::string> ImportCertificate(const std::string& pem, ServiceSet services) override;
  Status RemoveCertificate(const std::string& thumbprint) override;
  void NewSelfSignedCertificate(const std::vector<std::string>& names,
                                GenerationDone done) override;
  void RenewInternalTransportCertificate(GenerationDone done) override;
  Status Reload() override;
  Result<std::vector<std::string>> GetTlsaRecords(const std::string& name) override;

 private:
  struct Generation;  // one queued or running self-signed generation

  // daemon.cpp
  Status StartUp();
  Status PrepareDirectories();
  void Refresh();  // rescan, then evaluate
  void ArmDeadline(UnixTimeMs now);
  void SendReady();  // READY=1 with the summary as STATUS=
  std::string Summary() const;
  void Shutdown(int exit_code, const std::string& why);
  void VerifyAfterReload();  // a reload_command run succeeded: start the verify unit later

  // store_watch.cpp
  void StartWatching();
  bool WatchingStoreDirectory() const;  // the watched directory is still the one at the path
  void StartClockChangeWatch();
  Status Rescan();
  void StoreEvent();  // the watch fired: arms the debounce timer for StoreDirectoryChanged
  // The store directory changed: rescan on the thread pool (or, while a rescan runs, once
  // more after it), and evaluate only if a store file was added, changed or removed (the
  // watch also fires for temporary and other files).
  void StoreDirectoryChanged();
  // On the loop, when the background rescan is over: takes its inventory in and evaluates.
  void BackgroundScanDone(BackgroundScanner& scanner);
  // Watches the store directory at its path again if it was removed or replaced.
  Status CheckStoreDirectory();
  // The rescan behind Rescan, on the loop; with only_if_changed, false (and nothing done) when
  // no store file changed.
  Result<bool> RescanStore(bool only_if_changed);
  // Makes a scan's outcome the current inventory (as RescanStore describes).
  Result<bool> TakeScan(ScanOutcome scanned, bool only_if_changed);

  // evaluation.cpp
  void RaiseExpiryAlerts(UnixTimeMs now);
  void PruneRemovedFiles(UnixTimeMs now);  // removed files older than keep_removed go for good
  // Removes the certificates superseded for retire_superseded; true when it did (and then
  // evaluated the store again).
  bool RetireSuperseded(UnixTimeMs now);
  void PublishAll();
  void WriteMetrics();  // the metrics file, when configured and what it shows changed

  // daemon_dane.cpp
  // Every published name and the FQDN with its SMTP selection.
  std::vector<DanePublishedName> DaneNames();

  // generation.cpp
  bool ReplacementPending() const;  // a generation runs, or a failed one waits for its retry
  void CheckInternalTransport(UnixTimeMs now);
  void Enqueue(std::vector<std::string> names, std::string reason, GenerationDone done);
  void StartNextGeneration();
  void FinishGeneration(Generation& generation);

  // manager_backend.cpp
  // RemoveCertificate without the final refresh; `verb` starts its log line ("removed").
  Status RemoveFromStore(const std::string& thumbprint, std::string_view verb);
  // Saves bindings_; on failure logs it, restores `previous` and returns the error.
  Status SaveBindingsOrRevert(const Bindings& previous);
  SelectionInput SelectionFor(const std::string& fqdn, Service service) const;
  // Raises the alert for an expired winner, within the bounds of ExpiredSelectionAlerts;
  // returns `selection`.
  Selection AlertIfExpired(Selection selection, const std::string& fqdn, Service service);

  // Declared in dependency order: destroyed in reverse.
  const Clock& clock_;
  Config config_;
  DaemonOptions options_;
  uv_loop_t loop_{};
  bool loop_ready_ = false;
  std::unique_ptr<SystemdNotifier> notifier_;
  std::shared_ptr<BackgroundScanner> scanner_;  // shared with a running background scan
  Inventory inventory_;
  NameIndex names_;  // of inventory_, rebuilt with it
  Bindings bindings_;
  ExpiryTracker expiry_;
  std::map<std::string, std::string> logged_problems_;        // file -> reasons, as last logged
  std::unique_ptr<ExpiredSelectionAlerts> expired_selected_;  // bounded; forgotten on rescans
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<VerifyTrigger> verify_trigger_;  // under systemd on the system bus only
  std::uint64_t reload_successes_seen_ = 0;
  std::unique_ptr<Dane> dane_;                           // TLSA records and the next key
  std::deque<std::unique_ptr<Generation>> generations_;  // front() runs
  Backoff generation_backoff_{10'000, 3'600'000};        // retries of a failed generation
  std::optional<UnixTime> removed_due_;  // when the oldest kept removed files fall due
  SupersededSince superseded_;
  bool retiring_ = false;
  bool ready_after_generation_ = false;    // READY=1 waits for the first generation to finish
  std::uint64_t generation_failures_ = 0;  // since start
  MetricsFile metrics_;
  UvHandle<uv_signal_t> sigterm_, sigint_, sighup_;
  UvHandle<uv_fs_event_t> watcher_;
  int store_fd_ = -1;  // the directory watcher_ watches, held open (see StartWatching)
  UvHandle<uv_timer_t> debounce_, deadline_, retry_;
  // uv_now() until which the store watch leaves the loop to others: the end of its last
  // rescan's evaluation plus as long as taking it in took the loop (store_watch.cpp).
  std::uint64_t rescan_free_until_ms_ = 0;
  std::optional<UnixTimeMs> next_deadline_;  // what deadline_ is armed for
  UvHandle<uv_poll_t> clock_change_;
  int clock_fd_ = -1;
  std::unique_ptr<BusService> bus_;
  int exit_code_ = 0;
};

}  // namespace transportcertd
