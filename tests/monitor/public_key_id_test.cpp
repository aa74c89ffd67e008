// The public key id pairs a certificate with its private key: for both it must be the SHA-256
// of the key's SubjectPublicKeyInfo as OpenSSL encodes it (i2d_PUBKEY), whatever form the
// certificate or key file stores it in. The scanner takes a certificate's stored bytes, or
// puts an EC key's together from its curve and point, where they are known to be the same;
// these tests hold certificates and keys in other forms (compressed and hybrid points,
// explicit curves, RSA without its NULL parameters or with a padded integer) and the whole
// third-party corpus to the encoder's answer, and check that such certificates still pair
// with their keys in a store.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <filesystem>
#include <string>
#include <vector>

#include "monitor/certificate.h"
#include "monitor/store.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

namespace fs = std::filesystem;
using testing::CertSpec;
using testing::MakeCertificate;

const std::string kCorpus = std::string(TRANSPORTCERTD_SHARED_DIR) + "/corpus/certs";

KeyId Sha256Of(const unsigned char* data, int len) {
  KeyId id{};
  unsigned int out = 0;
  EVP_Digest(data, static_cast<size_t>(len), id.data(), &out, EVP_sha256(), nullptr);
  return id;
}

// The id as the encoder gives it: i2d_PUBKEY of the key OpenSSL decoded from the certificate,
// or, for a key it cannot decode or encode, the stored SubjectPublicKeyInfo.
KeyId EncoderKeyId(X509* x509) {
  unsigned char* der = nullptr;
  EVP_PKEY* key = X509_get0_pubkey(x509);
  int len = key != nullptr ? i2d_PUBKEY(key, &der) : 0;
  if (len <= 0) len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509), &der);
  const KeyId id = Sha256Of(der, len);
  OPENSSL_free(der);
  return id;
}

std::string StoredSpki(X509* x509) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509), &der);
  std::string spki(reinterpret_cast<const char*>(der), static_cast<size_t>(std::max(len, 0)));
  OPENSSL_free(der);
  return spki;
}

std::string Pem(X509* x509) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x509);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<size_t>(len)};
}

std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<size_t>(len)};
}

// `x509` signed again by `key` and read back from its DER, so that what is decoded is what
// a file would hold.
X509Ptr SignedAndReread(X509* x509, EVP_PKEY* key) {
  EXPECT_GT(X509_sign(x509, key, EVP_sha256()), 0);
  unsigned char* der = nullptr;
  const int len = i2d_X509(x509, &der);
  const unsigned char* p = der;
  X509Ptr reread(d2i_X509(nullptr, &p, len));
  OPENSSL_free(der);
  return reread;
}

// A DER TLV with a definite length.
std::string Tlv(unsigned char tag, const std::string& contents) {
  std::string out(1, static_cast<char>(tag));
  const std::size_t n = contents.size();
  if (n < 0x80) {
    out += static_cast<char>(n);
  } else if (n < 0x100) {
    out += "\x81";
    out += static_cast<char>(n);
  } else {
    out += "\x82";
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xFF);
  }
  return out + contents;
}

std::string BnBytes(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return bytes;
}

struct Odd {
  std::string name;
  X509Ptr x509;
  EvpPkeyPtr key;
  // The stored SubjectPublicKeyInfo is not what the encoder writes for the key. (OpenSSL
  // keeps the point format and curve encoding an EC key was read with, and writes them back.)
  bool stored_differs = false;
};

// An EC certificate whose key is stored with each param set to its value (point format or
// curve encoding), self-signed.
Odd EcWith(const std::string& curve, const std::vector<std::pair<const char*, const char*>>& set,
           bool stored_differs) {
  CertSpec spec;
  spec.key = "ec:" + curve;
  testing::TestCert made = MakeCertificate(spec);
  std::string name = curve;
  for (const auto& [param, value] : set) {
    EXPECT_EQ(EVP_PKEY_set_utf8_string_param(made.key.get(), param, value), 1) << value;
    name += std::string(" ") + value;
  }
  X509Ptr x509(X509_dup(made.x509.get()));
  EXPECT_EQ(X509_set_pubkey(x509.get(), made.key.get()), 1);
  return {name, SignedAndReread(x509.get(), made.key.get()), std::move(made.key), stored_differs};
}

