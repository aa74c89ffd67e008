// Metrics for Prometheus: the daemon's view of the store as exposition text (format 0.0.4), for
// node_exporter's textfile collector. The certificate series use the names and labels of
// x509-certificate-exporter (x509_cert_not_after, x509_cert_not_before, x509_cert_expired with
// subject_CN, issuer_CN, serial_number, filepath), plus a thumbprint label, so that its
// dashboards and alert rules work unchanged; the transportcertd_* series add what only the
// daemon knows (status, services, selection, internal transport, counters). docs/metrics.md
// lists them.
//
// The text holds names, dates, thumbprints and file paths; never key material. Label values are
// escaped as the text format requires and made valid UTF-8, so hostile subjects or file names
// cannot break the file for the collector. Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/bindings.h"
#include "monitor/expiry.h"
#include "monitor/store.h"

namespace transportcertd {

struct MetricsCertificate {
  const StoredCertificate* stored = nullptr;  // must outlive the RenderMetrics call
  std::string status;                         // Valid, Expiring, Expired, ... (as over D-Bus)
  ServiceSet services = 0;
  bool internal_transport = false;
};

// What a published name selects for a service.
struct MetricsSelection {
  std::string name;
  Service service = Service::kSmtp;
  std::string thumbprint;
};

struct MetricsSnapshot {
  std::vector<MetricsCertificate> certificates;  // one series set each, in this order
  std::string store_dir;  // the certificates' Inventory::dir: filepath labels are full paths
  std::vector<MetricsSelection> selected;
  std::uint64_t unusable_files = 0;       // store files with at least one problem
  std::uint64_t reload_failures = 0;      // since start
  std::uint64_t generation_failures = 0;  // since start
  UnixTime last_reload_success = 0;       // 0: none since start
  std::string version;
  UnixTimeMs now = 0;  // decides x509_cert_expired
};

// The exposition text of `snapshot`: every family with HELP and TYPE, its samples together,
// one line each, ending in a newline. The same snapshot always gives the same text.
std::string RenderMetrics(const MetricsSnapshot& snapshot);

// `value` as the inside of a quoted label value: backslash, double quote and newline escaped
// (\\ \" \n), and every byte sequence that is not UTF-8 replaced by U+FFFD.
std::string EscapeLabelValue(std::string_view value);

// An uppercase hex serial number ("-" prefixed when negative) in decimal, as
// x509-certificate-exporter shows it; the input unchanged when it is not hex.
std::string SerialToDecimal(std::string_view hex);

}  // namespace transportcertd
