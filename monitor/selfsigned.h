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
  // A private key (PEM) to use instead of generating one, e.g. the pre-published next key of
  // the internal transport certificate (docs/dane.md); `key` is then ignored. Empty: generate.
  std::string existing_key_pem;
};

struct GeneratedCertificate {
  std::string thumbprint;
  std::string key_pem;
  std::string certificate_pem;
};

// Fails with a reason when a name is invalid, the validity cannot be encoded, the key cannot be
// generated, or `existing_key_pem` is not an unencrypted RSA or EC private key of an accepted
// size or curve.
Result<GeneratedCertificate> GenerateSelfSigned(const SelfSignedRequest& request);

// A new private key of `spec` as unencrypted PKCS#8 PEM. CPU-heavy for RSA.
Result<std::string> GeneratePrivateKeyPem(const KeySpec& spec);

// The KeySpec of a PEM private key (rsa:<bits> or ec:<curve>); fails on anything else.
Result<KeySpec> KeySpecOfPrivateKeyPem(std::string_view key_pem);

// Writes key + certificate into a new file `<store_dir>/transportcertd-<THUMBPRINT>.pem`,
// atomically, mode 0600, never over an existing file. Returns the path.
Result<std::string> WriteToStore(const std::string& store_dir, const GeneratedCertificate& cert);

}  // namespace transportcertd
