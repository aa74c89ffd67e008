#include "monitor/dane.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "monitor/selfsigned.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::CertSpec;
using testing::MakeCa;
using testing::MakeCertificate;
using testing::TempDir;
using testing::TestCert;

// What the openssl command line says the `3 1 1` / `2 1 1` data of a PEM file is: the SHA-256
// of the DER public key (the recipe of the DANE documentation), computed independently of the
// code under test.
std::string OpenSslSpkiSha256(const std::string& pem, bool is_private_key) {
  TempDir dir;
  const std::string file = dir.Write("input.pem", pem);
  const std::string extract = is_private_key ? "openssl pkey -in '" + file + "' -pubout"
                                             : "openssl x509 -in '" + file + "' -noout -pubkey";
  const std::string command =
      extract + " | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r";
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  if (pipe == nullptr) return {};
  char buffer[256] = {};
  std::string out;
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  EXPECT_EQ(pclose(pipe), 0) << command;
  return out.substr(0, out.find(' '));  // "<hex> *stdin"
}

class DaneRecords : public ::testing::Test {
 protected:
  // Scans the store and returns the certificate `thumbprint` of it.
  const StoredCertificate& Stored(const std::string& thumbprint, ScanOptions options = {}) {
    StoreScanner scanner(store_.path(), std::move(options));
    auto inventory = scanner.Scan();
    EXPECT_TRUE(inventory.ok());
    inventory_ = std::move(inventory).value();
    const StoredCertificate* found = inventory_.Find(thumbprint);
    EXPECT_NE(found, nullptr);
    return *found;
  }

  std::vector<std::string> Lines(const std::vector<TlsaRecord>& records) {
    std::vector<std::string> lines;
    for (const auto& record : records) lines.push_back(record.ZoneLine());
    return lines;
  }

  TempDir store_;
  Inventory inventory_;
};

TEST_F(DaneRecords, DigestTheLeafsPublicKeyAsOpenSslDoes) {
  for (const std::string key : {"ec:P-256", "rsa:2048"}) {
    CertSpec spec;
    spec.key = key;
    const TestCert cert = MakeCertificate(spec);
    auto digest = SpkiSha256OfCertificate(cert.der);
    ASSERT_TRUE(digest.ok());
    EXPECT_EQ(*digest, OpenSslSpkiSha256(cert.cert_pem, false)) << key;
    EXPECT_EQ(digest->size(), 64u);
    auto of_key = SpkiSha256OfPrivateKey(cert.key_pem);
    ASSERT_TRUE(of_key.ok());
    EXPECT_EQ(*of_key, *digest) << "the key and its certificate give the same record";
  }
}

TEST_F(DaneRecords, DigestAGeneratedNextKeyAsOpenSslDoes) {
  auto key = GeneratePrivateKeyPem(KeySpec{KeyType::kEc, 0, "P-256"});
  ASSERT_TRUE(key.ok());
  auto digest = SpkiSha256OfPrivateKey(*key);
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(*digest, OpenSslSpkiSha256(*key, true));
}

TEST_F(DaneRecords, RefuseWhatIsNotACertificateOrKey) {
  EXPECT_FALSE(SpkiSha256OfCertificate("garbage").ok());
  EXPECT_FALSE(SpkiSha256OfPrivateKey("-----BEGIN PRIVATE KEY-----\nAAAA\n").ok());
}

TEST_F(DaneRecords, GiveASelfSignedInternalCertificateItsKeyAndTheNextKeyPerPort) {
  const TestCert cert = MakeCertificate(CertSpec{});
  store_.Write("cert.pem", cert.key_pem + cert.cert_pem, 0600);
  const StoredCertificate& stored = Stored(cert.thumbprint);
  const std::string leaf = OpenSslSpkiSha256(cert.cert_pem, false);
  const std::string next(64, 'a');

  const auto records =
      ComputeTlsaRecords({{"mail.example.com", &stored, true, store_.path()}}, {25, 465}, next);

  EXPECT_EQ(Lines(records), (std::vector<std::string>{
                                "_25._tcp.mail.example.com. IN TLSA 3 1 1 " + leaf,
                                "_25._tcp.mail.example.com. IN TLSA 3 1 1 " + next,
                                "_465._tcp.mail.example.com. IN TLSA 3 1 1 " + leaf,
                                "_465._tcp.mail.example.com. IN TLSA 3 1 1 " + next,
                            }));
  EXPECT_NE(records[0].comment.find(cert.thumbprint), std::string::npos) << records[0].comment;
  EXPECT_NE(records[1].comment.find("next key"), std::string::npos) << records[1].comment;
}

