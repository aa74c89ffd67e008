#include "tests/support/cert_factory.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string_view>

namespace transportcertd::testing {
namespace {

// The factory has no error channel: a certificate it cannot make is a broken test, so it stops
// the test binary with the reason rather than handing back half a certificate.
[[noreturn]] void Die(std::string_view what) {
  const unsigned long code = ERR_get_error();
  char reason[256] = "no OpenSSL error";
  if (code != 0) {
    ERR_error_string_n(code, reason, sizeof reason);
  }
  static_cast<void>(std::fprintf(stderr, "cert_factory: %.*s (%s)\n", static_cast<int>(what.size()),
                                 what.data(), reason));
  std::abort();
}

void Check(int ok, std::string_view what) {
  if (ok != 1) {
    Die(what);
  }
}

template <typename T>
T* Check(T* p, std::string_view what) {
  if (p == nullptr) {
    Die(what);
  }
  return p;
}

EvpPkeyPtr MakeKey(const std::string& spec) {
  if (spec.rfind("rsa:", 0) == 0) {
    const long bits = std::strtol(spec.c_str() + 4, nullptr, 10);
    if (bits <= 0) {
      Die("bad RSA key size in spec " + spec);
    }
    return EvpPkeyPtr(Check(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)),
                            "RSA key generation"));
  }
  if (spec.rfind("ec:", 0) == 0) {
    const std::string curve = spec.substr(3);
    return EvpPkeyPtr(
        Check(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve.c_str()), "EC key generation"));
  }
  Die("unknown key spec " + spec);
}

std::string HexUpperOf(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[data[i] >> 4]);
    hex.push_back(kDigits[data[i] & 0x0F]);
  }
  return hex;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

void SetRandomSerial(X509* x509) {
  BignumPtr bn(Check(BN_new(), "BN_new"));
  Check(BN_rand(bn.get(), 64, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY), "BN_rand");
  Check(BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x509)) != nullptr ? 1 : 0,
        "serial number");
}

void SetValidity(X509* x509, const CertSpec& spec) {
  const std::int64_t now = spec.now != 0 ? spec.now : static_cast<std::int64_t>(std::time(nullptr));
  const auto not_before = static_cast<time_t>(now + spec.not_before_offset);
  const auto not_after = static_cast<time_t>(now + spec.not_after_offset);
  Check(ASN1_TIME_set(X509_getm_notBefore(x509), not_before) != nullptr ? 1 : 0, "notBefore");
  Check(ASN1_TIME_set(X509_getm_notAfter(x509), not_after) != nullptr ? 1 : 0, "notAfter");
}

void SetSubject(X509* x509, const std::string& cn) {
  X509NamePtr name(Check(X509_NAME_new(), "X509_NAME_new"));
  if (!cn.empty()) {
    Check(X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(cn.data()),
                                     static_cast<int>(cn.size()), -1, 0),
          "subject CN");
  }
  Check(X509_set_subject_name(x509, name.get()), "subject name");
}

template <typename T>
void AddExtension(X509* x509, int nid, T* value, bool critical, std::string_view what) {
  Check(X509_add1_ext_i2d(x509, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT), what);
}

void AddSubjectAltNames(X509* x509, const std::vector<std::string>& dns_names) {
  GeneralNamesPtr names(Check(GENERAL_NAMES_new(), "GENERAL_NAMES_new"));
  for (const std::string& dns : dns_names) {
    Ia5StringPtr ia5(Check(ASN1_IA5STRING_new(), "ASN1_IA5STRING_new"));
    Check(ASN1_STRING_set(ia5.get(), dns.data(), static_cast<int>(dns.size())), "SAN string");
    GeneralNamePtr name(Check(GENERAL_NAME_new(), "GENERAL_NAME_new"));
    GENERAL_NAME_set0_value(name.get(), GEN_DNS, ia5.release());
    // The stack owns the name once pushed; a failed push stops the test binary anyway.
    Check(sk_GENERAL_NAME_push(names.get(), name.release()) > 0 ? 1 : 0, "SAN push");
  }
  AddExtension(x509, NID_subject_alt_name, names.get(), false, "subjectAltName");
}

void AddKeyUsage(X509* x509, std::uint32_t bits) {
  // X509v3_KU_* masks in DER bit order: 0x80 is bit 0 (digitalSignature) … 0x01 is bit 7
  // (encipherOnly), 0x8000 is bit 8 (decipherOnly).
  BitStringPtr usage(Check(ASN1_BIT_STRING_new(), "ASN1_BIT_STRING_new"));
  for (int bit = 0; bit < 8; ++bit) {
    if ((bits & (0x80u >> bit)) != 0) {
      Check(ASN1_BIT_STRING_set_bit(usage.get(), bit, 1), "KU");
    }
  }
  if ((bits & 0x8000u) != 0) {
    Check(ASN1_BIT_STRING_set_bit(usage.get(), 8, 1), "KU");
  }
  AddExtension(x509, NID_key_usage, usage.get(), true, "keyUsage");
}

