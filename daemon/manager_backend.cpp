// The daemon's answers to D-Bus (ipc/backend.h, ManagerBackend): reading the inventory and
// the selection, and the changing calls. Each changing call validates against the current
// inventory, changes the store or the bindings (the store only through monitor/store_change.h,
// so that nothing is lost), saves the bindings atomically or reverts them, then evaluates the
// store again so that published files, signals and properties follow at once.
#include <grp.h>

#include <algorithm>
#include <map>

#include "daemon/daemon.h"
#include "daemon/logging.h"
#include "monitor/internal_transport.h"
#include "monitor/store_change.h"

namespace transportcertd {

Status Daemon::SaveBindingsOrRevert(const Bindings& previous) {
  Status saved = SaveBindings(config_.BindingsPath(), bindings_);
  if (!saved) {
    bindings_ = previous;
    spdlog::error("{}", saved.error().message);
    return Error{saved.error().message, ErrorCode::kStore};
  }
  return {};
}

ServiceSet Daemon::ServicesOf(std::string_view thumbprint) const {
  return bindings_.ServicesOf(thumbprint, config_.default_services);
}

std::string Daemon::StatusOf(const StoredCertificate& stored) const {
  const UnixTimeMs now = clock_.Now();
  if (!stored.cert().usable) return "Unusable";  // UnusableReason, worked out once per certificate
  if (!stored.HasPrivateKey()) return "NoPrivateKey";
  if (IsExpired(stored.cert(), now)) return "Expired";
  if (IsNotYetValid(stored.cert(), now)) return "NotYetValid";
  if (expiry_.IsExpiring(stored.cert(), now)) return "Expiring";
  return "Valid";
}

std::uint64_t Daemon::NextExpiryUsec() const {
  std::optional<UnixTime> next;
  for (const auto& stored : inventory_.certificates) {
    if (!next || stored.cert().not_after < *next) next = stored.cert().not_after;
  }
  return next && *next > 0 ? static_cast<std::uint64_t>(*next) * 1'000'000 : 0;
}

SelectionInput Daemon::SelectionFor(const std::string& fqdn, Service service) const {
  return {inventory_, bindings_,        config_.default_services, fqdn,
          service,    config_.wildcard, clock_.Now() / 1000};
}

Selection Daemon::Select(const std::string& fqdn, Service service) {
  return AlertIfExpired(SelectWinner(SelectionFor(fqdn, service), names_), fqdn, service);
}

Selection Daemon::Explain(const std::string& fqdn, Service service) {
  return AlertIfExpired(transportcertd::Select(SelectionFor(fqdn, service), &names_), fqdn,
                        service);
}

Selection Daemon::AlertIfExpired(Selection selection, const std::string& fqdn, Service service) {
  if (selection.winner != nullptr && selection.winner_expired && expired_selected_ &&
      expired_selected_->ShouldAlert(std::string(selection.winner->cert().thumbprint()), fqdn)) {
    Alert(AlertKind::kExpiredCertificateSelected, spdlog::level::err,
          FieldsOf(selection.winner->cert()),
          "no valid certificate is eligible for " + fqdn + " (" + ServiceName(service) +
              "); the expired certificate " + std::string(selection.winner->cert().thumbprint()) +
              " is used until one is: " + selection.reason);
  }
  return selection;
}

long Daemon::AdminGroupId() const {
  if (config_.admin_group.empty()) return -1;
  const struct group* g = getgrnam(config_.admin_group.c_str());
  return g != nullptr ? static_cast<long>(g->gr_gid) : -1;
}

Status Daemon::EnableCertificate(const std::string& thumbprint, ServiceSet services,
                                 bool make_internal_transport) {
  const StoredCertificate* stored = inventory_.Find(thumbprint);
  if (stored == nullptr) {
    return Error{"no certificate " + thumbprint + " in the store", ErrorCode::kNoSuchCertificate};
  }
  const Bindings previous = bindings_;
  bindings_.services[thumbprint] = ServicesOf(thumbprint) | services;
  if (make_internal_transport && bindings_.internal_transport != thumbprint) {
    Bindings candidate = bindings_;
    candidate.internal_transport = thumbprint;
    if (auto why = InternalTransportReplacementReason(inventory_, candidate, config_.renew_before,
                                                      clock_.Now())) {
      bindings_ = previous;
      return Error{"cannot make it the internal transport certificate: " + *why,
                   ErrorCode::kInvalidArgument};
    }
    bindings_.internal_transport = thumbprint;
  }
  if (Status saved = SaveBindingsOrRevert(previous); !saved) return saved;
  if (previous.internal_transport != bindings_.internal_transport) {
    AlertFields fields = FieldsOf(stored->cert());
    fields.old_thumbprint = previous.internal_transport;
    Alert(AlertKind::kInternalTransportReplaced, spdlog::level::warn, fields,
          "certificate " + thumbprint + " is now the internal transport certificate" +
              (previous.internal_transport.empty() ? ""
                                                   : ", replacing " + previous.internal_transport));
  }
  spdlog::info("certificate {} enabled for {}", thumbprint,
               fmt::format("{}", fmt::join(ServiceNames(services), " ")));
  Evaluate();
  if (bus_ && previous.internal_transport != bindings_.internal_transport) {
    bus_->EmitInternalTransportCertificateChanged(previous.internal_transport, thumbprint);
  }
  return {};
}

Status Daemon::DisableCertificate(const std::string& thumbprint, ServiceSet services) {
  if (inventory_.Find(thumbprint) == nullptr) {
    return Error{"no certificate " + thumbprint + " in the store", ErrorCode::kNoSuchCertificate};
  }
  const Bindings previous = bindings_;
  bindings_.services[thumbprint] = ServicesOf(thumbprint) & ~services;
  if (Status saved = SaveBindingsOrRevert(previous); !saved) return saved;
  spdlog::info("certificate {} disabled for {}", thumbprint,
               fmt::format("{}", fmt::join(ServiceNames(services), " ")));
  Evaluate();
  return {};
}

Result<std::string> Daemon::ImportCertificate(const std::string& pem, ServiceSet services) {
  // The decision (what is new, where it goes) is the store's: monitor/store_change.h.
  if (Status scanned = Rescan(); !scanned) return Error{scanned.error().message, ErrorCode::kStore};
  auto plan = PlanImport(inventory_, pem, config_.store);
  if (!plan) return plan.error();
  auto written = ApplyImport(*plan);
  if (!written) return written.error();
  if (written->empty()) {
    spdlog::info("import of certificate {}: the store already holds it; nothing changed",
                 plan->thumbprint);
    return plan->thumbprint;
  }
  const Bindings previous = bindings_;
  bindings_.services[plan->thumbprint] = services != 0 ? services : config_.default_services;
  if (Status saved = SaveBindingsOrRevert(previous); !saved) return saved.error();
  spdlog::info("imported certificate {} into {}", plan->thumbprint, *written);
  Refresh();
  return plan->thumbprint;
}

Status Daemon::RemoveCertificate(const std::string& thumbprint) {
  Status removed = RemoveFromStore(thumbprint, "removed");
  if (removed) Refresh();
  return removed;
}

Status Daemon::RemoveFromStore(const std::string& thumbprint, std::string_view verb) {
  // The decision (what goes, what stays, where it is kept) is the store's:
  // monitor/store_change.h. A file that changes between the scan and the removal is noticed
  // there; then the store is scanned again and the removal decided again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (Status scanned = Rescan(); !scanned) {
      return Error{scanned.error().message, ErrorCode::kStore};
    }
    std::map<std::string, std::string> contents;
    for (const auto& file : FilesToReadForRemoval(inventory_, thumbprint)) {
      if (auto text = ReadStoreFile(file, ScanOptions{}.max_file_size)) contents[file] = *text;
    }
    auto plan = PlanRemoval(inventory_, thumbprint, bindings_.internal_transport, contents);
    if (!plan) return plan.error();
    if (plan->stale) continue;
    auto applied = ApplyRemoval(*plan, config_.RemovedPath(), clock_.Now() / 1000);
    if (!applied) {
      spdlog::error("removing certificate {} failed: {}", thumbprint, applied.error().message);
      return applied.error();
    }
    if (applied->changed) continue;
    // What the decision could not see: a certificate with the same key, or another copy of
    // this one, dropped in between the scan and the removal.
    bool another_copy = false;
    if (Status scanned = Rescan(); scanned) {
      auto restored = RestoreKeyStillNeeded(inventory_, *plan, *applied, config_.store);
      if (!restored) {
        spdlog::error("{}", restored.error().message);
      } else if (!restored->empty()) {
        spdlog::warn(
            "a certificate with the same key arrived while {} was being removed; the "
            "key was put back as {}",
            thumbprint, *restored);
      }
      another_copy = inventory_.Find(thumbprint) != nullptr;
    }
    std::vector<std::string> rewritten;
    std::vector<std::string> taken_out;
    for (const auto& change : plan->files) {
      (change.rewritten ? rewritten : taken_out).push_back(change.path);
    }
    spdlog::info(
        "{} certificate {}{}; the original files are kept in {}{}{}", verb, thumbprint,
        plan->removes_key ? " and its private key" : "", applied->kept_in,
        taken_out.empty() ? ""
                          : fmt::format("; taken out of the store: {}", fmt::join(taken_out, " ")),
        rewritten.empty() ? ""
                          : fmt::format("; rewritten without it: {}", fmt::join(rewritten, " ")));
    if (another_copy) continue;
    const Bindings previous = bindings_;
    bindings_.services.erase(thumbprint);
    (void)SaveBindingsOrRevert(previous);
    return {};
  }
  return Error{
      "the store kept changing while certificate " + thumbprint + " was being removed; try again",
      ErrorCode::kStore};
}

void Daemon::NewSelfSignedCertificate(const std::vector<std::string>& names, GenerationDone done) {
  Enqueue(names, "requested over D-Bus", std::move(done));
}

void Daemon::RenewInternalTransportCertificate(GenerationDone done) {
  Enqueue({}, "renewal requested over D-Bus", std::move(done));
}

}  // namespace transportcertd
