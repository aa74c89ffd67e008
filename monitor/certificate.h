// The certificate model: what the daemon knows about one X.509 certificate, read once with
// OpenSSL 3 and then kept as plain data. The DER itself is not kept: what needs it (publishing,
// chain checks, DANE) reads it back from the store (ReadCertificateDer in store.h).
// Also parsing of whole files (PEM or DER) into certificates and private keys.
// Pure functions; safe to call from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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

struct Certificate {
  std::string thumbprint;  // uppercase hex SHA-1 of the DER (Exchange's convention)
  Sha256Digest sha256{};   // SHA-256 of the DER; Sha256Hex() formats it
  std::string subject;     // RFC 4514
  std::string issuer;      // RFC 4514
  std::string serial;      // uppercase hex, "-" prefixed when negative
  UnixTime not_before = 0;
  UnixTime not_after = 0;
  std::vector<std::string> dns_names;     // SAN dNSName entries, as written
  std::vector<std::string> common_names;  // subject CN values
  std::string issuer_common_name;         // the issuer's last CN value; empty if it has none
  std::string key_algorithm;              // "RSA", "EC P-256", "DSA", "ED25519", ...
  std::string curve;                      // "P-256", "P-384", "P-521", other short name, or empty
  int version = 0;                        // 1, 2 or 3
  int key_bits = 0;
  std::optional<std::uint32_t> key_usage;  // keyUsage bits when the extension is present
  KeyType key_type = KeyType::kOther;
  bool is_ca = false;        // basicConstraints CA:TRUE
  bool self_signed = false;  // issuer == subject and the signature verifies with its own key
  // Whether the extendedKeyUsage extension is present, and whether it lists serverAuth.
  bool has_extended_key_usage = false;
  bool extended_key_usage_server_auth = false;
  // UnusableReason finds nothing wrong: set once by DescribeCertificate, for the Status every
  // evaluation and every listing asks of every certificate.
  bool usable = false;
  KeyId public_key_id{};

  // Uppercase hex of `sha256`.
  std::string Sha256Hex() const;
  // The names selection matches against: SAN DNS names, or the CNs when there is none.
  const std::vector<std::string>& Names() const {
    return dns_names.empty() ? common_names : dns_names;
  }
  bool HasServerAuth() const;
};

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
