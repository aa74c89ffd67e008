#include "monitor/selfsigned.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <ctime>
#include <memory>
#include <utility>

#include "monitor/atomic_file.h"
#include "monitor/hostname.h"

namespace transportcertd {
namespace {

constexpr std::string_view kAcceptedKeySpecs = "rsa:2048, rsa:3072, rsa:4096, ec:P-256 or ec:P-384";
constexpr std::array<int, 3> kRsaBits = {2048, 3072, 4096};
// Serial numbers are at most 20 octets and positive (RFC 5280 4.1.2.2): 159 random bits leave
// the top bit of the first octet clear, so no sign octet is ever needed.
constexpr int kSerialBits = 159;
// ub-common-name (RFC 5280 appendix A).
constexpr std::size_t kMaxCommonNameLength = 64;
constexpr std::size_t kThumbprintLength = 40;
// 9999-12-31T23:59:59Z, the last instant X.509 can express (RFC 5280 4.1.2.5). OpenSSL encodes
// later times without complaint, but as invalid GeneralizedTime.
constexpr std::int64_t kLastEncodableTime = 253'402'300'799;

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToLower(c);
  return out;
}

std::string WithoutTrailingDot(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  return std::string(name);
}

int CurveNid(const std::string& curve) {
  if (curve == "P-256") return NID_X9_62_prime256v1;
  if (curve == "P-384") return NID_secp384r1;
  return NID_undef;
}

Error Failed(const std::string& what, const std::string& fallback = "unknown OpenSSL error") {
  return Error{"cannot generate self-signed certificate: " + what + ": " +
               TakeOpenSslError(fallback)};
}

Result<EvpPkeyPtr> GenerateKey(const KeySpec& spec) {
  if (spec.type == KeyType::kRsa) {
    if (std::find(kRsaBits.begin(), kRsaBits.end(), spec.bits) == kRsaBits.end()) {
      return Error{"unsupported key " + spec.ToString() + " (expected " +
                   std::string(kAcceptedKeySpecs) + ")"};
    }
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), spec.bits) <= 0) {
      return Failed("RSA key setup");
    }
    EVP_PKEY* key = nullptr;
    if (EVP_PKEY_generate(ctx.get(), &key) <= 0) return Failed("RSA key generation");
    return EvpPkeyPtr(key);
  }
  if (spec.type == KeyType::kEc) {
    const int nid = CurveNid(spec.curve);
    if (nid == NID_undef) {
      return Error{"unsupported key " + spec.ToString() + " (expected " +
                   std::string(kAcceptedKeySpecs) + ")"};
    }
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
        EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), nid) <= 0 ||
        EVP_PKEY_CTX_set_ec_param_enc(ctx.get(), OPENSSL_EC_NAMED_CURVE) <= 0) {
      return Failed("EC key setup");
    }
    EVP_PKEY* key = nullptr;
    if (EVP_PKEY_generate(ctx.get(), &key) <= 0) return Failed("EC key generation");
    return EvpPkeyPtr(key);
  }
  return Error{"unsupported key type (expected " + std::string(kAcceptedKeySpecs) + ")"};
}

Result<EvpPkeyPtr> ParseKeyPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (key == nullptr) {
    ERR_clear_error();
    return Error{"not an unencrypted PEM private key"};
  }
  return EvpPkeyPtr(key);
}

Result<KeySpec> SpecOf(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    const int bits = EVP_PKEY_get_bits(key);
    if (std::find(kRsaBits.begin(), kRsaBits.end(), bits) != kRsaBits.end()) {
      return KeySpec{KeyType::kRsa, bits, ""};
    }
    return Error{"RSA key of " + std::to_string(bits) + " bits (expected " +
                 std::string(kAcceptedKeySpecs) + ")"};
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    std::size_t length = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &length) == 1) {
      const std::string name(group, length);
      if (name == "prime256v1" || name == "P-256") return KeySpec{KeyType::kEc, 0, "P-256"};
      if (name == "secp384r1" || name == "P-384") return KeySpec{KeyType::kEc, 0, "P-384"};
    }
    ERR_clear_error();
    return Error{"EC key on an unsupported curve (expected " + std::string(kAcceptedKeySpecs) +
                 ")"};
  }
  return Error{"unsupported key type (expected " + std::string(kAcceptedKeySpecs) + ")"};
}

