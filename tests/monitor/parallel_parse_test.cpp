// The store scan on several threads: it must give exactly the inventory and problems of a scan
// on one thread, over real files (generated chains and keys, odd files, and every file of the
// third-party corpus), on a cold scan and on a rescan after changes.
#include "monitor/parallel_parse.h"

#include <gtest/gtest.h>
#include <openssl/provider.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "monitor/store.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

namespace fs = std::filesystem;
using testing::CertSpec;
using testing::MakeCa;
using testing::MakeCertificate;
using testing::TestCert;

const std::string kCorpus = std::string(TRANSPORTCERTD_SHARED_DIR) + "/corpus/certs";

TEST(ThreadsFor, KeepsAHandfulOfFilesOnTheCallingThread) {
  EXPECT_EQ(ThreadsFor(0, 0), 1u);
  EXPECT_EQ(ThreadsFor(1, 0), 1u);
  EXPECT_EQ(ThreadsFor(kMinItemsPerThread * 2 - 1, 0), 1u);
}

TEST(ThreadsFor, UsesAtMostOneThreadPerCpuAndPerItem) {
  const unsigned many = ThreadsFor(100000, 0);
  EXPECT_GE(many, 1u);
  EXPECT_LE(many, std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(ThreadsFor(100, 3), 3u);  // as requested
  EXPECT_EQ(ThreadsFor(2, 8), 2u);    // never more than the items
}

TEST(ParallelFor, CallsEveryIndexOnceAcrossTheThreads) {
  constexpr std::size_t kCount = 1000;
  std::vector<std::atomic<int>> calls(kCount);
  std::mutex mutex;
  std::condition_variable changed;
  std::set<std::thread::id> threads;
  bool other_thread_worked = false;
  ParallelFor(kCount, 2, [&](std::size_t i) {
    calls[i].fetch_add(1);
    std::unique_lock lock(mutex);
    threads.insert(std::this_thread::get_id());
    changed.notify_all();
    if (i == 0) {
      // Hold the first index until another thread has done one: proves two threads worked.
      other_thread_worked =
          changed.wait_for(lock, std::chrono::seconds(60), [&] { return threads.size() > 1; });
    }
  });
  for (std::size_t i = 0; i < kCount; ++i) EXPECT_EQ(calls[i].load(), 1) << "index " << i;
  EXPECT_TRUE(other_thread_worked);
  EXPECT_EQ(threads.size(), 2u);
}

TEST(ParallelFor, RunsOnTheCallerAloneForOneThread) {
  std::set<std::thread::id> threads;
  ParallelFor(50, 1, [&](std::size_t) { threads.insert(std::this_thread::get_id()); });
  EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()});
}

// The library context a thread works in by default (OpenSSL has no getter for it in 3.0).
OSSL_LIB_CTX* CurrentLibCtx() {
  OSSL_LIB_CTX* current = OSSL_LIB_CTX_set0_default(nullptr);
  OSSL_LIB_CTX_set0_default(current);
  return current;
}

TEST(ParallelFor, RunsTheThreadsItStartsInLibraryContextsOfTheirOwn) {
  const OSSL_LIB_CTX* const callers = CurrentLibCtx();
  WorkerLibCtxs lib_ctxs;
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::thread::id, std::set<const OSSL_LIB_CTX*>> seen;
  ParallelFor(
      200, 2,
      [&](std::size_t i) {
        std::unique_lock lock(mutex);
        seen[std::this_thread::get_id()].insert(CurrentLibCtx());
        changed.notify_all();
        // Hold the first index until the other thread has done one, so that both work.
        if (i == 0) {
          changed.wait_for(lock, std::chrono::seconds(60), [&] { return seen.size() > 1; });
        }
      },
      &lib_ctxs);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[std::this_thread::get_id()], std::set<const OSSL_LIB_CTX*>{callers});
  seen.erase(std::this_thread::get_id());
  EXPECT_EQ(seen.begin()->second, std::set<const OSSL_LIB_CTX*>{lib_ctxs.Get(0)});
  EXPECT_NE(lib_ctxs.Get(0), callers);
  EXPECT_EQ(CurrentLibCtx(), callers);
}

TEST(WorkerLibCtxs, LoadTheConfigurationTheProcessDefaultLoads) {
  // A configuration that activates the legacy provider beside the default one: a worker's
  // context must have it too, or a file could be judged differently on another thread.
  testing::TempDir dir;
  const std::string config =
      dir.Write("openssl.cnf",
                "openssl_conf = init\n"
                "[init]\nproviders = providers\n"
                "[providers]\ndefault = default_sect\nlegacy = legacy_sect\n"
                "[default_sect]\nactivate = 1\n[legacy_sect]\nactivate = 1\n");
  const char* const before = std::getenv("OPENSSL_CONF");
  const std::string saved = before != nullptr ? before : "";
  setenv("OPENSSL_CONF", config.c_str(), 1);
  WorkerLibCtxs lib_ctxs;
  OSSL_LIB_CTX* const ctx = lib_ctxs.Get(0);
  if (before != nullptr) {
    setenv("OPENSSL_CONF", saved.c_str(), 1);
  } else {
    unsetenv("OPENSSL_CONF");
  }
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(OSSL_PROVIDER_available(ctx, "legacy"), 1);
  EXPECT_EQ(OSSL_PROVIDER_available(ctx, "default"), 1);
}

