#include "monitor/store_change.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "monitor/atomic_file.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::CertSpec;
using testing::MakeCa;
using testing::MakeCertificate;
using testing::ReadWholeFile;
using testing::TestCert;

constexpr UnixTime kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z

TestCert Cert(const std::string& cn, const TestCert* same_key_as = nullptr,
              const TestCert* issuer = nullptr) {
  CertSpec spec;
  spec.cn = cn;
  spec.dns_names = {cn};
  spec.same_key_as = same_key_as;
  spec.issuer = issuer;
  return MakeCertificate(spec);
}

// A store directory, its scanner, and verbs for removing and importing the way the daemon does.
class AStoreChange : public ::testing::Test {
 protected:
  Inventory Scan() {
    auto inventory = scanner_.Scan();
    EXPECT_TRUE(inventory.ok()) << inventory.error().message;
    return inventory.ok() ? std::move(inventory).value() : Inventory{};
  }
  std::map<std::string, std::string> Read(const Inventory& inventory, const std::string& t) {
    std::map<std::string, std::string> contents;
    for (const auto& file : FilesToReadForRemoval(inventory, t)) {
      if (auto text = ReadStoreFile(file, 1 << 20)) contents[file] = *text;
    }
    return contents;
  }
  Result<RemovalPlan> Plan(const std::string& thumbprint, const std::string& internal = "") {
    const Inventory inventory = Scan();
    return PlanRemoval(inventory, thumbprint, internal, Read(inventory, thumbprint));
  }
  // Plans and applies; returns the directory the originals were kept in.
  std::string Remove(const std::string& thumbprint, const std::string& internal = "") {
    auto plan = Plan(thumbprint, internal);
    EXPECT_TRUE(plan.ok()) << plan.error().message;
    if (!plan) return "";
    EXPECT_FALSE(plan->stale);
    auto applied = ApplyRemoval(*plan, removed_.path(), kNow);
    EXPECT_TRUE(applied.ok()) << applied.error().message;
    if (!applied) return "";
    EXPECT_FALSE(applied->changed);
    return applied->kept_in;
  }
  bool HasKey(const Inventory& inventory, const TestCert& cert) {
    const StoredCertificate* stored = inventory.Find(cert.thumbprint);
    return stored != nullptr && stored->HasPrivateKey();
  }
  static bool Exists(const std::string& path) { return std::filesystem::exists(path); }

  testing::TempDir store_;
  testing::TempDir removed_;
  StoreScanner scanner_{store_.path(), ScanOptions{}};
};

TEST_F(AStoreChange, RemovesOneKeyFromASharedKeyFileAndKeepsTheOther) {
  const TestCert a = Cert("a.example.com");
  const TestCert b = Cert("b.example.com");
  store_.Write("a.crt", a.cert_pem);
  store_.Write("b.crt", b.cert_pem);
  store_.Write("keys.key", a.key_pem + b.key_pem, 0600);

  const std::string kept = Remove(a.thumbprint);

  const Inventory after = Scan();
  EXPECT_EQ(after.Find(a.thumbprint), nullptr);
  EXPECT_TRUE(HasKey(after, b));
  EXPECT_EQ(ReadWholeFile(store_ / "keys.key"), b.key_pem);
  EXPECT_FALSE(Exists(store_ / "a.crt"));
  EXPECT_EQ(ReadWholeFile(kept + "/keys.key"), a.key_pem + b.key_pem);
  EXPECT_EQ(ReadWholeFile(kept + "/a.crt"), a.cert_pem);
  EXPECT_TRUE(after.problems.empty());
}

TEST_F(AStoreChange, RemovesAKeyFromABundleAndKeepsTheBundlesOwnCertificate) {
  const TestCert c = Cert("c.example.com");
  const TestCert d = Cert("d.example.com");
  store_.Write("c-bundle.pem", c.cert_pem + c.key_pem + d.key_pem, 0600);
  store_.Write("d.crt", d.cert_pem);

  const std::string kept = Remove(d.thumbprint);

  const Inventory after = Scan();
  EXPECT_EQ(after.Find(d.thumbprint), nullptr);
  EXPECT_TRUE(HasKey(after, c));
  EXPECT_EQ(ReadWholeFile(store_ / "c-bundle.pem"), c.cert_pem + c.key_pem);
  EXPECT_EQ(ReadWholeFile(kept + "/c-bundle.pem"), c.cert_pem + c.key_pem + d.key_pem);
}

