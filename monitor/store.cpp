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
#include <mutex>
#include <optional>
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
                                    const std::string& leaf_der, StoredCertificate& stored) {
  std::vector<std::string> issuers;
  if (stored.cert().self_signed) {
    stored.chain = ChainStatus::kSelfSigned;
    return issuers;
  }
  stored.chain = ChainStatus::kIncomplete;
  X509Ptr leaf = X509FromDer(leaf_der);
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

// The DER of the certificates parsed during one scan, for their chain checks, in one buffer so
// that freeing it leaves no holes between what the inventory keeps.
class ParsedDers {
  using Entry = std::tuple<const Certificate*, std::size_t, std::size_t>;  // DER offset, size

 public:
  explicit ParsedDers(std::uint64_t capacity) { bytes_.reserve(capacity); }
  void Add(const Certificate* cert, const std::string& der) {
    at_.push_back({cert, bytes_.size(), der.size()});
    bytes_ += der;
  }
  // After the last Add, before Find.
  void Sort() { std::sort(at_.begin(), at_.end()); }
  // The DER of `cert` if it was parsed during this scan.
  std::optional<std::string> Find(const Certificate* cert) const {
    const auto it = std::lower_bound(at_.begin(), at_.end(), Entry{cert, 0, 0});
    if (it == at_.end() || std::get<0>(*it) != cert) return std::nullopt;
    return bytes_.substr(std::get<1>(*it), std::get<2>(*it));
  }

 private:
  std::string bytes_;
  std::vector<Entry> at_;
};

}  // namespace

Result<std::string> ReadCertificateDer(const std::string& dir, const StoredCertificate& stored) {
  for (const std::string& name : stored.file_names) {
    auto contents = ReadStoreFile(StorePath(dir, name), ScanOptions{}.max_file_size);
    if (!contents) continue;
    auto parsed = ParseStoreFile(*contents);
    if (!parsed) continue;
    for (std::size_t i = 0; i < parsed->certificates.size(); ++i) {
      if (parsed->certificates[i].thumbprint() == stored.cert().thumbprint()) {
        return std::move(parsed.value().certificate_ders[i]);
      }
    }
  }
  const std::string where =
      stored.file_names.empty() ? "the store" : StorePath(dir, stored.file_names.front());
  return Error{std::string(stored.cert().thumbprint()) + " is no longer in " + where +
                   " (the store changed since it was scanned)",
               ErrorCode::kStore};
}

bool IsStoreFileName(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  static const std::set<std::string> kExtensions = {".pem", ".crt", ".cer", ".key", ".der"};
  return kExtensions.contains(Lowercase(name.substr(dot)));
}

std::string StorePath(std::string_view dir, std::string_view name) {
  std::string path;
  path.reserve(dir.size() + 1 + name.size());
  return path.append(dir).append(1, '/').append(name);
}

std::string Inventory::Path(std::string_view name) const { return StorePath(dir, name); }

const StoredCertificate* Inventory::Find(std::string_view thumbprint) const {
  const auto it = std::lower_bound(
      certificates.begin(), certificates.end(), thumbprint,
      [](const StoredCertificate& c, std::string_view t) { return c.cert().thumbprint() < t; });
  return it != certificates.end() && it->cert().thumbprint() == thumbprint ? &*it : nullptr;
}

StoreScanner::CompactFileParts::CompactFileParts(FileParts parts) {
  static_assert(sizeof(CompactFileParts) <= 40 && sizeof(CachedFile) <= 72, "see store.h");
  const bool nothing_else = parts.problems.empty();
  const bool one_certificate = nothing_else && parts.certificates.size() == 1;
  if (one_certificate && parts.key_ids.empty()) {
    parts_ = std::move(parts.certificates.front());
  } else if (one_certificate && parts.key_ids.size() == 1 &&
             parts.key_ids.front() == parts.certificates.front()->public_key_id) {
    parts_ = CertificateWithItsKey{std::move(parts.certificates.front())};
  } else if (nothing_else && parts.certificates.empty() && parts.key_ids.size() == 1) {
    parts_ = parts.key_ids.front();
  } else if (!nothing_else || !parts.certificates.empty() || !parts.key_ids.empty()) {
    parts.certificates.shrink_to_fit();  // kept until the file changes: no spare capacity
    parts.key_ids.shrink_to_fit();
    parts.problems.shrink_to_fit();
    parts_ = std::make_unique<const FileParts>(std::move(parts));
  }
}

