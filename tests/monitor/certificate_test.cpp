#include "monitor/certificate.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include "tests/support/cert_factory.h"

namespace transportcertd {
namespace {

using testing::CertSpec;
using testing::MakeCa;
using testing::MakeCertificate;

std::string EncryptedKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  char pass[] = "secret";
  PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), pass, 6, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<size_t>(len)};
}

TEST(ACertificate, IsDescribedWithEveryFieldTheDaemonShows) {
  CertSpec spec;
  spec.cn = "mail.example.com";
  spec.dns_names = {"mail.example.com", "mx.example.com"};
  spec.now = 1'700'000'000;
  spec.not_before_offset = -3600;
  spec.not_after_offset = 86400;
  spec.key = "rsa:2048";
  spec.key_usage = kKeyUsageDigitalSignature | kKeyUsageKeyEncipherment;
  spec.eku = std::vector<std::string>{"serverAuth", "clientAuth"};
  const auto made = MakeCertificate(spec);

  auto parsed = ParseStoreFile(made.cert_pem);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->certificates.size(), 1u);
  const Certificate& c = parsed->certificates[0];
  EXPECT_EQ(c.thumbprint(), made.thumbprint);
  EXPECT_EQ(c.Sha256Hex().size(), 64u);
  EXPECT_EQ(c.subject(), "CN=mail.example.com");
  EXPECT_EQ(c.issuer(), "CN=mail.example.com");
  EXPECT_EQ(c.version, 3);
  EXPECT_EQ(c.not_before, 1'700'000'000 - 3600);
  EXPECT_EQ(c.not_after, 1'700'000'000 + 86400);
  EXPECT_EQ(c.dns_names(), (std::vector<std::string>{"mail.example.com", "mx.example.com"}));
  EXPECT_EQ(c.common_names(), std::vector<std::string>{"mail.example.com"});
  EXPECT_EQ(c.key_type, KeyType::kRsa);
  EXPECT_EQ(c.key_algorithm(), "RSA");
  EXPECT_EQ(c.key_bits, 2048);
  ASSERT_TRUE(c.key_usage.has_value());
  EXPECT_EQ(*c.key_usage & (kKeyUsageDigitalSignature | kKeyUsageKeyEncipherment),
            kKeyUsageDigitalSignature | kKeyUsageKeyEncipherment);
  ASSERT_TRUE(c.has_extended_key_usage);
  EXPECT_TRUE(c.HasServerAuth());
  EXPECT_TRUE(c.self_signed);
  EXPECT_FALSE(c.is_ca);
  EXPECT_FALSE(c.serial().empty());
  EXPECT_EQ(parsed->certificate_ders, std::vector<std::string>{made.der});
}

// Usable is worked out once, when the certificate is read: what UnusableReason says of it.
TEST(ACertificate, IsUsableUnlessItsVersionKeyOrUsagesRuleItOut) {
  CertSpec weak;
  weak.key = "rsa:1024";
  CertSpec v1;
  v1.version = 1;
  CertSpec client_only;
  client_only.eku = std::vector<std::string>{"clientAuth"};
  const struct {
    const char* what;
    CertSpec spec;
    bool usable;
  } kCases[] = {
      {"a server certificate", CertSpec{}, true},
      {"a weak key", weak, false},
      {"X.509 v1", v1, false},
      {"clientAuth only", client_only, false},
  };
  for (const auto& c : kCases) {
    auto parsed = ParseStoreFile(MakeCertificate(c.spec).cert_pem);
    ASSERT_TRUE(parsed.ok()) << c.what << ": " << parsed.error().message;
    ASSERT_EQ(parsed->certificates.size(), 1u) << c.what;
    const Certificate& cert = parsed->certificates[0];
    EXPECT_EQ(cert.usable, c.usable) << c.what;
    EXPECT_EQ(cert.usable, !UnusableReason(cert).has_value()) << c.what;
  }
}

TEST(ACertificate, NamesTheEcCurveAndKeySize) {
  CertSpec spec;
  spec.key = "ec:P-384";
  auto parsed = ParseStoreFile(MakeCertificate(spec).cert_pem);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->certificates[0].key_type, KeyType::kEc);
  EXPECT_EQ(parsed->certificates[0].curve(), "P-384");
  EXPECT_EQ(parsed->certificates[0].key_algorithm(), "EC P-384");
  EXPECT_EQ(parsed->certificates[0].key_bits, 384);
}

