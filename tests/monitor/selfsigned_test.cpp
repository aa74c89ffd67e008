#include "monitor/selfsigned.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <ctime>
#include <limits>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "monitor/certificate.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::ReadWholeFile;
using testing::TempDir;

constexpr UnixTime kNow = 1'700'000'000;  // 2023-11-14

SelfSignedRequest Request(const std::string& fqdn = "mail.example.com") {
  SelfSignedRequest request;
  request.fqdn = fqdn;
  request.key = KeySpec{KeyType::kEc, 0, "P-256"};  // fast; key types have their own tests
  request.now = kNow;
  return request;
}

GeneratedCertificate Generate(const SelfSignedRequest& request) {
  Result<GeneratedCertificate> generated = GenerateSelfSigned(request);
  if (!generated.ok()) {
    ADD_FAILURE() << generated.error().message;
    return {};
  }
  return std::move(generated).value();
}

// Parses the certificate with OpenSSL itself, independently of the code under test.
X509Ptr ParseCertificate(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr x509(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_NE(x509, nullptr) << "not a PEM certificate:\n" << pem;
  return x509;
}

EvpPkeyPtr ParseKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_NE(key, nullptr) << "not a PEM private key:\n" << pem;
  return key;
}

std::vector<std::string> CommonNames(X509* x509) {
  std::vector<std::string> names;
  X509_NAME* subject = X509_get_subject_name(x509);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                       static_cast<std::size_t>(ASN1_STRING_length(data)));
  }
  return names;
}

std::vector<std::string> DnsNames(X509* x509) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr));
  if (sans == nullptr) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
    if (name->type != GEN_DNS) {
      ADD_FAILURE() << "a SAN that is not a DNS name";
      continue;
    }
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                       static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
  }
  GENERAL_NAMES_free(sans);
  return names;
}

const X509_EXTENSION* Extension(X509* x509, int nid) {
  const int index = X509_get_ext_by_NID(x509, nid, -1);
  return index < 0 ? nullptr : X509_get_ext(x509, index);
}

UnixTime ToUnixTime(const ASN1_TIME* time) {
  struct tm tm {};
  EXPECT_EQ(ASN1_TIME_to_tm(time, &tm), 1);
  return static_cast<UnixTime>(timegm(&tm));
}

std::string Sha1Hex(const std::string& der) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(der.data()), der.size(), digest);
  std::string hex;
  for (unsigned char b : digest) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    hex += kDigits[b >> 4];
    hex += kDigits[b & 0xF];
  }
  return hex;
}

std::string Der(X509* x509) {
  unsigned char* der = nullptr;
  const int size = i2d_X509(x509, &der);
  EXPECT_GT(size, 0);
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

std::string ErrorOf(const SelfSignedRequest& request) {
  const Result<GeneratedCertificate> generated = GenerateSelfSigned(request);
  if (generated.ok()) {
    ADD_FAILURE() << "generated a certificate for " << request.fqdn;
    return {};
  }
  return generated.error().message;
}

// ---- Key specs ----

TEST(AKeySpec, IsParsedFromEachAcceptedValueAndPrintsBack) {
  for (const char* text : {"rsa:2048", "rsa:3072", "rsa:4096", "ec:P-256", "ec:P-384"}) {
    const Result<KeySpec> spec = ParseKeySpec(text);
    ASSERT_TRUE(spec.ok()) << text << ": " << spec.error().message;
    EXPECT_EQ(spec->ToString(), text);
  }
  EXPECT_EQ(*ParseKeySpec("rsa:3072"), (KeySpec{KeyType::kRsa, 3072, ""}));
  EXPECT_EQ(*ParseKeySpec("ec:P-384"), (KeySpec{KeyType::kEc, 0, "P-384"}));
}

TEST(AKeySpec, IsParsedInAnyCase) {
  EXPECT_EQ(*ParseKeySpec("RSA:4096"), (KeySpec{KeyType::kRsa, 4096, ""}));
  EXPECT_EQ(*ParseKeySpec("EC:p-256"), (KeySpec{KeyType::kEc, 0, "P-256"}));
}

TEST(AKeySpec, RejectsJunkNamingTheValueAndTheAcceptedOnes) {
  for (const char* text : {"", "rsa", "rsa:", "rsa:1024", "rsa:2048x", " rsa:2048", "dsa:2048",
                           "ec:P-521", "ec:prime256v1", "ed25519", "2048"}) {
    const Result<KeySpec> spec = ParseKeySpec(text);
    ASSERT_FALSE(spec.ok()) << "accepted '" << text << "'";
    EXPECT_EQ(spec.error().message,
              "unsupported key '" + std::string(text) +
                  "' (expected rsa:2048, rsa:3072, rsa:4096, ec:P-256 or ec:P-384)");
  }
}

// ---- Names ----

TEST(ASelfSignedGenerator, PutsTheFqdnInTheSubjectCnAndIssuesTheCertificateToItself) {
  const X509Ptr x509 = ParseCertificate(Generate(Request()).certificate_pem);
  ASSERT_NE(x509, nullptr);

  EXPECT_EQ(CommonNames(x509.get()), std::vector<std::string>{"mail.example.com"});
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(x509.get())), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(x509.get()), X509_get_issuer_name(x509.get())), 0);
}

