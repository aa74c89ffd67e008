// BackgroundScanner: one background scan at a time with the changes that arrive meanwhile
// coalesced into one more, and a scan on the owner's thread that waits for a running
// background scan and never misses what that scan found.
#include "monitor/background_scan.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::MakeCertificateFor;
using testing::TestCert;

class ABackgroundScanner : public ::testing::Test {
 protected:
  void Put(const std::string& name, const TestCert& cert) {
    dir_.Write(name, cert.cert_pem + cert.key_pem, 0600);
  }
  // The inventory an outcome holds; fails the test when it is an error.
  static std::optional<Inventory> InventoryOf(ScanOutcome outcome) {
    EXPECT_TRUE(outcome.ok()) << outcome.error().message;
    if (!outcome.ok() || !outcome->has_value()) return std::nullopt;
    return std::move(outcome.value().value().inventory);
  }

  testing::TempDir dir_;
  BackgroundScanner scanner_{std::make_unique<StoreScanner>(dir_.path(), ScanOptions{})};
};

TEST_F(ABackgroundScanner, RunsOneScanAtATimeAndOneMoreForEveryChangeMeanwhile) {
  EXPECT_TRUE(scanner_.Request());
  EXPECT_TRUE(scanner_.Running());
  EXPECT_FALSE(scanner_.Request());
  EXPECT_FALSE(scanner_.Request());
  EXPECT_TRUE(scanner_.Finished()) << "changes arrived while it ran: one more scan";
  EXPECT_FALSE(scanner_.Running());
  EXPECT_TRUE(scanner_.Request());
  EXPECT_FALSE(scanner_.Finished()) << "nothing arrived meanwhile";
  EXPECT_FALSE(scanner_.Running());
}

TEST_F(ABackgroundScanner, DeliversWhatItFoundOnceAndNothingForAnUnchangedStore) {
  ASSERT_TRUE(InventoryOf(scanner_.ScanNow()).has_value());  // the first inventory
  const TestCert cert = MakeCertificateFor("mail.example.com");
  Put("mail.pem", cert);
  scanner_.BackgroundScan();
  auto found = scanner_.TakeBackgroundResult();
  ASSERT_TRUE(found.has_value());
  auto inventory = InventoryOf(std::move(*found));
  ASSERT_TRUE(inventory.has_value());
  EXPECT_NE(inventory->Find(cert.thumbprint), nullptr);
  EXPECT_FALSE(scanner_.TakeBackgroundResult().has_value()) << "taken already";

  scanner_.BackgroundScan();
  found = scanner_.TakeBackgroundResult();
  ASSERT_TRUE(found.has_value());
  EXPECT_FALSE(InventoryOf(std::move(*found)).has_value()) << "nothing changed";
}

TEST_F(ABackgroundScanner, ScanNowReturnsWhatABackgroundScanFoundAndNobodyTook) {
  ASSERT_TRUE(InventoryOf(scanner_.ScanNow()).has_value());
  const TestCert cert = MakeCertificateFor("mail.example.com");
  Put("mail.pem", cert);
  scanner_.BackgroundScan();  // its outcome not taken yet, as while its completion is queued
  // The store is unchanged since that scan, but not since the inventory the owner holds.
  auto now = InventoryOf(scanner_.ScanNow());
  ASSERT_TRUE(now.has_value());
  EXPECT_NE(now->Find(cert.thumbprint), nullptr);
  EXPECT_FALSE(scanner_.TakeBackgroundResult().has_value()) << "ScanNow took it";
  EXPECT_FALSE(InventoryOf(scanner_.ScanNow()).has_value());
}

TEST_F(ABackgroundScanner, KeepsAnUntakenInventoryThroughAnotherBackgroundScan) {
  ASSERT_TRUE(InventoryOf(scanner_.ScanNow()).has_value());
  const TestCert cert = MakeCertificateFor("mail.example.com");
  Put("mail.pem", cert);
  scanner_.BackgroundScan();
  scanner_.BackgroundScan();  // finds nothing new since the first
  auto found = scanner_.TakeBackgroundResult();
  ASSERT_TRUE(found.has_value());
  auto inventory = InventoryOf(std::move(*found));
  ASSERT_TRUE(inventory.has_value());
  EXPECT_NE(inventory->Find(cert.thumbprint), nullptr);
}

TEST_F(ABackgroundScanner, ScanNowWaitsForARunningBackgroundScanAndSeesEveryChange) {
  ASSERT_TRUE(InventoryOf(scanner_.ScanNow()).has_value());
  std::mutex mutex;
  std::condition_variable changed;
  bool entered = false, open = false;
  scanner_.SetBeforeBackgroundScan([&] {
    std::unique_lock lock(mutex);
    entered = true;
    changed.notify_all();
    changed.wait(lock, [&] { return open; });
  });
  const TestCert first = MakeCertificateFor("first.example.com");
  const TestCert second = MakeCertificateFor("second.example.com");
  Put("first.pem", first);
  std::thread worker([&] { scanner_.BackgroundScan(); });
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return entered; });
  }
  Put("second.pem", second);  // while the background scan is held
  auto scanned_now = std::async(std::launch::async, [&] { return scanner_.ScanNow(); });
  {
    const std::lock_guard lock(mutex);
    open = true;
  }
  changed.notify_all();
  auto now = InventoryOf(scanned_now.get());
  worker.join();
  ASSERT_TRUE(now.has_value());
  EXPECT_NE(now->Find(first.thumbprint), nullptr);
  EXPECT_NE(now->Find(second.thumbprint), nullptr);
  // Whatever the order, the background scan has nothing newer to deliver.
  if (auto late = scanner_.TakeBackgroundResult()) {
    auto inventory = InventoryOf(std::move(*late));
    EXPECT_FALSE(inventory.has_value()) << "ScanNow returned the store as it is";
  }
}

}  // namespace
}  // namespace transportcertd
