#include "monitor/store_change.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <set>

#include "monitor/atomic_file.h"

namespace transportcertd {
namespace {

constexpr std::uint64_t kMaxStoreFile = std::uint64_t{1024} * 1024;  // as the scanner reads them

// One object of a store file: a PEM block, or a whole DER file.
struct Part {
  std::size_t begin = 0, end = 0;  // byte range in the file, with the END line's newline
  std::string thumbprint;          // when it is a certificate
  std::optional<KeyId> key_id;     // when it is a private key
};

// Splits a file into its parts and says what each part is. A part that cannot be parsed is
// neither a certificate nor a key and is kept wherever it is.
std::vector<Part> PartsOf(std::string_view text) {
  std::vector<Part> parts;
  auto describe = [](Part& part, std::string_view piece) {
    auto parsed = ParseStoreFile(piece);
    if (!parsed) return;
    if (parsed->certificates.size() == 1 && parsed->keys.empty()) {
      part.thumbprint = parsed->certificates.front().thumbprint();
    } else if (parsed->keys.size() == 1 && parsed->certificates.empty()) {
      part.key_id = parsed->keys.front().public_key_id;
    }
  };
  if (text.find("-----BEGIN ") == std::string_view::npos) {  // DER: the file is one object
    Part part{0, text.size(), {}, {}};
    describe(part, text);
    parts.push_back(std::move(part));
    return parts;
  }
  std::size_t pos = 0;
  while ((pos = text.find("-----BEGIN ", pos)) != std::string_view::npos) {
    const std::size_t begin = pos;
    const std::size_t end_marker = text.find("-----END ", begin);
    if (end_marker == std::string_view::npos) break;  // truncated: the rest is kept as it is
    std::size_t end = text.find('\n', end_marker);
    end = end == std::string_view::npos ? text.size() : end + 1;
    Part part{begin, end, {}, {}};
    describe(part, text.substr(begin, end - begin));
    parts.push_back(std::move(part));
    pos = end;
  }
  return parts;
}

// Whether the private key of `stored` goes with it: it has one, and no other certificate in
// the store has the same public key.
bool KeyGoesWith(const Inventory& inventory, const StoredCertificate& stored) {
  if (!stored.HasPrivateKey()) return false;
  return std::none_of(inventory.certificates.begin(), inventory.certificates.end(),
                      [&](const auto& other) {
                        return other.cert().thumbprint() != stored.cert().thumbprint() &&
                               other.cert().public_key_id == stored.cert().public_key_id;
                      });
}

std::vector<std::string> KeyFiles(const Inventory& inventory, const KeyId& key_id) {
  std::vector<std::string> files;
  const auto first = std::lower_bound(inventory.keys.begin(), inventory.keys.end(),
                                      std::pair<KeyId, std::string>{key_id, ""});
  for (auto it = first; it != inventory.keys.end() && it->first == key_id; ++it) {
    files.push_back(inventory.Path(it->second));
  }
  return files;
}

std::string BaseName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

bool IsSymlink(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// Takes `path` out of the store into `target` (a new name in the removed area), keeping its
// contents: a regular file is renamed (copied when the removed area is on another file
// system); a symbolic link is kept as a copy of what it points at, and the link goes.
// Returns the link's target for a symbolic link (so it can be put back), else "".
Result<std::string> MoveOut(const std::string& path, const std::string& target,
                            const std::string& contents) {
  std::string link_target;
  if (IsSymlink(path)) {
    std::error_code ec;
    link_target = std::filesystem::read_symlink(path, ec).string();
  } else if (rename(path.c_str(), target.c_str()) == 0) {
    chmod(target.c_str(), 0600);
    return link_target;
  } else if (errno != EXDEV) {
    return Error{path + ": cannot move to " + target + ": " + std::strerror(errno),
                 ErrorCode::kStore};
  }
  if (Status copied = WriteFileAtomically(target, contents, 0600); !copied) {
    return Error{copied.error().message, ErrorCode::kStore};
  }
  if (unlink(path.c_str()) != 0) {
    const int err = errno;
    unlink(target.c_str());
    return Error{path + ": cannot take out of the store: " + std::strerror(err), ErrorCode::kStore};
  }
  return link_target;
}

// Puts a file MoveOut took back where it was (or next to it, when that name was taken since).
void PutBack(const std::string& copy, const std::string& path, const std::string& link_target) {
  if (!link_target.empty()) {
    if (symlink(link_target.c_str(), path.c_str()) == 0) unlink(copy.c_str());
    return;
  }
  (void)RenameToFreeName(copy, path);
}

std::string FormatStamp(UnixTime now) {
  const auto tt = static_cast<time_t>(now);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32] = {};
  if (strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm) == 0) return "";
  return buf;
}

std::optional<UnixTime> ParseStamp(const std::string& name) {
  // yyyymmddThhmmssZ-...
  if (name.size() < 17 || name[8] != 'T' || name[15] != 'Z' || name[16] != '-') return {};
  struct tm tm {};
  if (strptime(name.substr(0, 16).c_str(), "%Y%m%dT%H%M%SZ", &tm) == nullptr) return {};
  return static_cast<UnixTime>(timegm(&tm));
}

}  // namespace

