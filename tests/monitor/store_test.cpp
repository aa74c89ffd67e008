#include "monitor/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "monitor/trust_anchors.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::CertSpec;
using testing::MakeCa;
using testing::MakeCertificate;
using testing::MakeCertificateFor;
using testing::TestCert;

class ACertificateStore : public ::testing::Test {
 protected:
  Inventory Scan() {
    auto inventory = scanner_.Scan();
    EXPECT_TRUE(inventory.ok()) << inventory.error().message;
    return inventory.ok() ? std::move(inventory).value() : Inventory{};
  }
  std::string ProblemOf(const Inventory& inventory, const std::string& name) {
    for (const auto& p : inventory.problems) {
      if (p.file == dir_ / name) return p.reason;
    }
    return "";
  }
  struct Chain {
    TestCert root, intermediate, leaf;
  };
  // A root (trusted), an intermediate, and a leaf it issued; only the leaf is in the store.
  Chain TrustedChainWithLeafInStore() {
    Chain chain{MakeCa("Test Root"), {}, {}};
    chain.intermediate = MakeCa("Test Intermediate", &chain.root);
    CertSpec spec;
    spec.issuer = &chain.intermediate;
    chain.leaf = MakeCertificate(spec);
    trust_.Write("roots.pem", chain.root.cert_pem);
    dir_.Write("leaf.pem", chain.leaf.cert_pem);
    return chain;
  }

  TestCert Cert(const std::string& cn = "mail.example.com") { return MakeCertificateFor(cn); }

  testing::TempDir dir_;
  testing::TempDir trust_;
  static ScanOptions TrustOnly(const std::string& file) {
    ScanOptions options;
    options.trust_file = file;
    return options;
  }

  StoreScanner scanner_{dir_.path(), TrustOnly(trust_ / "roots.pem")};
};

TEST_F(ACertificateStore, PairsACertificateWithItsKeyInAnotherFile) {
  const auto made = Cert();
  dir_.Write("mail.crt", made.cert_pem);
  dir_.Write("mail-key.pem", made.key_pem);
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  EXPECT_EQ(inventory.certificates[0].key_file_name, "mail-key.pem");
  EXPECT_TRUE(inventory.problems.empty());
}

TEST_F(ACertificateStore, TellsWhichCertificatesAreUsableAsSelectionJudgesThem) {
  dir_.Write("good.pem", Cert("good.example.com").cert_pem);
  CertSpec weak;
  weak.key = "rsa:1024";
  dir_.Write("weak.pem", MakeCertificate(weak).cert_pem);
  CertSpec v1;
  v1.version = 1;
  v1.cn = "old.example.com";
  dir_.Write("v1.pem", MakeCertificate(v1).cert_pem);
  CertSpec client_only;
  client_only.cn = "client.example.com";
  client_only.eku = std::vector<std::string>{"clientAuth"};
  dir_.Write("client.pem", MakeCertificate(client_only).cert_pem);
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 4u);
  int usable = 0;
  for (const StoredCertificate& stored : inventory.certificates) {
    EXPECT_EQ(stored.cert().usable, !UnusableReason(stored.cert()).has_value())
        << stored.cert().subject();
    usable += stored.cert().usable ? 1 : 0;
  }
  EXPECT_EQ(usable, 1);
}

TEST_F(ACertificateStore, PairsCertificateAndKeyInOneFile) {
  const auto made = Cert();
  dir_.Write("combined.pem", made.key_pem + made.cert_pem);
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  EXPECT_EQ(inventory.certificates[0].key_file_name, "combined.pem");
}

TEST_F(ACertificateStore, ListsACertificateFoundInTwoFilesOnceWithBothFiles) {
  const auto made = Cert();
  dir_.Write("a.pem", made.cert_pem);
  dir_.Write("b.der", made.der);
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  EXPECT_EQ(inventory.certificates[0].file_names, (std::vector<std::string>{"a.pem", "b.der"}));
  EXPECT_FALSE(inventory.certificates[0].HasPrivateKey());
}

