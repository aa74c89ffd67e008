// The internal transport rule: when must the internal transport certificate be replaced by a
// newly generated self-signed one? (docs/alerts.md, "Internal transport certificate replaced",
// lists the reasons.) Pure function; safe from any thread.
#pragma once

#include <optional>
#include <string>

#include "monitor/bindings.h"
#include "monitor/expiry.h"
#include "monitor/store.h"

namespace transportcertd {

// Why the designated internal transport certificate must be replaced ("no internal transport
// certificate is designated", "expires 2026-12-01, within renew_before 30d", ...), or nullopt
// when it is fine.
std::optional<std::string> InternalTransportReplacementReason(const Inventory& inventory,
                                                              const Bindings& bindings,
                                                              Milliseconds renew_before,
                                                              UnixTimeMs now);

// When the current internal transport certificate will need replacing (its NotAfter minus
// renew_before); nullopt when there is none or it already needs replacing.
std::optional<UnixTimeMs> InternalTransportRenewalTime(const Inventory& inventory,
                                                       const Bindings& bindings,
                                                       Milliseconds renew_before, UnixTimeMs now);

}  // namespace transportcertd