// An RSA certificate whose SubjectPublicKeyInfo is written by hand: with or without the NULL
// parameters, and with the public exponent in its fewest bytes or with a leading zero byte.
Odd RsaWith(bool null_parameters, bool padded_exponent) {
  CertSpec spec;
  spec.key = "rsa:2048";
  testing::TestCert made = MakeCertificate(spec);
  std::string n = BnBytes(made.key.get(), OSSL_PKEY_PARAM_RSA_N);
  if ((static_cast<unsigned char>(n[0]) & 0x80) != 0) n.insert(0, 1, '\0');
  std::string e = BnBytes(made.key.get(), OSSL_PKEY_PARAM_RSA_E);
  if (padded_exponent) e.insert(0, 1, '\0');
  const std::string rsa_key = Tlv(0x30, Tlv(0x02, n) + Tlv(0x02, e));
  auto* bits = static_cast<unsigned char*>(OPENSSL_memdup(rsa_key.data(), rsa_key.size()));
  X509Ptr x509(X509_dup(made.x509.get()));
  EXPECT_EQ(X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x509.get()), OBJ_nid2obj(NID_rsaEncryption),
                                   null_parameters ? V_ASN1_NULL : V_ASN1_UNDEF, nullptr, bits,
                                   static_cast<int>(rsa_key.size())),
            1);
  std::string name = "RSA";
  if (!null_parameters) name += " without NULL parameters";
  if (padded_exponent) name += " with a padded exponent";
  return {name, SignedAndReread(x509.get(), made.key.get()), std::move(made.key), true};
}