TEST(ACertificate, UsesTheCommonNameOnlyWhenThereIsNoSanDnsName) {
  CertSpec spec;
  spec.cn = "legacy.example.com";
  spec.dns_names = {};
  auto parsed = ParseStoreFile(MakeCertificate(spec).cert_pem);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->certificates[0].Names(), std::vector<std::string>{"legacy.example.com"});

  spec.dns_names = {"other.example.com"};
  parsed = ParseStoreFile(MakeCertificate(spec).cert_pem);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->certificates[0].Names(), std::vector<std::string>{"other.example.com"});
}

TEST(ACertificate, IssuedByACaIsNotSelfSigned) {
  const auto ca = MakeCa("Test Root");
  CertSpec spec;
  spec.issuer = &ca;
  auto parsed = ParseStoreFile(MakeCertificate(spec).cert_pem);
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->certificates[0].self_signed);
  EXPECT_EQ(parsed->certificates[0].issuer(), "CN=Test Root");

  auto root = ParseStoreFile(ca.cert_pem);
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->certificates[0].self_signed);
  EXPECT_TRUE(root->certificates[0].is_ca);
}

TEST(ACertificate, KeepsTheCommonNamesOfItsIssuer) {
  const auto ca = MakeCa("Test Root");
  CertSpec spec;
  spec.issuer = &ca;
  auto parsed = ParseStoreFile(MakeCertificate(spec).cert_pem);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->certificates[0].issuer_common_name(), "Test Root");
  EXPECT_EQ(parsed->certificates[0].common_names(), std::vector<std::string>{"mail.example.com"});
}

// Metrics label a certificate with its issuer's last CN, as other exporters do.
TEST(ACertificate, KeepsTheLastCommonNameOfAnIssuerWithSeveral) {
  X509Ptr x509 = X509FromDer(MakeCertificate({}).der);
  ASSERT_NE(x509, nullptr);
  X509NamePtr issuer(X509_NAME_new());
  for (const char* cn : {"First CN", "Second CN", "Last CN"}) {
    ASSERT_EQ(X509_NAME_add_entry_by_NID(issuer.get(), NID_commonName, MBSTRING_UTF8,
                                         reinterpret_cast<const unsigned char*>(cn), -1, -1, 0),
              1);
  }
  ASSERT_EQ(X509_set_issuer_name(x509.get(), issuer.get()), 1);
  auto described = DescribeCertificate(x509.get());
  ASSERT_TRUE(described.ok()) << described.error().message;
  EXPECT_EQ(described->issuer_common_name(), "Last CN");
}

TEST(ACertificate, ThatOnlyLooksSelfIssuedIsNotSelfSigned) {
  // Same subject as its issuer, but signed by a different key.
  const auto impostor_ca = MakeCa("mail.example.com");
  CertSpec spec;
  spec.cn = "mail.example.com";
  spec.issuer = &impostor_ca;
  auto parsed = ParseStoreFile(MakeCertificate(spec).cert_pem);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->certificates[0].subject(), parsed->certificates[0].issuer());
  EXPECT_FALSE(parsed->certificates[0].self_signed);
}

TEST(ACertificate, AndItsKeyShareAPublicKeyId) {
  const auto made = MakeCertificate({});
  auto parsed = ParseStoreFile(made.key_pem + made.cert_pem);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->keys.size(), 1u);
  ASSERT_EQ(parsed->certificates.size(), 1u);
  EXPECT_EQ(parsed->keys[0].public_key_id, parsed->certificates[0].public_key_id);
  EXPECT_NE(parsed->keys[0].public_key_id, KeyId{});
  EXPECT_NE(MakeCertificate({}).thumbprint, made.thumbprint);
}

