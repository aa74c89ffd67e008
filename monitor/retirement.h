// Retiring superseded certificates: renewals (a certbot deploy hook importing each new
// certificate, say) would otherwise pile up in the store. A certificate is superseded when it
// has its private key in the store, is not the internal transport certificate, is enabled for
// at least one service, and for every name it covers and every service it is enabled for,
// another certificate is selected. Once it has been superseded for `[store] retire_superseded`
// the daemon removes it as RemoveCertificate does (monitor/store_change.h: recoverable, shared
// keys and chain certificates stay). A CA certificate is never superseded: it has no service
// of its own to lose, and leaves in the store may need it as their chain.
// Pure functions and plain bookkeeping; one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "monitor/bindings.h"
#include "monitor/hostname.h"
#include "monitor/selection.h"
#include "monitor/store.h"

namespace transportcertd {

// The thumbprints of the superseded certificates of `inventory` (sorted). A wildcard name
// "*.example.com" counts as covered when another certificate is selected for a name it
// covers ("transportcertd-probe.example.com"). `index` must be built from `inventory`.
std::vector<std::string> SupersededCertificates(const Inventory& inventory,
                                                const Bindings& bindings,
                                                ServiceSet default_services, WildcardMode wildcard,
                                                UnixTime now, const NameIndex& index);

// Remembers since when each certificate has been superseded (in memory: after a restart the
// hold starts again, which only ever delays a retirement).
class SupersededSince {
 public:
  // Records the certificates superseded at `now` and forgets the others; returns those
  // superseded for at least `hold` seconds (sorted).
  std::vector<std::string> Update(const std::vector<std::string>& superseded, UnixTime now,
                                  std::int64_t hold);
  // When the next certificate falls due, or nullopt.
  std::optional<UnixTime> NextDue(std::int64_t hold) const;

 private:
  std::map<std::string, UnixTime> since_;
};

}  // namespace transportcertd
