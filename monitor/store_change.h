// Changes the daemon makes to the store, made so that nothing is lost: removing a certificate,
// importing PEM text, and writing a generated certificate. The store holds private keys that
// exist nowhere else, so:
//   - a removal takes away exactly one certificate, plus its private key only when no other
//     certificate in the store has the same public key; whatever else the affected files hold
//     stays in the store (a file holding more is rewritten without the removed objects, a file
//     holding nothing else leaves the store);
//   - nothing is unlinked: the original files go, as they were, to a directory of their own
//     under the removed area (`<state>/removed/<UTC yyyymmddThhmmssZ>-<thumbprint>/`), from
//     which moving them back into the store restores them;
//   - a file is only touched while it still holds exactly what the plan was made from; when it
//     changed meanwhile the plan says it is stale (or the apply that it changed) and the caller
//     scans and plans again;
//   - an import or a generated certificate goes to a new file, never over an existing one.
// Planning (PlanRemoval, PlanImport) is pure; applying (ApplyRemoval, ApplyImport) does the file
// work. Safe to call from any thread, one change at a time per store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/certificate.h"
#include "monitor/result.h"
#include "monitor/store.h"

namespace transportcertd {

// One store file a removal touches.
struct FileChange {
  std::string path;                      // full path of the store file
  std::string original;                  // its contents the plan was made from
  std::optional<std::string> rewritten;  // what stays in the store; nullopt: the file leaves it
};

struct RemovalPlan {
  std::string thumbprint;
  bool removes_key = false;  // its private key goes too (no other certificate has that key)
  // The inventory and the files' contents disagree (a file changed since the scan): nothing
  // may be done; scan again and plan again.
  bool stale = false;
  std::vector<FileChange> files;  // sorted by path
};

// The store files a removal of `thumbprint` has to read before it can be planned: the files
// holding the certificate and every file holding its private key. Empty when the inventory
// has no such certificate.
std::vector<std::string> FilesToReadForRemoval(const Inventory& inventory,
                                               const std::string& thumbprint);

// Decides how to remove certificate `thumbprint` from the store described by `inventory`,
// given the current contents of the files FilesToReadForRemoval named (a file missing from
// `contents` is one that could not be read). Fails with kNoSuchCertificate when it is not in
// the inventory, kInternalTransport when it is `internal_transport` or shares its key with it.
Result<RemovalPlan> PlanRemoval(const Inventory& inventory, const std::string& thumbprint,
                                const std::string& internal_transport,
                                const std::map<std::string, std::string>& contents);

// The directory under `removed_root` that a removal of `thumbprint` at `now` keeps its files in:
// "<removed_root>/<yyyymmddThhmmssZ>-<thumbprint>".
std::string RemovedDirectoryFor(const std::string& removed_root, const std::string& thumbprint,
                                UnixTime now);

// What ApplyRemoval did.
struct RemovalOutcome {
  // A file no longer held what the plan was made from: nothing was changed (anything done
  // before that was noticed is undone); scan again and plan again.
  bool changed = false;
  std::string kept_in;  // the directory under the removed area holding the original files
};

// Carries out `plan` (which must not be stale): the original files go to a new directory
// under `removed_root` (created 0700, files 0600), rewritten files take their place in the
// store. A failure (kStore) undoes what was done, as far as the file system lets it.
Result<RemovalOutcome> ApplyRemoval(const RemovalPlan& plan, const std::string& removed_root,
                                    UnixTime now);

// A removal is decided on a scan; a certificate with the same key dropped into the store
// between that scan and the removal would be left without its key. Called with a scan made
// after the removal: when some certificate now lacks the key the removal took, that key is
// written back into the store as a new file from the kept originals. Returns the file
// written, or "" when nothing needed it.
Result<std::string> RestoreKeyStillNeeded(const Inventory& after, const RemovalPlan& plan,
                                          const RemovalOutcome& outcome,
                                          const std::string& store_dir);

struct ImportPlan {
  std::string thumbprint;       // of the leaf (the first certificate of the PEM text)
  bool already_stored = false;  // the store holds every certificate and key of it: no change
  std::string path;             // the file to write (a new name is taken if it exists by then)
  std::string contents;         // the PEM text as given
};

// Checks PEM text for import: a certificate (+ chain) and an unencrypted private key matching
// the first certificate, nothing unusable. Fails with kInvalidArgument and a reason that never
// quotes the text. `store_dir` is where a new file would go.
Result<ImportPlan> PlanImport(const Inventory& inventory, std::string_view pem,
                              const std::string& store_dir);

// Writes the import as a new file (never over an existing one). Returns its path, or "" when
// the store already held everything.
Result<std::string> ApplyImport(const ImportPlan& plan);

// The removed area: entries older than `keep` (by the time in their name) are deleted for good;
// `keep` of 0 keeps them forever. Returns when the next entry falls due (nullopt: none), so the
// caller can arm a timer instead of polling. Entries whose name it does not recognise are left.
struct PruneResult {
  int deleted = 0;
  std::optional<UnixTime> next_due;
  std::vector<std::string> errors;  // one line each; the entry is tried again next time
};
PruneResult PruneRemoved(const std::string& removed_root, std::int64_t keep_seconds, UnixTime now);

}  // namespace transportcertd