std::vector<std::string> FilesToReadForRemoval(const Inventory& inventory,
                                               const std::string& thumbprint) {
  const StoredCertificate* stored = inventory.Find(thumbprint);
  if (stored == nullptr) return {};
  std::set<std::string> files;
  for (const std::string& name : stored->file_names) files.insert(inventory.Path(name));
  if (KeyGoesWith(inventory, *stored)) {
    for (auto& file : KeyFiles(inventory, stored->cert().public_key_id)) files.insert(file);
  }
  return {files.begin(), files.end()};
}

Result<RemovalPlan> PlanRemoval(const Inventory& inventory, const std::string& thumbprint,
                                const std::string& internal_transport,
                                const std::map<std::string, std::string>& contents) {
  const StoredCertificate* stored = inventory.Find(thumbprint);
  if (stored == nullptr) {
    return Error{"no certificate " + thumbprint + " in the store", ErrorCode::kNoSuchCertificate};
  }
  if (thumbprint == internal_transport) {
    return Error{"certificate " + thumbprint +
                     " is the internal transport certificate and cannot be removed: the mail "
                     "server would be left without one. To replace it, create a new certificate "
                     "(NewSelfSignedCertificate) or enable another one with "
                     "make_internal_transport; it becomes the internal transport certificate "
                     "automatically, and then this one can be removed.",
                 ErrorCode::kInternalTransport};
  }
  if (const StoredCertificate* internal = inventory.Find(internal_transport);
      internal != nullptr && internal->cert().public_key_id == stored->cert().public_key_id) {
    return Error{"certificate " + thumbprint + " has the same private key as the internal " +
                     "transport certificate " + internal_transport +
                     ", which would be left without its key. Replace the internal transport "
                     "certificate first (NewSelfSignedCertificate, or EnableCertificate with "
                     "make_internal_transport on another one); then this one can be removed.",
                 ErrorCode::kInternalTransport};
  }

  RemovalPlan plan;
  plan.thumbprint = thumbprint;
  plan.removes_key = KeyGoesWith(inventory, *stored);
  const KeyId& key_id = stored->cert().public_key_id;
  const std::vector<std::string> key_files =
      plan.removes_key ? KeyFiles(inventory, key_id) : std::vector<std::string>{};
  for (const std::string& path : FilesToReadForRemoval(inventory, thumbprint)) {
    const auto found = contents.find(path);
    if (found == contents.end()) {
      plan.stale = true;  // gone or unreadable since the scan
      continue;
    }
    const std::string& text = found->second;
    bool holds_cert = false;
    bool holds_key = false;
    std::string kept;
    std::size_t copied = 0;
    bool anything_left = false;
    for (const Part& part : PartsOf(text)) {
      const bool cert_goes = part.thumbprint == thumbprint;
      const bool key_goes = plan.removes_key && part.key_id == key_id;
      holds_cert = holds_cert || cert_goes;
      holds_key = holds_key || key_goes;
      if (cert_goes || key_goes) {
        kept.append(text, copied, part.begin - copied);
        copied = part.end;
      } else {
        anything_left = true;
      }
    }
    kept.append(text, copied);
    const bool inventory_says_cert =
        std::any_of(stored->file_names.begin(), stored->file_names.end(),
                    [&](const std::string& name) { return inventory.Path(name) == path; });
    const bool inventory_says_key =
        std::find(key_files.begin(), key_files.end(), path) != key_files.end();
    if (holds_cert != inventory_says_cert || holds_key != inventory_says_key) {
      plan.stale = true;  // the file changed since the scan
      continue;
    }
    FileChange change{path, text, std::nullopt};
    if (anything_left) change.rewritten = std::move(kept);
    plan.files.push_back(std::move(change));
  }
  if (plan.stale) plan.files.clear();
  return plan;
}

