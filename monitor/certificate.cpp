#include "monitor/certificate.h"

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <utility>

namespace transportcertd {
namespace {

// DescribeCertificate, also giving the certificate's DER.
Result<Certificate> DescribeCertificateAndDer(X509* x509, std::string& der);

template <typename T>
struct OpenSslFree {
  void operator()(T* p) const { OPENSSL_free(p); }
};

std::string Digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // RFC 4514, keeping UTF-8 as is rather than escaping every non-ASCII byte.
  const unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, flags) < 0) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

std::string AsnStringToUtf8(const ASN1_STRING* s) {
  unsigned char* out = nullptr;
  const int len = ASN1_STRING_to_UTF8(&out, s);
  if (len < 0) return {};
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return result;
}

Result<UnixTime> ToUnixTime(const ASN1_TIME* t, const char* what) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return Error{std::string("unreadable ") + what + " date"};
  }
  return static_cast<UnixTime>(timegm(&tm));
}

std::string SerialToHex(const ASN1_INTEGER* serial) {
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return {};
  std::unique_ptr<char, OpenSslFree<char>> hex(BN_bn2hex(bn.get()));
  return hex ? std::string(hex.get()) : std::string();
}

// `digest` (of SHA-256) as a Sha256Digest; all zeros when it is not one.
Sha256Digest ToSha256Digest(const std::string& digest) {
  Sha256Digest out{};
  if (digest.size() == out.size()) std::copy(digest.begin(), digest.end(), out.begin());
  return out;
}

// The SubjectPublicKeyInfo DER re-encoded from the key, so that a certificate and its private
// key produce identical bytes. Empty when the key cannot be encoded.
std::string PublicKeyId(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return {};
  std::string id =
      Digest(EVP_sha256(), {reinterpret_cast<const char*>(der), static_cast<size_t>(len)});
  OPENSSL_free(der);
  return id;
}

// Reads one DER tag and its length at `at` in `der` (minimal definite lengths only, up to
// 65535). Returns the length of the contents and moves `at` to them; -1 when not so encoded.
long ReadDerHeader(std::string_view der, std::size_t& at, unsigned char tag) {
  if (at + 2 > der.size() || static_cast<unsigned char>(der[at]) != tag) return -1;
  const auto first = static_cast<unsigned char>(der[at + 1]);
  at += 2;
  long len = first;
  if (first == 0x81 || first == 0x82) {
    const std::size_t bytes = first & 0x7F;
    if (at + bytes > der.size() || static_cast<unsigned char>(der[at]) == 0) return -1;
    len = 0;
    for (std::size_t i = 0; i < bytes; ++i) len = len * 256 + static_cast<unsigned char>(der[at++]);
    if (len < 0x80) return -1;  // the short form was due
  } else if (first >= 0x80) {
    return -1;
  }
  return at + static_cast<std::size_t>(len) <= der.size() ? len : -1;
}

// Whether `der` is exactly a DER RSAPublicKey: SEQUENCE { INTEGER n, INTEGER e }, each
// positive and in its fewest bytes, nothing after them.
bool IsCanonicalRsaPublicKey(std::string_view der) {
  std::size_t at = 0;
  if (ReadDerHeader(der, at, 0x30) != static_cast<long>(der.size() - at)) return false;
  for (int i = 0; i < 2; ++i) {
    const long len = ReadDerHeader(der, at, 0x02);
    if (len < 1) return false;
    const auto first = static_cast<unsigned char>(der[at]);
    if ((first & 0x80) != 0) return false;  // negative
    if (first == 0 && (len < 2 || (static_cast<unsigned char>(der[at + 1]) & 0x80) == 0)) {
      return false;  // a zero, or a needless leading zero byte
    }
    at += static_cast<std::size_t>(len);
  }
  return at == der.size();
}