TEST_F(DaneRecords, GiveTheNextKeyOnlyToTheInternalTransportCertificate) {
  const TestCert cert = MakeCertificate(CertSpec{});
  store_.Write("cert.pem", cert.key_pem + cert.cert_pem, 0600);
  const StoredCertificate& stored = Stored(cert.thumbprint);

  const auto records = ComputeTlsaRecords({{"mail.example.com", &stored, false, store_.path()},
                                           {"other.example.com", nullptr, false, store_.path()}},
                                          {25}, std::string(64, 'a'));

  EXPECT_EQ(Lines(records), std::vector<std::string>{"_25._tcp.mail.example.com. IN TLSA 3 1 1 " +
                                                     OpenSslSpkiSha256(cert.cert_pem, false)});
}

TEST_F(DaneRecords, GiveACaIssuedCertificateItsIssuersDaneTaRecord) {
  const TestCert root = MakeCa("Test Root");
  const TestCert intermediate = MakeCa("Test Intermediate", &root);
  CertSpec spec;
  spec.issuer = &intermediate;
  const TestCert leaf = MakeCertificate(spec);
  store_.Write("leaf.pem", leaf.key_pem + leaf.cert_pem + intermediate.cert_pem, 0600);
  ScanOptions options;
  options.extra_anchors = {root.der};
  const StoredCertificate& stored = Stored(leaf.thumbprint, options);
  ASSERT_EQ(stored.ChainDer().size(), 1u) << "the intermediate is published with the leaf";

  const auto records =
      ComputeTlsaRecords({{"mail.example.com", &stored, false, store_.path()}}, {25}, {});

  EXPECT_EQ(Lines(records), (std::vector<std::string>{
                                "_25._tcp.mail.example.com. IN TLSA 3 1 1 " +
                                    OpenSslSpkiSha256(leaf.cert_pem, false),
                                "_25._tcp.mail.example.com. IN TLSA 2 1 1 " +
                                    OpenSslSpkiSha256(intermediate.cert_pem, false),
                            }));
  EXPECT_NE(records[1].comment.find("Test Intermediate"), std::string::npos) << records[1].comment;
}

TEST_F(DaneRecords, ListEachRecordOnceWhenTwoNamesShareAnOwner) {
  const TestCert cert = MakeCertificate(CertSpec{});
  store_.Write("cert.pem", cert.key_pem + cert.cert_pem, 0600);
  const StoredCertificate& stored = Stored(cert.thumbprint);
  const auto records = ComputeTlsaRecords({{"mail.example.com", &stored, true, store_.path()},
                                           {"mail.example.com", &stored, true, store_.path()}},
                                          {25}, {});
  EXPECT_EQ(records.size(), 1u);
}