TEST_F(AStoreChange, NeverTouchesTheInternalTransportCertificateInAFileItShares) {
  const TestCert x = Cert("x.example.com");
  const TestCert e = Cert("e.example.com");
  store_.Write("imported-x.pem", x.cert_pem + x.key_pem + e.key_pem, 0600);
  store_.Write("e.crt", e.cert_pem);

  Remove(e.thumbprint, x.thumbprint);

  const Inventory after = Scan();
  EXPECT_TRUE(HasKey(after, x));
  EXPECT_EQ(ReadWholeFile(store_ / "imported-x.pem"), x.cert_pem + x.key_pem);
}

TEST_F(AStoreChange, RefusesTheInternalTransportCertificate) {
  const TestCert x = Cert("x.example.com");
  store_.Write("x.pem", x.cert_pem + x.key_pem, 0600);

  auto plan = Plan(x.thumbprint, x.thumbprint);

  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kInternalTransport);
  EXPECT_NE(plan.error().message.find("create a new certificate"), std::string::npos);
}

TEST_F(AStoreChange, RefusesACertificateWhoseKeyTheInternalTransportCertificateShares) {
  const TestCert x = Cert("x.example.com");
  const TestCert renewed = Cert("x.example.com", &x);
  store_.Write("x.pem", x.cert_pem + x.key_pem, 0600);
  store_.Write("renewed.crt", renewed.cert_pem);

  auto plan = Plan(x.thumbprint, renewed.thumbprint);

  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kInternalTransport);
}

TEST_F(AStoreChange, KeepsAKeyAnotherCertificateStillUses) {
  const TestCert old_cert = Cert("mail.example.com");
  const TestCert renewed = Cert("mail.example.com", &old_cert);
  store_.Write("old.pem", old_cert.cert_pem + old_cert.key_pem, 0600);
  store_.Write("renewed.crt", renewed.cert_pem);

  auto plan = Plan(old_cert.thumbprint);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->removes_key);
  Remove(old_cert.thumbprint);

  const Inventory after = Scan();
  EXPECT_EQ(after.Find(old_cert.thumbprint), nullptr);
  EXPECT_TRUE(HasKey(after, renewed));
  EXPECT_EQ(ReadWholeFile(store_ / "old.pem"), old_cert.key_pem);
}

TEST_F(AStoreChange, RemovesTheKeyFromEveryFileHoldingIt) {
  const TestCert a = Cert("a.example.com");
  store_.Write("a.pem", a.cert_pem + a.key_pem, 0600);
  store_.Write("a-copy.key", a.key_pem, 0600);

  const std::string kept = Remove(a.thumbprint);

  EXPECT_FALSE(Exists(store_ / "a.pem"));
  EXPECT_FALSE(Exists(store_ / "a-copy.key"));
  EXPECT_TRUE(Exists(kept + "/a-copy.key"));
  const Inventory after = Scan();
  EXPECT_TRUE(after.certificates.empty());
  EXPECT_TRUE(after.problems.empty());
}

TEST_F(AStoreChange, KeepsChainCertificatesOfTheRemovedLeafInItsFile) {
  const TestCert root = MakeCa("Root");
  const TestCert intermediate = MakeCa("Intermediate", &root);
  const TestCert leaf = Cert("mail.example.com", nullptr, &intermediate);
  store_.Write("fullchain.pem", leaf.cert_pem + intermediate.cert_pem, 0644);
  store_.Write("privkey.pem", leaf.key_pem, 0600);

  Remove(leaf.thumbprint);

  EXPECT_EQ(ReadWholeFile(store_ / "fullchain.pem"), intermediate.cert_pem);
  EXPECT_FALSE(Exists(store_ / "privkey.pem"));
  EXPECT_NE(Scan().Find(intermediate.thumbprint), nullptr);
}

