// The certificate store: a directory of PEM/DER files inventoried into certificates, each paired
// with its private key wherever in the store that key is, and a list of problems (file + reason)
// for everything that could not be used. One StoreScanner per store directory; it caches each
// file's parse by (inode, size, mtime, ctime) so a rescan only re-reads what changed.
// Not thread-safe: one thread (the daemon's loop, or a worker it hands the scanner to) at a time;
// Scan itself may parse on several threads (ScanOptions::threads) and returns when all are done.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "monitor/certificate.h"
#include "monitor/result.h"

namespace transportcertd {

enum class ChainStatus {
  kSelfSigned,  // issuer == subject and signed by its own key
  kVerified,    // chains to the trust store (system plus extra anchors), with intermediates
                // found in the store
  kIncomplete,  // CA-issued, but the chain does not verify (missing intermediate or root)
};

struct StoredCertificate {
  // Never null in an inventory; shared with the scanner's cache and with later inventories
  // while its file is unchanged, so a certificate is held in memory once.
  std::shared_ptr<const Certificate> certificate;
  // The store files holding this certificate: their names in Inventory::dir, sorted
  // (Inventory::Path gives the full path). A short name needs no allocation of its own.
  std::vector<std::string> file_names;
  std::string key_file_name;  // name of the file with its private key, as above; empty if none
  ChainStatus chain = ChainStatus::kIncomplete;
  // The issuers to publish after the leaf (DER, no trust anchor), shared by every certificate
  // of the inventory with the same chain; nullptr when there are none.
  std::shared_ptr<const std::vector<std::string>> issuers;

  const Certificate& cert() const { return *certificate; }
  bool HasPrivateKey() const { return !key_file_name.empty(); }
  const std::vector<std::string>& ChainDer() const {
    static const std::vector<std::string> kNone;
    return issuers ? *issuers : kNone;
  }
};

struct StoreProblem {
  std::string file;    // full path
  std::string reason;  // one line, e.g. "encrypted private key (store keys unencrypted)"
  bool operator==(const StoreProblem&) const = default;
};

struct Inventory {
  // The store directory, as given to the StoreScanner. The store is one flat directory: its
  // files are named by their names in it, and joined with it (Path) where a path is needed.
  std::string dir;
  std::vector<StoredCertificate> certificates;  // sorted by thumbprint
  // Sorted by file. A file can have several problems and still contribute what was usable.
  std::vector<StoreProblem> problems;
  // Every private key of the store as (public key id, file name in `dir`), sorted; a key may
  // be in several files. StoredCertificate::key_file_name names the first of them.
  std::vector<std::pair<KeyId, std::string>> keys;

  // The full path of the store file `name` (StorePath).
  std::string Path(std::string_view name) const;
  // Finds a certificate by thumbprint (uppercase); nullptr when absent.
  const StoredCertificate* Find(std::string_view thumbprint) const;
};

struct ScanOptions {
  std::uint64_t max_file_size = std::uint64_t{1024} * 1024;  // larger files are a problem, not read
  // The trust store: OpenSSL's default paths (the system's), or, when either of these is set,
  // only this CA bundle and/or hashed CA directory instead (tests use them to stay hermetic).
  std::string trust_file;
  std::string trust_dir;
  // DER certificates trusted in addition to the above (LoadTrustAnchors in trust_anchors.h).
  std::vector<std::string> extra_anchors;
  // Threads that read and parse changed files and check new chains: 0 for one per CPU (a
  // handful of changed files stays on the calling thread). The inventory does not depend on it.
  unsigned threads = 0;
};

// Reads one store file as the scanner does: never blocking on a FIFO, following symbolic
// links (store files may be links, e.g. into certbot's archive), refusing anything but a
// regular file of at most `max_size` bytes. Fails with a reason (without the path).
Result<std::string> ReadStoreFile(const std::string& path, std::uint64_t max_size);

// Reads `stored`'s certificate back from the store in `dir` (its inventory's dir): its DER, from
// the first of its files that still holds it. The files may have changed since the scan, so
// each is read and parsed again and only a certificate with the same thumbprint is taken. Fails
// (ErrorCode::kStore) when none holds it any more; the rescan that follows the change tells
// what the store holds now.
Result<std::string> ReadCertificateDer(const std::string& dir, const StoredCertificate& stored);

// The full path of the file `name` of the store directory `dir`: dir + "/" + name. Everything
// that keeps store file names (an inventory, a metrics snapshot) joins them with this.
std::string StorePath(std::string_view dir, std::string_view name);

// File names the scanner looks at: *.pem *.crt *.cer *.key *.der (case-insensitive), not hidden.
bool IsStoreFileName(const std::string& name);

class StoreScanner {
 public:
  StoreScanner(std::string dir, ScanOptions options);
  StoreScanner(const StoreScanner&) = delete;
  StoreScanner& operator=(const StoreScanner&) = delete;

