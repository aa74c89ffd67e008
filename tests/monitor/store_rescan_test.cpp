// StoreScanner::ScanIfChanged: a rescan of an unchanged store builds nothing, and any store
// file added, changed or removed (or unreadable, hence tried again) gives a new inventory.
// A rescan takes what an unchanged file holds from the scanner's cache, whatever the file
// holds: one certificate, one key, or several of each with problems.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "monitor/store.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::MakeCertificateFor;
using testing::TestCert;

class ARescan : public ::testing::Test {
 protected:
  // The inventory ScanIfChanged built, or nullopt when it found nothing changed.
  std::optional<Inventory> ScanIfChanged() {
    auto scanned = scanner_.ScanIfChanged();
    EXPECT_TRUE(scanned.ok()) << scanned.error().message;
    return scanned.ok() ? std::move(scanned.value()) : std::nullopt;
  }
  static TestCert Cert(const std::string& host) { return MakeCertificateFor(host); }

  // The inventory as text, one line per certificate, key and problem, in the inventory's
  // order, with each certificate and key named by its label in `labels` (by thumbprint, and
  // by the key id of its key pair's certificate or private key) and each file by its name.
  std::string Describe(const Inventory& inventory) const {
    const auto file = [&](const std::string& path) {
      return std::filesystem::path(path).filename().string();
    };
    std::string text;
    for (const auto& stored : inventory.certificates) {
      text += "certificate " + labels_.at(std::string(stored.cert().thumbprint())) + ":";
      for (const auto& name : stored.file_names) text += " " + name;
      if (stored.HasPrivateKey()) text += " key " + stored.key_file_name;
      text += "\n";
    }
    for (const auto& [key_id, name] : inventory.keys) {
      text += "key " + key_labels_.at(key_id) + ": " + name + "\n";
    }
    for (const auto& problem : inventory.problems) {
      text += "problem " + file(problem.file) + ": " + problem.reason + "\n";
    }
    return text;
  }
  // A certificate + key pair that Describe calls `label`.
  TestCert Labelled(const std::string& label) {
    TestCert made = Cert(label + ".example.com");
    labels_[made.thumbprint] = label;
    auto parsed = ParseStoreFile(made.key_pem);
    EXPECT_TRUE(parsed.ok() && parsed->keys.size() == 1);
    if (parsed.ok() && parsed->keys.size() == 1) key_labels_[parsed->keys[0].public_key_id] = label;
    return made;
  }
  // Scan (the cache's view of every file) and ScanIfChanged both give `expected`, and
  // ScanIfChanged then finds nothing changed.
  void ExpectRescansGive(const std::string& expected) {
    auto scanned = scanner_.Scan();
    ASSERT_TRUE(scanned.ok()) << scanned.error().message;
    EXPECT_EQ(Describe(*scanned), expected);
    EXPECT_FALSE(ScanIfChanged().has_value());
  }

  std::map<std::string, std::string> labels_;  // by thumbprint
  std::map<KeyId, std::string> key_labels_;

  testing::TempDir dir_;
  StoreScanner scanner_{dir_.path(), ScanOptions{}};
};

TEST_F(ARescan, BuildsTheFirstInventoryEvenOfAnEmptyStore) {
  const auto first = ScanIfChanged();
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->certificates.empty());
  EXPECT_FALSE(ScanIfChanged().has_value());
}

TEST_F(ARescan, BuildsNothingWhileNoStoreFileChanges) {
  const TestCert made = Cert("mail.example.com");
  dir_.Write("mail.crt", made.cert_pem);
  dir_.Write("mail.key", made.key_pem, 0600);
  ASSERT_EQ(ScanIfChanged()->certificates.size(), 1u);
  EXPECT_FALSE(ScanIfChanged().has_value());
  // Files that are no store files come and go without a new inventory.
  dir_.Write("README", "notes");
  dir_.Write(".mail.pem.tmp-1", made.cert_pem);
  EXPECT_FALSE(ScanIfChanged().has_value());
  // Scan itself always builds the inventory.
  auto full = scanner_.Scan();
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->certificates.size(), 1u);
  EXPECT_FALSE(ScanIfChanged().has_value());
}