TEST_F(ACertificateStore, NamesItsFilesOnceInItsDirectoryAndJoinsThemIntoFullPaths) {
  // Each file is kept as its name in the store directory, not as a full path per use.
  const auto both = Cert("both.example.com");
  const auto apart = Cert("apart.example.com");
  const auto orphan = Cert("orphan.example.com");
  dir_.Write("both.pem", both.cert_pem + both.key_pem);
  dir_.Write("both-copy.der", both.der);
  dir_.Write("apart.crt", apart.cert_pem);
  dir_.Write("apart.key", apart.key_pem);
  dir_.Write("orphan.key", orphan.key_pem);
  const auto inventory = Scan();
  EXPECT_EQ(inventory.dir, dir_.path());
  EXPECT_EQ(inventory.Path("both.pem"), dir_.path() + "/both.pem");
  ASSERT_EQ(inventory.certificates.size(), 2u);
  const StoredCertificate* in_two = inventory.Find(both.thumbprint);
  ASSERT_NE(in_two, nullptr);
  EXPECT_EQ(in_two->file_names, (std::vector<std::string>{"both-copy.der", "both.pem"}));
  EXPECT_EQ(in_two->key_file_name, "both.pem");
  const StoredCertificate* key_apart = inventory.Find(apart.thumbprint);
  ASSERT_NE(key_apart, nullptr);
  EXPECT_EQ(key_apart->file_names, std::vector<std::string>{"apart.crt"});
  EXPECT_EQ(key_apart->key_file_name, "apart.key");
  std::vector<std::string> key_files;
  for (const auto& [key_id, name] : inventory.keys) key_files.push_back(name);
  std::sort(key_files.begin(), key_files.end());
  EXPECT_EQ(key_files, (std::vector<std::string>{"apart.key", "both.pem", "orphan.key"}));
  // Problems, which users read as they are, keep the full path.
  ASSERT_EQ(inventory.problems.size(), 1u);
  EXPECT_EQ(inventory.problems[0].file, dir_ / "orphan.key");
  // Read back through the directory: the same certificate from its files.
  const auto der = ReadCertificateDer(inventory.dir, *in_two);
  ASSERT_TRUE(der.ok()) << der.error().message;
  EXPECT_EQ(*der, both.der);
}

TEST_F(ACertificateStore, KeepsNoSpareRoomForCertificatesMergedFromSeveralFiles) {
  // A chain file per leaf, each with the same intermediate: the inventory is kept until the
  // next scan, so it holds no room for the copies it merged.
  const auto ca = MakeCa("Test Intermediate");
  for (const std::string name : {"a", "b", "c", "d"}) {
    CertSpec spec;
    spec.cn = name + ".example.com";
    spec.issuer = &ca;
    dir_.Write(name + ".pem", MakeCertificate(spec).cert_pem + ca.cert_pem);
  }
  for (const std::string name : {"e", "f", "g"}) dir_.Write(name + ".pem", "not a certificate\n");
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 5u);
  EXPECT_EQ(inventory.certificates.capacity(), inventory.certificates.size());
  ASSERT_EQ(inventory.problems.size(), 3u);
  EXPECT_EQ(inventory.problems.capacity(), inventory.problems.size());
}

TEST_F(ACertificateStore, ReadsACertificateBackFromItsFile) {
  const auto made = Cert();
  dir_.Write("mail.pem", made.key_pem + made.cert_pem);
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  const auto der = ReadCertificateDer(inventory.dir, inventory.certificates[0]);
  ASSERT_TRUE(der.ok()) << der.error().message;
  EXPECT_EQ(*der, made.der);
}

TEST_F(ACertificateStore, ReadsACertificateBackFromItsNextFileWhenTheFirstChanged) {
  const auto made = Cert();
  dir_.Write("a.pem", made.cert_pem);
  dir_.Write("b.der", made.der);
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  dir_.Write("a.pem", Cert("other.example.com").cert_pem);
  const auto der = ReadCertificateDer(inventory.dir, inventory.certificates[0]);
  ASSERT_TRUE(der.ok()) << der.error().message;
  EXPECT_EQ(*der, made.der);
}