std::vector<Odd> OddCertificates() {
  std::vector<Odd> odd;
  odd.push_back(
      EcWith("P-256", {{OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"}}, false));
  odd.push_back(EcWith("P-384", {{OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "hybrid"}}, false));
  odd.push_back(EcWith("P-256", {{OSSL_PKEY_PARAM_EC_ENCODING, "explicit"}}, false));
  odd.push_back(EcWith("P-521",
                       {{OSSL_PKEY_PARAM_EC_ENCODING, "explicit"},
                        {OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"}},
                       true));
  odd.push_back(RsaWith(false, false));
  odd.push_back(RsaWith(true, true));
  odd.push_back(RsaWith(false, true));
  return odd;
}

TEST(APublicKeyId, IsTheEncodersForCertificatesStoringTheirKeyInAnotherForm) {
  for (const Odd& odd : OddCertificates()) {
    SCOPED_TRACE(odd.name);
    ASSERT_TRUE(odd.x509);
    ASSERT_NE(X509_get0_pubkey(odd.x509.get()), nullptr) << "OpenSSL decodes the key";
    unsigned char* encoded = nullptr;
    const int len = i2d_PUBKEY(X509_get0_pubkey(odd.x509.get()), &encoded);
    ASSERT_GT(len, 0);
    EXPECT_EQ(StoredSpki(odd.x509.get()) !=
                  std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(len)),
              odd.stored_differs);
    OPENSSL_free(encoded);

    auto cert = ParseStoreFile(Pem(odd.x509.get()));
    ASSERT_TRUE(cert.ok()) << cert.error().message;
    ASSERT_EQ(cert->certificates.size(), 1u);
    EXPECT_EQ(cert->certificates[0].public_key_id, EncoderKeyId(odd.x509.get()));
  }
}

KeyId EncoderKeyId(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  const KeyId id = Sha256Of(der, len);
  OPENSSL_free(der);
  return id;
}

TEST(APublicKeyId, IsTheEncodersForPrivateKeysStoredInAnotherForm) {
  for (const Odd& odd : OddCertificates()) {
    SCOPED_TRACE(odd.name);
    // Written from the key as OpenSSL holds it (PKCS#8), and read back: the file's key.
    const std::string pem = KeyPem(odd.key.get());
    auto parsed = ParseStoreFile(pem);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    ASSERT_EQ(parsed->keys.size(), 1u);
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EvpPkeyPtr reread(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(reread);
    EXPECT_EQ(parsed->keys[0].public_key_id, EncoderKeyId(reread.get()));
  }
}

TEST(APublicKeyId, IsTheEncodersForTheUsualForms) {
  for (const std::string key : {"ec:P-256", "ec:P-384", "ec:P-521", "rsa:2048", "rsa:3072"}) {
    SCOPED_TRACE(key);
    CertSpec spec;
    spec.key = key;
    const testing::TestCert made = MakeCertificate(spec);
    auto parsed = ParseStoreFile(made.cert_pem + made.key_pem);
    ASSERT_TRUE(parsed.ok());
    ASSERT_EQ(parsed->certificates.size(), 1u);
    ASSERT_EQ(parsed->keys.size(), 1u);
    EXPECT_EQ(parsed->certificates[0].public_key_id, EncoderKeyId(made.x509.get()));
    EXPECT_EQ(parsed->keys[0].public_key_id, EncoderKeyId(made.key.get()));
    EXPECT_EQ(parsed->certificates[0].public_key_id, parsed->keys[0].public_key_id);
  }
}

TEST(APublicKeyId, IsTheEncodersForEveryCertificateOfTheCorpus) {
  std::size_t certificates = 0;
  for (const auto& entry : fs::directory_iterator(kCorpus)) {
    if (entry.path().filename() == "MANIFEST.tsv" || !entry.is_regular_file()) continue;
    auto contents = ReadStoreFile(entry.path(), std::uint64_t{1024} * 1024);
    if (!contents) continue;
    auto parsed = ParseStoreFile(*contents);
    if (!parsed) continue;
    for (std::size_t i = 0; i < parsed->certificates.size(); ++i) {
      SCOPED_TRACE(entry.path().filename().string());
      const std::string& der = parsed->certificate_ders[i];
      X509Ptr x509 = X509FromDer(der);
      ASSERT_TRUE(x509);
      EXPECT_EQ(parsed->certificates[i].public_key_id, EncoderKeyId(x509.get()));
      ++certificates;
    }
  }
  EXPECT_GT(certificates, 100u) << "corpus not found under " << kCorpus;
}

TEST(APublicKeyId, PairsCertificatesStoringTheirKeyInAnotherFormWithTheirKeysInAStore) {
  testing::TempDir store;
  std::vector<Odd> odd = OddCertificates();
  for (std::size_t i = 0; i < odd.size(); ++i) {
    store.Write("odd-" + std::to_string(i) + ".crt", Pem(odd[i].x509.get()));
    store.Write("odd-" + std::to_string(i) + ".key", KeyPem(odd[i].key.get()), 0600);
  }
  StoreScanner scanner(store.path(), ScanOptions{});
  auto inventory = scanner.Scan();
  ASSERT_TRUE(inventory.ok()) << inventory.error().message;
  ASSERT_EQ(inventory->certificates.size(), odd.size());
  for (const auto& problem : inventory->problems) {
    ADD_FAILURE() << problem.file << ": " << problem.reason;
  }
  for (std::size_t i = 0; i < odd.size(); ++i) {
    SCOPED_TRACE(odd[i].name);
    const std::string cert_name = "odd-" + std::to_string(i) + ".crt";
    const StoredCertificate* stored = nullptr;
    for (const auto& c : inventory->certificates) {
      if (c.file_names.front() == cert_name) stored = &c;
    }
    ASSERT_NE(stored, nullptr);
    EXPECT_EQ(stored->key_file_name, "odd-" + std::to_string(i) + ".key");
  }
}

}  // namespace
}  // namespace transportcertd