// The SubjectPublicKeyInfo DER of an EC key on a named NIST curve with an uncompressed point,
// up to and including the point's first byte (0x04); the coordinates follow.
struct EcSpkiForm {
  const char* group;  // OpenSSL's name of the curve
  std::string_view prefix;
  std::size_t point_size;  // of both coordinates
};
constexpr EcSpkiForm kEcSpkiForms[] = {
    {"prime256v1",
     {"\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce"
      "\x3d\x03\x01\x07\x03\x42\x00\x04",
      27},
     64},
    {"secp384r1",
     {"\x30\x76\x30\x10\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x05\x2b\x81\x04\x00"
      "\x22\x03\x62\x00\x04",
      24},
     96},
    {"secp521r1",
     {"\x30\x81\x9b\x30\x10\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x05\x2b\x81\x04"
      "\x00\x23\x03\x81\x86\x00\x04",
      26},
     132},
};

// Whether `spki`, a certificate's SubjectPublicKeyInfo DER as stored in it, is byte for byte
// what i2d_PUBKEY gives for the key OpenSSL decoded from it, so that its digest can stand for
// PublicKeyId without the encoder (which costs far more than the digest: OpenSSL 3.0 builds
// an encoder for every call). Only the forms whose re-encoding is known exactly pass; any
// other (explicit or compressed EC parameters and points, RSA without its NULL parameters or
// with a key not in DER, other algorithms) goes through the encoder as before:
// - EC on P-256, P-384 or P-521 by name, the point uncompressed at its full size. The
//   decoder accepted the point (on the curve, coordinates below the prime), the key keeps
//   the named curve and the uncompressed form it was read in, and re-encoding the same
//   coordinates at the curve's size gives the same bytes;
// - RSA with rsaEncryption and NULL parameters, the key a canonical DER RSAPublicKey: the
//   encoder writes the same NULL and the same minimal integers.
bool SpkiIsReencodedForm(std::string_view spki) {
  for (const EcSpkiForm& form : kEcSpkiForms) {
    if (spki.starts_with(form.prefix)) return spki.size() == form.prefix.size() + form.point_size;
  }
  // SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING (no unused bits) { RSAPublicKey } }
  static constexpr std::string_view kRsaAlgorithm{
      "\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00", 15};
  std::size_t at = 0;
  if (ReadDerHeader(spki, at, 0x30) != static_cast<long>(spki.size() - at)) return false;
  if (spki.substr(at, kRsaAlgorithm.size()) != kRsaAlgorithm) return false;
  at += kRsaAlgorithm.size();
  const long bits = ReadDerHeader(spki, at, 0x03);
  if (bits < 1 || at + static_cast<std::size_t>(bits) != spki.size() || spki[at] != 0) return false;
  return IsCanonicalRsaPublicKey(spki.substr(at + 1));
}

// The public key id of a certificate: PublicKeyId of its key, taken from the certificate's
// SubjectPublicKeyInfo as stored when that is the same bytes (SpkiIsReencodedForm).
std::string CertificateKeyId(X509* x509, EVP_PKEY* key) {
  unsigned char* spki = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509), &spki);
  const std::string_view stored(reinterpret_cast<const char*>(spki),
                                static_cast<size_t>(std::max(len, 0)));
  std::string id;
  if (key != nullptr && !SpkiIsReencodedForm(stored)) id = PublicKeyId(key);
  // Also when the key is of an unsupported algorithm (not decoded, or not encodable): the
  // stored SubjectPublicKeyInfo identifies the certificate, which then never pairs with a key.
  if (id.empty() && !stored.empty()) id = Digest(EVP_sha256(), stored);
  OPENSSL_free(spki);
  return id;
}

// PublicKeyId of a private key. For an EC key on P-256, P-384 or P-521 by name with its point
// kept uncompressed, the SubjectPublicKeyInfo is put together from the key's curve and point
// (the encoder writes exactly that: the curve's OID when the key says "named_curve", the point
// in the key's own format), which costs a parameter query instead of building an encoder.
// Any other key goes through the encoder.
std::string PrivateKeyId(EVP_PKEY* key) {
  char group[32] = {}, encoding[32] = {}, format[32] = {};
  unsigned char point[1 + 132] = {};
  OSSL_PARAM params[] = {
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof encoding),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, format, sizeof format),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof point),
      OSSL_PARAM_END};
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC && EVP_PKEY_get_params(key, params) == 1 &&
      OSSL_PARAM_modified(&params[0]) != 0 && OSSL_PARAM_modified(&params[1]) != 0 &&
      OSSL_PARAM_modified(&params[2]) != 0 && OSSL_PARAM_modified(&params[3]) != 0 &&
      std::string_view(encoding) == OSSL_PKEY_EC_ENCODING_GROUP &&
      std::string_view(format) == OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) {
    for (const EcSpkiForm& form : kEcSpkiForms) {
      if (std::string_view(group) != form.group || params[3].return_size != 1 + form.point_size ||
          point[0] != 0x04) {
        continue;
      }
      std::string spki(form.prefix);
      spki.append(reinterpret_cast<const char*>(point) + 1, form.point_size);
      return Digest(EVP_sha256(), spki);
    }
  }
  ERR_clear_error();
  return PublicKeyId(key);
}