TEST(ASelfSignedGenerator, PutsTheFqdnAndShortNameInTheSans) {
  const X509Ptr x509 = ParseCertificate(Generate(Request()).certificate_pem);
  ASSERT_NE(x509, nullptr);

  EXPECT_EQ(DnsNames(x509.get()), (std::vector<std::string>{"mail.example.com", "mail"}));
}

TEST(ASelfSignedGenerator, AppendsExtraNamesInOrderEachOnceWhateverItsCase) {
  SelfSignedRequest request = Request();
  request.extra_names = {"MAIL.example.com",  "smtp.example.com",         "Mail",
                         "SMTP.Example.Com.", "autodiscover.example.com", "smtp.example.com"};

  const X509Ptr x509 = ParseCertificate(Generate(request).certificate_pem);
  ASSERT_NE(x509, nullptr);

  EXPECT_EQ(DnsNames(x509.get()),
            (std::vector<std::string>{"mail.example.com", "mail", "smtp.example.com",
                                      "autodiscover.example.com"}));
}

TEST(ASelfSignedGenerator, UsesASingleLabelFqdnAsItsOnlyName) {
  const X509Ptr x509 = ParseCertificate(Generate(Request("mailhost")).certificate_pem);
  ASSERT_NE(x509, nullptr);

  EXPECT_EQ(CommonNames(x509.get()), std::vector<std::string>{"mailhost"});
  EXPECT_EQ(DnsNames(x509.get()), std::vector<std::string>{"mailhost"});
}

TEST(ASelfSignedGenerator, DropsTheTrailingDotOfAnAbsoluteFqdn) {
  const X509Ptr x509 = ParseCertificate(Generate(Request("mail.example.com.")).certificate_pem);
  ASSERT_NE(x509, nullptr);

  EXPECT_EQ(CommonNames(x509.get()), std::vector<std::string>{"mail.example.com"});
  EXPECT_EQ(DnsNames(x509.get()), (std::vector<std::string>{"mail.example.com", "mail"}));
}

TEST(ASelfSignedGenerator, PutsTheShortNameInTheCnWhenTheFqdnIsTooLongForOne) {
  const std::string fqdn = "mx1." + std::string(40, 'a') + ".example-long-domain.com";
  ASSERT_GT(fqdn.size(), 64u);

  const X509Ptr x509 = ParseCertificate(Generate(Request(fqdn)).certificate_pem);
  ASSERT_NE(x509, nullptr);

  EXPECT_EQ(CommonNames(x509.get()), std::vector<std::string>{"mx1"});
  EXPECT_EQ(DnsNames(x509.get()), (std::vector<std::string>{fqdn, "mx1"}));
}