TEST_F(ACertificateStore, FailsToReadACertificateBackOnceItsFileHoldsAnotherOne) {
  const auto made = Cert();
  dir_.Write("mail.pem", made.cert_pem);
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  dir_.Write("mail.pem", Cert("other.example.com").cert_pem);
  const auto der = ReadCertificateDer(inventory.dir, inventory.certificates[0]);
  ASSERT_FALSE(der.ok());
  EXPECT_EQ(der.error().code, ErrorCode::kStore);
  EXPECT_NE(der.error().message.find(made.thumbprint), std::string::npos) << der.error().message;
}

TEST_F(ACertificateStore, FailsToReadACertificateBackOnceItsFileIsGone) {
  dir_.Write("mail.pem", Cert().cert_pem);
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  std::filesystem::remove(dir_ / "mail.pem");
  EXPECT_FALSE(ReadCertificateDer(inventory.dir, inventory.certificates[0]).ok());
}

TEST_F(ACertificateStore, KeepsNoOldCopyOfACertificateWhoseFileWasRewritten) {
  const auto made = Cert();
  dir_.Write("mail.pem", made.cert_pem);
  std::weak_ptr<const Certificate> old;
  {
    const auto first = Scan();
    old = first.certificates.at(0).certificate;
  }
  dir_.Write("mail.pem", made.cert_pem + "\n");  // parsed again: same certificate, new copy
  const auto second = Scan();
  ASSERT_EQ(second.certificates.size(), 1u);
  EXPECT_EQ(second.certificates[0].chain, ChainStatus::kSelfSigned);
  EXPECT_TRUE(old.expired()) << "the scanner's caches still hold the copy parsed first";
}

TEST_F(ACertificateStore, SkipsTruncatedPemAndKeepsTheRest) {
  const auto good = Cert("good.example.com");
  const auto bad = Cert("bad.example.com");
  dir_.Write("good.pem", good.cert_pem);
  dir_.Write("bad.pem", bad.cert_pem.substr(0, 200));
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  EXPECT_EQ(inventory.certificates[0].cert().thumbprint(), good.thumbprint);
  EXPECT_FALSE(ProblemOf(inventory, "bad.pem").empty());
}

TEST_F(ACertificateStore, ReportsAKeyThatMatchesNoCertificate) {
  dir_.Write("orphan.key", Cert().key_pem);
  const auto inventory = Scan();
  EXPECT_TRUE(inventory.certificates.empty());
  EXPECT_EQ(ProblemOf(inventory, "orphan.key"),
            "private key that matches no certificate in the store");
}

TEST_F(ACertificateStore, ReportsAKeyNextToACertificateItDoesNotMatch) {
  const auto cert = Cert("mail.example.com");
  const auto other = Cert("other.example.com");
  dir_.Write("mismatched.pem", cert.cert_pem + other.key_pem);
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  EXPECT_FALSE(inventory.certificates[0].HasPrivateKey());
  EXPECT_EQ(ProblemOf(inventory, "mismatched.pem"),
            "private key that matches no certificate in the store");
}

TEST_F(ACertificateStore, ReportsADirectoryAFifoAndASymlinkLoopWithoutBlocking) {
  std::filesystem::create_directory(dir_ / "x.pem");
  ASSERT_EQ(mkfifo((dir_ / "pipe.pem").c_str(), 0600), 0);
  std::filesystem::create_symlink("loop2.pem", dir_ / "loop1.pem");
  std::filesystem::create_symlink("loop1.pem", dir_ / "loop2.pem");
  dir_.Write("ok.pem", Cert().cert_pem);
  const auto inventory = Scan();
  EXPECT_EQ(inventory.certificates.size(), 1u);
  EXPECT_EQ(ProblemOf(inventory, "x.pem"), "a directory, not a file");
  EXPECT_EQ(ProblemOf(inventory, "pipe.pem"), "not a regular file");
  EXPECT_EQ(ProblemOf(inventory, "loop1.pem"), "symbolic link loop");
}

