#include "monitor/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <tuple>

#include "monitor/parallel_parse.h"

namespace transportcertd {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;
using X509StackPtr =
    std::unique_ptr<STACK_OF(X509),
                    decltype([](STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); })>;

std::string Lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string HumanSize(std::uint64_t bytes) {
  constexpr std::uint64_t kMiB = std::uint64_t{1024} * 1024;
  if (bytes >= kMiB) return std::to_string(bytes / kMiB) + " MiB";
  if (bytes >= 1024) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

Result<std::string> ReadStoreFile(const std::string& path, std::uint64_t max_size) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ELOOP) return Error{"symbolic link loop"};
    if (errno == ENOENT) return Error{"symbolic link to a missing file"};  // or just removed
    if (errno == EACCES) return Error{"not readable by the daemon (permission denied)"};
    return Error{std::string("cannot open: ") + std::strerror(errno)};
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) return Error{std::string("cannot stat: ") + std::strerror(errno)};
  if (S_ISDIR(st.st_mode)) return Error{"a directory, not a file"};
  if (!S_ISREG(st.st_mode)) return Error{"not a regular file"};
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_size) {
    return Error{"too large (" + HumanSize(size) + "; certificate files are at most " +
                 HumanSize(max_size) + ")"};
  }
  std::string data(size, '\0');
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = read(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{std::string("read failed: ") + std::strerror(errno)};
    if (n == 0) break;  // shrank while reading; parse what is there
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

namespace {

X509StorePtr MakeTrustStore(const ScanOptions& options) {
  X509StorePtr store(X509_STORE_new());
  if (!store) return store;
  if (options.trust_file.empty() && options.trust_dir.empty()) {
    // The system's CA file and hashed CA directory, as X509_STORE_set_default_paths adds them,
    // but not the OSSL_STORE lookup that OpenSSL 3 adds too: that one lists the whole CA
    // directory on every issuer search (for every leaf whose chain ends outside the trust
    // store), to find the same hashed files the directory lookup opens by name.
    X509_LOOKUP* file = X509_STORE_add_lookup(store.get(), X509_LOOKUP_file());
    if (file != nullptr) X509_LOOKUP_load_file(file, nullptr, X509_FILETYPE_DEFAULT);
    X509_LOOKUP* dir = X509_STORE_add_lookup(store.get(), X509_LOOKUP_hash_dir());
    if (dir != nullptr) X509_LOOKUP_add_dir(dir, nullptr, X509_FILETYPE_DEFAULT);
  } else {
    X509_STORE_load_locations(store.get(),
                              options.trust_file.empty() ? nullptr : options.trust_file.c_str(),
                              options.trust_dir.empty() ? nullptr : options.trust_dir.c_str());
  }
  for (const auto& der : options.extra_anchors) {
    if (X509Ptr anchor = X509FromDer(der)) X509_STORE_add_cert(store.get(), anchor.get());
  }
  ERR_clear_error();
  return store;
}

// Works out whether `cert` chains to the trust store, using the store's CA certificates as
// intermediates, and returns the issuers to publish after it. Time is not checked here:
// validity is a selection rule of its own.
std::vector<std::string> CheckChain(X509_STORE* trust, STACK_OF(X509) * intermediates,
                                    StoredCertificate& stored) {
  std::vector<std::string> issuers;
  if (stored.cert().self_signed) {
    stored.chain = ChainStatus::kSelfSigned;
    return issuers;
  }
  stored.chain = ChainStatus::kIncomplete;
  X509Ptr leaf = X509FromDer(stored.cert().der);
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!leaf || !ctx || trust == nullptr ||
      X509_STORE_CTX_init(ctx.get(), trust, leaf.get(), intermediates) != 1) {
    ERR_clear_error();
    return issuers;
  }
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
  if (X509_verify_cert(ctx.get()) == 1) stored.chain = ChainStatus::kVerified;
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
  for (int i = 1; chain != nullptr && i < sk_X509_num(chain); ++i) {
    X509* issuer = sk_X509_value(chain, i);
    if (X509_self_signed(issuer, 0) == 1) break;  // trust anchors are not sent
    unsigned char* der = nullptr;
    const int len = i2d_X509(issuer, &der);
    if (len <= 0) break;
    issuers.emplace_back(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
  }
  ERR_clear_error();
  return issuers;
}

}  // namespace

bool IsStoreFileName(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  static const std::set<std::string> kExtensions = {".pem", ".crt", ".cer", ".key", ".der"};
  return kExtensions.contains(Lowercase(name.substr(dot)));
}

const StoredCertificate* Inventory::Find(const std::string& thumbprint) const {
  const auto it = std::lower_bound(
      certificates.begin(), certificates.end(), thumbprint,
      [](const StoredCertificate& c, const std::string& t) { return c.cert().thumbprint < t; });
  return it != certificates.end() && it->cert().thumbprint == thumbprint ? &*it : nullptr;
}

StoreScanner::StoreScanner(std::string dir, ScanOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

Result<Inventory> StoreScanner::Scan() {
  auto inventory = Scan(false);
  if (!inventory) return inventory.error();
  return std::move(inventory.value().value());
}

Result<std::optional<Inventory>> StoreScanner::ScanIfChanged() { return Scan(true); }

Result<std::optional<Inventory>> StoreScanner::Scan(bool only_if_changed) {
  DirPtr dir(opendir(dir_.c_str()));
  if (!dir) return Error{dir_ + ": cannot read the store directory: " + std::strerror(errno)};
  std::vector<std::string> names;
  while (const dirent* entry = readdir(dir.get())) {
    if (IsStoreFileName(entry->d_name)) names.emplace_back(entry->d_name);
  }
  std::sort(names.begin(), names.end());

  // Parse what changed since the last scan (on every core when there is much of it, as on a
  // cold start); forget files that are gone. Files are looked at relative to the open
  // directory, and unchanged ones keep their cache node: a rescan of an unchanged store
  // allocates nothing here.
  const int dir_fd = dirfd(dir.get());
  auto gone = [dir_fd](const std::string& name) {
    struct stat st {};
    return fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
  };
  std::map<std::string, CachedFile> cache;
  std::vector<std::pair<std::string, FileStamp>> changed;
  std::vector<std::string> changed_paths;
  for (const auto& name : names) {
    struct stat st {};
    FileStamp stamp;
    if (fstatat(dir_fd, name.c_str(), &st, 0) == 0) {
      stamp = {static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size),
               st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
               st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec};
    } else if (gone(name)) {
      continue;  // removed since the listing: nothing to report
    }
    auto old = cache_.find(name);
    if (old != cache_.end() && old->second.stamp == stamp && stamp.inode != 0) {
      cache.insert(cache.end(), cache_.extract(old));  // names are sorted: appended
      continue;
    }
    changed.emplace_back(name, stamp);
    changed_paths.push_back(dir_ + "/" + name);
  }
  dir.reset();
  std::vector<FileParse> parses = ReadAndParseStoreFiles(
      changed_paths, options_.max_file_size, ThreadsFor(changed_paths.size(), options_.threads));
  for (std::size_t i = 0; i < changed.size(); ++i) {
    if (parses[i].gone) continue;
    CachedFile file{changed[i].second, std::move(parses[i].parsed), {}};
    if (!parses[i].read_ok) file.stamp = {};  // unreadable files are retried on every scan
    if (file.parsed) {
      std::vector<Certificate>& parsed = file.parsed.value().certificates;
      for (Certificate& cert : parsed) {
        file.certificates.push_back(std::make_shared<const Certificate>(std::move(cert)));
      }
      parsed = {};
    }
    cache.emplace(changed[i].first, std::move(file));
  }
  // Nothing added (every file was in the cache), changed or removed (nothing left behind in
  // the old cache): the inventory would be the last one again.
  const bool unchanged = scanned_ && changed.empty() && cache_.empty();
  cache_ = std::move(cache);
  scanned_ = true;
  if (only_if_changed && unchanged) return std::optional<Inventory>();

  Inventory inventory;
  std::map<std::string, StoredCertificate> by_thumbprint;
  std::map<std::string, std::string> key_files;  // public key id -> first file holding the key
  std::vector<std::pair<std::string, std::string>> keys;  // (public key id, file), every key
  for (const auto& [name, file] : cache_) {
    const std::string path = dir_ + "/" + name;
    if (!file.parsed) {
      inventory.problems.push_back({path, file.parsed.error().message});
      continue;
    }
    for (const auto& why : file.parsed->skipped) inventory.problems.push_back({path, why});
    for (const auto& cert : file.certificates) {
      auto [it, inserted] = by_thumbprint.try_emplace(cert->thumbprint);
      if (inserted) it->second.certificate = cert;
      it->second.files.push_back(path);
    }
    for (const auto& key : file.parsed->keys) {
      key_files.try_emplace(key.public_key_id, path);
      keys.emplace_back(key.public_key_id, path);
    }
  }

  // Chain checks are the costly part of a rescan; their results hold as long as the store's
  // CA certificates stay the same, so only new certificates are checked.
  std::string ca_set;
  for (const auto& [thumbprint, stored] : by_thumbprint) {
    if (stored.cert().is_ca) ca_set += thumbprint;
  }
  if (ca_set != chain_cache_ca_set_) {
    chain_cache_.clear();
    chain_cache_ca_set_ = ca_set;
  }
  // The trust store and the store's CA certificates as intermediates, built only when some
  // certificate has no cached chain, and before the loop below moves certificates out.
  X509StorePtr trust;
  X509StackPtr intermediates;
  const bool checks_needed =
      std::any_of(by_thumbprint.begin(), by_thumbprint.end(),
                  [&](const auto& entry) { return !chain_cache_.contains(entry.first); });
  if (checks_needed) {
    trust = MakeTrustStore(options_);
    intermediates.reset(sk_X509_new_null());
    for (const auto& [ca_thumbprint, ca] : by_thumbprint) {
      if (!ca.cert().is_ca) continue;
      if (X509Ptr x509 = X509FromDer(ca.cert().der)) {
        sk_X509_push(intermediates.get(), x509.release());
      }
    }
  }
  // The chain checks of certificates new since the last scan (every one on a cold start) run
  // on every core; their order below stays that of by_thumbprint.
  std::vector<StoredCertificate*> unchecked;
  for (auto& [thumbprint, stored] : by_thumbprint) {
    if (!chain_cache_.contains(thumbprint)) unchecked.push_back(&stored);
  }
  std::vector<std::vector<std::string>> checked(unchecked.size());
  ParallelFor(unchecked.size(), ThreadsFor(unchecked.size(), options_.threads), [&](std::size_t i) {
    checked[i] = CheckChain(trust.get(), intermediates.get(), *unchecked[i]);
  });
  std::size_t next_checked = 0;
  std::map<std::string, CachedChain> chains;
  // One copy of each distinct chain: most leaves share their issuers with many others.
  std::map<std::vector<std::string>, std::shared_ptr<const std::vector<std::string>>> interned;
  std::set<std::string> paired_keys;
  for (auto& [thumbprint, stored] : by_thumbprint) {
    const auto key = key_files.find(stored.cert().public_key_id);
    if (key != key_files.end()) {
      stored.key_file = key->second;
      paired_keys.insert(key->first);
    }
    if (const auto cached = chain_cache_.find(thumbprint); cached != chain_cache_.end()) {
      stored.chain = cached->second.status;
      stored.issuers = cached->second.issuers;
    } else {
      std::vector<std::string> issuers = std::move(checked[next_checked++]);
      if (!issuers.empty()) {
        auto& shared = interned[issuers];
        if (!shared) shared = std::make_shared<const std::vector<std::string>>(std::move(issuers));
        stored.issuers = shared;
      }
    }
    chains[thumbprint] = {stored.chain, stored.issuers};
    inventory.certificates.push_back(std::move(stored));
  }
  chain_cache_ = std::move(chains);
  // A key that belongs to no certificate is unusable wherever it is, also next to a
  // certificate it does not match.
  for (const auto& [key_id, path] : keys) {
    if (!paired_keys.contains(key_id)) {
      inventory.problems.push_back({path, "private key that matches no certificate in the store"});
    }
  }
  std::sort(keys.begin(), keys.end());
  inventory.keys = std::move(keys);
  std::sort(inventory.problems.begin(), inventory.problems.end(),
            [](const StoreProblem& a, const StoreProblem& b) {
              return std::tie(a.file, a.reason) < std::tie(b.file, b.reason);
            });
  inventory.problems.erase(std::unique(inventory.problems.begin(), inventory.problems.end()),
                           inventory.problems.end());
  return std::optional<Inventory>(std::move(inventory));
}

}  // namespace transportcertd