std::string CurveName(EVP_PKEY* key) {
  char group[80] = {};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) !=
      1) {
    return {};  // explicit curve parameters, or not an EC key
  }
  const int nid = OBJ_sn2nid(group);
  const char* nist = nid != NID_undef ? EC_curve_nid2nist(nid) : nullptr;
  return nist != nullptr ? nist : group;
}

void DescribeKey(EVP_PKEY* key, Certificate& cert, CertificateText& text) {
  if (key == nullptr) {
    text.key_algorithm = "unsupported";
    return;
  }
  cert.key_bits = EVP_PKEY_get_bits(key);
  const int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
    cert.key_type = KeyType::kRsa;
    text.key_algorithm = "RSA";
  } else if (id == EVP_PKEY_EC) {
    cert.key_type = KeyType::kEc;
    text.curve = CurveName(key);
    text.key_algorithm = text.curve.empty() ? "EC (explicit parameters)" : "EC " + text.curve;
  } else {
    const char* name = EVP_PKEY_get0_type_name(key);
    text.key_algorithm = name != nullptr ? name : "unknown";
  }
}

void ReadNames(X509* x509, CertificateText& text) {
  GeneralNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type != GEN_DNS) continue;
    const ASN1_STRING* s = gn->d.dNSName;
    text.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                static_cast<size_t>(ASN1_STRING_length(s)));
  }
  const X509_NAME* subject = X509_get_subject_name(x509);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    text.common_names.push_back(
        AsnStringToUtf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))));
  }
  const X509_NAME* issuer = X509_get_issuer_name(x509);
  int last_cn = -1;
  for (int i = X509_NAME_get_index_by_NID(issuer, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(issuer, NID_commonName, i)) {
    last_cn = i;
  }
  if (last_cn >= 0) {
    text.issuer_common_name =
        AsnStringToUtf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(issuer, last_cn)));
  }
}

void ReadUsages(X509* x509, Certificate& cert) {
  const uint32_t flags = X509_get_extension_flags(x509);
  if ((flags & EXFLAG_KUSAGE) != 0) cert.key_usage = X509_get_key_usage(x509);
  cert.is_ca = (flags & EXFLAG_CA) != 0;
  if ((flags & EXFLAG_XKUSAGE) == 0) return;
  cert.has_extended_key_usage = true;
  EkuPtr eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(x509, NID_ext_key_usage, nullptr, nullptr)));
  for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i)) == NID_server_auth) {
      cert.extended_key_usage_server_auth = true;
    }
  }
}

// Decodes private keys of one DER structure. OpenSSL 3.0 builds a decoder context on every
// d2i_*PrivateKey call, and building it costs several times the decoding itself; a context
// is built once per thread and structure here and reused for every key. Not copyable: the
// context writes each key through a pointer to `decoded_`.
class KeyDecoder {
 public:
  // `structure`: "PrivateKeyInfo" (PKCS#8) or "type-specific"; `keytype`: nullptr (any), "RSA"
  // or "EC".
  KeyDecoder(const char* structure, const char* keytype)
      : ctx_(OSSL_DECODER_CTX_new_for_pkey(&decoded_, "DER", structure, keytype,
                                           OSSL_KEYMGMT_SELECT_KEYPAIR, nullptr, nullptr)) {}
  ~KeyDecoder() { EVP_PKEY_free(decoded_); }
  KeyDecoder(const KeyDecoder&) = delete;
  KeyDecoder& operator=(const KeyDecoder&) = delete;