CertificateText EveryTextField() {
  CertificateText text;
  text.thumbprint = "3BA4";
  text.subject = "CN=mail.example.com,O=Example";
  text.issuer = "";  // an empty string between others
  text.serial = "-1F";
  text.issuer_common_name = "Example CA";
  text.key_algorithm = "EC P-384";
  text.curve = "P-384";
  text.dns_names = {"mail.example.com", "", "*.example.com"};
  text.common_names = {"a", "b"};
  return text;
}

void ExpectText(const Certificate& cert, const CertificateText& text) {
  EXPECT_EQ(cert.thumbprint(), text.thumbprint);
  EXPECT_EQ(cert.subject(), text.subject);
  EXPECT_EQ(cert.issuer(), text.issuer);
  EXPECT_EQ(cert.serial(), text.serial);
  EXPECT_EQ(cert.issuer_common_name(), text.issuer_common_name);
  EXPECT_EQ(cert.key_algorithm(), text.key_algorithm);
  EXPECT_EQ(cert.curve(), text.curve);
  EXPECT_EQ(cert.dns_names().ToVector(), text.dns_names);
  EXPECT_EQ(cert.common_names().ToVector(), text.common_names);
}

TEST(ACertificatesText, GivesBackEveryFieldAsItWasSet) {
  Certificate cert;
  cert.SetText(EveryTextField());
  ExpectText(cert, EveryTextField());
  const CertificateText back = cert.Text();
  ExpectText(cert, back);
  EXPECT_EQ(cert.Names().ToVector(), EveryTextField().dns_names);
}

TEST(ACertificatesText, IsEmptyUntilSetAndNamesFallBackToTheCommonNames) {
  const Certificate empty;
  ExpectText(empty, CertificateText{});
  EXPECT_TRUE(empty.Names().empty());

  CertificateText text = EveryTextField();
  text.dns_names.clear();
  Certificate cert;
  cert.SetText(text);
  ExpectText(cert, text);
  EXPECT_EQ(cert.Names().ToVector(), (std::vector<std::string>{"a", "b"}));
  text.common_names.clear();
  cert.SetText(text);
  EXPECT_TRUE(cert.Names().empty());
  EXPECT_TRUE(cert.common_names().empty());
}

TEST(ACertificatesText, IsItsOwnInACopyAndStaysPutWhenTheCertificateMoves) {
  auto original = std::make_unique<Certificate>();
  original->SetText(EveryTextField());
  original->key_bits = 384;
  Certificate copy = *original;
  Certificate assigned;
  assigned.SetText(CertificateText{});
  assigned = copy;
  const NameList names = original->dns_names();
  Certificate moved = std::move(*original);
  EXPECT_EQ(names.ToVector(), EveryTextField().dns_names);  // the text moved with it
  original.reset();
  ExpectText(copy, EveryTextField());
  ExpectText(assigned, EveryTextField());
  ExpectText(moved, EveryTextField());
  EXPECT_EQ(assigned.key_bits, 384);
  copy.SetText(CertificateText{});
  ExpectText(assigned, EveryTextField());
  Certificate& same = assigned;
  assigned = same;
  ExpectText(assigned, EveryTextField());
  assigned = Certificate();  // a certificate with no text at all
  ExpectText(assigned, CertificateText{});
  const Certificate copied_empty = assigned;
  ExpectText(copied_empty, CertificateText{});
}

TEST(ACertificatesText, HoldsLongAndManyNames) {
  CertificateText text;
  text.subject = std::string(70'000, 'x');  // longer than 16 bits can count
  for (int i = 0; i < 1000; ++i) text.dns_names.push_back("host" + std::to_string(i) + ".example");
  Certificate cert;
  cert.SetText(text);
  ExpectText(cert, text);
  EXPECT_EQ(cert.Names().size(), 1000u);
  EXPECT_EQ(cert.Names()[999], "host999.example");
  EXPECT_EQ(cert.Names().back(), "host999.example");
}

TEST(AStoreFile, InDerFormIsParsed) {
  const auto made = MakeCertificate({});
  auto parsed = ParseStoreFile(made.der);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->certificates[0].thumbprint(), made.thumbprint);
}

