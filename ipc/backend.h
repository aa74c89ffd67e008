// What the D-Bus layer asks of the daemon. The daemon implements it; the bus service holds a
// reference (the daemon must outlive the bus service). Every call happens on the loop thread.
// Domain failures come back as Error with an ErrorCode; the bus service names them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
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
  virtual ServiceSet ServicesOf(std::string_view thumbprint) const = 0;
  // Valid Expiring Expired NotYetValid NoPrivateKey Unusable
  virtual std::string StatusOf(const StoredCertificate& certificate) const = 0;
  // Microseconds since the epoch of the earliest NotAfter in the store (0 when empty).
  virtual std::uint64_t NextExpiryUsec() const = 0;
  // The selection the daemon publishes from: the winner and its reason, without judgements.
  // `fqdn` must be a valid host name.
  virtual Selection Select(const std::string& fqdn, Service service) = 0;
  // The same selection with a judgement for every certificate in the store.
  virtual Selection Explain(const std::string& fqdn, Service service) = 0;
  // DANE TLSA records in zone-file form for the published name `name` (a valid host name,
  // normalized), or for every published name and the FQDN when `name` is empty; a name that is
  // not published has none.
  virtual Result<std::vector<std::string>> GetTlsaRecords(const std::string& name) = 0;
  // The admin group's gid, or -1 when none is configured (root may always mutate).
  virtual long AdminGroupId() const = 0;
  // The names published for the mail server besides the FQDN ([publish] names), and the
  // endpoints `transportcertctl verify` checks ([verify] endpoints, "25/smtp" ...).
  virtual std::vector<std::string> PublishedNames() const { return {}; }
  virtual std::vector<std::string> VerifyEndpoints() const { return {}; }
  // The metrics file ([metrics] textfile), "" when off.
  virtual std::string MetricsTextfile() const { return {}; }

  // --- changing ---
  // The bus service has validated the arguments (a `thumbprint` is 40 uppercase hex digits,
  // names are valid host names) and authorized the caller before any of these is called.
  // Common to all of them: a change that succeeds has been saved to the state directory, and
  // before returning the implementation re-evaluates (alerts, publishing) and tells the bus
  // service what changed (BusService::InventoryChanged, signals), so that the caller sees it in
  // its next call. When the bindings cannot be saved they stay as they were. Errors:
  // kNoSuchCertificate when `thumbprint` is not in the current inventory; kStore when the store
  // or the bindings cannot be written.

  // Adds `services` to the certificate's services (its defaults become explicit). With
  // `make_internal_transport` it also becomes the internal transport certificate, unless it
  // would need replacing at once (no key, not valid now, within renew_before):
  // kInvalidArgument saying why, and nothing changes. `services` may be 0 only with the flag.
  virtual Status EnableCertificate(const std::string& thumbprint, ServiceSet services,
                                   bool make_internal_transport) = 0;
  // Takes `services` (not 0) off the certificate; the others stay.
  virtual Status DisableCertificate(const std::string& thumbprint, ServiceSet services) = 0;
  // PEM with a certificate (+ chain) and the first certificate's unencrypted private key;
  // writes it into the store as a new file (mode 0600) and returns the thumbprint, which is in
  // the inventory when this returns. The certificate is enabled for `services`; 0 (an empty
  // list on the bus) means the configured default services. It does not become the internal
  // transport certificate. kInvalidArgument when the text holds no usable certificate or no
  // matching unencrypted key. When the bindings cannot be saved, the new file stays in the store.
  virtual Result<std::string> ImportCertificate(const std::string& pem, ServiceSet services) = 0;
  // Takes the certificate out of the store (and its private key, unless another certificate
  // uses the same key) and forgets its services. kInternalTransport for the internal transport
  // certificate; kStore when a file holding it also holds another certificate (nothing is
  // removed then) or a file cannot be deleted (files deleted before it stay deleted).
  virtual Status RemoveCertificate(const std::string& thumbprint) = 0;
  // Generate a self-signed certificate ([selfsigned] of the configuration, plus `names`; empty
  // `names`: the configured ones only) that becomes the internal transport certificate.
  // Generation runs off the loop, one at a time in the order asked; both return at once.
  // `done` is called on the loop thread with the new thumbprint, or with a kStore error when
  // generating or writing failed. Call `done` exactly once (the bus caller waits for it), after
  // the inventory and bindings include the new certificate, so that a caller can look it up as
  // soon as it has the reply.
  using GenerationDone = std::function<void(Result<std::string>)>;
  virtual void NewSelfSignedCertificate(const std::vector<std::string>& names,
                                        GenerationDone done) = 0;
  virtual void RenewInternalTransportCertificate(GenerationDone done) = 0;
  // Re-reads the configuration, the bindings and the store, as SIGHUP does. A configuration
  // with an error is kInvalidArgument with its "FILE:LINE: ..." message, unreadable bindings
  // kStore; either way the running configuration stays.
  virtual Status Reload() = 0;
};

}  // namespace transportcertd
