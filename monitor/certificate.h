// The certificate model: what the daemon knows about one X.509 certificate, read once with
// OpenSSL 3 and then kept as plain data. The DER itself is not kept: what needs it (publishing,
// chain checks, DANE) reads it back from the store (ReadCertificateDer in store.h).
// Also parsing of whole files (PEM or DER) into certificates and private keys.
// Pure functions; safe to call from any thread.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "monitor/openssl_handles.h"
#include "monitor/result.h"

namespace transportcertd {

// Seconds since the Unix epoch (UTC).
using UnixTime = std::int64_t;

enum class KeyType : std::uint8_t { kRsa, kEc, kOther };

// keyUsage bits we look at (subset of X509v3_KU_*).
inline constexpr std::uint32_t kKeyUsageDigitalSignature = 0x80;
inline constexpr std::uint32_t kKeyUsageKeyEncipherment = 0x20;

// A SHA-256 digest, as bytes.
using Sha256Digest = std::array<unsigned char, 32>;
// The SHA-256 of a SubjectPublicKeyInfo DER: pairs certificates and private keys.
using KeyId = Sha256Digest;

// A certificate's text fields as separate strings: what Certificate::SetText takes and
// Certificate::Text gives back (DescribeCertificate, and tests that make up a certificate).
struct CertificateText {
  std::string thumbprint;                 // uppercase hex SHA-1 of the DER (Exchange's convention)
  std::string subject;                    // RFC 4514
  std::string issuer;                     // RFC 4514
  std::string serial;                     // uppercase hex, "-" prefixed when negative
  std::string issuer_common_name;         // the issuer's last CN value; empty if it has none
  std::string key_algorithm;              // "RSA", "EC P-256", "DSA", "ED25519", ...
  std::string curve;                      // "P-256", "P-384", "P-521", other short name, or empty
  std::vector<std::string> dns_names;     // SAN dNSName entries, as written
  std::vector<std::string> common_names;  // subject CN values
};

// Some of a certificate's strings (its DNS names, its CNs), as views into its text: valid until
// the certificate is destroyed or given another text (SetText, or assigning another certificate
// to it), also when it is moved. The same holds for the string_views its accessors return.
class NameList {
 public:
  class Iterator {
   public:
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;
    Iterator() = default;
    Iterator(const char* text, std::size_t i) : text_(text), i_(i) {}
    std::string_view operator*() const;
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++i_;
      return before;
    }
    bool operator==(const Iterator&) const = default;

   private:
    const char* text_ = nullptr;
    std::size_t i_ = 0;
  };

  using iterator = Iterator;
  using const_iterator = Iterator;

  NameList(const char* text, std::size_t first, std::size_t count)
      : text_(text), first_(first), count_(count) {}
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  std::string_view operator[](std::size_t i) const { return *Iterator(text_, first_ + i); }
  std::string_view front() const { return (*this)[0]; }
  std::string_view back() const { return (*this)[count_ - 1]; }
  Iterator begin() const { return {text_, first_}; }
  Iterator end() const { return {text_, first_ + count_}; }
  std::vector<std::string> ToVector() const { return {begin(), end()}; }
  friend bool operator==(const NameList& a, const std::vector<std::string>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  const char* text_;  // Certificate::text_
  std::size_t first_;
  std::size_t count_;
};

// What the daemon keeps of a certificate for as long as it is in the store: 112 bytes
// and its strings in one allocation of their own (SetText), 10,000 of them in a store.
class Certificate {
 public:
  Sha256Digest sha256{};  // SHA-256 of the DER; Sha256Hex() formats it
  KeyId public_key_id{};
  UnixTime not_before = 0;
  UnixTime not_after = 0;
  std::optional<std::uint32_t> key_usage;  // keyUsage bits when the extension is present
  int version = 0;                         // 1, 2 or 3
  int key_bits = 0;
  KeyType key_type = KeyType::kOther;
  bool is_ca = false;        // basicConstraints CA:TRUE
  bool self_signed = false;  // issuer == subject and the signature verifies with its own key
  // Whether the extendedKeyUsage extension is present, and whether it lists serverAuth.
  bool has_extended_key_usage = false;
  bool extended_key_usage_server_auth = false;
  // UnusableReason finds nothing wrong: set once by DescribeCertificate, for the Status every
  // evaluation and every listing asks of every certificate.
  bool usable = false;