// An existing key for a new certificate: one the configuration could have asked for.
Result<EvpPkeyPtr> LoadUsableKey(std::string_view pem) {
  auto key = ParseKeyPem(pem);
  if (!key) return Error{"cannot generate self-signed certificate: " + key.error().message};
  if (auto spec = SpecOf(key->get()); !spec) {
    return Error{"cannot generate self-signed certificate: " + spec.error().message};
  }
  return key;
}

// fqdn, its first label, then the extra names; without trailing dots, each name once
// (case-insensitively), in that order. Fails on a name that is not a valid host name.
Result<std::vector<std::string>> SubjectAltNames(const SelfSignedRequest& request) {
  if (!IsValidHostname(request.fqdn)) {
    return Error{"cannot generate self-signed certificate: invalid host name '" + request.fqdn +
                 "'"};
  }
  std::vector<std::string> candidates;
  const std::string fqdn = WithoutTrailingDot(request.fqdn);
  candidates.push_back(fqdn);
  if (const std::size_t dot = fqdn.find('.'); dot != std::string::npos) {
    candidates.push_back(fqdn.substr(0, dot));
  }
  for (const std::string& name : request.extra_names) {
    if (!IsValidHostname(name)) {
      return Error{"cannot generate self-signed certificate: invalid host name '" + name + "'"};
    }
    candidates.push_back(WithoutTrailingDot(name));
  }

  std::vector<std::string> names;
  std::vector<std::string> seen;
  for (std::string& name : candidates) {
    std::string key = Lower(name);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(std::move(key));
    names.push_back(std::move(name));
  }
  return names;
}

bool SetRandomSerial(X509* x509) {
  BignumPtr bn(BN_new());
  if (!bn) return false;
  do {
    if (BN_rand(bn.get(), kSerialBits, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) return false;
  } while (BN_is_zero(bn.get()));
  ASN1_INTEGER* serial = X509_get_serialNumber(x509);
  return BN_to_ASN1_INTEGER(bn.get(), serial) != nullptr;
}

bool AddConfExtension(X509* x509, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  return ext && X509_add_ext(x509, ext.get(), -1) == 1;
}

bool AddSubjectAltNames(X509* x509, const std::vector<std::string>& names) {
  GeneralNamesPtr general_names(GENERAL_NAMES_new());
  if (!general_names) return false;
  for (const std::string& name : names) {
    Ia5StringPtr ia5(ASN1_IA5STRING_new());
    if (!ia5 || ASN1_STRING_set(ia5.get(), name.data(), static_cast<int>(name.size())) != 1) {
      return false;
    }
    GeneralNamePtr general_name(GENERAL_NAME_new());
    if (!general_name) return false;
    GENERAL_NAME_set0_value(general_name.get(), GEN_DNS, ia5.release());
    if (sk_GENERAL_NAME_push(general_names.get(), general_name.get()) == 0) return false;
    static_cast<void>(general_name.release());  // owned by the stack now
  }
  return X509_add1_ext_i2d(x509, NID_subject_alt_name, general_names.get(), 0,
                           X509V3_ADD_DEFAULT) == 1;
}

// Runs `write` (a PEM_write_bio_* call) into memory and returns the text.
template <typename Write>
Result<std::string> ToPem(Write write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return Failed("PEM encoding");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  if (size <= 0 || data == nullptr) return Failed("PEM encoding");
  return std::string(data, static_cast<std::size_t>(size));
}

bool IsThumbprint(std::string_view s) {
  return s.size() == kThumbprintLength && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
         });
}

}  // namespace

std::string KeySpec::ToString() const {
  switch (type) {
    case KeyType::kRsa:
      return "rsa:" + std::to_string(bits);
    case KeyType::kEc:
      return "ec:" + curve;
    case KeyType::kOther:
      break;
  }
  return "other";
}

Result<KeySpec> ParseKeySpec(std::string_view text) {
  const std::string lower = Lower(text);
  for (int bits : kRsaBits) {
    if (lower == "rsa:" + std::to_string(bits)) return KeySpec{KeyType::kRsa, bits, ""};
  }
  if (lower == "ec:p-256") return KeySpec{KeyType::kEc, 0, "P-256"};
  if (lower == "ec:p-384") return KeySpec{KeyType::kEc, 0, "P-384"};
  return Error{"unsupported key '" + std::string(text) + "' (expected " +
               std::string(kAcceptedKeySpecs) + ")"};
}