void AddExtendedKeyUsage(X509* x509, const std::vector<std::string>& short_names) {
  EkuPtr eku(Check(sk_ASN1_OBJECT_new_null(), "EKU stack"));
  for (const std::string& sn : short_names) {
    Asn1ObjectPtr object(Check(OBJ_txt2obj(sn.c_str(), 0), "EKU name"));
    Check(sk_ASN1_OBJECT_push(eku.get(), object.release()) > 0 ? 1 : 0, "EKU push");
  }
  AddExtension(x509, NID_ext_key_usage, eku.get(), false, "extendedKeyUsage");
}

void AddBasicConstraintsCa(X509* x509) {
  BasicConstraintsPtr bc(Check(BASIC_CONSTRAINTS_new(), "BASIC_CONSTRAINTS_new"));
  bc->ca = 0xFF;
  AddExtension(x509, NID_basic_constraints, bc.get(), true, "basicConstraints");
}

// subjectKeyIdentifier and authorityKeyIdentifier, computed by OpenSSL's own config code.
void AddKeyIdentifiers(X509* x509, X509* issuer_x509) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_x509 != nullptr ? issuer_x509 : x509, x509, nullptr, nullptr, 0);
  X509ExtensionPtr ski(
      Check(X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_key_identifier, "hash"), "SKI"));
  Check(X509_add_ext(x509, ski.get(), -1), "add SKI");
  X509ExtensionPtr aki(Check(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"), "AKI"));
  Check(X509_add_ext(x509, aki.get(), -1), "add AKI");
}

void FillEncodings(TestCert& cert) {
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(cert.x509.get(), &der);
  if (der_len <= 0) {
    Die("DER encoding");
  }
  cert.der.assign(reinterpret_cast<const char*>(der), static_cast<size_t>(der_len));
  OPENSSL_free(der);

  unsigned char sha1[EVP_MAX_MD_SIZE];
  unsigned int sha1_len = 0;
  Check(EVP_Digest(cert.der.data(), cert.der.size(), sha1, &sha1_len, EVP_sha1(), nullptr),
        "SHA-1 thumbprint");
  cert.thumbprint = HexUpperOf(sha1, sha1_len);

  BioPtr cert_bio(Check(BIO_new(BIO_s_mem()), "BIO_new"));
  Check(PEM_write_bio_X509(cert_bio.get(), cert.x509.get()), "certificate PEM");
  cert.cert_pem = BioContents(cert_bio.get());

  // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted without a cipher.
  BioPtr key_bio(Check(BIO_new(BIO_s_mem()), "BIO_new"));
  Check(PEM_write_bio_PrivateKey(key_bio.get(), cert.key.get(), nullptr, nullptr, 0, nullptr,
                                 nullptr),
        "key PEM");
  cert.key_pem = BioContents(key_bio.get());
}

}  // namespace

TestCert MakeCertificate(const CertSpec& spec) {
  TestCert cert;
  if (spec.same_key_as != nullptr) {
    EVP_PKEY_up_ref(spec.same_key_as->key.get());
    cert.key.reset(spec.same_key_as->key.get());
  } else {
    cert.key = MakeKey(spec.key);
  }
  cert.x509.reset(Check(X509_new(), "X509_new"));
  X509* x509 = cert.x509.get();

  Check(X509_set_version(x509, spec.version == 1 ? X509_VERSION_1 : X509_VERSION_3), "version");
  SetRandomSerial(x509);
  SetValidity(x509, spec);
  SetSubject(x509, spec.cn);
  X509* issuer_x509 = spec.issuer != nullptr ? spec.issuer->x509.get() : nullptr;
  Check(X509_set_issuer_name(x509,
                             X509_get_subject_name(issuer_x509 != nullptr ? issuer_x509 : x509)),
        "issuer name");
  Check(X509_set_pubkey(x509, cert.key.get()), "public key");

  if (spec.version != 1) {
    if (!spec.dns_names.empty()) {
      AddSubjectAltNames(x509, spec.dns_names);
    }
    if (spec.ca) {
      AddBasicConstraintsCa(x509);
    }
    std::optional<std::uint32_t> key_usage = spec.key_usage;
    if (spec.ca) {
      key_usage = key_usage.value_or(0) | KU_KEY_CERT_SIGN | KU_CRL_SIGN;
    }
    if (key_usage) {
      AddKeyUsage(x509, *key_usage);
    }
    if (spec.eku) {
      AddExtendedKeyUsage(x509, *spec.eku);
    }
    AddKeyIdentifiers(x509, issuer_x509);
  }

  EVP_PKEY* signer = spec.issuer != nullptr ? spec.issuer->key.get() : cert.key.get();
  if (X509_sign(x509, signer, EVP_sha256()) <= 0) {
    Die("signing");
  }
  FillEncodings(cert);
  return cert;
}

TestCert MakeCertificateFor(const std::string& host) {
  CertSpec spec;
  spec.cn = host;
  spec.dns_names = {host};
  return MakeCertificate(spec);
}

TestCert MakeCa(const std::string& cn, const TestCert* parent) {
  CertSpec spec;
  spec.cn = cn;
  spec.dns_names = {};
  constexpr std::int64_t kDay = 86400;
  spec.not_before_offset = -2 * kDay;
  spec.not_after_offset = kDay * 365 * 10;
  spec.key = "ec:P-256";
  spec.ca = true;
  spec.issuer = parent;
  return MakeCertificate(spec);
}

}  // namespace transportcertd::testing
