#include "daemon/publisher.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>
#include <set>
#include <utility>
#include <vector>

#include "daemon/logging.h"
#include "monitor/atomic_file.h"
#include "monitor/expiry.h"
#include "monitor/published_manifest.h"

namespace transportcertd {

Result<std::string> BuildPemBundle(const std::string& store_dir, const StoredCertificate& stored) {
  if (!stored.HasPrivateKey()) {
    return Error{std::string(stored.cert().thumbprint()) + " has no private key in the store",
                 ErrorCode::kStore};
  }
  auto key =
      ReadPrivateKeyPem(StorePath(store_dir, stored.key_file_name), stored.cert().public_key_id);
  if (!key) return key.error();
  auto der = ReadCertificateDer(store_dir, stored);
  if (!der) return der.error();
  std::string bundle = std::move(key).value() + DerToPem(*der);
  for (const auto& issuer : stored.ChainDer()) bundle += DerToPem(issuer);
  return bundle;
}

namespace {

// The FQDN, then each publish.names entry.
std::vector<std::string> PublishedHostNames(const Config& config) {
  std::vector<std::string> names = {config.fqdn};
  names.insert(names.end(), config.publish_names.begin(), config.publish_names.end());
  return names;
}

// "imap" of "imap/mail.example.com.pem", "" of a top-level file.
std::string FolderOf(const std::string& path) {
  const auto slash = path.find('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

std::set<std::string> PublishedFileNames(const Config& config) {
  std::set<std::string> names = PublishedPaths(PublishedHostNames(config), config.publish_services);
  if (config.DaneEnabled()) names.insert("tlsa");  // DANE records (daemon/dane.h)
  return names;
}

Publisher::Publisher(uv_loop_t* loop, const Config& config, const Clock& clock)
    : loop_(loop), config_(config), clock_(clock) {
  retry_.Init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
  reload_timer_.Init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
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

  // Files this daemon wrote for names no longer published (the FQDN or publish.names changed)
  // go; files it did not write, or that someone changed since, stay.
  const std::string manifest_path = config_.publish_dir + "/" + std::string(kManifestFileName);
  PublishedManifest manifest;
  if (auto text = ReadFile(manifest_path)) manifest = ParseManifest(*text);
  const PublishedManifest manifest_before = manifest;
  // What the configuration publishes stays, even when this call leaves it out (a name whose
  // certificate awaits its replacement keeps its file); so do the files this call names.
  std::set<std::string> wanted_names = PublishedFileNames(config_);
  for (const auto& [name, contents] : files) wanted_names.insert(name);
  const auto on_disk = [this](const std::string& name) -> std::optional<std::string> {
    auto contents = ReadFile(config_.publish_dir + "/" + name);
    return contents ? std::optional(std::move(contents).value()) : std::nullopt;
  };
  const auto stale = StalePublishedFiles(manifest, wanted_names, on_disk);
  for (auto it = manifest.begin(); it != manifest.end();) {
    const bool keep = wanted_names.count(it->first) != 0 ||
                      std::find(stale.begin(), stale.end(), it->first) != stale.end();
    it = keep ? std::next(it) : manifest.erase(it);  // gone, or no longer ours
  }
  std::set<std::string> emptied_folders;
  for (const auto& name : stale) {
    const std::string path = config_.publish_dir + "/" + name;
    if (unlink(path.c_str()) == 0 || errno == ENOENT) {
      spdlog::warn(
          "removed {}: it is no longer published (fqdn, publish.names or "
          "publish.services changed)",
          path);
      manifest.erase(name);
      ++changed;
      if (const std::string folder = FolderOf(name); !folder.empty()) {
        emptied_folders.insert(folder);
      }
    } else {
      failures.emplace_back(path, path + ": could not remove: " + std::strerror(errno));
    }
  }
  // A service folder left empty by that (the service left publish.services) goes too; one
  // that still holds anything, the daemon's or not, stays.
  for (const auto& folder : emptied_folders) {
    const std::string path = config_.publish_dir + "/" + folder;
    if (rmdir(path.c_str()) == 0) spdlog::info("removed the empty folder {}", path);
  }

  std::map<std::string, bool> folder_ready;  // service folder -> made, with mode and group
  for (const auto& [name, contents] : files) {
    if (const std::string folder = FolderOf(name); !folder.empty() && contents) {
      auto [it, first] = folder_ready.try_emplace(folder, false);
      if (first) {
        Status prepared = PrepareFolder(folder, gid);
        if (!prepared) {
          failures.emplace_back(config_.publish_dir + "/" + folder, prepared.error().message);
        }
        it->second = static_cast<bool>(prepared);
      }
    }
  }
  for (const auto& [name, contents] : files) {
    const std::string path = config_.publish_dir + "/" + name;
    if (const auto it = folder_ready.find(FolderOf(name));
        it != folder_ready.end() && !it->second) {
      continue;  // its folder could not be made: that failure is alerted once, for the folder
    }
    if (!contents) {
      if (unlink(path.c_str()) == 0) {
        spdlog::warn("removed {}: no certificate can be selected for it any more", path);
        changed_.insert(name);
        manifest.erase(name);
        ++changed;
      } else if (errno != ENOENT) {
        failures.emplace_back(path, path + ": could not remove: " + std::strerror(errno));
      } else {
        manifest.erase(name);
      }
      continue;
    }
    struct stat st {};
    auto current = ReadFile(path);
    const bool exists = lstat(path.c_str(), &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
      spdlog::warn("{}: not a regular file; replacing it with the published file", path);
    }
    const bool same_perms = exists && (st.st_mode & 07777) == mode &&
                            (gid == static_cast<gid_t>(-1) || st.st_gid == gid);
    if (current && *current == *contents && same_perms) {
      manifest[name] = ContentDigest(*contents);  // what it would have written: its own
      continue;
    }
    Status written = WriteFileAtomically(path, *contents, mode, gid);
    if (!written) {
      failures.emplace_back(path, written.error().message);
      continue;
    }
    manifest[name] = ContentDigest(*contents);
    spdlog::info("published {}", path);
    changed_.insert(name);
    ++changed;
  }
  if (manifest != manifest_before) {
    if (Status saved = WriteFileAtomically(manifest_path, FormatManifest(manifest), 0600); !saved) {
      spdlog::warn("cannot record which published files are the daemon's own: {}",
                   saved.error().message);
    }
  }
  if (changed > 0) RunReloadCommand();
  if (failures.empty()) {
    retry_backoff_.Reset();
    return;
  }
  const std::int64_t delay_ms = retry_backoff_.Next();
  for (const auto& [path, failure] : failures) {
    AlertFields fields;
    fields.file = path;
    Alert(AlertKind::kPublishFailed, spdlog::level::err, fields,
          "cannot publish " + failure + "; retrying in " + FormatDuration(Milliseconds{delay_ms}));
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
      static_cast<std::uint64_t>(delay_ms), 0);
}

Status Publisher::PrepareFolder(const std::string& folder, gid_t gid) {
  const std::string path = config_.publish_dir + "/" + folder;
  const mode_t mode = gid == static_cast<gid_t>(-1) ? 0700 : 0750;
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return Error{path + ": cannot create folder: " + std::strerror(errno), ErrorCode::kStore};
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error{path + ": not a folder (the daemon publishes a service's files there)",
                 ErrorCode::kStore};
  }
  // Like publish.dir itself: 0700, or 0750 root:group with publish.group.
  if (gid != static_cast<gid_t>(-1) && st.st_gid != gid &&
      chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0) {
    return Error{
        path + ": cannot give group " + config_.publish_group + " access: " + std::strerror(errno),
        ErrorCode::kStore};
  }
  if ((st.st_mode & 07777) != mode && chmod(path.c_str(), mode) != 0) {
    return Error{path + ": cannot set its mode: " + std::strerror(errno), ErrorCode::kStore};
  }
  if (folders_cleaned_.insert(folder).second) {
    if (const int stale = RemoveStaleTempFiles(path); stale > 0) {
      spdlog::info("removed {} unfinished temporary file(s) from {}", stale, path);
    }
  }
  return {};
}

void Publisher::PublishSelections(const Inventory& inventory, const std::string& internal,
                                  bool replacement_pending, const PublishSelect& select,
                                  const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::optional<std::string>> files;
  if (const StoredCertificate* stored = inventory.Find(internal);
      stored != nullptr && stored->HasPrivateKey()) {
    auto bundle = BuildPemBundle(inventory.dir, *stored);
    if (bundle) files["internal-transport.pem"] = std::move(bundle).value();
  }
  PublishPlanInput input;
  input.names = PublishedHostNames(config_);
  input.services = config_.publish_services;
  input.publish_dir = config_.publish_dir;
  input.select = [&select](const std::string& name, Service service) -> std::optional<std::string> {
    const StoredCertificate* winner = select(name, service);
    return winner != nullptr ? std::optional(std::string(winner->cert().thumbprint()))
                             : std::nullopt;
  };
  input.exists = [this](const std::string& path) {
    struct stat st {};
    return lstat((config_.publish_dir + "/" + path).c_str(), &st) == 0;
  };
  input.replacement_pending = replacement_pending;
  const PublishPlan plan = PlanPublishing(input);

  for (const auto& [path, file] : plan.files) {
    if (file.action == PlannedFile::Action::kKeep) continue;  // left as it is
    if (file.action == PlannedFile::Action::kRemove) {
      files[path] = std::nullopt;
      continue;
    }
    const StoredCertificate* winner = inventory.Find(file.thumbprint);
    if (winner == nullptr) continue;
    auto bundle = BuildPemBundle(inventory.dir, *winner);
    if (!bundle) {
      AlertFields fields;
      fields.thumbprint = winner->cert().thumbprint();
      fields.subject = winner->cert().subject();
      fields.file = config_.publish_dir + "/" + path;
      Alert(AlertKind::kPublishFailed, spdlog::level::err, fields,
            "cannot publish " + path + ": " + bundle.error().message);
      continue;
    }
    files[path] = std::move(bundle).value();
  }
  // Written even when empty, so that `postmap -F` in reload_command always finds them.
  for (const auto& [path, contents] : plan.sni_maps) files[path] = contents;
  for (const auto& [path, contents] : extra) files[path] = contents;

  // A top-level (SMTP) name without a certificate loses its file and its sni-map line, which
  // Postfix copes with, and is logged when its file is removed; the alert is for the folders
  // of the other services, whose files a server such as Dovecot names one by one.
  for (const auto& lacking : NewlyLacking(lacking_, plan.lacking)) {
    if (lacking.service == Service::kSmtp) continue;
    AlertFields fields;
    fields.file = config_.publish_dir + "/" + lacking.path;
    const std::string what =
        lacking.kept ? "keeping the published file " + fields.file + " as it is until one is"
                     : "no file is published as " + fields.file +
                           " (a mail server that names that file will not start or reload)";
    Alert(AlertKind::kNoEligibleCertificate, spdlog::level::warn, fields,
          "no certificate is eligible for " + lacking.name + " (" + ServiceName(lacking.service) +
              "); " + what);
  }
  const std::set<std::string> published = PublishedFileNames(config_);
  for (const auto& before : lacking_) {
    const bool still = std::any_of(plan.lacking.begin(), plan.lacking.end(),
                                   [&](const LackingName& l) { return l.path == before.path; });
    if (!still && before.service != Service::kSmtp && published.count(before.path) != 0) {
      spdlog::info("{} has an eligible certificate for {} again", before.name,
                   ServiceName(before.service));
    }
  }
  lacking_ = plan.lacking;
  Publish(files);
}

void Publisher::RunReloadCommand() {
  if (config_.reload_command.empty()) return;
  if (reload_group_ != 0) {  // one more run after the current one, however many changes arrive
    reload_pending_ = true;
    return;
  }
  const char* argv[] = {"/bin/sh", "-c", config_.reload_command.c_str(), nullptr};
  // A minimal environment: nothing of the daemon's own (bus addresses, credentials, sockets).
  std::string changed;
  for (const auto& name : changed_) changed += (changed.empty() ? "" : " ") + name;
  const char* path = std::getenv("PATH");
  const char* lang = std::getenv("LANG");
  std::vector<std::string> env = {
      std::string("PATH=") +
          (path != nullptr ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
      "TRANSPORTCERTD_CHANGED=" + changed};
  if (lang != nullptr) env.push_back(std::string("LANG=") + lang);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  uv_process_options_t options{};
  options.file = argv[0];
  options.args = const_cast<char**>(argv);
  options.env = envp.data();
  options.flags = UV_PROCESS_DETACHED;  // setsid(): a process group of its own
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
  changed_.clear();
  reload_group_ = child_.get()->pid;
  reload_timed_out_ = false;
  reload_killed_ = false;
  if (reload_timer_) {
    uv_timer_start(
        reload_timer_.get(),
        [](uv_timer_t* t) { static_cast<Publisher*>(t->data)->OnReloadTimeout(); },
        static_cast<std::uint64_t>(config_.reload_timeout.count()), 0);
  }
  spdlog::info("running reload command: {}", config_.reload_command);
}

void Publisher::OnReloadTimeout() {
  reload_timed_out_ = true;
  spdlog::warn("reload command still running after {}; terminating its process group {}",
               FormatDuration(config_.reload_timeout), reload_group_);
  kill(-reload_group_, SIGTERM);
  uv_timer_start(
      reload_timer_.get(), [](uv_timer_t* t) { static_cast<Publisher*>(t->data)->OnReloadKill(); },
      kReloadKillAfterMs, 0);
}

void Publisher::OnReloadKill() {
  reload_killed_ = true;
  if (kill(-reload_group_, SIGKILL) == 0) {
    spdlog::warn("killed what was left of the reload command's process group {}", reload_group_);
  }
  if (!child_) ReloadDone();  // otherwise its exit, which SIGKILL brings, finishes the run
}

void Publisher::ReloadDone() {
  if (reload_timer_) uv_timer_stop(reload_timer_.get());
  reload_group_ = 0;
  if (reload_done_) reload_done_();
  if (reload_pending_) {
    reload_pending_ = false;
    RunReloadCommand();
  }
}

void Publisher::Stop() {
  retry_.Close();
  retry_files_.clear();
  reload_pending_ = false;
  reload_timer_.Close();
  if (reload_group_ == 0) return;
  spdlog::warn("stopping while the reload command runs; terminating its process group {}",
               reload_group_);
  kill(-reload_group_, reload_timed_out_ ? SIGKILL : SIGTERM);
  reload_group_ = 0;
  child_.Close();
}

void Publisher::OnReloadExit(int64_t exit_status, int term_signal) {
  child_.Close();
  if (reload_timed_out_) {
    ++reload_failures_;
    Alert(AlertKind::kReloadCommandFailed, spdlog::level::err, {},
          "reload command \"" + config_.reload_command + "\" failed: timed out after " +
              FormatDuration(config_.reload_timeout) +
              (term_signal != 0 ? " (killed by signal " + std::to_string(term_signal) + ")" : ""));
    // What is left of its group (say a child that ignores SIGTERM) gets SIGKILL when the
    // timer fires; the next run waits for that.
    if (!reload_killed_ && kill(-reload_group_, 0) == 0) return;
    ReloadDone();
    return;
  }
  if (exit_status == 0 && term_signal == 0) {
    last_reload_success_ = clock_.Now() / 1000;
    ++reload_successes_;
    spdlog::info("reload command finished: exit status 0");
  } else {
    ++reload_failures_;
    const std::string how = term_signal != 0 ? "killed by signal " + std::to_string(term_signal)
                                             : "exit status " + std::to_string(exit_status);
    Alert(AlertKind::kReloadCommandFailed, spdlog::level::err, {},
          "reload command \"" + config_.reload_command + "\" failed: " + how);
  }
  ReloadDone();
}

}  // namespace transportcertd