TEST(ReadAndParseStoreFiles, KeepsTheOrderOfThePathsAndTellsAVanishedFile) {
  testing::TempDir dir;
  std::vector<std::string> paths;
  std::vector<std::string> thumbprints;
  for (int i = 0; i < 40; ++i) {
    CertSpec spec;
    spec.cn = "host" + std::to_string(i) + ".example.com";
    spec.dns_names = {spec.cn};
    const TestCert made = MakeCertificate(spec);
    paths.push_back(dir.Write("c" + std::to_string(i) + ".pem", made.cert_pem));
    thumbprints.push_back(made.thumbprint);
  }
  paths.push_back(dir / "never-there.pem");
  std::vector<FileParse> parses(paths.size());
  ReadAndParseStoreFiles(
      paths, std::uint64_t{1024} * 1024, 4, nullptr,
      [&parses](std::size_t i, FileParse parse) { parses[i] = std::move(parse); });
  ASSERT_EQ(parses.size(), paths.size());
  for (std::size_t i = 0; i < thumbprints.size(); ++i) {
    ASSERT_TRUE(parses[i].read_ok);
    ASSERT_TRUE(parses[i].parsed.ok());
    ASSERT_EQ(parses[i].parsed->certificates.size(), 1u);
    EXPECT_EQ(parses[i].parsed->certificates[0].thumbprint(), thumbprints[i]);
  }
  EXPECT_TRUE(parses.back().gone);
  EXPECT_FALSE(parses.back().read_ok);
}

// The scanner keeps only part of each parse, and keeps memory compact by taking it before the
// next file is read (see parallel_parse.h): each parse must be handed over as soon as it is
// made, not once every file is parsed. On one thread, a file removed while the parse before it
// is taken is then gone when its turn comes.
TEST(ReadAndParseStoreFiles, HandsEachParseOverBeforeTheNextFileIsRead) {
  testing::TempDir dir;
  std::vector<std::string> paths;
  for (int i = 0; i < 3; ++i) {
    CertSpec spec;
    spec.cn = "host" + std::to_string(i) + ".example.com";
    paths.push_back(dir.Write("c" + std::to_string(i) + ".pem", MakeCertificate(spec).cert_pem));
  }
  std::vector<int> taken(paths.size(), 0);
  std::vector<bool> gone(paths.size(), false);
  ReadAndParseStoreFiles(paths, std::uint64_t{1024} * 1024, 1, nullptr,
                         [&](std::size_t i, const FileParse& parse) {
                           ++taken[i];
                           gone[i] = parse.gone;
                           if (i == 0) fs::remove(paths[1]);
                         });
  EXPECT_EQ(taken, std::vector<int>({1, 1, 1}));
  EXPECT_EQ(gone, std::vector<bool>({false, true, false}));
}

// Everything of an inventory that a user can see, one line per certificate, problem and key,
// so that a difference shows as the lines that differ.
using Seen = std::vector<std::string>;

Seen Describe(const Inventory& inventory) {
  Seen seen;
  for (const auto& c : inventory.certificates) {
    std::string line = "certificate " + std::string(c.cert().thumbprint()) + " chain " +
                       std::to_string(static_cast<int>(c.chain)) + " key " + c.key_file_name +
                       " files";
    for (const auto& name : c.file_names) line += " " + name;
    line += " issuers";
    for (const auto& der : c.ChainDer()) {
      line += " " + std::to_string(std::hash<std::string>{}(der));
    }
    seen.push_back(line);
  }
  for (const auto& p : inventory.problems) seen.push_back("problem " + p.file + ": " + p.reason);
  for (const auto& [id, file] : inventory.keys) seen.push_back("key " + HexUpper(id) + " " + file);
  return seen;
}

class AParallelScan : public ::testing::Test {
 protected:
  static ScanOptions Options(unsigned threads, const std::string& trust_file) {
    ScanOptions options;
    options.trust_file = trust_file;
    options.threads = threads;
    return options;
  }
  Inventory ScanWith(StoreScanner& scanner) {
    auto inventory = scanner.Scan();
    EXPECT_TRUE(inventory.ok()) << inventory.error().message;
    return inventory.ok() ? std::move(inventory).value() : Inventory{};
  }

  testing::TempDir store_;
  testing::TempDir trust_;
};