TEST(ASelfSignedGenerator, RejectsAnInvalidFqdn) {
  for (const char* fqdn : {"", "mail example.com", "*.example.com", "mail..example.com",
                           "mail.example.com/x", "-mail.example.com"}) {
    EXPECT_EQ(
        ErrorOf(Request(fqdn)),
        "cannot generate self-signed certificate: invalid host name '" + std::string(fqdn) + "'");
  }
}

TEST(ASelfSignedGenerator, RejectsAnInvalidExtraName) {
  SelfSignedRequest request = Request();
  request.extra_names = {"ok.example.com", "not ok"};

  EXPECT_EQ(ErrorOf(request),
            "cannot generate self-signed certificate: invalid host name 'not ok'");
}

// ---- Extensions, serial, dates, signature ----

class AGeneratedCertificate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { generated_ = new GeneratedCertificate(Generate(Request())); }
  static void TearDownTestSuite() {
    delete generated_;
    generated_ = nullptr;
  }
  void SetUp() override {
    x509_ = ParseCertificate(generated_->certificate_pem);
    ASSERT_NE(x509_, nullptr);
  }
  X509* cert() { return x509_.get(); }

  static GeneratedCertificate* generated_;
  X509Ptr x509_;
};

GeneratedCertificate* AGeneratedCertificate::generated_ = nullptr;

TEST_F(AGeneratedCertificate, IsVersion3) { EXPECT_EQ(X509_get_version(cert()), X509_VERSION_3); }

TEST_F(AGeneratedCertificate, AllowsDigitalSignatureAndKeyEnciphermentInACriticalKeyUsage) {
  const X509_EXTENSION* ext = Extension(cert(), NID_key_usage);
  ASSERT_NE(ext, nullptr);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  EXPECT_EQ(X509_get_key_usage(cert()),
            static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
}

TEST_F(AGeneratedCertificate, IsForServerAuthenticationOnly) {
  auto* eku = static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert(), NID_ext_key_usage, nullptr, nullptr));
  ASSERT_NE(eku, nullptr);
  ASSERT_EQ(sk_ASN1_OBJECT_num(eku), 1);
  EXPECT_EQ(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_server_auth);
  EXTENDED_KEY_USAGE_free(eku);
}

TEST_F(AGeneratedCertificate, IsNotACa) {
  const X509_EXTENSION* ext = Extension(cert(), NID_basic_constraints);
  ASSERT_NE(ext, nullptr);
  auto* bc = static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert(), NID_basic_constraints, nullptr, nullptr));
  ASSERT_NE(bc, nullptr);
  EXPECT_EQ(bc->ca, 0);
  BASIC_CONSTRAINTS_free(bc);
  EXPECT_EQ(X509_check_ca(cert()), 0);
}

TEST_F(AGeneratedCertificate, HasASubjectKeyIdentifier) {
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(cert());
  ASSERT_NE(ski, nullptr);
  EXPECT_EQ(ASN1_STRING_length(ski), 20);  // SHA-1 of the public key
}

TEST_F(AGeneratedCertificate, IsValidFromNowForTheRequestedTime) {
  EXPECT_EQ(ToUnixTime(X509_get0_notBefore(cert())), kNow);
  EXPECT_EQ(ToUnixTime(X509_get0_notAfter(cert())), kNow + 1825LL * 86400);
}