TEST_F(ARescan, SeesAFileAddedReplacedRewrittenOrRemoved) {
  const TestCert first = Cert("first.example.com");
  const TestCert second = Cert("second.example.com");
  dir_.Write("first.pem", first.cert_pem);
  ASSERT_TRUE(ScanIfChanged().has_value());

  dir_.Write("second.pem", second.cert_pem);  // added
  auto inventory = ScanIfChanged();
  ASSERT_TRUE(inventory.has_value());
  EXPECT_EQ(inventory->certificates.size(), 2u);
  EXPECT_FALSE(ScanIfChanged().has_value());

  dir_.Write(".incoming", second.cert_pem);  // replaced by rename
  ASSERT_EQ(std::rename((dir_ / ".incoming").c_str(), (dir_ / "first.pem").c_str()), 0);
  inventory = ScanIfChanged();
  ASSERT_TRUE(inventory.has_value());
  ASSERT_EQ(inventory->certificates.size(), 1u);
  EXPECT_EQ(inventory->certificates[0].file_names.size(), 2u);

  dir_.Write("first.pem", first.cert_pem);  // rewritten in place
  inventory = ScanIfChanged();
  ASSERT_TRUE(inventory.has_value());
  EXPECT_EQ(inventory->certificates.size(), 2u);

  std::filesystem::remove(dir_ / "second.pem");  // removed
  inventory = ScanIfChanged();
  ASSERT_TRUE(inventory.has_value());
  ASSERT_EQ(inventory->certificates.size(), 1u);
  EXPECT_EQ(inventory->certificates[0].cert().thumbprint(), first.thumbprint);
  EXPECT_FALSE(ScanIfChanged().has_value());
}

TEST_F(ARescan, SeesAFileWhoseTimestampAloneChanged) {
  const TestCert made = Cert("mail.example.com");
  const std::string path = dir_.Write("mail.pem", made.cert_pem);
  ASSERT_TRUE(ScanIfChanged().has_value());
  struct utimbuf times {};
  times.actime = times.modtime = 1'000'000'000;
  ASSERT_EQ(utime(path.c_str(), &times), 0);
  EXPECT_TRUE(ScanIfChanged().has_value());
}

TEST_F(ARescan, TriesAnUnreadableFileAgainOnEveryScan) {
  ASSERT_EQ(mkfifo((dir_ / "pipe.pem").c_str(), 0600), 0);
  auto inventory = ScanIfChanged();
  ASSERT_TRUE(inventory.has_value());
  EXPECT_EQ(inventory->problems.size(), 1u);
  inventory = ScanIfChanged();
  ASSERT_TRUE(inventory.has_value());
  EXPECT_EQ(inventory->problems.size(), 1u);
}

// PEM blocks that make a file's problems: a CRL (not for the store), and a block cut short.
const std::string kCrlBlock = "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
const std::string kTruncatedBlock = "-----BEGIN CERTIFICATE-----\nMIIB\n";