  // The key, or nullptr when the data is not one of this structure.
  EvpPkeyPtr Decode(const unsigned char* data, long len) {
    EVP_PKEY_free(decoded_);
    decoded_ = nullptr;
    auto left = static_cast<size_t>(len);
    if (!ctx_ || len <= 0 || OSSL_DECODER_from_data(ctx_.get(), &data, &left) != 1) {
      ERR_clear_error();
      return nullptr;
    }
    return EvpPkeyPtr(std::exchange(decoded_, nullptr));
  }

 private:
  EVP_PKEY* decoded_ = nullptr;  // declared before ctx_, which keeps its address
  std::unique_ptr<OSSL_DECODER_CTX, OpenSslDeleter<OSSL_DECODER_CTX_free>> ctx_;
};

// One PEM private key block's DER: through this thread's reused decoder, and when that finds
// nothing, through the d2i call (which also says why a key is malformed).
EvpPkeyPtr DecodePrivateKey(const std::string& name, const unsigned char* data, long len) {
  thread_local KeyDecoder pkcs8("PrivateKeyInfo", nullptr);
  thread_local KeyDecoder rsa("type-specific", "RSA");
  thread_local KeyDecoder ec("type-specific", "EC");
  KeyDecoder& decoder = name == "PRIVATE KEY" ? pkcs8 : name == "RSA PRIVATE KEY" ? rsa : ec;
  if (EvpPkeyPtr key = decoder.Decode(data, len)) return key;
  const unsigned char* p = data;
  if (name == "PRIVATE KEY") return EvpPkeyPtr(d2i_AutoPrivateKey(nullptr, &p, len));
  return EvpPkeyPtr(
      d2i_PrivateKey(name == "RSA PRIVATE KEY" ? EVP_PKEY_RSA : EVP_PKEY_EC, nullptr, &p, len));
}

// Parses one PEM block's DER payload into `out`; fails with a reason.
Status AddPemBlock(const std::string& name, const std::string& header, const unsigned char* data,
                   long len, ParsedFile& out) {
  const unsigned char* p = data;
  if (name == "CERTIFICATE" || name == "X509 CERTIFICATE" || name == "TRUSTED CERTIFICATE") {
    X509Ptr x509(name == "TRUSTED CERTIFICATE" ? d2i_X509_AUX(nullptr, &p, len)
                                               : d2i_X509(nullptr, &p, len));
    if (!x509) return Error{"unreadable certificate: " + TakeOpenSslError("malformed DER")};
    std::string der;
    auto cert = DescribeCertificateAndDer(x509.get(), der);
    if (!cert) return cert.error();
    out.certificates.push_back(std::move(cert).value());
    out.certificate_ders.push_back(std::move(der));
    return {};
  }
  if (name == "ENCRYPTED PRIVATE KEY" || header.find("ENCRYPTED") != std::string::npos) {
    return Error{
        "encrypted private key (the daemon cannot ask for a passphrase; store the key "
        "unencrypted with mode 0600)"};
  }
  if (name == "PRIVATE KEY" || name == "RSA PRIVATE KEY" || name == "EC PRIVATE KEY") {
    EvpPkeyPtr key = DecodePrivateKey(name, data, len);
    if (!key) return Error{"unreadable private key: " + TakeOpenSslError("malformed DER")};
    Certificate described;
    CertificateText text;
    DescribeKey(key.get(), described, text);
    out.keys.push_back({ToSha256Digest(PrivateKeyId(key.get())), std::move(text.key_algorithm)});
    return {};
  }
  if (name == "CERTIFICATE REQUEST" || name == "NEW CERTIFICATE REQUEST") {
    return Error{"certificate signing request, not a certificate"};
  }
  if (name == "X509 CRL") return Error{"certificate revocation list, not a certificate"};
  if (name.ends_with("PARAMETERS") || name == "PUBLIC KEY") return {};  // harmless companions
  return Error{"PEM block \"" + name + "\" is neither a certificate nor a private key"};
}