TEST_F(AGeneratedCertificate, IsSignedWithSha256AndItsSignatureVerifiesWithItsOwnKey) {
  EXPECT_EQ(X509_get_signature_nid(cert()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(X509_verify(cert(), X509_get0_pubkey(cert())), 1);
  EXPECT_EQ(X509_self_signed(cert(), 1), 1);
}

TEST_F(AGeneratedCertificate, HasTheUppercaseSha1OfItsDerAsThumbprint) {
  EXPECT_EQ(generated_->thumbprint, Sha1Hex(Der(cert())));
}

TEST_F(AGeneratedCertificate, ComesWithItsKeyAsUnencryptedPkcs8) {
  EXPECT_EQ(generated_->key_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  const EvpPkeyPtr key = ParseKey(generated_->key_pem);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(cert(), key.get()), 1);
}

TEST_F(AGeneratedCertificate, IsReadByTheStoreAsASelfSignedCertificateWithItsKey) {
  const Result<ParsedFile> parsed =
      ParseStoreFile(generated_->key_pem + generated_->certificate_pem);

  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->certificates.size(), 1u);
  ASSERT_EQ(parsed->keys.size(), 1u);
  const Certificate& c = parsed->certificates[0];
  EXPECT_EQ(c.thumbprint(), generated_->thumbprint);
  EXPECT_EQ(c.public_key_id, parsed->keys[0].public_key_id);
  EXPECT_TRUE(c.self_signed);
  EXPECT_FALSE(c.is_ca);
  EXPECT_TRUE(c.HasServerAuth());
  EXPECT_EQ(c.not_before, kNow);
}

TEST(ASelfSignedGenerator, DrawsADifferentPositiveSerialOfAtMost159BitsEachTime) {
  std::set<std::string> serials;
  for (int i = 0; i < 8; ++i) {
    const X509Ptr x509 = ParseCertificate(Generate(Request()).certificate_pem);
    ASSERT_NE(x509, nullptr);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(x509.get());
    EXPECT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER) << "negative serial";
    EXPECT_LE(ASN1_STRING_length(serial), 20);
    BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
    ASSERT_NE(bn, nullptr);
    EXPECT_FALSE(BN_is_zero(bn.get()));
    EXPECT_FALSE(BN_is_negative(bn.get()));
    EXPECT_LE(BN_num_bits(bn.get()), 159);
    // At least 64 random bits (CA/Browser Forum): a shorter one is astronomically unlikely.
    EXPECT_GT(BN_num_bits(bn.get()), 64);
    char* hex = BN_bn2hex(bn.get());
    serials.insert(hex);
    OPENSSL_free(hex);
  }
  EXPECT_EQ(serials.size(), 8u);
}

TEST(ASelfSignedGenerator, StartsTheValidityAtTheCurrentTimeWhenNowIsZero) {
  SelfSignedRequest request = Request();
  request.now = 0;
  request.validity_seconds = 3600;

  const auto before = static_cast<UnixTime>(std::time(nullptr));
  const X509Ptr x509 = ParseCertificate(Generate(request).certificate_pem);
  const auto after = static_cast<UnixTime>(std::time(nullptr));
  ASSERT_NE(x509, nullptr);

  const UnixTime not_before = ToUnixTime(X509_get0_notBefore(x509.get()));
  EXPECT_GE(not_before, before);
  EXPECT_LE(not_before, after);
  EXPECT_EQ(ToUnixTime(X509_get0_notAfter(x509.get())), not_before + 3600);
}

TEST(ASelfSignedGenerator, WritesDatesBeyond2049AsGeneralizedTime) {
  SelfSignedRequest request = Request();
  request.validity_seconds = 100LL * 365 * 86400;

  const X509Ptr x509 = ParseCertificate(Generate(request).certificate_pem);
  ASSERT_NE(x509, nullptr);

  EXPECT_EQ(ToUnixTime(X509_get0_notAfter(x509.get())), kNow + request.validity_seconds);
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notAfter(x509.get())), V_ASN1_GENERALIZEDTIME);
}

TEST(ASelfSignedGenerator, RejectsAValidityThatIsNotPositive) {
  SelfSignedRequest request = Request();
  request.validity_seconds = 0;

  EXPECT_EQ(ErrorOf(request),
            "cannot generate self-signed certificate: validity must be positive, not 0 seconds");
}