TEST_F(ARescan, KeepsEveryPartOfAFileWithSeveralAcrossRescans) {
  const TestCert a = Labelled("a"), b = Labelled("b"), c = Labelled("c"), d = Labelled("d");
  // Two certificates, a key and two problems in one file; two keys (one matching nothing) in
  // another; the usual certificate file and key file; a file with a problem alone.
  dir_.Write("bundle.pem", a.cert_pem + b.cert_pem + a.key_pem + kCrlBlock + kTruncatedBlock);
  dir_.Write("keys.pem", b.key_pem + c.key_pem, 0600);
  dir_.Write("one.crt", d.cert_pem);
  dir_.Write("one.key", d.key_pem, 0600);
  dir_.Write("junk.pem", "not a certificate\n");
  std::map<std::string, std::string> lines = {
      {"a", "certificate a: bundle.pem key bundle.pem\n"},
      {"b", "certificate b: bundle.pem key keys.pem\n"},
      {"d", "certificate d: one.crt key one.key\n"},
      {"key a", "key a: bundle.pem\n"},
      {"key b", "key b: keys.pem\n"},
      {"key c", "key c: keys.pem\n"},
      {"key d", "key d: one.key\n"},
  };
  std::string certificates, keys;  // in the inventory's order: by thumbprint, by key id
  for (const auto& [thumbprint, label] : labels_) {
    if (label != "c") certificates += lines[label];
  }
  for (const auto& [key_id, label] : key_labels_) keys += lines["key " + label];
  const std::string expected =
      certificates + keys +
      "problem bundle.pem: block 4: certificate revocation list, not a certificate\n"
      "problem bundle.pem: truncated or malformed PEM after block 4\n"
      "problem junk.pem: neither PEM nor a DER certificate (too long)\n"
      "problem keys.pem: private key that matches no certificate in the store\n";

  const auto first = ScanIfChanged();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(Describe(*first), expected);
  ExpectRescansGive(expected);
  // Another file changes: the inventory is built again, with these files from the cache.
  dir_.Write("one.crt", d.cert_pem + "\n");
  const auto changed = ScanIfChanged();
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(Describe(*changed), expected);
  ExpectRescansGive(expected);
}

TEST_F(ARescan, FollowsAFileFromOnePartToSeveralAndBack) {
  const TestCert a = Labelled("a"), b = Labelled("b");
  const bool a_first = a.thumbprint < b.thumbprint;
  dir_.Write("mail.pem", a.cert_pem);
  ASSERT_TRUE(ScanIfChanged().has_value());
  ExpectRescansGive("certificate a: mail.pem\n");

  dir_.Write("mail.pem", a.cert_pem + b.cert_pem + a.key_pem);
  ASSERT_TRUE(ScanIfChanged().has_value());
  ExpectRescansGive(a_first ? "certificate a: mail.pem key mail.pem\ncertificate b: mail.pem\n"
                              "key a: mail.pem\n"
                            : "certificate b: mail.pem\ncertificate a: mail.pem key mail.pem\n"
                              "key a: mail.pem\n");

  dir_.Write("mail.pem", a.key_pem);
  ASSERT_TRUE(ScanIfChanged().has_value());
  ExpectRescansGive(
      "key a: mail.pem\nproblem mail.pem: private key that matches no certificate in the "
      "store\n");

  dir_.Write("mail.pem", b.cert_pem + kTruncatedBlock);
  ASSERT_TRUE(ScanIfChanged().has_value());
  ExpectRescansGive(
      "certificate b: mail.pem\nproblem mail.pem: truncated or malformed PEM after block 1\n");

  dir_.Write("mail.pem", "not a certificate\n");
  ASSERT_TRUE(ScanIfChanged().has_value());
  ExpectRescansGive("problem mail.pem: neither PEM nor a DER certificate (too long)\n");

  dir_.Write("mail.pem", b.key_pem + b.cert_pem);
  ASSERT_TRUE(ScanIfChanged().has_value());
  ExpectRescansGive("certificate b: mail.pem key mail.pem\nkey b: mail.pem\n");

  dir_.Write("mail.pem", b.cert_pem + a.key_pem);  // a certificate and another's key
  ASSERT_TRUE(ScanIfChanged().has_value());
  ExpectRescansGive(
      "certificate b: mail.pem\nkey a: mail.pem\nproblem mail.pem: private key that matches no "
      "certificate in the store\n");

  dir_.Write("mail.pem", b.cert_pem);
  ASSERT_TRUE(ScanIfChanged().has_value());
  ExpectRescansGive("certificate b: mail.pem\n");
}

}  // namespace
}  // namespace transportcertd
