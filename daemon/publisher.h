// Publishing for the mail server (docs/publishing.md): under publish.dir,
// `internal-transport.pem` and `<name>.pem` per published name, each holding key, leaf and chain
// (Postfix smtpd_tls_chain_files order), written atomically with mode 0600 (0640 with
// publish.group);
// then `reload_command` once, however many files changed. A file that cannot be written (a full
// disk, say) is alerted and retried on a timer with backoff: 1 s, doubling to 5 min, until it
// is written or a newer call wants something else. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "daemon/config.h"
#include "daemon/uv_handle.h"
#include "monitor/store.h"

namespace transportcertd {

// Key, leaf and chain of `stored` as one PEM text; fails when the key cannot be read.
Result<std::string> BuildPemBundle(const StoredCertificate& stored);

class Publisher {
 public:
  // `loop` and `config` must outlive the publisher.
  Publisher(uv_loop_t* loop, const Config& config);
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // The wanted contents of each published file by file name; nullopt removes the file.
  // Writes what differs from the files on disk and, when anything changed, runs the reload
  // command. Failures are alerted, and the same `files` are published again after a backoff
  // delay (kFirstRetryMs doubling to kMaxRetryMs) until all of them are written; a newer call
  // replaces what is retried.
  void Publish(const std::map<std::string, std::optional<std::string>>& files);

  static constexpr std::uint64_t kFirstRetryMs = 1'000;
  static constexpr std::uint64_t kMaxRetryMs = 300'000;

  bool ReloadRunning() const { return static_cast<bool>(child_); }

  // At shutdown: a reload command still running is sent SIGTERM and no longer waited for, and
  // a pending retry is cancelled.
  void Stop();

 private:
  void RunReloadCommand();
  void OnReloadExit(int64_t exit_status, int term_signal);

  uv_loop_t* loop_;
  const Config& config_;
  UvHandle<uv_process_t> child_;
  bool reload_pending_ = false;
  UvHandle<uv_timer_t> retry_;
  std::map<std::string, std::optional<std::string>> retry_files_;  // what the retry publishes
  std::uint64_t retry_ms_ = 0;                                     // 0: the last call succeeded
};

}  // namespace transportcertd