  // The text fields, as CertificateText describes them (empty until SetText).
  std::string_view thumbprint() const { return TextAt(kThumbprint); }
  std::string_view subject() const { return TextAt(kSubject); }
  std::string_view issuer() const { return TextAt(kIssuer); }
  std::string_view serial() const { return TextAt(kSerial); }
  std::string_view issuer_common_name() const { return TextAt(kIssuerCommonName); }
  std::string_view key_algorithm() const { return TextAt(kKeyAlgorithm); }
  std::string_view curve() const { return TextAt(kCurve); }
  NameList dns_names() const { return {text_.get(), kFixedTexts, DnsNameCount()}; }
  NameList common_names() const {
    return {text_.get(), kFixedTexts + DnsNameCount(), TextCount() - kFixedTexts - DnsNameCount()};
  }
  // The names selection matches against: SAN DNS names, or the CNs when there is none.
  NameList Names() const { return DnsNameCount() > 0 ? dns_names() : common_names(); }

  // Replaces every text field at once.
  void SetText(const CertificateText& text);
  CertificateText Text() const;

  // Uppercase hex of `sha256`.
  std::string Sha256Hex() const;
  bool HasServerAuth() const;

 private:
  friend class NameList::Iterator;
  enum : std::size_t {
    kThumbprint,
    kSubject,
    kIssuer,
    kSerial,
    kIssuerCommonName,
    kKeyAlgorithm,
    kCurve,
    kFixedTexts  // then the DNS names, then the CNs
  };
  std::size_t TextCount() const;
  std::size_t DnsNameCount() const;
  std::string_view TextAt(std::size_t i) const { return TextAt(text_.get(), i); }
  static std::string_view TextAt(const char* text, std::size_t i);
  static std::size_t TextBytes(const char* text);

  // Every string of the certificate in one allocation: the number of strings and of DNS names
  // (32 bits each), where each string ends (32 bits each), then the strings themselves. Copied
  // whole with the certificate, whose copy and move are then the defaults.
  class TextBuffer {
   public:
    TextBuffer() = default;
    explicit TextBuffer(std::unique_ptr<char[]> bytes) : bytes_(std::move(bytes)) {}
    TextBuffer(const TextBuffer& other);
    TextBuffer& operator=(const TextBuffer& other);
    TextBuffer(TextBuffer&&) noexcept = default;
    TextBuffer& operator=(TextBuffer&&) noexcept = default;
    ~TextBuffer() = default;
    const char* get() const { return bytes_.get(); }

   private:
    std::unique_ptr<char[]> bytes_;
  };
  TextBuffer text_;
};

inline std::string_view NameList::Iterator::operator*() const {
  return Certificate::TextAt(text_, i_);
}

struct PrivateKey {
  KeyId public_key_id{};  // of the matching public key
  std::string algorithm;  // as Certificate::key_algorithm
};

// What one file in the store holds. A file may hold both certificates and a key.
struct ParsedFile {
  std::vector<Certificate> certificates;
  std::vector<std::string> certificate_ders;  // the DER of each of `certificates`, in order
  std::vector<PrivateKey> keys;
  std::vector<std::string> skipped;  // one reason per part of the file that could not be used
};

// Reads a certificate from an OpenSSL object. Fails only on certificates OpenSSL cannot encode.
Result<Certificate> DescribeCertificate(X509* x509);

// Why `cert` can never be selected, whatever the host name or service (docs/selection.md, rules
// 1, 4 and 5: version, key, usages), or nullopt. The `Unusable` status of ListCertificates.
std::optional<std::string> UnusableReason(const Certificate& cert);

// Parses the contents of one store file: PEM (any number of CERTIFICATE / PRIVATE KEY /
// RSA PRIVATE KEY / EC PRIVATE KEY blocks) or a single DER certificate. Fails with a reason a
// person understands when the file holds nothing usable: garbage, a truncated block, an
// encrypted key, a CSR or CRL, a certificate OpenSSL rejects. A PEM file with usable and
// unusable blocks keeps the usable ones and lists a reason for each of the others in `skipped`.
Result<ParsedFile> ParseStoreFile(std::string_view contents);

// Loads a DER certificate back into OpenSSL (for chain building and publishing).
X509Ptr X509FromDer(const std::string& der);

// PEM text of a DER certificate.
std::string DerToPem(const std::string& der);

// Reads `file` and returns, as unencrypted PKCS#8 PEM, the private key in it whose public key
// id is `public_key_id` (for publishing). Fails with "FILE: reason".
Result<std::string> ReadPrivateKeyPem(const std::string& file, const KeyId& public_key_id);

// Formats `t` as YYYY-MM-DD (UTC), as used in reasons and logs.
std::string FormatDate(UnixTime t);

// Uppercase (thumbprints) and lowercase (TLSA records, digests in files) hex of `bytes`.
std::string HexUpper(std::string_view bytes);
std::string HexUpper(const Sha256Digest& digest);
std::string HexLower(std::string_view bytes);
std::string HexLower(const Sha256Digest& digest);

}  // namespace transportcertd
