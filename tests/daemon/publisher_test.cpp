// BuildPemBundle reads key and leaf back from the store: what it publishes is the certificate
// of the inventory, or nothing when the store changed since the scan.
#include "daemon/publisher.h"

#include <gtest/gtest.h>

#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::MakeCertificateFor;
using testing::TestCert;

class APemBundle : public ::testing::Test {
 protected:
  // The stored certificate of `cert` after a scan of the store.
  StoredCertificate Scanned(const TestCert& cert) {
    auto inventory = scanner_.Scan();
    EXPECT_TRUE(inventory.ok());
    const StoredCertificate* stored = inventory.ok() ? inventory->Find(cert.thumbprint) : nullptr;
    EXPECT_NE(stored, nullptr);
    return stored != nullptr ? *stored : StoredCertificate{};
  }
  static TestCert Cert(const std::string& name) { return MakeCertificateFor(name); }

  testing::TempDir store_;
  StoreScanner scanner_{store_.path(), ScanOptions{}};
};

TEST_F(APemBundle, HoldsTheKeyThenTheCertificateReadBackFromTheStore) {
  const TestCert cert = Cert("mail.example.com");
  store_.Write("mail.crt", cert.cert_pem);
  store_.Write("mail.key", cert.key_pem, 0600);
  const StoredCertificate stored = Scanned(cert);

  const auto bundle = BuildPemBundle(store_.path(), stored);
  ASSERT_TRUE(bundle.ok()) << bundle.error().message;
  EXPECT_NE(bundle->find("PRIVATE KEY"), std::string::npos);
  EXPECT_TRUE(bundle->ends_with(cert.cert_pem)) << *bundle;
}

TEST_F(APemBundle, FailsRatherThanPublishAnotherCertificateWrittenOverTheScannedOne) {
  const TestCert cert = Cert("mail.example.com");
  store_.Write("mail.crt", cert.cert_pem);
  store_.Write("mail.key", cert.key_pem, 0600);
  const StoredCertificate stored = Scanned(cert);
  const TestCert other = Cert("other.example.com");
  store_.Write("mail.crt", other.cert_pem);  // the key file still holds the scanned key

  const auto bundle = BuildPemBundle(store_.path(), stored);
  ASSERT_FALSE(bundle.ok()) << *bundle;
  EXPECT_EQ(bundle.error().code, ErrorCode::kStore);
  EXPECT_NE(bundle.error().message.find(cert.thumbprint), std::string::npos)
      << bundle.error().message;
}

}  // namespace
}  // namespace transportcertd
