// DANE (docs/dane.md): the TLSA records that authenticate the certificates the daemon publishes,
// and the rollover rule that keeps them valid across automatic renewals. For every published
// name and port: `3 1 1` (DANE-EE, SHA-256 of the leaf's SubjectPublicKeyInfo); for a CA-issued
// certificate also `2 1 1` of its issuer (DANE-TA, stable across renewals by the same CA); for
// the internal transport certificate also `3 1 1` of the pre-generated next key, so that records
// published once keep matching after the next renewal. Pure functions; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/bindings.h"
#include "monitor/certificate.h"
#include "monitor/expiry.h"
#include "monitor/result.h"
#include "monitor/store.h"

namespace transportcertd {

struct TlsaRecord {
  std::string owner;    // "_25._tcp.mail.example.com."
  int usage = 3;        // 3 DANE-EE, 2 DANE-TA
  int selector = 1;     // 1: SubjectPublicKeyInfo
  int matching = 1;     // 1: SHA-256
  std::string data;     // lowercase hex
  std::string comment;  // what the record names, for people ("certificate 3BA4… CN=…")

  // "_25._tcp.mail.example.com. IN TLSA 3 1 1 <hex>"
  std::string ZoneLine() const;
  bool operator==(const TlsaRecord&) const = default;
};

// Lowercase hex SHA-256 of the SubjectPublicKeyInfo (DER) of a DER certificate / of the public
// half of a PEM private key. Fails when the input cannot be read.
Result<std::string> SpkiSha256OfCertificate(std::string_view der);
Result<std::string> SpkiSha256OfPrivateKey(std::string_view key_pem);

// What is published under one name.
struct DanePublishedName {
  std::string name;                                // a host name, without trailing dot
  const StoredCertificate* certificate = nullptr;  // its selection; nullptr: nothing published
  bool internal_transport = false;                 // `certificate` is the internal transport one
  std::string store_dir;                           // the Inventory::dir `certificate` is from
};

// The records for `names` on `ports`, in order: per name, per port, the leaf's `3 1 1`, the
// issuer's `2 1 1` (a CA-issued certificate whose issuer is published with it), the next key's
// `3 1 1` (internal transport only, when `next_key_sha256` is set). A record is listed once.
std::vector<TlsaRecord> ComputeTlsaRecords(const std::vector<DanePublishedName>& names,
                                           const std::vector<int>& ports,
                                           const std::optional<std::string>& next_key_sha256);

// The records as a zone-file fragment: a header comment, then for each record a comment line
// naming what it authenticates and the record itself. Deterministic (no timestamps), so the file
// changes only when the records do.
std::string FormatTlsaFile(const std::vector<TlsaRecord>& records);

// The record lines (ZoneLine form) of a file FormatTlsaFile wrote; comments and blank lines are
// skipped.
std::vector<std::string> ParseTlsaFile(std::string_view text);

// Between two record sets (ZoneLine form): the records to publish in DNS now, and those no longer
// needed, to be removed from DNS once the next renewal has made sure nobody needs them.
struct TlsaChange {
  std::vector<std::string> add_now;
  std::vector<std::string> remove_after_next_renewal;
  bool empty() const { return add_now.empty() && remove_after_next_renewal.empty(); }
};
TlsaChange DiffTlsaRecords(const std::vector<std::string>& before,
                           const std::vector<std::string>& after);

// The rollover hold: when may a routine renewal of the internal transport certificate proceed?
// `renewal_due` is when renew_before asks for it; it waits until the next key has existed for
// `hold` (`next_key_since`; nullopt: there is no next key yet, wait), but never past the
// certificate's NotAfter (`not_after`, seconds). `hold` 0 never waits.
UnixTimeMs RoutineRenewalTime(UnixTimeMs renewal_due, UnixTime not_after,
                              std::optional<UnixTimeMs> next_key_since, Milliseconds hold);

// When a renewal of the internal transport certificate that InternalTransportReplacementReason
// asks for at `now` may proceed: `now` for an emergency (missing, without its key, expired, not
// yet valid: those never wait), RoutineRenewalTime for a routine one (inside renew_before, still
// valid). nullopt when no replacement is needed.
std::optional<UnixTimeMs> InternalTransportRenewalAllowedAt(
    const Inventory& inventory, const Bindings& bindings, Milliseconds renew_before, UnixTimeMs now,
    std::optional<UnixTimeMs> next_key_since, Milliseconds hold);

}  // namespace transportcertd