TEST_F(ACertificateStore, ReportsASymlinkToAMissingFile) {
  std::filesystem::create_symlink("gone.pem", dir_ / "dangling.pem");
  const auto inventory = Scan();
  EXPECT_EQ(ProblemOf(inventory, "dangling.pem"), "symbolic link to a missing file");
}

TEST_F(ACertificateStore, ReportsAnOversizedFileWithoutReadingIt) {
  dir_.Write("huge.pem", std::string(std::size_t{2} * 1024 * 1024, 'A'));
  const auto inventory = Scan();
  EXPECT_NE(ProblemOf(inventory, "huge.pem").find("too large (2 MiB"), std::string::npos);
}

TEST_F(ACertificateStore, ReportsAnUnreadableFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every file";
  dir_.Write("secret.pem", Cert().cert_pem, 0000);
  EXPECT_NE(ProblemOf(Scan(), "secret.pem").find("not readable"), std::string::npos);
}

TEST_F(ACertificateStore, IgnoresHiddenFilesAndOtherExtensions) {
  dir_.Write(".mail.pem.tmp-123456", Cert().cert_pem);
  dir_.Write("README", "notes");
  dir_.Write("mail.pem~", Cert().cert_pem);
  const auto inventory = Scan();
  EXPECT_TRUE(inventory.certificates.empty());
  EXPECT_TRUE(inventory.problems.empty());
}

TEST_F(ACertificateStore, SeesAFileReplacedByRename) {
  const auto first = Cert("first.example.com");
  const auto second = Cert("second.example.com");
  dir_.Write("mail.pem", first.cert_pem);
  ASSERT_EQ(Scan().certificates.at(0).cert().thumbprint(), first.thumbprint);
  dir_.Write(".incoming", second.cert_pem);
  ASSERT_EQ(std::rename((dir_ / ".incoming").c_str(), (dir_ / "mail.pem").c_str()), 0);
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  EXPECT_EQ(inventory.certificates[0].cert().thumbprint(), second.thumbprint);
}

TEST_F(ACertificateStore, ForgetsARemovedFile) {
  dir_.Write("mail.pem", Cert().cert_pem);
  ASSERT_EQ(Scan().certificates.size(), 1u);
  std::filesystem::remove(dir_ / "mail.pem");
  EXPECT_TRUE(Scan().certificates.empty());
}

TEST_F(ACertificateStore, VerifiesAChainThroughAnIntermediateInTheStore) {
  const Chain chain = TrustedChainWithLeafInStore();
  dir_.Write("chain.pem", chain.intermediate.cert_pem);
  const auto inventory = Scan();
  const StoredCertificate* stored = inventory.Find(chain.leaf.thumbprint);
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->chain, ChainStatus::kVerified);
  ASSERT_EQ(stored->ChainDer().size(), 1u);
  EXPECT_EQ(stored->ChainDer()[0], chain.intermediate.der);
}

TEST_F(ACertificateStore, CallsAChainWithoutItsIntermediateIncomplete) {
  const Chain chain = TrustedChainWithLeafInStore();
  const auto inventory = Scan();
  ASSERT_EQ(inventory.certificates.size(), 1u);
  EXPECT_EQ(inventory.certificates[0].chain, ChainStatus::kIncomplete);
}

TEST_F(ACertificateStore, RechecksChainsWhenAnIntermediateArrivesLater) {
  const Chain chain = TrustedChainWithLeafInStore();
  EXPECT_EQ(Scan().Find(chain.leaf.thumbprint)->chain, ChainStatus::kIncomplete);
  EXPECT_EQ(Scan().Find(chain.leaf.thumbprint)->chain, ChainStatus::kIncomplete);  // from the cache
  dir_.Write("chain.pem", chain.intermediate.cert_pem);
  const auto inventory = Scan();
  EXPECT_EQ(inventory.Find(chain.leaf.thumbprint)->chain, ChainStatus::kVerified);
  EXPECT_EQ(inventory.Find(chain.leaf.thumbprint)->ChainDer().size(), 1u);
}