std::string RemovedDirectoryFor(const std::string& removed_root, const std::string& thumbprint,
                                UnixTime now) {
  return removed_root + "/" + FormatStamp(now) + "-" + thumbprint;
}

Result<RemovalOutcome> ApplyRemoval(const RemovalPlan& plan, const std::string& removed_root,
                                    UnixTime now) {
  RemovalOutcome outcome;
  // Nothing is touched unless every file still holds what the plan was made from.
  for (const FileChange& change : plan.files) {
    auto current = ReadStoreFile(change.path, kMaxStoreFile);
    if (!current || *current != change.original) {
      outcome.changed = true;
      return outcome;
    }
  }

  std::error_code ec;
  std::filesystem::create_directories(removed_root, ec);
  chmod(removed_root.c_str(), 0700);
  std::string dir = RemovedDirectoryFor(removed_root, plan.thumbprint, now);
  for (int n = 2; mkdir(dir.c_str(), 0700) != 0; ++n) {
    if (errno != EEXIST || n > 1000) {
      return Error{dir + ": cannot create: " + std::strerror(errno), ErrorCode::kStore};
    }
    dir = RemovedDirectoryFor(removed_root, plan.thumbprint, now) + "-" + std::to_string(n);
  }
  outcome.kept_in = dir;

  // What stays of a rewritten file is written first, under a new name in the store, so that
  // at every moment each object that stays is in the store (twice for a moment, which is
  // harmless); then the originals go; then the new files take the originals' names.
  struct Moved {
    std::string copy, path, link_target;
  };
  std::vector<std::pair<std::string, std::string>> staged;  // (new file, original's path)
  std::vector<Moved> moved;
  auto undo = [&] {
    for (const Moved& m : moved) PutBack(m.copy, m.path, m.link_target);
    for (const auto& [file, path] : staged) unlink(file.c_str());
    rmdir(dir.c_str());
  };
  for (const FileChange& change : plan.files) {
    if (!change.rewritten) continue;
    auto written = WriteNewFile(change.path, *change.rewritten, 0600);
    if (!written) {
      undo();
      return Error{written.error().message, ErrorCode::kStore};
    }
    staged.emplace_back(*written, change.path);
  }
  for (const FileChange& change : plan.files) {
    const std::string copy = dir + "/" + BaseName(change.path);
    auto out = MoveOut(change.path, copy, change.original);
    if (!out) {
      undo();
      return out.error();
    }
    moved.push_back({copy, change.path, *out});
    // Replaced between the check above and the move: the new file goes back, nothing else
    // happens, and the caller decides again.
    auto kept = ReadStoreFile(copy, kMaxStoreFile);
    if (!kept || *kept != change.original) {
      undo();
      outcome.changed = true;
      outcome.kept_in.clear();
      return outcome;
    }
  }
  for (const auto& [file, path] : staged) (void)RenameToFreeName(file, path);
  return outcome;
}