TEST_F(AParallelScan, GivesTheInventoryAndProblemsOfASequentialOne) {
  // The third-party corpus: real, odd and malformed certificates, each under a store name.
  std::size_t corpus_files = 0;
  for (const auto& entry : fs::directory_iterator(kCorpus)) {
    const std::string name = entry.path().filename();
    if (name == "MANIFEST.tsv" || !entry.is_regular_file()) continue;
    fs::copy_file(entry.path(), store_ / ("corpus-" + name + ".pem"));
    ++corpus_files;
  }
  ASSERT_GT(corpus_files, 150u) << "corpus not found under " << kCorpus;

  // Chains through an intermediate in the store to a trusted root, keys in their own files,
  // self-signed leaves with their key in the same file, RSA and EC.
  const TestCert root = MakeCa("Parallel Root");
  const TestCert intermediate = MakeCa("Parallel Intermediate", &root);
  trust_.Write("roots.pem", root.cert_pem);
  store_.Write("intermediate.crt", intermediate.cert_pem);
  for (int i = 0; i < 60; ++i) {
    CertSpec spec;
    spec.cn = "leaf" + std::to_string(i) + ".example.com";
    spec.dns_names = {spec.cn};
    if (i % 3 != 0) spec.issuer = &intermediate;
    if (i % 30 == 0) spec.key = "rsa:2048";
    const TestCert made = MakeCertificate(spec);
    if (i % 3 == 0) {
      store_.Write("self-" + std::to_string(i) + ".pem", made.cert_pem + made.key_pem, 0600);
    } else {
      store_.Write("leaf-" + std::to_string(i) + ".crt", made.cert_pem);
      store_.Write("leaf-" + std::to_string(i) + ".key", made.key_pem, 0600);
    }
    if (i == 7) store_.Write("copy-of-7.der", made.der);  // one certificate in two files
  }
  // Odd files: a key without a certificate, truncated PEM, a directory, a FIFO, a symbolic
  // link loop, a dangling link, an oversized and an empty file.
  store_.Write("orphan.key", MakeCertificate(CertSpec{}).key_pem, 0600);
  store_.Write("truncated.pem", MakeCertificate(CertSpec{}).cert_pem.substr(0, 300));
  fs::create_directory(store_ / "directory.pem");
  ASSERT_EQ(mkfifo((store_ / "pipe.pem").c_str(), 0600), 0);
  fs::create_symlink("loop2.pem", store_ / "loop1.pem");
  fs::create_symlink("loop1.pem", store_ / "loop2.pem");
  fs::create_symlink("missing.pem", store_ / "dangling.pem");
  store_.Write("huge.pem", std::string(std::size_t{2} * 1024 * 1024, 'A'));
  store_.Write("empty.pem", "");

  StoreScanner sequential(store_.path(), Options(1, trust_ / "roots.pem"));
  StoreScanner parallel(store_.path(), Options(4, trust_ / "roots.pem"));
  const Seen expected = Describe(ScanWith(sequential));
  // The store must be what the comparison is about: chains verified, keys paired, problems.
  std::size_t verified = 0, with_key = 0, problems = 0;
  for (const auto& line : expected) {
    verified += line.find(" chain " + std::to_string(static_cast<int>(ChainStatus::kVerified)) +
                          " ") != std::string::npos;
    with_key += line.starts_with("certificate ") && line.find(" key  files") == std::string::npos;
    problems += line.starts_with("problem ");
  }
  EXPECT_EQ(verified, 41u);  // the 40 CA-issued leaves and the intermediate
  EXPECT_GE(with_key, 60u);
  EXPECT_GT(problems, 20u);
  EXPECT_GT(expected.size(), 200u);
  EXPECT_EQ(Describe(ScanWith(parallel)), expected);
  // Automatic: as many threads as CPUs.
  StoreScanner automatic(store_.path(), Options(0, trust_ / "roots.pem"));
  EXPECT_EQ(Describe(ScanWith(automatic)), expected);

  // A rescan after changes: a new leaf, a replaced file, a removed one.
  CertSpec spec;
  spec.cn = "later.example.com";
  spec.dns_names = {spec.cn};
  spec.issuer = &intermediate;
  const TestCert later = MakeCertificate(spec);
  store_.Write("later.pem", later.cert_pem + later.key_pem, 0600);
  store_.Write(".incoming", MakeCertificate(CertSpec{}).cert_pem);
  ASSERT_EQ(std::rename((store_ / ".incoming").c_str(), (store_ / "leaf-1.crt").c_str()), 0);
  fs::remove(store_ / "leaf-2.crt");
  const Seen rescanned = Describe(ScanWith(sequential));
  EXPECT_NE(rescanned, expected);
  EXPECT_EQ(Describe(ScanWith(parallel)), rescanned);
  StoreScanner fresh(store_.path(), Options(4, trust_ / "roots.pem"));
  EXPECT_EQ(Describe(ScanWith(fresh)), rescanned);
}

}  // namespace
}  // namespace transportcertd
