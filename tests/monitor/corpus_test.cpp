// Runs the store scanner over every file of the third-party corpus (../shared/corpus/certs):
// real, odd and malformed certificates from x509-limbo, webpki, BoringSSL, Go and OpenSSL.
// Nothing may crash or leak (this test also runs under ASan), and every file must end up either
// inventoried (a certificate or key from it is in the inventory) or reported as a problem with a
// reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "monitor/store.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

namespace fs = std::filesystem;

const std::string kCorpus = std::string(TRANSPORTCERTD_SHARED_DIR) + "/corpus/certs";

struct ManifestRow {
  std::string format;
  bool openssl_accepts = false;
};

std::map<std::string, ManifestRow> ReadManifest() {
  std::map<std::string, ManifestRow> rows;
  std::ifstream in(kCorpus + "/MANIFEST.tsv");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string col; std::getline(ss, col, '\t');) cols.push_back(col);
    if (cols.size() < 9) continue;
    rows[cols[0]] = {cols[2], cols[8] == "ok"};
  }
  return rows;
}

class TheCorpus : public ::testing::Test {
 protected:
  void SetUp() override {
    manifest_ = ReadManifest();
    ASSERT_GT(manifest_.size(), 150u) << "corpus manifest not found under " << kCorpus;
    // The corpus uses upstream names (.bin, .pem, .der, ...); give each a store extension.
    for (const auto& [name, row] : manifest_) {
      const std::string stored = name + ".pem";
      fs::copy_file(kCorpus + "/" + name, store_ / stored);
      stored_name_[stored] = name;
    }
  }

  testing::TempDir store_;
  std::map<std::string, ManifestRow> manifest_;
  std::map<std::string, std::string> stored_name_;  // store file name -> corpus name
};

TEST_F(TheCorpus, IsEitherInventoriedOrReportedFileByFile) {
  StoreScanner scanner(store_.path(), {});
  auto inventory = scanner.Scan();
  ASSERT_TRUE(inventory.ok()) << inventory.error().message;

  std::set<std::string> used, reported;
  for (const auto& stored : inventory->certificates) {
    for (const auto& name : stored.file_names) used.insert(name);
    if (stored.HasPrivateKey()) used.insert(stored.key_file_name);
  }
  for (const auto& problem : inventory->problems) {
    EXPECT_FALSE(problem.reason.empty()) << problem.file;
    EXPECT_EQ(problem.reason.find('\n'), std::string::npos) << "reason must be one line";
    reported.insert(fs::path(problem.file).filename());
  }

  // `openssl x509` prints this fuzz input although its dates are "Bad time value"; a
  // certificate without a readable validity period is rightly a problem for us.
  const std::set<std::string> kUnusableDespiteOpenSsl = {
      "boringssl-fuzz-cert__0f845604775fb8da.bin"};
  int openssl_ok_but_rejected = 0;
  for (const auto& [stored, name] : stored_name_) {
    EXPECT_TRUE(used.contains(stored) || reported.contains(stored))
        << name << " was neither inventoried nor reported";
    if (manifest_[name].openssl_accepts && !used.contains(stored) &&
        !kUnusableDespiteOpenSsl.contains(name)) {
      ++openssl_ok_but_rejected;
      std::cout << "accepted by openssl x509 but unused: " << name << "\n";
    }
  }
  std::cout << "corpus: " << stored_name_.size() << " files, " << used.size()
            << " contributed certificates or keys, " << reported.size() << " reported (some both); "
            << inventory->certificates.size() << " distinct certificates; "
            << openssl_ok_but_rejected << " accepted by `openssl x509` but unused\n";
  // Everything `openssl x509` reads is a certificate we can describe too.
  EXPECT_EQ(openssl_ok_but_rejected, 0);
}

TEST_F(TheCorpus, ReportsTheKnownNonCertificatesWithTheirNature) {
  StoreScanner scanner(store_.path(), {});
  auto inventory = scanner.Scan();
  ASSERT_TRUE(inventory.ok());
  std::map<std::string, std::string> reasons;
  for (const auto& p : inventory->problems) {
    reasons[stored_name_[fs::path(p.file).filename()]] += p.reason;
  }
  for (const auto& [name, row] : manifest_) {
    if (row.format == "PEM(CERTIFICATE REQUEST)") {
      EXPECT_NE(reasons[name].find("certificate signing request"), std::string::npos) << name;
    }
    if (row.format == "PEM(X509 CRL)") {
      EXPECT_NE(reasons[name].find("revocation list"), std::string::npos) << name;
    }
  }
}

TEST_F(TheCorpus, ParsesEveryFileDirectlyWithoutCrashing) {
  int parsed = 0, failed = 0;
  for (const auto& [name, row] : manifest_) {
    std::ifstream in(kCorpus + "/" + name, std::ios::binary);
    const std::string contents((std::istreambuf_iterator<char>(in)), {});
    auto result = ParseStoreFile(contents);
    if (result) {
      ++parsed;
      for (const auto& cert : result->certificates) {
        EXPECT_EQ(cert.thumbprint().size(), 40u) << name;
        EXPECT_EQ(cert.Sha256Hex().size(), 64u) << name;
      }
    } else {
      ++failed;
      EXPECT_FALSE(result.error().message.empty()) << name;
    }
  }
  EXPECT_GT(parsed, 100);
  EXPECT_GT(failed, 5);
}

TEST_F(TheCorpus, RescanningAnUnchangedStoreGivesTheSameInventory) {
  StoreScanner scanner(store_.path(), {});
  auto first = scanner.Scan();
  auto second = scanner.Scan();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->problems, second->problems);
  ASSERT_EQ(first->certificates.size(), second->certificates.size());
  for (size_t i = 0; i < first->certificates.size(); ++i) {
    EXPECT_EQ(first->certificates[i].cert().thumbprint(),
              second->certificates[i].cert().thumbprint());
    EXPECT_EQ(first->certificates[i].chain, second->certificates[i].chain);
  }
}

}  // namespace
}  // namespace transportcertd