  const std::string& dir() const { return dir_; }

  // Inventories the directory. Fails only when the directory itself cannot be read; every
  // unusable file becomes a problem in the inventory instead.
  Result<Inventory> Scan();
  // As Scan, but when no store file was added, changed or removed since the last scan, returns
  // no inventory (the last one still holds) instead of building the same one again: a rescan
  // of an unchanged store then costs the listing and one stat per file. A file that could not
  // be read counts as changed on every scan (it is tried again).
  Result<std::optional<Inventory>> ScanIfChanged();

 private:
  struct FileStamp {
    std::uint64_t inode = 0, size = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  // What one file contributed to the inventory: not how it was parsed.
  struct FileParts {
    std::vector<std::shared_ptr<const Certificate>> certificates;
    std::vector<KeyId> key_ids;         // of each private key in it
    std::vector<std::string> problems;  // why the file, or parts of it, could not be used
  };
  // FileParts as the scanner keeps them between scans, for every store file, in as little
  // memory as it can. Nearly every store file holds exactly one certificate, exactly one
  // private key, or one certificate and its own key, and nothing else; that is held here
  // itself (40 bytes in all, no allocation), and only a file with anything else (a chain,
  // several keys, a key of another certificate, a problem) has its FileParts allocated,
  // behind the one pointer.
  class CompactFileParts {
   public:
    CompactFileParts() = default;  // nothing: no certificate, no key, no problem
    explicit CompactFileParts(FileParts parts);
    std::span<const std::shared_ptr<const Certificate>> certificates() const;
    std::span<const KeyId> key_ids() const;
    std::span<const std::string> problems() const;

   private:
    // One certificate and the private key of that certificate: the key's id is the
    // certificate's public_key_id.
    struct CertificateWithItsKey {
      std::shared_ptr<const Certificate> certificate;
    };
    // Which of these it holds is which alternative is set: nothing; the file's one
    // certificate; its one certificate and that certificate's key; its one key id; or
    // everything else.
    std::variant<std::monostate, std::shared_ptr<const Certificate>, CertificateWithItsKey, KeyId,
                 std::unique_ptr<const FileParts>>
        parts_;
  };
  // What the scanner keeps of one file between scans (72 bytes, with its name 104).
  struct CachedFile {
    FileStamp stamp;
    CompactFileParts parts;
  };
  struct CachedChain {
    std::shared_ptr<const Certificate> certificate;
    ChainStatus status = ChainStatus::kIncomplete;
    std::shared_ptr<const std::vector<std::string>> issuers;
  };

  Result<std::optional<Inventory>> Scan(bool only_if_changed);

  std::string dir_;
  ScanOptions options_;
  bool scanned_ = false;                                   // a scan has filled cache_
  std::vector<std::pair<std::string, CachedFile>> cache_;  // by file name, sorted
  std::vector<CachedChain> chain_cache_;                   // sorted by thumbprint
  std::string chain_cache_ca_set_;  // the CA certificates chain_cache_ was computed with
};

}  // namespace transportcertd