TEST_F(ACertificateStore, VerifiesALeafAddedLaterThroughAnIntermediateThatSortsBeforeIt) {
  const Chain chain = TrustedChainWithLeafInStore();
  dir_.Write("chain.pem", chain.intermediate.cert_pem);
  ASSERT_EQ(Scan().Find(chain.leaf.thumbprint)->chain, ChainStatus::kVerified);
  // A new leaf whose thumbprint sorts after the intermediate's: the rescan checks only its
  // chain, and must still offer the intermediate.
  CertSpec spec;
  spec.issuer = &chain.intermediate;
  TestCert later = MakeCertificate(spec);
  while (later.thumbprint < chain.intermediate.thumbprint) later = MakeCertificate(spec);
  dir_.Write("later.pem", later.cert_pem);
  const auto inventory = Scan();
  EXPECT_EQ(inventory.Find(later.thumbprint)->chain, ChainStatus::kVerified);
  EXPECT_EQ(inventory.Find(later.thumbprint)->ChainDer().size(), 1u);
}

TEST_F(ACertificateStore, DoesNotTrustARootThatIsOnlyInTheStore) {
  const auto root = MakeCa("Untrusted Root");
  CertSpec spec;
  spec.issuer = &root;
  const auto leaf = MakeCertificate(spec);
  trust_.Write("roots.pem", MakeCa("Some Other Root").cert_pem);
  dir_.Write("leaf.pem", leaf.cert_pem);
  dir_.Write("root.pem", root.cert_pem);
  const auto inventory = Scan();
  EXPECT_EQ(inventory.Find(leaf.thumbprint)->chain, ChainStatus::kIncomplete);
  EXPECT_EQ(inventory.Find(root.thumbprint)->chain, ChainStatus::kSelfSigned);
}

// [selection] trust: anchors added to the trust store, never replacing it.
TEST_F(ACertificateStore, VerifiesChainsToAnExtraAnchorAndStillToTheTrustStore) {
  const Chain trusted = TrustedChainWithLeafInStore();  // its root is in the trust store
  const auto internal_root = MakeCa("Internal Root");
  CertSpec spec;
  spec.cn = "internal.example.com";
  spec.dns_names = {spec.cn};
  spec.issuer = &internal_root;
  const auto internal = MakeCertificate(spec);
  dir_.Write("chain.pem", trusted.intermediate.cert_pem);
  dir_.Write("internal.pem", internal.cert_pem);

  ScanOptions options = TrustOnly(trust_ / "roots.pem");
  EXPECT_EQ(Scan().Find(internal.thumbprint)->chain, ChainStatus::kIncomplete);
  options.extra_anchors = {internal_root.der};
  StoreScanner with_anchor(dir_.path(), options);
  const auto inventory = with_anchor.Scan();
  ASSERT_TRUE(inventory.ok()) << inventory.error().message;
  EXPECT_EQ(inventory->Find(internal.thumbprint)->chain, ChainStatus::kVerified);
  EXPECT_TRUE(inventory->Find(internal.thumbprint)->ChainDer().empty());  // anchors are not sent
  EXPECT_EQ(inventory->Find(trusted.leaf.thumbprint)->chain, ChainStatus::kVerified);
}

TEST_F(ACertificateStore, AddsExtraAnchorsToTheSystemTrustStore) {
  const auto internal_root = MakeCa("Internal Root");
  const auto intermediate = MakeCa("Internal Issuing CA", &internal_root);
  CertSpec spec;
  spec.issuer = &intermediate;
  const auto leaf = MakeCertificate(spec);
  dir_.Write("fullchain.pem", leaf.cert_pem + intermediate.cert_pem);

  StoreScanner system_only(dir_.path(), ScanOptions{});
  EXPECT_EQ(system_only.Scan()->Find(leaf.thumbprint)->chain, ChainStatus::kIncomplete);
  ScanOptions options;
  options.extra_anchors = {internal_root.der};
  StoreScanner with_anchor(dir_.path(), options);
  const auto inventory = with_anchor.Scan();
  ASSERT_TRUE(inventory.ok()) << inventory.error().message;
  EXPECT_EQ(inventory->Find(leaf.thumbprint)->chain, ChainStatus::kVerified);
  ASSERT_EQ(inventory->Find(leaf.thumbprint)->ChainDer().size(), 1u);
  EXPECT_EQ(inventory->Find(leaf.thumbprint)->ChainDer()[0], intermediate.der);
}

