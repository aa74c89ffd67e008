// Alerts: the events an administrator must hear about, each with its own journal MESSAGE_ID
// (explained by packaging/transportcertd.catalog under `journalctl -x`; docs/alerts.md lists
// them) and structured fields. Raised on the loop thread with Alert() (daemon/logging.h).
#pragma once

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
  }
  return "";
}

// Structured fields of an alert; empty ones are left out of the journal entry.
struct AlertFields {
  std::string thumbprint;
  std::string subject;
  std::string not_after;  // YYYY-MM-DD HH:MM:SS UTC
  std::string threshold;  // e.g. "7d"
  std::string file;
  std::string old_thumbprint;
};

}  // namespace transportcertd