std::span<const std::shared_ptr<const Certificate>> StoreScanner::CompactFileParts::certificates()
    const {
  if (const auto* one = std::get_if<std::shared_ptr<const Certificate>>(&parts_)) {
    return {one, 1};
  }
  if (const auto* pair = std::get_if<CertificateWithItsKey>(&parts_)) {
    return {&pair->certificate, 1};
  }
  if (const auto* all = std::get_if<std::unique_ptr<const FileParts>>(&parts_)) {
    return (*all)->certificates;
  }
  return {};
}

std::span<const KeyId> StoreScanner::CompactFileParts::key_ids() const {
  if (const auto* one = std::get_if<KeyId>(&parts_)) return {one, 1};
  if (const auto* pair = std::get_if<CertificateWithItsKey>(&parts_)) {
    return {&pair->certificate->public_key_id, 1};
  }
  if (const auto* all = std::get_if<std::unique_ptr<const FileParts>>(&parts_)) {
    return (*all)->key_ids;
  }
  return {};
}

std::span<const std::string> StoreScanner::CompactFileParts::problems() const {
  if (const auto* all = std::get_if<std::unique_ptr<const FileParts>>(&parts_)) {
    return (*all)->problems;
  }
  return {};
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
  // The library contexts of the threads below: declared before every OpenSSL object of the
  // scan (the trust store, the intermediates), which may refer to them, so freed after them.
  WorkerLibCtxs lib_ctxs;

  // Parse what changed since the last scan (on every core when there is much of it, as on a
  // cold start); forget files that are gone. Files are looked at relative to the open
  // directory.
  const int dir_fd = dirfd(dir.get());
  auto gone_now = [dir_fd](const std::string& name) {
    struct stat st {};
    return fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
  };
  std::vector<std::pair<std::string, CachedFile>> cache;
  cache.reserve(names.size());
  std::vector<std::size_t> to_read;  // positions in `cache` of the files to read again
  std::uint64_t bytes_to_read = 0;
  auto old = cache_.begin();
  for (auto& name : names) {
    struct stat st {};
    FileStamp stamp;
    if (fstatat(dir_fd, name.c_str(), &st, 0) == 0) {
      stamp = {static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size),
               st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
               st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec};
    } else if (gone_now(name)) {
      continue;  // removed since the listing: nothing to report
    }
    while (old != cache_.end() && old->first < name) ++old;
    if (old != cache_.end() && old->first == name && old->second.stamp == stamp &&
        stamp.inode != 0) {
      cache.push_back(std::move(*old));
      continue;
    }
    to_read.push_back(cache.size());
    bytes_to_read += std::min(stamp.size, options_.max_file_size);
    cache.emplace_back(std::move(name), CachedFile{stamp, {}});
  }
  dir.reset();
  // Nothing added (every file was in the cache), changed or removed (every cached file was
  // found again): the inventory would be the last one again.
  const bool unchanged = scanned_ && to_read.empty() && cache.size() == cache_.size();
  std::vector<std::string> paths;
  paths.reserve(to_read.size());
  for (const std::size_t i : to_read) paths.push_back(StorePath(dir_, cache[i].first));
  // Each file is turned into what the cache keeps of it by the thread that parsed it, at once:
  // what the parse made only for the scan (the certificates in the parse's own vector, each
  // DER) is then freed before that thread's next file, whose parse uses the same space again.
  // Kept until every file is parsed, it would lie between what the inventory keeps, where the
  // allocator can give none of it back (about 0.5 KB per certificate).
  ParsedDers parsed_ders(bytes_to_read);
  std::mutex parsed_ders_mutex;
  struct Parsed {
    bool gone = false;
    bool read_ok = false;
    CompactFileParts parts;
  };
  std::vector<Parsed> parses(to_read.size());
  ReadAndParseStoreFiles(
      paths, options_.max_file_size, ThreadsFor(paths.size(), options_.threads), &lib_ctxs,
      [&](std::size_t n, FileParse read) {
        Parsed& out = parses[n];
        out.gone = read.gone;
        out.read_ok = read.read_ok;
        if (out.gone) return;  // nothing to report
        FileParts parts;
        if (!read.parsed) {
          parts.problems.push_back(read.parsed.error().message);
          out.parts = CompactFileParts(std::move(parts));
          return;
        }
        ParsedFile& parse = read.parsed.value();
        for (std::size_t c = 0; c < parse.certificates.size(); ++c) {
          auto cert = std::make_shared<const Certificate>(std::move(parse.certificates[c]));
          {
            const std::lock_guard lock(parsed_ders_mutex);
            parsed_ders.Add(cert.get(), parse.certificate_ders[c]);
          }
          parts.certificates.push_back(std::move(cert));
        }
        for (const auto& key : parse.keys) parts.key_ids.push_back(key.public_key_id);
        parts.problems = std::move(parse.skipped);
        read = {};  // its DER is in parsed_ders now
        out.parts = CompactFileParts(std::move(parts));
      });
  std::vector<std::ptrdiff_t> gone;
  for (std::size_t n = 0; n < to_read.size(); ++n) {
    const std::size_t i = to_read[n];
    CachedFile& file = cache[i].second;
    if (parses[n].gone) {
      gone.push_back(static_cast<std::ptrdiff_t>(i));
      continue;
    }
    if (!parses[n].read_ok) file.stamp = {};  // unreadable files are retried on every scan
    file.parts = std::move(parses[n].parts);
  }
  parses.clear();
  parsed_ders.Sort();
  for (auto i = gone.rbegin(); i != gone.rend(); ++i) cache.erase(cache.begin() + *i);
  cache_ = std::move(cache);
  scanned_ = true;
  if (only_if_changed && unchanged) return std::optional<Inventory>();

  // The inventory is built in vectors, sorted once, rather than in maps: what a scan frees
  // must not leave small holes between what the inventory keeps.
  Inventory inventory;
  inventory.dir = dir_;
  std::vector<StoredCertificate>& certificates = inventory.certificates;
  std::vector<std::pair<KeyId, std::string>>& keys = inventory.keys;
  std::size_t cert_count = 0, key_count = 0;
  for (const auto& [name, file] : cache_) {
    cert_count += file.parts.certificates().size();
    key_count += file.parts.key_ids().size();
  }
  certificates.reserve(cert_count);
  keys.reserve(key_count);
  for (const auto& [name, file] : cache_) {
    for (const auto& why : file.parts.problems()) {
      inventory.problems.push_back({inventory.Path(name), why});
    }
    for (const auto& cert : file.parts.certificates()) {
      certificates.emplace_back().certificate = cert;
      certificates.back().file_names.push_back(name);
    }
    for (const auto& key_id : file.parts.key_ids()) keys.emplace_back(key_id, name);
  }
  // By thumbprint; a certificate in several files is one entry listing them all, in file order.
  std::stable_sort(certificates.begin(), certificates.end(),
                   [](const StoredCertificate& a, const StoredCertificate& b) {
                     return a.cert().thumbprint() < b.cert().thumbprint();
                   });
  std::size_t kept = 0;  // entries certificates[0, kept) are merged
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    StoredCertificate& entry = certificates[i];
    if (kept > 0 && certificates[kept - 1].cert().thumbprint() == entry.cert().thumbprint()) {
      certificates[kept - 1].file_names.push_back(std::move(entry.file_names.front()));
      continue;
    }
    if (i != kept) certificates[kept] = std::move(entry);
    ++kept;
  }
  certificates.resize(kept);
  // Kept until the next scan: no room for the copies merged (a chain's intermediate, say, is
  // in every chain file).
  certificates.shrink_to_fit();
  std::sort(keys.begin(), keys.end());  // a key's first file is its first entry

  // Chain checks are the costly part of a rescan; their results hold as long as the store's
  // CA certificates stay the same, so only new certificates are checked.
  std::string ca_set;
  for (const auto& stored : certificates) {
    if (stored.cert().is_ca) ca_set += stored.cert().thumbprint();
  }
  if (ca_set != chain_cache_ca_set_) {
    chain_cache_.clear();
    chain_cache_ca_set_ = ca_set;
  }
  auto cached_chain = [&](std::string_view thumbprint) -> const CachedChain* {
    const auto it = std::lower_bound(
        chain_cache_.begin(), chain_cache_.end(), thumbprint,
        [](const CachedChain& c, std::string_view t) { return c.certificate->thumbprint() < t; });
    return it != chain_cache_.end() && it->certificate->thumbprint() == thumbprint ? &*it : nullptr;
  };
  // The DER of a certificate to check: parsed during this scan, or read back from the store.
  auto der_of = [&](const StoredCertificate& stored) -> std::optional<std::string> {
    if (auto der = parsed_ders.Find(stored.certificate.get())) return der;
    if (auto der = ReadCertificateDer(dir_, stored)) return std::move(der).value();
    return std::nullopt;
  };
  // The trust store and the store's CA certificates as intermediates, built only when some
  // CA-issued certificate has no cached chain: loading the system's CA bundle costs tens of
  // milliseconds, and a self-signed certificate (a generated one, say) needs neither.
  X509StorePtr trust;
  X509StackPtr intermediates;
  const bool checks_needed =
      std::any_of(certificates.begin(), certificates.end(), [&](const StoredCertificate& stored) {
        return !stored.cert().self_signed && cached_chain(stored.cert().thumbprint()) == nullptr;
      });
  if (checks_needed) {
    trust = MakeTrustStore(options_);
    intermediates.reset(sk_X509_new_null());
    for (const auto& ca : certificates) {
      if (!ca.cert().is_ca) continue;
      const auto der = der_of(ca);
      if (X509Ptr x509 = der ? X509FromDer(*der) : nullptr) {
        sk_X509_push(intermediates.get(), x509.release());
      }
    }
  }
  // The chain checks of certificates new since the last scan (every one on a cold start) run
  // on every core; the loop below takes their results in order.
  struct ChainCheck {
    bool der_found = false;  // false: the file changed since it was parsed
    std::vector<std::string> issuers;
  };
  std::vector<StoredCertificate*> unchecked;
  for (StoredCertificate& stored : certificates) {
    if (cached_chain(stored.cert().thumbprint()) == nullptr) unchecked.push_back(&stored);
  }
  std::vector<ChainCheck> checks(unchecked.size());
  const auto check_one = [&](std::size_t i) {
    StoredCertificate& stored = *unchecked[i];
    const auto der = stored.cert().self_signed ? std::string() : der_of(stored);
    if (!der) return;
    checks[i].der_found = true;
    checks[i].issuers = CheckChain(trust.get(), intermediates.get(), *der, stored);
  };
  ParallelFor(unchecked.size(), ThreadsFor(unchecked.size(), options_.threads), check_one,
              &lib_ctxs);
  std::size_t next_check = 0;
  std::vector<CachedChain> chains;
  chains.reserve(certificates.size());
  // One copy of each distinct chain: most leaves share their issuers with many others.
  std::map<std::vector<std::string>, std::shared_ptr<const std::vector<std::string>>> interned;
  std::vector<bool> paired(keys.size());
  for (StoredCertificate& stored : certificates) {
    const KeyId& key_id = stored.cert().public_key_id;
    auto key = std::lower_bound(keys.begin(), keys.end(), key_id,
                                [](const auto& k, const KeyId& id) { return k.first < id; });
    if (key != keys.end() && key->first == key_id) stored.key_file_name = key->second;
    for (; key != keys.end() && key->first == key_id; ++key) {
      paired[static_cast<std::size_t>(key - keys.begin())] = true;
    }
    if (const CachedChain* cached = cached_chain(stored.cert().thumbprint())) {
      stored.chain = cached->status;
      stored.issuers = cached->issuers;
      chains.push_back({stored.certificate, stored.chain, stored.issuers});
    } else if (ChainCheck& check = checks[next_check++]; check.der_found) {
      std::vector<std::string> issuers = std::move(check.issuers);
      if (!issuers.empty()) {
        auto& shared = interned[issuers];
        if (!shared) shared = std::make_shared<const std::vector<std::string>>(std::move(issuers));
        stored.issuers = shared;
      }
      chains.push_back({stored.certificate, stored.chain, stored.issuers});
    } else {
      // Changed since it was parsed: incomplete for now, checked again by the next scan.
      stored.chain = ChainStatus::kIncomplete;
    }
  }
  chain_cache_ = std::move(chains);
  // A key that belongs to no certificate is unusable wherever it is, also next to a
  // certificate it does not match.
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!paired[i]) {
      inventory.problems.push_back(
          {inventory.Path(keys[i].second), "private key that matches no certificate in the store"});
    }
  }
  std::sort(inventory.problems.begin(), inventory.problems.end(),
            [](const StoreProblem& a, const StoreProblem& b) {
              return std::tie(a.file, a.reason) < std::tie(b.file, b.reason);
            });
  inventory.problems.erase(std::unique(inventory.problems.begin(), inventory.problems.end()),
                           inventory.problems.end());
  inventory.problems.shrink_to_fit();
  return std::optional<Inventory>(std::move(inventory));
}

}  // namespace transportcertd