class ATrustAnchorPath : public ::testing::Test {
 protected:
  std::string ErrorOf(const std::string& path) {
    auto anchors = LoadTrustAnchors(path);
    EXPECT_FALSE(anchors.ok()) << path << " gave " << anchors->size() << " anchors";
    return anchors.ok() ? "" : anchors.error().message;
  }
  testing::TempDir dir_;
  const TestCert root_a_ = MakeCa("Root A");
  const TestCert root_b_ = MakeCa("Root B");
};

TEST_F(ATrustAnchorPath, IsAFileWithEveryCertificateInIt) {
  const auto anchors =
      LoadTrustAnchors(dir_.Write("bundle.crt", root_a_.cert_pem + root_b_.cert_pem));
  ASSERT_TRUE(anchors.ok()) << anchors.error().message;
  std::vector<std::string> expected = {root_a_.der, root_b_.der};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(*anchors, expected);
}

TEST_F(ATrustAnchorPath, IsADirectoryOfPlainPemFilesThatNeedNoHashedNames) {
  dir_.Write("a.pem", root_a_.cert_pem);
  dir_.Write("b.crt", root_b_.cert_pem);
  dir_.Write("b-again.crt", root_b_.cert_pem);   // counted once
  dir_.Write("README", "These are our CAs.\n");  // not a certificate file: not read
  dir_.Write(".hidden.pem", "garbage");
  std::filesystem::create_directory(dir_ / "old");
  const auto anchors = LoadTrustAnchors(dir_.path());
  ASSERT_TRUE(anchors.ok()) << anchors.error().message;
  std::vector<std::string> expected = {root_a_.der, root_b_.der};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(*anchors, expected);
}

TEST_F(ATrustAnchorPath, NamesWhatIsWrong) {
  EXPECT_EQ(ErrorOf(dir_ / "missing.pem"), dir_ / "missing.pem" + ": No such file or directory");
  EXPECT_EQ(ErrorOf(dir_.path()), dir_.path() + ": holds no file with a PEM certificate");
  const auto key_only = dir_.Write("key.pem", root_a_.key_pem);
  EXPECT_EQ(ErrorOf(key_only), key_only + ": holds no certificate");
  EXPECT_EQ(ErrorOf(dir_.path()), key_only + ": holds no certificate");  // in a directory too
  std::filesystem::remove(key_only);
  dir_.Write("a.pem", root_a_.cert_pem);
  const auto truncated = dir_.Write("b.pem", root_b_.cert_pem.substr(0, 200));
  EXPECT_NE(ErrorOf(dir_.path()).find(truncated + ": holds no certificate"), std::string::npos);
}

TEST_F(ACertificateStore, FailsOnlyWhenTheDirectoryItselfIsMissing) {
  StoreScanner missing(dir_ / "nope", {});
  auto inventory = missing.Scan();
  ASSERT_FALSE(inventory.ok());
  EXPECT_NE(inventory.error().message.find("cannot read the store directory"), std::string::npos);
}

TEST(AStoreFileName, HasACertificateExtensionAndIsNotHidden) {
  EXPECT_TRUE(IsStoreFileName("a.pem"));
  EXPECT_TRUE(IsStoreFileName("a.CRT"));
  EXPECT_TRUE(IsStoreFileName("a.cer"));
  EXPECT_TRUE(IsStoreFileName("a.key"));
  EXPECT_TRUE(IsStoreFileName("a.der"));
  EXPECT_FALSE(IsStoreFileName(".a.pem"));
  EXPECT_FALSE(IsStoreFileName("a.pem.tmp-ABC"));
  EXPECT_FALSE(IsStoreFileName("README"));
}

}  // namespace
}  // namespace transportcertd
