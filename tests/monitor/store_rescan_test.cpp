// StoreScanner::ScanIfChanged: a rescan of an unchanged store builds nothing, and any store
// file added, changed or removed (or unreadable, hence tried again) gives a new inventory.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <cstdio>
#include <filesystem>

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
  EXPECT_EQ(inventory->certificates[0].files.size(), 2u);

  dir_.Write("first.pem", first.cert_pem);  // rewritten in place
  inventory = ScanIfChanged();
  ASSERT_TRUE(inventory.has_value());
  EXPECT_EQ(inventory->certificates.size(), 2u);

  std::filesystem::remove(dir_ / "second.pem");  // removed
  inventory = ScanIfChanged();
  ASSERT_TRUE(inventory.has_value());
  ASSERT_EQ(inventory->certificates.size(), 1u);
  EXPECT_EQ(inventory->certificates[0].cert().thumbprint, first.thumbprint);
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

}  // namespace
}  // namespace transportcertd
