// What the D-Bus layer asks of the daemon. The daemon implements it; the bus service holds a
// reference (the daemon must outlive the bus service). Every call happens on the loop thread.
// Domain failures come back as Error with an ErrorCode; the bus service names them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "monitor/bindings.h"
#include "monitor/result.h"
#include "monitor/selection.h"
#include "monitor/store.h"

namespace transportcertd {

class ManagerBackend {
 public:
  virtual ~ManagerBackend() = default;

  // --- reading ---
  virtual std::string Fqdn() const = 0;
  virtual std::string StorePath() const = 0;
  virtual const Inventory& CurrentInventory() const = 0;
  virtual const Bindings& CurrentBindings() const = 0;
  virtual ServiceSet ServicesOf(const std::string& thumbprint) const = 0;
  // Valid Expiring Expired NotYetValid NoPrivateKey Unusable
  virtual std::string StatusOf(const StoredCertificate& certificate) const = 0;
  // Microseconds since the epoch of the earliest NotAfter in the store (0 when empty).
  virtual std::uint64_t NextExpiryUsec() const = 0;
  // The selection the daemon publishes from: the winner and its reason, without judgements.
  // `fqdn` must be a valid host name.
  virtual Selection Select(const std::string& fqdn, Service service) = 0;
  // The same selection with a judgement for every certificate in the store.
  virtual Selection Explain(const std::string& fqdn, Service service) = 0;
  // The admin group's gid, or -1 when none is configured (root may always mutate).
  virtual long AdminGroupId() const = 0;
  // The names published for the mail server besides the FQDN ([publish] names), and the
  // endpoints `transportcertctl verify` checks ([verify] endpoints, "25/smtp" ...).
  virtual std::vector<std::string> PublishedNames() const { return {}; }
  virtual std::vector<std::string> VerifyEndpoints() const { return {}; }
  // The metrics file ([metrics] textfile), "" when off.
  virtual std::string MetricsTextfile() const { return {}; }

  // --- changing (callers are authorized by the bus service before these are called) ---
  virtual Status EnableCertificate(const std::string& thumbprint, ServiceSet services,
                                   bool make_internal_transport) = 0;
  virtual Status DisableCertificate(const std::string& thumbprint, ServiceSet services) = 0;
  // PEM with a certificate (+ chain) and its unencrypted private key; returns the thumbprint.
  // `services` 0 (an empty list on the bus): the configured default services.
  virtual Result<std::string> ImportCertificate(const std::string& pem, ServiceSet services) = 0;
  virtual Status RemoveCertificate(const std::string& thumbprint) = 0;
  // Generation runs off the loop; `done` is called on the loop thread with the thumbprint of
  // the new internal transport certificate. Empty `names`: the configured defaults.
  // Call `done` exactly once (the bus caller waits for it), after the inventory and bindings
  // include the new certificate, so that a caller can look it up as soon as it has the reply.
  using GenerationDone = std::function<void(Result<std::string>)>;
  virtual void NewSelfSignedCertificate(const std::vector<std::string>& names,
                                        GenerationDone done) = 0;
  virtual void RenewInternalTransportCertificate(GenerationDone done) = 0;
  virtual Status Reload() = 0;
};

}  // namespace transportcertd
