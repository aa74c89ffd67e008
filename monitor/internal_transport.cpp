#include "monitor/internal_transport.h"

namespace transportcertd {

std::optional<std::string> InternalTransportReplacementReason(const Inventory& inventory,
                                                              const Bindings& bindings,
                                                              Milliseconds renew_before,
                                                              UnixTimeMs now) {
  if (bindings.internal_transport.empty()) {
    return "no internal transport certificate is designated";
  }
  const StoredCertificate* current = inventory.Find(bindings.internal_transport);
  if (current == nullptr) {
    return "internal transport certificate " + bindings.internal_transport +
           " is missing from the store";
  }
  const Certificate& cert = current->cert();
  if (!current->HasPrivateKey()) {
    return "internal transport certificate " + std::string(cert.thumbprint()) +
           " has no private key in the store";
  }
  if (IsExpired(cert, now)) {
    return "internal transport certificate " + std::string(cert.thumbprint()) + " expired " +
           FormatDate(cert.not_after);
  }
  if (IsNotYetValid(cert, now)) {
    return "internal transport certificate " + std::string(cert.thumbprint()) +
           " is not valid before " + FormatDate(cert.not_before);
  }
  if (now >= (cert.not_after + 1) * 1000 - renew_before.count()) {
    return "internal transport certificate " + std::string(cert.thumbprint()) + " expires " +
           FormatDate(cert.not_after) + ", within renew_before " + FormatDuration(renew_before);
  }
  return std::nullopt;
}

std::optional<UnixTimeMs> InternalTransportRenewalTime(const Inventory& inventory,
                                                       const Bindings& bindings,
                                                       Milliseconds renew_before, UnixTimeMs now) {
  if (InternalTransportReplacementReason(inventory, bindings, renew_before, now)) {
    return std::nullopt;
  }
  const StoredCertificate* current = inventory.Find(bindings.internal_transport);
  return (current->cert().not_after + 1) * 1000 - renew_before.count();
}

}  // namespace transportcertd