Result<ParsedFile> ParsePem(std::string_view contents) {
  BioPtr bio(BIO_new_mem_buf(contents.data(), static_cast<int>(contents.size())));
  if (!bio) return Error{"out of memory"};
  ParsedFile out;
  int blocks = 0;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      const unsigned long err = ERR_peek_last_error();
      const bool clean_end = ERR_GET_LIB(err) == ERR_LIB_PEM &&
                             ERR_GET_REASON(err) == PEM_R_NO_START_LINE && blocks > 0;
      ERR_clear_error();
      if (clean_end) break;
      out.skipped.push_back(
          blocks == 0 ? "no PEM block could be read (bad base64 or missing END line)"
                      : "truncated or malformed PEM after block " + std::to_string(blocks));
      break;
    }
    ++blocks;
    const std::string block_name(name), block_header(header);
    OPENSSL_free(name);
    OPENSSL_free(header);
    Status added = AddPemBlock(block_name, block_header, data, len, out);
    OPENSSL_free(data);
    if (!added) {
      out.skipped.push_back("block " + std::to_string(blocks) + ": " + added.error().message);
    }
  }
  if (out.certificates.empty() && out.keys.empty()) {
    if (out.skipped.size() == 1) return Error{out.skipped.front()};
    std::string reason = "no usable certificate or private key";
    for (const auto& why : out.skipped) reason += "; " + why;
    return Error{reason};
  }
  return out;
}

Result<ParsedFile> ParseDer(std::string_view contents) {
  const auto* p = reinterpret_cast<const unsigned char*>(contents.data());
  X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(contents.size())));
  if (!x509) {
    return Error{"neither PEM nor a DER certificate (" + TakeOpenSslError("malformed DER") + ")"};
  }
  if (p != reinterpret_cast<const unsigned char*>(contents.data()) + contents.size()) {
    return Error{"trailing data after the DER certificate"};
  }
  std::string der;
  auto cert = DescribeCertificateAndDer(x509.get(), der);
  if (!cert) return cert.error();
  ParsedFile out;
  out.certificates.push_back(std::move(cert).value());
  out.certificate_ders.push_back(std::move(der));
  return out;
}

}  // namespace

std::string TakeOpenSslError(const std::string& fallback) {
  const unsigned long err = ERR_get_error();
  ERR_clear_error();
  if (err == 0) return fallback;
  const char* reason = ERR_reason_error_string(err);
  return reason != nullptr ? reason : fallback;
}

namespace {

std::string Hex(std::string_view bytes, const char (&digits)[17]) {
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    hex.push_back(digits[b >> 4]);
    hex.push_back(digits[b & 0xF]);
  }
  return hex;
}

}  // namespace

std::string HexUpper(std::string_view bytes) { return Hex(bytes, "0123456789ABCDEF"); }
std::string HexLower(std::string_view bytes) { return Hex(bytes, "0123456789abcdef"); }

std::string FormatDate(UnixTime t) {
  const auto tt = static_cast<time_t>(t);
  struct tm tm {};
  char buf[32] = {};
  if (gmtime_r(&tt, &tm) == nullptr || strftime(buf, sizeof buf, "%Y-%m-%d", &tm) == 0) {
    return std::to_string(t);
  }
  return buf;
}

std::string HexUpper(const Sha256Digest& digest) {
  return HexUpper({reinterpret_cast<const char*>(digest.data()), digest.size()});
}
std::string HexLower(const Sha256Digest& digest) {
  return HexLower({reinterpret_cast<const char*>(digest.data()), digest.size()});
}

namespace {

std::uint32_t LoadU32(const char* at) {
  std::uint32_t value = 0;
  std::memcpy(&value, at, sizeof value);
  return value;
}

void StoreU32(char* at, std::size_t value) {
  const auto v = static_cast<std::uint32_t>(value);
  std::memcpy(at, &v, sizeof v);
}

}  // namespace

static_assert(sizeof(Certificate) <= 112, "see certificate.h");

Certificate::TextBuffer::TextBuffer(const TextBuffer& other) {
  if (other.bytes_) {
    const std::size_t bytes = TextBytes(other.get());
    bytes_ = std::make_unique_for_overwrite<char[]>(bytes);
    std::memcpy(bytes_.get(), other.get(), bytes);
  }
}

Certificate::TextBuffer& Certificate::TextBuffer::operator=(const TextBuffer& other) {
  TextBuffer copy(other);  // before anything changes: safe for self-assignment
  bytes_ = std::move(copy.bytes_);
  return *this;
}