Result<std::string> RestoreKeyStillNeeded(const Inventory& after, const RemovalPlan& plan,
                                          const RemovalOutcome& outcome,
                                          const std::string& store_dir) {
  if (!plan.removes_key || outcome.changed || plan.files.empty()) return std::string();
  // The key that went: found in the kept originals through the certificates that need it.
  for (const StoredCertificate& stored : after.certificates) {
    if (stored.HasPrivateKey()) continue;
    for (const FileChange& change : plan.files) {
      const std::string kept = outcome.kept_in + "/" + BaseName(change.path);
      auto key = ReadPrivateKeyPem(kept, stored.cert().public_key_id);
      if (!key) continue;
      auto written = WriteNewFile(
          store_dir + "/restored-" + std::string(stored.cert().thumbprint()) + ".key", *key, 0600);
      if (!written) return Error{written.error().message, ErrorCode::kStore};
      return written;
    }
  }
  return std::string();
}

Result<ImportPlan> PlanImport(const Inventory& inventory, std::string_view pem,
                              const std::string& store_dir) {
  auto parsed = ParseStoreFile(pem);
  if (!parsed) {
    return Error{"not importable: " + parsed.error().message, ErrorCode::kInvalidArgument};
  }
  if (!parsed->skipped.empty()) {
    return Error{"not importable: " + parsed->skipped.front(), ErrorCode::kInvalidArgument};
  }
  if (parsed->certificates.empty()) {
    return Error{"no certificate in the PEM text", ErrorCode::kInvalidArgument};
  }
  const Certificate& leaf = parsed->certificates.front();
  const bool has_key = std::any_of(parsed->keys.begin(), parsed->keys.end(), [&](const auto& k) {
    return k.public_key_id == leaf.public_key_id;
  });
  if (!has_key) {
    return Error{"the PEM text has no unencrypted private key matching its first certificate",
                 ErrorCode::kInvalidArgument};
  }
  ImportPlan plan;
  plan.thumbprint = leaf.thumbprint();
  plan.path = store_dir + "/imported-" + std::string(leaf.thumbprint()) + ".pem";
  plan.contents = std::string(pem);
  const bool certs_stored =
      std::all_of(parsed->certificates.begin(), parsed->certificates.end(),
                  [&](const Certificate& c) { return inventory.Find(c.thumbprint()) != nullptr; });
  const bool keys_stored = std::all_of(
      parsed->keys.begin(), parsed->keys.end(),
      [&](const PrivateKey& k) { return !KeyFiles(inventory, k.public_key_id).empty(); });
  plan.already_stored = certs_stored && keys_stored;
  return plan;
}

Result<std::string> ApplyImport(const ImportPlan& plan) {
  if (plan.already_stored) return std::string();
  auto written = WriteNewFile(plan.path, plan.contents, 0600);
  if (!written) return Error{written.error().message, ErrorCode::kStore};
  return written;
}

PruneResult PruneRemoved(const std::string& removed_root, std::int64_t keep_seconds, UnixTime now) {
  PruneResult result;
  if (keep_seconds <= 0) return result;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(removed_root, ec)) {
    const std::string name = entry.path().filename().string();
    const auto stamp = ParseStamp(name);
    if (!stamp) continue;
    const UnixTime due = *stamp + keep_seconds;
    if (due > now) {
      if (!result.next_due || due < *result.next_due) result.next_due = due;
      continue;
    }
    std::error_code removed;
    std::filesystem::remove_all(entry.path(), removed);
    if (removed) {
      result.errors.push_back(entry.path().string() + ": cannot delete: " + removed.message());
    } else {
      ++result.deleted;
    }
  }
  return result;
}

}  // namespace transportcertd
