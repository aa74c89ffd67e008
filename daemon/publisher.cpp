#include "daemon/publisher.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <utility>
#include <vector>

#include "daemon/logging.h"
#include "monitor/atomic_file.h"
#include "monitor/expiry.h"

namespace transportcertd {

Result<std::string> BuildPemBundle(const StoredCertificate& stored) {
  if (!stored.HasPrivateKey()) {
    return Error{stored.cert().thumbprint + " has no private key in the store", ErrorCode::kStore};
  }
  auto key = ReadPrivateKeyPem(stored.key_file, stored.cert().public_key_id);
  if (!key) return key.error();
  std::string bundle = std::move(key).value() + DerToPem(stored.cert().der);
  for (const auto& issuer : stored.ChainDer()) bundle += DerToPem(issuer);
  return bundle;
}

Publisher::Publisher(uv_loop_t* loop, const Config& config) : loop_(loop), config_(config) {
  retry_.Init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
}

void Publisher::Publish(const std::map<std::string, std::optional<std::string>>& files) {
  gid_t gid = static_cast<gid_t>(-1);
  if (!config_.publish_group.empty()) {
    const struct group* g = getgrnam(config_.publish_group.c_str());
    if (g == nullptr) {
      Alert(AlertKind::kPublishFailed, spdlog::level::err, {},
            "publish.group \"" + config_.publish_group +
                "\" does not exist; published keys stay readable by root only");
    } else {
      gid = g->gr_gid;
    }
  }
  const mode_t mode = gid == static_cast<gid_t>(-1) ? 0600 : 0640;

  if (retry_) uv_timer_stop(retry_.get());
  int changed = 0;
  std::vector<std::pair<std::string, std::string>> failures;  // (path, what went wrong)
  for (const auto& [name, contents] : files) {
    const std::string path = config_.publish_dir + "/" + name;
    if (!contents) {
      if (unlink(path.c_str()) == 0) {
        spdlog::warn("removed {}: no certificate can be selected for it any more", path);
        ++changed;
      } else if (errno != ENOENT) {
        failures.emplace_back(path, path + ": could not remove: " + std::strerror(errno));
      }
      continue;
    }
    struct stat st {};
    auto current = ReadFile(path);
    const bool same_perms = stat(path.c_str(), &st) == 0 && (st.st_mode & 07777) == mode &&
                            (gid == static_cast<gid_t>(-1) || st.st_gid == gid);
    if (current && *current == *contents && same_perms) continue;
    Status written = WriteFileAtomically(path, *contents, mode, gid);
    if (!written) {
      failures.emplace_back(path, written.error().message);
      continue;
    }
    spdlog::info("published {}", path);
    ++changed;
  }
  if (changed > 0) RunReloadCommand();
  if (failures.empty()) {
    retry_ms_ = 0;
    return;
  }
  retry_ms_ = std::clamp(retry_ms_ * 2, kFirstRetryMs, kMaxRetryMs);
  for (const auto& [path, failure] : failures) {
    AlertFields fields;
    fields.file = path;
    Alert(AlertKind::kPublishFailed, spdlog::level::err, fields,
          "cannot publish " + failure + "; retrying in " +
              FormatDuration(Milliseconds{static_cast<std::int64_t>(retry_ms_)}));
  }
  if (!retry_) return;  // stopped
  retry_files_ = files;
  uv_timer_start(
      retry_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Publisher*>(t->data);
        const auto wanted = std::move(self->retry_files_);
        self->retry_files_.clear();
        self->Publish(wanted);
      },
      retry_ms_, 0);
}

void Publisher::RunReloadCommand() {
  if (config_.reload_command.empty()) return;
  if (child_) {  // one more run after the current one, however many changes arrive meanwhile
    reload_pending_ = true;
    return;
  }
  const char* argv[] = {"/bin/sh", "-c", config_.reload_command.c_str(), nullptr};
  uv_process_options_t options{};
  options.file = argv[0];
  options.args = const_cast<char**>(argv);
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = STDERR_FILENO;  // the command's output lands in our log
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = STDERR_FILENO;
  options.stdio = stdio;
  options.stdio_count = 3;
  options.exit_cb = [](uv_process_t* process, int64_t status, int signal) {
    static_cast<Publisher*>(process->data)->OnReloadExit(status, signal);
  };
  // uv_spawn initializes the handle even when it fails, so it is closed (not freed) then.
  int rc = 0;
  child_.Init(
      [&](uv_process_t* p) {
        p->data = this;
        rc = uv_spawn(loop_, p, &options);
        return 0;
      },
      this);
  if (rc != 0) {
    child_.Close();
    ++reload_failures_;
    Alert(AlertKind::kReloadCommandFailed, spdlog::level::err, {},
          "reload command \"" + config_.reload_command + "\" could not start: " + uv_strerror(rc));
    if (reload_done_) reload_done_();
    return;
  }
  spdlog::info("running reload command: {}", config_.reload_command);
}

void Publisher::Stop() {
  retry_.Close();
  retry_files_.clear();
  reload_pending_ = false;
  if (!child_) return;
  spdlog::warn("stopping while the reload command is still running; sending it SIGTERM");
  uv_process_kill(child_.get(), SIGTERM);
  child_.Close();
}

void Publisher::OnReloadExit(int64_t exit_status, int term_signal) {
  child_.Close();
  if (exit_status == 0 && term_signal == 0) {
    last_reload_success_ = static_cast<std::int64_t>(time(nullptr));
    spdlog::info("reload command finished: exit status 0");
  } else {
    ++reload_failures_;
    const std::string how = term_signal != 0 ? "killed by signal " + std::to_string(term_signal)
                                             : "exit status " + std::to_string(exit_status);
    Alert(AlertKind::kReloadCommandFailed, spdlog::level::err, {},
          "reload command \"" + config_.reload_command + "\" failed: " + how);
  }
  if (reload_done_) reload_done_();
  if (reload_pending_) {
    reload_pending_ = false;
    RunReloadCommand();
  }
}

}  // namespace transportcertd