TEST(AStoreFile, InDerFormWithTrailingBytesIsRejected) {
  auto parsed = ParseStoreFile(MakeCertificate({}).der + "junk");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("trailing data"), std::string::npos);
}

TEST(AStoreFile, WithAChainYieldsEveryCertificateInOrder) {
  const auto root = MakeCa("Root");
  const auto intermediate = MakeCa("Intermediate", &root);
  CertSpec spec;
  spec.issuer = &intermediate;
  const auto leaf = MakeCertificate(spec);
  auto parsed = ParseStoreFile(leaf.cert_pem + intermediate.cert_pem + root.cert_pem);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->certificates.size(), 3u);
  EXPECT_EQ(parsed->certificates[0].thumbprint(), leaf.thumbprint);
  EXPECT_EQ(parsed->certificates[1].thumbprint(), intermediate.thumbprint);
  EXPECT_EQ(parsed->certificates[2].thumbprint(), root.thumbprint);
}

TEST(AStoreFile, ThatIsEmptyIsReportedAsSuch) {
  auto parsed = ParseStoreFile("");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message, "empty file");
}

TEST(AStoreFile, OfGarbageSaysItIsNeitherPemNorDer) {
  auto parsed = ParseStoreFile("hello, I am not a certificate\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("neither PEM nor a DER certificate"), std::string::npos);
}

TEST(AStoreFile, WithAnEncryptedKeyExplainsWhyItIsUnusable) {
  const auto made = MakeCertificate({});
  auto parsed = ParseStoreFile(EncryptedKeyPem(made.key.get()));
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("encrypted private key"), std::string::npos);
}

TEST(AStoreFile, KeepsItsCertificateWhenItsKeyIsEncrypted) {
  const auto made = MakeCertificate({});
  auto parsed = ParseStoreFile(made.cert_pem + EncryptedKeyPem(made.key.get()));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->certificates.size(), 1u);
  EXPECT_TRUE(parsed->keys.empty());
  ASSERT_EQ(parsed->skipped.size(), 1u);
  EXPECT_NE(parsed->skipped[0].find("encrypted private key"), std::string::npos);
}

TEST(AStoreFile, ThatIsTruncatedKeepsTheCompleteBlocksAndSaysSo) {
  const auto first = MakeCertificate({});
  const auto second = MakeCertificate({});
  const std::string cut = second.cert_pem.substr(0, second.cert_pem.size() / 2);
  auto parsed = ParseStoreFile(first.cert_pem + cut);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->certificates.size(), 1u);
  EXPECT_EQ(parsed->certificates[0].thumbprint(), first.thumbprint);
  ASSERT_EQ(parsed->skipped.size(), 1u);
  EXPECT_NE(parsed->skipped[0].find("truncated"), std::string::npos);

  auto alone = ParseStoreFile(cut);
  EXPECT_FALSE(alone.ok());
}

TEST(AStoreFile, WithBadBase64IsRejected) {
  auto parsed = ParseStoreFile(
      "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n"
      "-----END CERTIFICATE-----\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_FALSE(parsed.error().message.empty());
}

TEST(AStoreFile, HoldingACsrSaysItIsACsr) {
  auto parsed = ParseStoreFile(
      "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"
      "-----END CERTIFICATE REQUEST-----\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("certificate signing request"), std::string::npos)
      << parsed.error().message;
}

TEST(AStoreFile, WithEcParametersBeforeTheKeyIsFine) {
  const auto made = MakeCertificate({});
  auto parsed = ParseStoreFile(
      "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" +
      made.key_pem + made.cert_pem);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->skipped.empty());
  EXPECT_EQ(parsed->keys.size(), 1u);
}

TEST(ADate, IsFormattedAsIsoDayInUtc) {
  EXPECT_EQ(FormatDate(0), "1970-01-01");
  EXPECT_EQ(FormatDate(1'328'000'000), "2012-01-31");
}

}  // namespace
}  // namespace transportcertd
