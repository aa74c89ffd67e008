// Test support: real X.509 certificates made on the fly with OpenSSL, with exactly the
// properties a test needs (names, dates, key, usages, version, issuer).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "monitor/certificate.h"
#include "monitor/openssl_handles.h"

namespace transportcertd::testing {

struct TestCert {
  X509Ptr x509;
  EvpPkeyPtr key;
  std::string cert_pem;
  std::string key_pem;
  std::string thumbprint;  // uppercase hex SHA-1 of the DER
  std::string der;
};

struct CertSpec {
  std::string cn = "mail.example.com";
  std::vector<std::string> dns_names = {"mail.example.com"};  // empty: no SAN extension
  std::int64_t not_before_offset = -86400;                    // seconds relative to `now`
  std::int64_t not_after_offset = 365 * 86400;                // seconds relative to `now`
  UnixTime now = 0;                                           // 0: the real current time
  // rsa:<bits> (any size, e.g. rsa:1024) | ec:P-256|P-384|P-521|P-192?
  std::string key = "ec:P-256";
  int version = 3;                              // 1 or 3
  std::optional<std::uint32_t> key_usage;       // X509v3_KU_* bits; nullopt: no extension
  std::optional<std::vector<std::string>> eku;  // short names; nullopt: no extension
  bool ca = false;                              // basicConstraints CA:TRUE (+ keyCertSign)
  const TestCert* issuer = nullptr;             // nullptr: self-signed
  const TestCert* same_key_as = nullptr;        // reuse that certificate's key (a renewal)
};

TestCert MakeCertificate(const CertSpec& spec);

// A certificate for `host` (its CN and one SAN DNS name), otherwise as CertSpec's defaults.
TestCert MakeCertificateFor(const std::string& host);

// A root CA (self-signed, CA:TRUE) and an intermediate signed by `parent`.
TestCert MakeCa(const std::string& cn, const TestCert* parent = nullptr);

}  // namespace transportcertd::testing
