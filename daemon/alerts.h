// Alerts: the events an administrator must hear about, each with its own journal MESSAGE_ID
// (explained by packaging/transportcertd.catalog under `journalctl -x`; docs/alerts.md lists
// them) and structured fields. Raised on the loop thread with Alert() (daemon/logging.h).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace transportcertd {

enum class AlertKind {
  kCertificateExpiring,         // a warn_before threshold was crossed
  kCertificateExpired,          // NotAfter passed
  kExpiredCertificateSelected,  // nothing valid was eligible; an expired certificate is offered
  kInternalTransportReplaced,   // a new internal transport certificate was designated
  kGenerationFailed,            // generating or storing a self-signed certificate failed
  kPublishFailed,               // writing a published file failed
  kReloadCommandFailed,         // reload_command exited non-zero or could not start
  kStoreFileUnusable,           // a file in the store could not be used
  kNoEligibleCertificate,       // a published name has no eligible certificate for a service
  kTlsaRecordsChanged,          // the DANE TLSA records to publish in DNS changed
};

// The journal MESSAGE_ID (32 lowercase hex digits) of each alert kind.
constexpr std::string_view MessageId(AlertKind kind) {
  switch (kind) {
    case AlertKind::kCertificateExpiring:
      return "4d7621c7b2ab4e5bb01832a963a5a09a";
    case AlertKind::kCertificateExpired:
      return "615a192ae25f49dca00c362590dcdacb";
    case AlertKind::kExpiredCertificateSelected:
      return "5a90b4951ae7493cbdf9e2ea7c847cba";
    case AlertKind::kInternalTransportReplaced:
      return "5199faa6fe2e401993935c2a617d30bd";
    case AlertKind::kGenerationFailed:
      return "e499b58f5be64def8241536cfdc3bc93";
    case AlertKind::kPublishFailed:
      return "abf4e8be89cb4cd59a8e785a23ca3722";
    case AlertKind::kReloadCommandFailed:
      return "e55b5ce57b544b80a6da40533d97aa63";
    case AlertKind::kStoreFileUnusable:
      return "30b9c60e4cc84fd3a00e3177ad6fd7ae";
    case AlertKind::kNoEligibleCertificate:
      return "4d20847c3aa44839a376c7056a70e513";
    case AlertKind::kTlsaRecordsChanged:
      return "b0423bdac95c4a089cedbddb0c5de3dc";
  }
  return "";
}

// The journal field names of the AlertFields members (daemon/logging.cpp writes them).
inline constexpr std::string_view kFieldThumbprint = "TRANSPORTCERTD_THUMBPRINT";
inline constexpr std::string_view kFieldSubject = "TRANSPORTCERTD_SUBJECT";
inline constexpr std::string_view kFieldNotAfter = "TRANSPORTCERTD_NOT_AFTER";
inline constexpr std::string_view kFieldThreshold = "TRANSPORTCERTD_THRESHOLD";
inline constexpr std::string_view kFieldFile = "TRANSPORTCERTD_FILE";
inline constexpr std::string_view kFieldOldThumbprint = "TRANSPORTCERTD_OLD_THUMBPRINT";
inline constexpr std::string_view kFieldTlsaAdd = "TRANSPORTCERTD_TLSA_ADD";
inline constexpr std::string_view kFieldTlsaRemove = "TRANSPORTCERTD_TLSA_REMOVE";

// The fields every alert of `kind` carries in the journal, whatever the caller filled in: the
// ones its catalog entry (packaging/transportcertd.catalog) shows as @FIELD@, so that
// `journalctl -x` never prints a field's bare name. A test checks this list against the catalog.
inline constexpr std::string_view kExpiringFields[] = {kFieldThumbprint, kFieldSubject,
                                                       kFieldNotAfter, kFieldThreshold};
inline constexpr std::string_view kCertificateFields[] = {kFieldThumbprint, kFieldSubject,
                                                          kFieldNotAfter};
inline constexpr std::string_view kReplacedFields[] = {kFieldThumbprint, kFieldSubject};
inline constexpr std::string_view kFileFields[] = {kFieldFile};
inline constexpr std::string_view kTlsaFields[] = {kFieldFile, kFieldTlsaAdd, kFieldTlsaRemove};

constexpr std::span<const std::string_view> RequiredFields(AlertKind kind) {
  switch (kind) {
    case AlertKind::kCertificateExpiring:
      return kExpiringFields;
    case AlertKind::kCertificateExpired:
    case AlertKind::kExpiredCertificateSelected:
      return kCertificateFields;
    case AlertKind::kInternalTransportReplaced:
      return kReplacedFields;
    case AlertKind::kStoreFileUnusable:
    case AlertKind::kNoEligibleCertificate:
      return kFileFields;
    case AlertKind::kTlsaRecordsChanged:
      return kTlsaFields;
    case AlertKind::kGenerationFailed:
    case AlertKind::kPublishFailed:
    case AlertKind::kReloadCommandFailed:
      return {};
  }
  return {};
}

// Logged by `transportcertctl verify --journal`, not by the daemon: a local mail port presents
// another certificate than the one the daemon selects for the name (the server was not
// reloaded, or refused the reload). Its catalog entry ships with the daemon's; every such entry
// carries kServedDiffersFields (ctl/verify_report.cpp writes them, a test checks the catalog).
inline constexpr std::string_view kServedDiffersMessageId = "0f6f28cf9ecb488cb069e0c8578f4862";
inline constexpr std::string_view kFieldPort = "TRANSPORTCERTD_PORT";  // "25/smtp"
inline constexpr std::string_view kFieldName = "TRANSPORTCERTD_NAME";  // sent as SNI
inline constexpr std::string_view kFieldService = "TRANSPORTCERTD_SERVICE";
inline constexpr std::string_view kFieldExpected = "TRANSPORTCERTD_EXPECTED";
inline constexpr std::string_view kFieldServed = "TRANSPORTCERTD_SERVED";
inline constexpr std::string_view kServedDiffersFields[] = {kFieldPort, kFieldName, kFieldService,
                                                            kFieldExpected, kFieldServed};

// Every alert kind, for tests and tools that go through all of them.
inline constexpr AlertKind kAllAlertKinds[] = {
    AlertKind::kCertificateExpiring,        AlertKind::kCertificateExpired,
    AlertKind::kExpiredCertificateSelected, AlertKind::kInternalTransportReplaced,
    AlertKind::kGenerationFailed,           AlertKind::kPublishFailed,
    AlertKind::kReloadCommandFailed,        AlertKind::kStoreFileUnusable,
    AlertKind::kNoEligibleCertificate,      AlertKind::kTlsaRecordsChanged};

// Structured fields of an alert; empty ones are left out of the journal entry, except the
// RequiredFields of its kind, which are written as "(unknown)".
struct AlertFields {
  std::string thumbprint;
  std::string subject;
  std::string not_after;  // YYYY-MM-DD HH:MM:SS UTC
  std::string threshold;  // e.g. "7d"
  std::string file;
  std::string old_thumbprint;
  std::string tlsa_add;     // TLSA records to add to DNS now, one per line ("none" if none)
  std::string tlsa_remove;  // TLSA records to remove after the next renewal ("none" if none)
};

}  // namespace transportcertd