TEST_F(AStoreChange, TakesADerFileOutWhole) {
  const TestCert a = Cert("a.example.com");
  store_.Write("a.der", a.der);
  store_.Write("a.key", a.key_pem, 0600);

  const std::string kept = Remove(a.thumbprint);

  EXPECT_FALSE(Exists(store_ / "a.der"));
  EXPECT_EQ(ReadWholeFile(kept + "/a.der"), a.der);
}

TEST_F(AStoreChange, KeepsRemovedFilesPrivateUnderATimestampedDirectory) {
  const TestCert a = Cert("a.example.com");
  store_.Write("a.pem", a.cert_pem + a.key_pem, 0644);

  const std::string kept = Remove(a.thumbprint);

  EXPECT_EQ(kept, removed_.path() + "/20270115T080000Z-" + a.thumbprint);
  struct stat st {};
  ASSERT_EQ(stat(kept.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat((kept + "/a.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(AStoreChange, IsUndoneByMovingTheKeptFilesBack) {
  const TestCert c = Cert("c.example.com");
  const TestCert d = Cert("d.example.com");
  store_.Write("c-bundle.pem", c.cert_pem + c.key_pem + d.key_pem, 0600);
  store_.Write("d.crt", d.cert_pem);
  const std::string kept = Remove(d.thumbprint);

  for (const auto& entry : std::filesystem::directory_iterator(kept)) {
    std::filesystem::rename(entry.path(), store_ / entry.path().filename().string());
  }

  const Inventory after = Scan();
  EXPECT_TRUE(HasKey(after, c));
  EXPECT_TRUE(HasKey(after, d));
}

TEST_F(AStoreChange, TwoRemovalsInOneSecondKeepTheirFilesApart) {
  const TestCert a = Cert("a.example.com");
  store_.Write("a.pem", a.cert_pem + a.key_pem, 0600);
  const std::string first = Remove(a.thumbprint);
  std::filesystem::rename(first + "/a.pem", store_ / "a.pem");

  const std::string second = Remove(a.thumbprint);

  EXPECT_NE(first, second);
  EXPECT_TRUE(Exists(second + "/a.pem"));
}

TEST_F(AStoreChange, IsStaleWhenAFileWasReplacedSinceTheScan) {
  const TestCert old_cert = Cert("site.example.com");
  const TestCert renewed = Cert("site.example.com");
  store_.Write("site.pem", old_cert.cert_pem + old_cert.key_pem, 0600);
  const Inventory scanned = Scan();
  // A renewal writes and renames over site.pem within the daemon's debounce.
  ASSERT_TRUE(WriteFileAtomically(store_ / "site.pem", renewed.cert_pem + renewed.key_pem, 0600));

  std::map<std::string, std::string> contents;
  contents[store_ / "site.pem"] = ReadWholeFile(store_ / "site.pem");
  auto plan = PlanRemoval(scanned, old_cert.thumbprint, "", contents);

  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->stale);
  EXPECT_TRUE(plan->files.empty());
}

TEST_F(AStoreChange, TouchesNothingWhenAFileChangesAfterThePlan) {
  const TestCert old_cert = Cert("site.example.com");
  const TestCert renewed = Cert("site.example.com");
  store_.Write("site.pem", old_cert.cert_pem + old_cert.key_pem, 0600);
  auto plan = Plan(old_cert.thumbprint);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(WriteFileAtomically(store_ / "site.pem", renewed.cert_pem + renewed.key_pem, 0600));

  auto applied = ApplyRemoval(*plan, removed_.path(), kNow);

  ASSERT_TRUE(applied.ok());
  EXPECT_TRUE(applied->changed);
  EXPECT_EQ(ReadWholeFile(store_ / "site.pem"), renewed.cert_pem + renewed.key_pem);
  EXPECT_TRUE(std::filesystem::is_empty(removed_.path()));
}

TEST_F(AStoreChange, FailsForAnUnknownCertificate) {
  auto plan = Plan(std::string(40, 'A'));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kNoSuchCertificate);
}

TEST_F(AStoreChange, ReimportingWhatTheStoreHoldsChangesNothing) {
  const TestCert a = Cert("a.example.com");
  const TestCert b = Cert("b.example.com");
  auto first = PlanImport(Scan(), a.cert_pem + a.key_pem + b.cert_pem + b.key_pem, store_.path());
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(ApplyImport(*first).ok());

  auto again = PlanImport(Scan(), a.cert_pem + a.key_pem, store_.path());

  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_stored);
  EXPECT_EQ(again->thumbprint, a.thumbprint);
  ASSERT_TRUE(ApplyImport(*again).ok());
  EXPECT_TRUE(HasKey(Scan(), b));
  EXPECT_EQ(ReadWholeFile(first->path), a.cert_pem + a.key_pem + b.cert_pem + b.key_pem);
}

TEST_F(AStoreChange, ImportNeverOverwritesAnExistingFile) {
  const TestCert a = Cert("a.example.com");
  const TestCert b = Cert("b.example.com");
  // Someone else's file happens to carry the name an import of A would take.
  store_.Write("imported-" + a.thumbprint + ".pem", b.cert_pem + b.key_pem, 0600);

  auto plan = PlanImport(Scan(), a.cert_pem + a.key_pem, store_.path());
  ASSERT_TRUE(plan.ok());
  auto written = ApplyImport(*plan);

  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, store_ / ("imported-" + a.thumbprint + "-2.pem"));
  const Inventory after = Scan();
  EXPECT_TRUE(HasKey(after, a));
  EXPECT_TRUE(HasKey(after, b));
}