void Certificate::SetText(const CertificateText& text) {
  // Every string, in the order of the blob (kThumbprint ... kCurve, DNS names, CNs).
  auto for_each = [&text](auto&& f) {
    static_assert(kFixedTexts == 7);
    for (const std::string* s : {&text.thumbprint, &text.subject, &text.issuer, &text.serial,
                                 &text.issuer_common_name, &text.key_algorithm, &text.curve}) {
      f(*s);
    }
    for (const std::string& s : text.dns_names) f(s);
    for (const std::string& s : text.common_names) f(s);
  };
  const std::size_t count = kFixedTexts + text.dns_names.size() + text.common_names.size();
  const std::size_t header = sizeof(std::uint32_t) * (2 + count);
  std::size_t bytes = header;
  for_each([&bytes](const std::string& s) { bytes += s.size(); });
  // Unreachable for a certificate read from a store file (at most 1 MiB): 32-bit offsets.
  if (bytes > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("certificate text over 4 GiB");
  }
  auto out = std::make_unique_for_overwrite<char[]>(bytes);
  StoreU32(out.get(), count);
  StoreU32(out.get() + sizeof(std::uint32_t), text.dns_names.size());
  std::size_t i = 0;
  std::size_t end = header;
  for_each([&](const std::string& s) {
    std::memcpy(out.get() + end, s.data(), s.size());
    end += s.size();
    StoreU32(out.get() + sizeof(std::uint32_t) * (2 + i++), end);
  });
  text_ = TextBuffer(std::move(out));
}

CertificateText Certificate::Text() const {
  CertificateText text;
  text.thumbprint = thumbprint();
  text.subject = subject();
  text.issuer = issuer();
  text.serial = serial();
  text.issuer_common_name = issuer_common_name();
  text.key_algorithm = key_algorithm();
  text.curve = curve();
  text.dns_names = dns_names().ToVector();
  text.common_names = common_names().ToVector();
  return text;
}

std::size_t Certificate::TextCount() const {
  return text_.get() != nullptr ? LoadU32(text_.get()) : std::size_t{kFixedTexts};
}

std::size_t Certificate::DnsNameCount() const {
  return text_.get() != nullptr ? LoadU32(text_.get() + sizeof(std::uint32_t)) : 0;
}

std::string_view Certificate::TextAt(const char* text, std::size_t i) {
  if (text == nullptr) return {};
  const std::size_t ends = 2 * sizeof(std::uint32_t);
  const std::size_t begin = i == 0 ? ends + sizeof(std::uint32_t) * LoadU32(text)
                                   : LoadU32(text + ends + sizeof(std::uint32_t) * (i - 1));
  const std::size_t end = LoadU32(text + ends + sizeof(std::uint32_t) * i);
  return {text + begin, end - begin};
}

std::size_t Certificate::TextBytes(const char* text) {
  return LoadU32(text + sizeof(std::uint32_t) * (1 + LoadU32(text)));
}

std::string Certificate::Sha256Hex() const { return HexUpper(sha256); }

bool Certificate::HasServerAuth() const {
  return !has_extended_key_usage || extended_key_usage_server_auth;
}

// ---- Rules 1, 4 and 5 of docs/selection.md, which look at the certificate alone. ----
// Each check returns the reason it fails, or nothing.