Result<GeneratedCertificate> GenerateSelfSigned(const SelfSignedRequest& request) {
  Result<std::vector<std::string>> names = SubjectAltNames(request);
  if (!names) return names.error();

  const std::int64_t now = request.now != 0 ? request.now : std::time(nullptr);
  if (request.validity_seconds <= 0) {
    return Error{"cannot generate self-signed certificate: validity must be positive, not " +
                 std::to_string(request.validity_seconds) + " seconds"};
  }
  if (now > kLastEncodableTime || request.validity_seconds > kLastEncodableTime - now) {
    return Error{"cannot generate self-signed certificate: validity of " +
                 std::to_string(request.validity_seconds) +
                 " seconds is too long (ends after 9999-12-31)"};
  }
  const std::int64_t not_after = now + request.validity_seconds;

  Result<EvpPkeyPtr> key = request.existing_key_pem.empty()
                               ? GenerateKey(request.key)
                               : LoadUsableKey(request.existing_key_pem);
  if (!key) return key.error();

  X509Ptr x509(X509_new());
  if (!x509) return Failed("allocation");
  X509* cert = x509.get();
  if (X509_set_version(cert, X509_VERSION_3) != 1 || !SetRandomSerial(cert)) {
    return Failed("serial number");
  }
  if (ASN1_TIME_set(X509_getm_notBefore(cert), static_cast<time_t>(now)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), static_cast<time_t>(not_after)) == nullptr) {
    return Failed("validity", "date out of range");
  }

  // CN=fqdn. A name longer than a CN may be (64 octets) cannot be the CN; the short host name
  // stands in, and clients match the SANs, which always hold the fqdn.
  const std::string& fqdn = names->front();
  const std::string common_name =
      fqdn.size() <= kMaxCommonNameLength ? fqdn : fqdn.substr(0, fqdn.find('.'));
  X509NamePtr subject(X509_NAME_new());
  if (!subject ||
      X509_NAME_add_entry_by_NID(subject.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_set_subject_name(cert, subject.get()) != 1 ||
      X509_set_issuer_name(cert, subject.get()) != 1) {
    return Failed("subject name");
  }
  if (X509_set_pubkey(cert, key->get()) != 1) return Failed("public key");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  if (!AddConfExtension(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
      !AddConfExtension(cert, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
      !AddConfExtension(cert, &ctx, NID_ext_key_usage, "serverAuth") ||
      !AddConfExtension(cert, &ctx, NID_subject_key_identifier, "hash") ||
      !AddSubjectAltNames(cert, *names)) {
    return Failed("extensions");
  }

  if (X509_sign(cert, key->get(), EVP_sha256()) <= 0) return Failed("signature");

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (X509_digest(cert, EVP_sha1(), digest, &digest_size) != 1) return Failed("thumbprint");

  // PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted: the store keeps keys readable by the daemon only.
  Result<std::string> key_pem = ToPem([&key](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key->get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (!key_pem) return key_pem.error();
  Result<std::string> cert_pem = ToPem([cert](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
  if (!cert_pem) return cert_pem.error();

  GeneratedCertificate generated;
  generated.thumbprint = HexUpper(std::string_view(reinterpret_cast<const char*>(digest),
                                                   static_cast<std::size_t>(digest_size)));
  generated.key_pem = std::move(key_pem).value();
  generated.certificate_pem = std::move(cert_pem).value();
  return generated;
}

Result<std::string> GeneratePrivateKeyPem(const KeySpec& spec) {
  Result<EvpPkeyPtr> key = GenerateKey(spec);
  if (!key) return key.error();
  return ToPem([&key](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key->get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
}

Result<KeySpec> KeySpecOfPrivateKeyPem(std::string_view key_pem) {
  auto key = ParseKeyPem(key_pem);
  if (!key) return key.error();
  return SpecOf(key->get());
}

Result<std::string> WriteToStore(const std::string& store_dir, const GeneratedCertificate& cert) {
  if (!IsThumbprint(cert.thumbprint)) {
    return Error{"not writing a certificate with a malformed thumbprint '" + cert.thumbprint + "'"};
  }
  // Key first, then the certificate: the order Postfix's smtpd_tls_chain_files expects. A new
  // file, never over an existing one (a name taken already gets a "-2" suffix).
  return WriteNewFile(store_dir + "/transportcertd-" + cert.thumbprint + ".pem",
                      cert.key_pem + cert.certificate_pem, 0600);
}

}  // namespace transportcertd
