// What one evaluation of the store does besides the internal transport certificate
// (daemon/generation.cpp): expiry alerts, pruning the removed area, retiring superseded
// certificates, publishing for the mail server, and the metrics file. Daemon::Evaluate
// (daemon/daemon.cpp) calls them in a fixed order.
#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

#include "daemon/daemon.h"
#include "daemon/logging.h"
#include "monitor/metrics.h"
#include "monitor/retirement.h"
#include "monitor/store_change.h"
#include "transportcertd_version.h"

namespace transportcertd {

void Daemon::RaiseExpiryAlerts(UnixTimeMs now) {
  for (const auto& alert : expiry_.Update(inventory_, now)) {
    const Certificate& cert = alert.certificate->cert();
    AlertFields fields = FieldsOf(cert);
    const std::uint64_t not_after_usec = static_cast<std::uint64_t>(cert.not_after) * 1'000'000;
    if (alert.kind == ExpiryAlert::Kind::kExpired) {
      Alert(AlertKind::kCertificateExpired, spdlog::level::err, fields,
            "certificate " + std::string(cert.thumbprint()) + " (" + std::string(cert.subject()) +
                ") expired at " + fields.not_after);
      if (bus_) {
        bus_->EmitCertificateExpired(std::string(cert.thumbprint()), std::string(cert.subject()),
                                     not_after_usec);
      }
    } else {
      fields.threshold = FormatDuration(alert.threshold);
      Alert(AlertKind::kCertificateExpiring, spdlog::level::warn, fields,
            "certificate " + std::string(cert.thumbprint()) + " (" + std::string(cert.subject()) +
                ") expires at " + fields.not_after + ", within " + fields.threshold);
      if (bus_) {
        bus_->EmitCertificateExpiring(std::string(cert.thumbprint()), std::string(cert.subject()),
                                      not_after_usec, fields.threshold);
      }
    }
  }
}

void Daemon::PruneRemovedFiles(UnixTimeMs now) {
  const PruneResult pruned =
      PruneRemoved(config_.RemovedPath(), config_.keep_removed.count() / 1000, now / 1000);
  if (pruned.deleted > 0) {
    spdlog::info("deleted {} removed certificate(s) kept longer than keep_removed ({}) from {}",
                 pruned.deleted, FormatDuration(config_.keep_removed), config_.RemovedPath());
  }
  for (const auto& error : pruned.errors) spdlog::error("{}", error);
  removed_due_ = pruned.next_due;
}

bool Daemon::RetireSuperseded(UnixTimeMs now) {
  const std::int64_t hold = config_.retire_superseded.count() / 1000;
  if (hold <= 0 || retiring_) return false;
  const std::vector<std::string> due =
      superseded_.Update(SupersededCertificates(inventory_, bindings_, config_.default_services,
                                                config_.wildcard, now / 1000, names_),
                         now / 1000, hold);
  if (due.empty()) return false;
  retiring_ = true;
  for (const std::string& thumbprint : due) {
    const std::string verb =
        "retired superseded (for " + FormatDuration(config_.retire_superseded) + ")";
    if (Status removed = RemoveFromStore(thumbprint, verb); !removed) {
      spdlog::error("cannot retire superseded certificate {}: {}", thumbprint,
                    removed.error().message);
    }
  }
  Refresh();
  retiring_ = false;
  return true;
}

void Daemon::PublishAll() {
  // Which file holds what, per service, is monitor/publish_plan.h's decision. While the
  // internal transport certificate waits for a replacement (say a failed generation waits for
  // its retry), the mail server keeps the files it has.
  // DANE records; kept as they are while a replacement is pending, like the files above.
  std::map<std::string, std::string> extra;
  if (!ReplacementPending()) {
    if (auto tlsa = dane_->TlsaFile(DaneNames(), inventory_)) extra[kTlsaFileName] = *tlsa;
  }
  publisher_->PublishSelections(
      inventory_, bindings_.internal_transport, ReplacementPending(),
      [this](const std::string& name, Service service) { return Select(name, service).winner; },
      extra);
}

void Daemon::WriteMetrics() {
  if (!metrics_.enabled() || exit_code_ != 0 || !sigterm_) return;
  MetricsSnapshot snapshot;
  snapshot.now = clock_.Now();
  snapshot.store_dir = inventory_.dir;
  for (const auto& stored : inventory_.certificates) {
    const std::string_view thumbprint = stored.cert().thumbprint();
    snapshot.certificates.push_back({&stored, StatusOf(stored), ServicesOf(thumbprint),
                                     thumbprint == bindings_.internal_transport});
  }
  std::vector<std::string> names = {config_.fqdn};
  for (const auto& name : config_.publish_names) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  for (const auto& name : names) {
    const Selection selection = SelectWinner(SelectionFor(name, Service::kSmtp), names_);
    if (selection.winner != nullptr) {
      snapshot.selected.push_back(
          {name, Service::kSmtp, std::string(selection.winner->cert().thumbprint())});
    }
  }
  std::set<std::string> unusable;
  for (const auto& problem : inventory_.problems) unusable.insert(problem.file);
  snapshot.unusable_files = unusable.size();
  snapshot.reload_failures = publisher_->reload_failures();
  snapshot.last_reload_success = publisher_->last_reload_success();
  snapshot.generation_failures = generation_failures_;
  snapshot.version = kVersion;
  metrics_.Write(RenderMetrics(snapshot));
}

}  // namespace transportcertd
