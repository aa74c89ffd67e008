#include "monitor/dane.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <set>

#include "monitor/certificate.h"
#include "monitor/internal_transport.h"

namespace transportcertd {
namespace {

Result<std::string> Sha256Hex(const unsigned char* data, int length) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (length <= 0 || EVP_Digest(data, static_cast<std::size_t>(length), digest, &size, EVP_sha256(),
                                nullptr) != 1) {
    ERR_clear_error();
    return Error{"cannot compute the SHA-256 of a public key"};
  }
  return HexLower({reinterpret_cast<const char*>(digest), size});
}

// SHA-256 of the DER SubjectPublicKeyInfo of `key`.
Result<std::string> SpkiSha256(EVP_PKEY* key) {
  unsigned char* spki = nullptr;
  const int length = i2d_PUBKEY(key, &spki);
  auto digest = Sha256Hex(spki, length);
  OPENSSL_free(spki);
  return digest;
}

std::string Describe(const Certificate& cert) {
  return std::string(cert.thumbprint()) + " (" + std::string(cert.subject()) + "), valid until " +
         FormatDate(cert.not_after);
}

}  // namespace

std::string TlsaRecord::ZoneLine() const {
  return owner + " IN TLSA " + std::to_string(usage) + " " + std::to_string(selector) + " " +
         std::to_string(matching) + " " + data;
}

Result<std::string> SpkiSha256OfCertificate(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x509) {
    ERR_clear_error();
    return Error{"not a DER certificate"};
  }
  EVP_PKEY* key = X509_get0_pubkey(x509.get());
  if (key == nullptr) {
    ERR_clear_error();
    return Error{"the certificate's public key cannot be read"};
  }
  return SpkiSha256(key);
}

Result<std::string> SpkiSha256OfPrivateKey(std::string_view key_pem) {
  BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  EvpPkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) {
    ERR_clear_error();
    return Error{"not an unencrypted PEM private key"};
  }
  return SpkiSha256(key.get());
}

std::vector<TlsaRecord> ComputeTlsaRecords(const std::vector<DanePublishedName>& names,
                                           const std::vector<int>& ports,
                                           const std::optional<std::string>& next_key_sha256) {
  std::vector<TlsaRecord> records;
  std::set<std::string> seen;
  auto add = [&](TlsaRecord record) {
    if (seen.insert(record.ZoneLine()).second) records.push_back(std::move(record));
  };
  for (const DanePublishedName& published : names) {
    if (published.certificate == nullptr) continue;
    const Certificate& leaf = published.certificate->cert();
    // Read back from the store: when it changed meanwhile, the rescan that follows recomputes.
    const auto leaf_der = ReadCertificateDer(published.store_dir, *published.certificate);
    if (!leaf_der) continue;
    const auto leaf_digest = SpkiSha256OfCertificate(*leaf_der);
    if (!leaf_digest) continue;  // a certificate in the inventory always has a readable key
    // The issuer a DANE-TA record can name: the first certificate of the published chain, when
    // it really is the leaf's issuer (the server sends it, so the verifier finds it).
    std::optional<std::string> issuer_digest;
    std::string issuer_subject;
    if (!leaf.self_signed && !published.certificate->ChainDer().empty()) {
      const std::string& issuer_der = published.certificate->ChainDer().front();
      X509Ptr leaf_x509 = X509FromDer(*leaf_der);
      X509Ptr issuer_x509 = X509FromDer(issuer_der);
      if (leaf_x509 && issuer_x509 &&
          X509_check_issued(issuer_x509.get(), leaf_x509.get()) == X509_V_OK) {
        if (auto digest = SpkiSha256OfCertificate(issuer_der)) issuer_digest = *digest;
        if (auto described = DescribeCertificate(issuer_x509.get())) {
          issuer_subject = described->subject();
        }
      }
      ERR_clear_error();
    }
    for (const int port : ports) {
      const std::string owner = "_" + std::to_string(port) + "._tcp." + published.name + ".";
      add({owner, 3, 1, 1, *leaf_digest,
           (published.internal_transport ? "internal transport certificate " : "certificate ") +
               Describe(leaf)});
      if (issuer_digest) {
        add({owner, 2, 1, 1, *issuer_digest,
             "issuing CA " + issuer_subject + " of certificate " + std::string(leaf.thumbprint()) +
                 " (stays valid for its renewals by the same CA)"});
      }
      if (published.internal_transport && next_key_sha256) {
        add({owner, 3, 1, 1, *next_key_sha256,
             "next key: the internal transport certificate's next renewal uses it"});
      }
    }
  }
  return records;
}

std::string FormatTlsaFile(const std::vector<TlsaRecord>& records) {
  std::string text =
      "; DANE TLSA records for the certificates transportcertd publishes.\n"
      "; Publish every record in DNSSEC-signed DNS; keep the next key's record published.\n";
  for (const TlsaRecord& record : records) {
    text += "; " + record.comment + "\n" + record.ZoneLine() + "\n";
  }
  return text;
}

std::vector<std::string> ParseTlsaFile(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == ';') continue;
    lines.emplace_back(line);
  }
  return lines;
}

TlsaChange DiffTlsaRecords(const std::vector<std::string>& before,
                           const std::vector<std::string>& after) {
  TlsaChange change;
  for (const auto& line : after) {
    if (std::find(before.begin(), before.end(), line) == before.end()) {
      change.add_now.push_back(line);
    }
  }
  for (const auto& line : before) {
    if (std::find(after.begin(), after.end(), line) == after.end()) {
      change.remove_after_next_renewal.push_back(line);
    }
  }
  return change;
}

UnixTimeMs RoutineRenewalTime(UnixTimeMs renewal_due, UnixTime not_after,
                              std::optional<UnixTimeMs> next_key_since, Milliseconds hold) {
  if (hold.count() <= 0) return renewal_due;
  const UnixTimeMs last = not_after * 1000;  // the last second the certificate is valid
  const UnixTimeMs held = next_key_since ? *next_key_since + hold.count() : last;
  return std::max(renewal_due, std::min(held, last));
}

std::optional<UnixTimeMs> InternalTransportRenewalAllowedAt(
    const Inventory& inventory, const Bindings& bindings, Milliseconds renew_before, UnixTimeMs now,
    std::optional<UnixTimeMs> next_key_since, Milliseconds hold) {
  if (!InternalTransportReplacementReason(inventory, bindings, renew_before, now)) {
    return std::nullopt;
  }
  const StoredCertificate* current = inventory.Find(bindings.internal_transport);
  if (current == nullptr || !current->HasPrivateKey() || IsExpired(current->cert(), now) ||
      IsNotYetValid(current->cert(), now)) {
    return now;  // an emergency
  }
  const Certificate& cert = current->cert();
  const UnixTimeMs due = (cert.not_after + 1) * 1000 - renew_before.count();
  return std::max(now, RoutineRenewalTime(due, cert.not_after, next_key_since, hold));
}

}  // namespace transportcertd
