// Self-signed certificate generation (docs/configuration.md, [selfsigned]): CN=fqdn, SANs
// fqdn + short host name + extra names, the configured key and validity, keyUsage
// digitalSignature+keyEncipherment, EKU serverAuth, a random 159-bit serial, SHA-256 signature.
// CPU-heavy (RSA key generation): the daemon runs it on a worker thread. Safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/certificate.h"
#include "monitor/result.h"

namespace transportcertd {

struct KeySpec {
  KeyType type = KeyType::kRsa;
  int bits = 2048;               // RSA modulus bits
  std::string curve;             // "P-256" or "P-384" for EC
  std::string ToString() const;  // "rsa:2048", "ec:P-256"
  bool operator==(const KeySpec&) const = default;
};

// Accepts rsa:2048 rsa:3072 rsa:4096 ec:P-256 ec:P-384; fails naming the accepted values.
Result<KeySpec> ParseKeySpec(std::string_view text);

struct SelfSignedRequest {
  std::string fqdn;
  std::vector<std::string> extra_names;
  KeySpec key;
  std::int64_t validity_seconds = 1825LL * 86400;
  UnixTime now = 0;
};

struct GeneratedCertificate {
  std::string thumbprint;
  std::string key_pem;
  std::string certificate_pem;
};

Result<GeneratedCertificate> GenerateSelfSigned(const SelfSignedRequest& request);

// Writes key + certificate into one file `<store_dir>/transportcertd-<THUMBPRINT>.pem`,
// atomically, mode 0600. Returns the path.
Result<std::string> WriteToStore(const std::string& store_dir, const GeneratedCertificate& cert);

}  // namespace transportcertd