TEST_F(AStoreChange, RefusesAnImportWithoutTheLeafsKey) {
  const TestCert a = Cert("a.example.com");
  const TestCert b = Cert("b.example.com");
  auto plan = PlanImport(Scan(), a.cert_pem + b.key_pem, store_.path());
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(plan.error().message.find("BEGIN"), std::string::npos);
}

TEST_F(AStoreChange, PrunesOnlyEntriesOlderThanKeepRemoved) {
  std::filesystem::create_directories(removed_ / "20270101T000000Z-AAAA");
  removed_.Write("20270101T000000Z-AAAA/a.pem", "x");
  std::filesystem::create_directories(removed_ / "20270114T000000Z-BBBB");
  std::filesystem::create_directories(removed_ / "not-ours");

  const PruneResult pruned = PruneRemoved(removed_.path(), std::int64_t{7} * 86400, kNow);

  EXPECT_EQ(pruned.deleted, 1);
  EXPECT_FALSE(Exists(removed_ / "20270101T000000Z-AAAA"));
  EXPECT_TRUE(Exists(removed_ / "20270114T000000Z-BBBB"));
  EXPECT_TRUE(Exists(removed_ / "not-ours"));
  ASSERT_TRUE(pruned.next_due.has_value());
  EXPECT_EQ(*pruned.next_due, 1'799'884'800 + 7 * 86400);  // 2027-01-14T00:00:00Z + 7d
}

TEST_F(AStoreChange, KeepsRemovedFilesForeverWithKeepRemovedZero) {
  std::filesystem::create_directories(removed_ / "20000101T000000Z-AAAA");
  const PruneResult pruned = PruneRemoved(removed_.path(), 0, kNow);
  EXPECT_EQ(pruned.deleted, 0);
  EXPECT_TRUE(Exists(removed_ / "20000101T000000Z-AAAA"));
}

TEST_F(AStoreChange, RemovesASymlinkedStoreFileAndKeepsWhatItPointedAt) {
  const TestCert a = Cert("a.example.com");
  testing::TempDir archive;
  const std::string target = archive.Write("a1.pem", a.cert_pem + a.key_pem, 0600);
  ASSERT_EQ(symlink(target.c_str(), (store_ / "a.pem").c_str()), 0);

  const std::string kept = Remove(a.thumbprint);

  EXPECT_FALSE(Exists(store_ / "a.pem"));
  EXPECT_EQ(ReadWholeFile(kept + "/a.pem"), a.cert_pem + a.key_pem);
  EXPECT_EQ(ReadWholeFile(target), a.cert_pem + a.key_pem);
}

}  // namespace
}  // namespace transportcertd