TEST(ASelfSignedGenerator, RejectsAValidityThatEndsAfterTheLastDateACertificateCanHold) {
  SelfSignedRequest request = Request();
  request.validity_seconds = 10'000LL * 365 * 86400;
  EXPECT_EQ(ErrorOf(request), "cannot generate self-signed certificate: validity of " +
                                  std::to_string(request.validity_seconds) +
                                  " seconds is too long (ends after 9999-12-31)");

  request.validity_seconds = std::numeric_limits<std::int64_t>::max();
  EXPECT_NE(ErrorOf(request).find("is too long"), std::string::npos);

  request.validity_seconds = 253'402'300'799 - kNow;  // exactly 9999-12-31T23:59:59Z
  const X509Ptr x509 = ParseCertificate(Generate(request).certificate_pem);
  ASSERT_NE(x509, nullptr);
  EXPECT_EQ(ToUnixTime(X509_get0_notAfter(x509.get())), 253'402'300'799);
}

TEST(ASelfSignedGenerator, RejectsAKeySpecItDoesNotSupport) {
  SelfSignedRequest request = Request();
  request.key = KeySpec{KeyType::kRsa, 1024, ""};
  EXPECT_NE(ErrorOf(request).find("unsupported key rsa:1024"), std::string::npos);

  request.key = KeySpec{KeyType::kEc, 0, "P-521"};
  EXPECT_NE(ErrorOf(request).find("unsupported key ec:P-521"), std::string::npos);

  request.key = KeySpec{KeyType::kOther, 0, ""};
  EXPECT_NE(ErrorOf(request).find("unsupported key"), std::string::npos);
}

// ---- Each key spec (RSA 4096 is slow, so it appears once, here) ----

struct KeyCase {
  const char* spec;
  int pkey_id;
  int bits;
  int curve_nid;  // NID_undef for RSA
  int signature_nid;
};

void PrintTo(const KeyCase& key_case, std::ostream* os) { *os << key_case.spec; }

class AGeneratedKey : public ::testing::TestWithParam<KeyCase> {};

TEST_P(AGeneratedKey, HasTheConfiguredTypeAndSizeAndMatchesItsCertificate) {
  const KeyCase& c = GetParam();
  SelfSignedRequest request = Request();
  const Result<KeySpec> spec = ParseKeySpec(c.spec);
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  request.key = *spec;

  const GeneratedCertificate generated = Generate(request);
  const X509Ptr x509 = ParseCertificate(generated.certificate_pem);
  const EvpPkeyPtr key = ParseKey(generated.key_pem);
  ASSERT_NE(x509, nullptr);
  ASSERT_NE(key, nullptr);

  EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), c.pkey_id);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), c.bits);
  if (c.curve_nid != NID_undef) {
    char group[64] = {};
    size_t length = 0;
    ASSERT_EQ(EVP_PKEY_get_group_name(key.get(), group, sizeof group, &length), 1);
    EXPECT_EQ(OBJ_sn2nid(group), c.curve_nid) << group;
    // A named curve, not explicit parameters.
    char encoding[32] = {};
    ASSERT_EQ(EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_EC_ENCODING, encoding,
                                             sizeof encoding, nullptr),
              1);
    EXPECT_STREQ(encoding, OSSL_PKEY_EC_ENCODING_GROUP);
  }
  EXPECT_EQ(X509_check_private_key(x509.get(), key.get()), 1);
  EXPECT_EQ(X509_get_signature_nid(x509.get()), c.signature_nid);
  EXPECT_EQ(X509_verify(x509.get(), key.get()), 1);
}

