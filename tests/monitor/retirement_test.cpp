#include "monitor/retirement.h"

#include <gtest/gtest.h>

#include <ctime>

#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::CertSpec;
using testing::MakeCertificate;
using testing::TestCert;

// A store of self-signed certificates (with keys unless said otherwise) and the verbs to ask
// which of them are superseded.
class RetiringCertificates : public ::testing::Test {
 protected:
  TestCert Add(const std::string& name, std::vector<std::string> names, std::int64_t age_days,
               bool with_key = true) {
    CertSpec spec;
    spec.cn = names.front();
    spec.dns_names = std::move(names);
    spec.not_before_offset = -age_days * 86400;
    TestCert cert = MakeCertificate(spec);
    store_.Write(name + ".crt", cert.cert_pem);
    if (with_key) store_.Write(name + ".key", cert.key_pem, 0600);
    return cert;
  }
  std::vector<std::string> Superseded() {
    auto inventory = scanner_.Scan();
    EXPECT_TRUE(inventory.ok());
    inventory_ = std::move(inventory).value();
    return SupersededCertificates(inventory_, bindings_, Bit(Service::kSmtp),
                                  WildcardMode::kOneLevel, std::time(nullptr),
                                  NameIndex(inventory_));
  }

  testing::TempDir store_;
  StoreScanner scanner_{store_.path(), ScanOptions{}};
  Inventory inventory_;
  Bindings bindings_;
};

TEST_F(RetiringCertificates, CallsTheOlderOfTwoRenewalsSuperseded) {
  const TestCert old_cert = Add("old", {"mail.example.com"}, 60);
  const TestCert renewed = Add("new", {"mail.example.com"}, 1);

  EXPECT_EQ(Superseded(), std::vector<std::string>{old_cert.thumbprint});
}

TEST_F(RetiringCertificates, KeepsACertificateThatStillWinsForOneOfItsNames) {
  Add("old", {"mail.example.com", "smtp.example.com"}, 60);
  Add("new", {"mail.example.com"}, 1);

  EXPECT_TRUE(Superseded().empty());
}

TEST_F(RetiringCertificates, KeepsACertificateThatStillWinsForOneOfItsServices) {
  const TestCert old_cert = Add("old", {"mail.example.com"}, 60);
  Add("new", {"mail.example.com"}, 1);
  bindings_.services[old_cert.thumbprint] = Bit(Service::kSmtp) | Bit(Service::kImap);

  EXPECT_TRUE(Superseded().empty());
}

TEST_F(RetiringCertificates, NeverRetiresTheInternalTransportCertificate) {
  const TestCert old_cert = Add("old", {"mail.example.com"}, 60);
  Add("new", {"mail.example.com"}, 1);
  bindings_.internal_transport = old_cert.thumbprint;

  EXPECT_TRUE(Superseded().empty());
}

TEST_F(RetiringCertificates, LeavesCertificatesWithoutKeyOrServicesAlone) {
  const TestCert keyless = Add("keyless", {"mail.example.com"}, 90, /*with_key=*/false);
  const TestCert disabled = Add("disabled", {"mail.example.com"}, 60);
  Add("new", {"mail.example.com"}, 1);
  bindings_.services[disabled.thumbprint] = 0;

  EXPECT_TRUE(Superseded().empty());
}

TEST_F(RetiringCertificates, JudgesAWildcardByAHostItCovers) {
  const TestCert old_cert = Add("old", {"*.example.com"}, 60);
  const TestCert renewed = Add("new", {"*.example.com"}, 1);
  Add("exact", {"mail.example.com"}, 1);

  EXPECT_EQ(Superseded(), std::vector<std::string>{old_cert.thumbprint});
}

TEST(ASupersededSince, ReportsACertificateOnceItHasBeenSupersededLongEnough) {
  SupersededSince since;
  EXPECT_TRUE(since.Update({"A"}, 1000, 60).empty());
  EXPECT_EQ(since.NextDue(60), 1060);
  EXPECT_TRUE(since.Update({"A", "B"}, 1059, 60).empty());
  EXPECT_EQ(since.Update({"A", "B"}, 1060, 60), std::vector<std::string>{"A"});
}

TEST(ASupersededSince, StartsAgainWhenACertificateWinsMeanwhile) {
  SupersededSince since;
  (void)since.Update({"A"}, 1000, 60);
  (void)since.Update({}, 1030, 60);  // A selected again for a while
  EXPECT_FALSE(since.NextDue(60).has_value());
  EXPECT_TRUE(since.Update({"A"}, 1070, 60).empty());
  EXPECT_EQ(since.Update({"A"}, 1130, 60), std::vector<std::string>{"A"});
}

}  // namespace
}  // namespace transportcertd
