// Publishing for the mail server (docs/publishing.md): under publish.dir, `internal-transport.pem`
// and
// `<name>.pem` per published name, each holding key, leaf and chain (Postfix
// smtpd_tls_chain_files order), written atomically with mode 0600 (0640 with publish.group);
// then `reload_command` once, however many files changed. The command runs in a process group
// of its own with a minimal environment (PATH, LANG, and TRANSPORTCERTD_CHANGED: the file names
// that changed); after reload_timeout the group gets SIGTERM, and SIGKILL kReloadKillAfterMs
// later, the failure is alerted and a reload that became due meanwhile runs next. A file that
// cannot be written (a full
// disk, say) is alerted and retried on a timer with backoff: 1 s, doubling to 5 min, until it
// is written or a newer call wants something else. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/backoff.h"
#include "daemon/config.h"
#include "daemon/uv_handle.h"
#include "monitor/clock.h"
#include "monitor/publish_plan.h"
#include "monitor/store.h"

namespace transportcertd {

// Key, leaf and chain of `stored` as one PEM text, key and leaf read back from the store in
// `store_dir` (its inventory's dir); fails (ErrorCode::kStore) when either is no longer there,
// e.g. a file changed since the scan.
Result<std::string> BuildPemBundle(const std::string& store_dir, const StoredCertificate& stored);

// The files under publish.dir that `config` publishes, relative to it: internal-transport.pem,
// sni-map and <name>.pem for the FQDN and each publish.names entry, the same sni-map and
// <name>.pem in the folder of each other service of publish.services (imap/sni-map, ...), and
// tlsa while DANE is on. Any other file the daemon wrote there (the manifest,
// monitor/published_manifest.h, says which) is removed by the next Publish.
std::set<std::string> PublishedFileNames(const Config& config);

// What a (name, service) selects for publishing: the winner in `inventory`, or nullptr.
using PublishSelect = std::function<const StoredCertificate*(const std::string&, Service)>;

class Publisher {
 public:
  // `loop`, `config` and `clock` must outlive the publisher.
  Publisher(uv_loop_t* loop, const Config& config, const Clock& clock);
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // The wanted contents of each published file by file name; nullopt removes the file.
  // Writes what differs from the files on disk, removes the files the daemon wrote for names
  // the configuration no longer publishes, and, when anything changed, runs the reload
  // command. Failures are alerted, and the same `files` are published again after a backoff
  // delay (kPublishRetryFirstMs doubling to kPublishRetryMaxMs) until all of them are written;
  // a newer call replaces what is retried.
  void Publish(const std::map<std::string, std::optional<std::string>>& files);

  // Publishes what `select` chooses for every published name and service, as
  // monitor/publish_plan.h decides (the internal transport certificate `internal` too), and
  // alerts once for each name that starts lacking an eligible certificate for a service.
  // `replacement_pending`: the internal transport certificate awaits its replacement.
  // `extra`: more files to publish with them, by name (the DANE `tlsa` file).
  void PublishSelections(const Inventory& inventory, const std::string& internal,
                         bool replacement_pending, const PublishSelect& select,
                         const std::map<std::string, std::string>& extra = {});

  static constexpr std::int64_t kPublishRetryFirstMs = 1'000;
  static constexpr std::int64_t kPublishRetryMaxMs = 300'000;

  static constexpr std::uint64_t kReloadKillAfterMs = 5'000;  // after the SIGTERM of a timeout

  bool ReloadRunning() const { return static_cast<bool>(child_); }

  // Since start: runs of reload_command that failed (exit status not 0, killed, could not
  // start), and when one last succeeded (seconds since the Unix epoch; 0: none yet).
  std::uint64_t reload_failures() const { return reload_failures_; }
  std::int64_t last_reload_success() const { return last_reload_success_; }
  std::uint64_t reload_successes() const { return reload_successes_; }
  // `done` is called on the loop thread whenever a run of reload_command has ended or could
  // not start, after the figures above were updated.
  void OnReloadDone(std::function<void()> done) { reload_done_ = std::move(done); }

  // At shutdown: the process group of a reload command still running is sent SIGTERM and no
  // longer waited for, and a pending retry is cancelled.
  void Stop();

 private:
  void RunReloadCommand();
  // Makes the folder of a service's files with the publish directory's mode and group.
  Status PrepareFolder(const std::string& folder, gid_t gid);
  void OnReloadExit(int64_t exit_status, int term_signal);
  void OnReloadTimeout();
  void OnReloadKill();
  void ReloadDone();  // the command and its group are gone: run the next one if due

  // The reload command's process group (its pid), while it or its group may be running.
  int reload_group_ = 0;
  bool reload_timed_out_ = false;      // SIGTERM sent to the group
  bool reload_killed_ = false;         // SIGKILL sent to the group
  std::set<std::string> changed_;      // published file names changed since the last run started
  UvHandle<uv_timer_t> reload_timer_;  // the timeout, then the SIGKILL

  uv_loop_t* loop_;
  const Config& config_;
  const Clock& clock_;
  UvHandle<uv_process_t> child_;
  bool reload_pending_ = false;
  UvHandle<uv_timer_t> retry_;
  std::map<std::string, std::optional<std::string>> retry_files_;  // what the retry publishes
  Backoff retry_backoff_{kPublishRetryFirstMs, kPublishRetryMaxMs};
  std::uint64_t reload_failures_ = 0;
  std::int64_t last_reload_success_ = 0;
  std::uint64_t reload_successes_ = 0;
  std::function<void()> reload_done_;
  std::vector<LackingName> lacking_;       // alerted already: alerts once per change
  std::set<std::string> folders_cleaned_;  // folders whose stale temporary files are gone
};

}  // namespace transportcertd