TEST(ATlsaFile, NamesEachRecordsCertificateInACommentAndReadsBackItsRecords) {
  const std::vector<TlsaRecord> records = {
      {"_25._tcp.mail.example.com.", 3, 1, 1, std::string(64, 'b'), "certificate ABC (CN=x)"},
      {"_25._tcp.mail.example.com.", 3, 1, 1, std::string(64, 'c'), "next key"}};
  const std::string text = FormatTlsaFile(records);
  EXPECT_NE(text.find("; certificate ABC (CN=x)\n_25._tcp.mail.example.com. IN TLSA 3 1 1 " +
                      std::string(64, 'b') + "\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(ParseTlsaFile(text),
            (std::vector<std::string>{records[0].ZoneLine(), records[1].ZoneLine()}));
  EXPECT_EQ(FormatTlsaFile(records), text) << "the same records give the same file";
}

TEST(ATlsaChange, AddsTheNewNextKeyNowAndRemovesTheReplacedKeyAfterTheNextRenewal) {
  const std::vector<std::string> before = {"r current", "r next"};
  const std::vector<std::string> after = {"r next", "r next2"};
  const TlsaChange change = DiffTlsaRecords(before, after);
  EXPECT_EQ(change.add_now, std::vector<std::string>{"r next2"});
  EXPECT_EQ(change.remove_after_next_renewal, std::vector<std::string>{"r current"});
  EXPECT_TRUE(DiffTlsaRecords(after, after).empty());
}

// The rollover hold on explicit times (milliseconds since the epoch).
constexpr UnixTimeMs kDay = 86'400'000;
constexpr UnixTime kNotAfter = 1'800'000'000;              // seconds
constexpr UnixTimeMs kDue = kNotAfter * 1000 - 30 * kDay;  // renew_before 30d
constexpr Milliseconds kHold{2 * kDay};

TEST(ARoutineRenewal, ProceedsWhenDueIfTheNextKeyIsOlderThanTheHold) {
  EXPECT_EQ(RoutineRenewalTime(kDue, kNotAfter, kDue - 10 * kDay, kHold), kDue);
}

TEST(ARoutineRenewal, WaitsUntilTheNextKeyHasExistedForTheHold) {
  const UnixTimeMs made = kDue - 1000;  // a second before the renewal was due
  EXPECT_EQ(RoutineRenewalTime(kDue, kNotAfter, made, kHold), made + 2 * kDay);
}

TEST(ARoutineRenewal, NeverWaitsPastNotAfter) {
  const UnixTimeMs made = kNotAfter * 1000 - kDay;  // a day before NotAfter
  EXPECT_EQ(RoutineRenewalTime(kDue, kNotAfter, made, kHold), kNotAfter * 1000);
  EXPECT_EQ(RoutineRenewalTime(kDue, kNotAfter, std::nullopt, kHold), kNotAfter * 1000)
      << "without a next key it waits for one, up to NotAfter";
}

TEST(ARoutineRenewal, NeverWaitsWithoutAHold) {
  EXPECT_EQ(RoutineRenewalTime(kDue, kNotAfter, kDue, Milliseconds{0}), kDue);
  EXPECT_EQ(RoutineRenewalTime(kDue, kNotAfter, std::nullopt, Milliseconds{0}), kDue);
}

class AnInternalTransportRenewal : public ::testing::Test {
 protected:
  // The internal transport certificate valid from now-1d to NotAfter `not_after` (seconds).
  void Designate(UnixTime now, std::int64_t not_after_offset, bool with_key = true) {
    CertSpec spec;
    spec.now = now;
    spec.not_after_offset = not_after_offset;
    const TestCert cert = MakeCertificate(spec);
    store_.Write("cert.pem", (with_key ? cert.key_pem : "") + cert.cert_pem, 0600);
    StoreScanner scanner(store_.path(), ScanOptions{});
    inventory_ = std::move(scanner.Scan()).value();
    bindings_.internal_transport = cert.thumbprint;
  }
  std::optional<UnixTimeMs> AllowedAt(UnixTimeMs now, std::optional<UnixTimeMs> next_since) {
    return InternalTransportRenewalAllowedAt(inventory_, bindings_, Milliseconds{30 * kDay}, now,
                                             next_since, kHold);
  }

  TempDir store_;
  Inventory inventory_;
  Bindings bindings_;
};

TEST_F(AnInternalTransportRenewal, IsNotAskedForOutsideRenewBefore) {
  const UnixTime now = 1'700'000'000;
  Designate(now, std::int64_t{100} * 86400);
  EXPECT_EQ(AllowedAt(now * 1000, std::nullopt), std::nullopt);
}

TEST_F(AnInternalTransportRenewal, InsideRenewBeforeWaitsForTheHold) {
  const UnixTime now = 1'700'000'000;
  Designate(now, std::int64_t{10} * 86400);        // inside renew_before 30d
  const UnixTimeMs made = now * 1000 - 3'600'000;  // the next key is an hour old
  EXPECT_EQ(AllowedAt(now * 1000, made), made + 2 * kDay);
  EXPECT_EQ(AllowedAt(now * 1000, now * 1000 - 3 * kDay), now * 1000) << "held long enough";
}

TEST_F(AnInternalTransportRenewal, DoesNotWaitInAnEmergency) {
  const UnixTime now = 1'700'000'000;
  Designate(now, std::int64_t{10} * 86400, /*with_key=*/false);
  EXPECT_EQ(AllowedAt(now * 1000, now * 1000), now * 1000) << "no key: no waiting";
  Designate(now, -3600);
  EXPECT_EQ(AllowedAt(now * 1000, now * 1000), now * 1000) << "expired: no waiting";
  bindings_.internal_transport = std::string(40, 'A');
  EXPECT_EQ(AllowedAt(now * 1000, now * 1000), now * 1000) << "missing: no waiting";
}

}  // namespace
}  // namespace transportcertd