namespace {

// What rule 4 accepts, appended to every weak-key reason.
constexpr char kKeyRequirement[] = " (RSA ≥ 2048 or ECDSA P-256/P-384/P-521 required)";

std::optional<std::string> CheckVersion(const Certificate& cert) {
  if (cert.version == 3) {
    return std::nullopt;
  }
  return "X.509 v" + std::to_string(cert.version) + " (version 3 required)";
}

std::optional<std::string> CheckKeyStrength(const Certificate& cert) {
  switch (cert.key_type) {
    case KeyType::kRsa:
      if (cert.key_bits >= 2048) {
        return std::nullopt;
      }
      return "weak key: RSA " + std::to_string(cert.key_bits) + " bits" + kKeyRequirement;
    case KeyType::kEc:
      if (cert.curve() == "P-256" || cert.curve() == "P-384" || cert.curve() == "P-521") {
        return std::nullopt;
      }
      return "weak key: ECDSA " +
             (cert.curve().empty() ? std::string("on an unnamed curve")
                                   : std::string(cert.curve())) +
             kKeyRequirement;
    case KeyType::kOther:
      break;
  }
  const std::string algorithm =
      cert.key_algorithm().empty() ? "unknown" : std::string(cert.key_algorithm());
  return "unsupported key: " + algorithm + kKeyRequirement;
}

std::optional<std::string> CheckUsages(const Certificate& cert) {
  if (cert.key_usage) {
    if ((*cert.key_usage & kKeyUsageDigitalSignature) == 0) {
      return "key usage does not allow digital signature";
    }
    if (cert.key_type == KeyType::kRsa && (*cert.key_usage & kKeyUsageKeyEncipherment) == 0) {
      return "key usage does not allow key encipherment (RSA)";
    }
  }
  if (!cert.HasServerAuth()) {
    return "extended key usage lacks serverAuth";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> UnusableReason(const Certificate& cert) {
  if (auto reason = CheckVersion(cert)) {
    return reason;
  }
  if (auto reason = CheckKeyStrength(cert)) {
    return reason;
  }
  return CheckUsages(cert);
}

namespace {

Result<Certificate> DescribeCertificateAndDer(X509* x509, std::string& der) {
  Certificate cert;
  unsigned char* encoded = nullptr;
  const int der_len = i2d_X509(x509, &encoded);
  if (der_len <= 0) return Error{"certificate cannot be re-encoded: " + TakeOpenSslError("?")};
  der.assign(reinterpret_cast<const char*>(encoded), static_cast<size_t>(der_len));
  OPENSSL_free(encoded);

  CertificateText text;
  text.thumbprint = HexUpper(Digest(EVP_sha1(), der));
  cert.sha256 = ToSha256Digest(Digest(EVP_sha256(), der));
  text.subject = NameToString(X509_get_subject_name(x509));
  text.issuer = NameToString(X509_get_issuer_name(x509));
  text.serial = SerialToHex(X509_get0_serialNumber(x509));
  cert.version = static_cast<int>(X509_get_version(x509)) + 1;
  auto not_before = ToUnixTime(X509_get0_notBefore(x509), "NotBefore");
  if (!not_before) return not_before.error();
  auto not_after = ToUnixTime(X509_get0_notAfter(x509), "NotAfter");
  if (!not_after) return not_after.error();
  cert.not_before = *not_before;
  cert.not_after = *not_after;

  ReadNames(x509, text);
  ReadUsages(x509, cert);
  EVP_PKEY* public_key = X509_get0_pubkey(x509);
  DescribeKey(public_key, cert, text);
  cert.SetText(text);
  cert.public_key_id = ToSha256Digest(CertificateKeyId(x509, public_key));
  cert.self_signed = X509_self_signed(x509, 1) == 1;
  cert.usable = !UnusableReason(cert);
  ERR_clear_error();
  return cert;
}

}  // namespace

Result<Certificate> DescribeCertificate(X509* x509) {
  std::string der;
  return DescribeCertificateAndDer(x509, der);
}

Result<ParsedFile> ParseStoreFile(std::string_view contents) {
  if (contents.empty()) return Error{"empty file"};
  if (contents.find("-----BEGIN ") != std::string_view::npos) return ParsePem(contents);
  return ParseDer(contents);
}

std::string DerToPem(const std::string& der) {
  X509Ptr x509 = X509FromDer(der);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!x509 || !bio || PEM_write_bio_X509(bio.get(), x509.get()) != 1) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<size_t>(len)};
}

Result<std::string> ReadPrivateKeyPem(const std::string& file, const KeyId& public_key_id) {
  BioPtr in(BIO_new_file(file.c_str(), "r"));
  if (!in) return Error{file + ": " + TakeOpenSslError("cannot open"), ErrorCode::kStore};
  while (EvpPkeyPtr key{PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr)}) {
    if (ToSha256Digest(PrivateKeyId(key.get())) != public_key_id) continue;
    BioPtr out(BIO_new(BIO_s_mem()));
    if (!out || PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
      break;
    }
    char* data = nullptr;
    const long len = BIO_get_mem_data(out.get(), &data);
    ERR_clear_error();
    return std::string(data, static_cast<size_t>(len));
  }
  ERR_clear_error();
  return Error{file + ": the private key is no longer in this file", ErrorCode::kStore};
}

X509Ptr X509FromDer(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

}  // namespace transportcertd