INSTANTIATE_TEST_SUITE_P(
    EachAcceptedSpec, AGeneratedKey,
    ::testing::Values(
        KeyCase{"rsa:2048", EVP_PKEY_RSA, 2048, NID_undef, NID_sha256WithRSAEncryption},
        KeyCase{"rsa:3072", EVP_PKEY_RSA, 3072, NID_undef, NID_sha256WithRSAEncryption},
        KeyCase{"rsa:4096", EVP_PKEY_RSA, 4096, NID_undef, NID_sha256WithRSAEncryption},
        KeyCase{"ec:P-256", EVP_PKEY_EC, 256, NID_X9_62_prime256v1, NID_ecdsa_with_SHA256},
        KeyCase{"ec:P-384", EVP_PKEY_EC, 384, NID_secp384r1, NID_ecdsa_with_SHA256}),
    [](const ::testing::TestParamInfo<KeyCase>& param_info) {
      std::string name = param_info.param.spec;
      for (char& ch : name) {
        if (ch == ':' || ch == '-') ch = '_';
      }
      return name;
    });

// ---- Writing to the store ----

TEST(WritingToTheStore, PutsTheKeyThenTheCertificateInAThumbprintNamedFileOfMode0600) {
  TempDir store;
  const GeneratedCertificate generated = Generate(Request());

  const Result<std::string> path = WriteToStore(store.path(), generated);

  ASSERT_TRUE(path.ok()) << path.error().message;
  EXPECT_EQ(*path, store / ("transportcertd-" + generated.thumbprint + ".pem"));
  EXPECT_EQ(ReadWholeFile(*path), generated.key_pem + generated.certificate_pem);
  struct stat st {};
  ASSERT_EQ(::stat(path->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(WritingToTheStore, FailsWhenTheStoreDirectoryIsMissing) {
  TempDir dir;
  const GeneratedCertificate generated = Generate(Request());

  const Result<std::string> path = WriteToStore(dir / "missing", generated);

  ASSERT_FALSE(path.ok());
  EXPECT_NE(path.error().message.find("could not write: No such file or directory"),
            std::string::npos)
      << path.error().message;
}

TEST(WritingToTheStore, RefusesAThumbprintThatIsNotOne) {
  TempDir store;
  GeneratedCertificate generated = Generate(Request());
  generated.thumbprint = "../../etc/passwd";

  const Result<std::string> path = WriteToStore(store.path(), generated);

  ASSERT_FALSE(path.ok());
  EXPECT_NE(path.error().message.find("malformed thumbprint"), std::string::npos);
}

}  // namespace
}  // namespace transportcertd

namespace transportcertd {
namespace {

TEST(ASelfSignedReplacement, UsesTheExistingKeyItIsGiven) {
  auto next_key = GeneratePrivateKeyPem(KeySpec{KeyType::kEc, 0, "P-384"});
  ASSERT_TRUE(next_key.ok());
  SelfSignedRequest request;
  request.fqdn = "mail.example.com";
  request.now = 1'700'000'000;
  request.existing_key_pem = *next_key;  // request.key (rsa:2048) is ignored
  auto generated = GenerateSelfSigned(request);
  ASSERT_TRUE(generated.ok()) << generated.error().message;
  auto parsed = ParseStoreFile(generated->certificate_pem);
  ASSERT_TRUE(parsed.ok());
  auto key = ParseStoreFile(*next_key);
  ASSERT_TRUE(key.ok());
  ASSERT_EQ(key->keys.size(), 1u);
  EXPECT_EQ(parsed->certificates.front().public_key_id, key->keys.front().public_key_id);
  EXPECT_EQ(parsed->certificates.front().key_algorithm(), "EC P-384");
  auto spec = KeySpecOfPrivateKeyPem(generated->key_pem);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->ToString(), "ec:P-384");
}

TEST(ASelfSignedReplacement, RefusesAnExistingKeyThatIsNotAKey) {
  SelfSignedRequest request;
  request.fqdn = "mail.example.com";
  request.existing_key_pem = "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n";
  auto generated = GenerateSelfSigned(request);
  ASSERT_FALSE(generated.ok());
  EXPECT_NE(generated.error().message.find("not an unencrypted PEM private key"), std::string::npos)
      << generated.error().message;
}

}  // namespace
}  // namespace transportcertd
