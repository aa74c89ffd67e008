// Expiry alerts (docs/alerts.md): one alert per certificate per `warn_before` threshold as it is
// crossed, one when it expires; at start, a certificate already inside one or more windows
// raises one alert, for the nearest threshold. ExpiryTracker remembers what it has announced
// and tells when the next crossing happens, so the daemon arms one timer and never polls.
// Not thread-safe: the daemon's loop thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "monitor/store.h"

namespace transportcertd {

using Milliseconds = std::chrono::milliseconds;
// Wall-clock time in milliseconds since the Unix epoch.
using UnixTimeMs = std::int64_t;

struct ExpiryAlert {
  enum class Kind { kExpiring, kExpired };
  Kind kind = Kind::kExpiring;
  const StoredCertificate* certificate = nullptr;  // points into the inventory given
  Milliseconds threshold{0};                       // the crossed threshold (kExpiring)
};

// "30d", "12h", "90s", "1d 12h", "250ms": the largest whole unit first.
std::string FormatDuration(Milliseconds d);

class ExpiryTracker {
 public:
  // `thresholds` in any order; duplicates are ignored.
  explicit ExpiryTracker(std::vector<Milliseconds> thresholds);

  // The alerts due at `now` for the certificates in `inventory`, each returned once per
  // certificate and threshold (a crossing of several thresholds at once gives one alert, for
  // the nearest). Certificates no longer in the inventory are forgotten.
  std::vector<ExpiryAlert> Update(const Inventory& inventory, UnixTimeMs now);

  // When the next threshold crossing or expiry of any certificate happens; nullopt when none
  // will. Always later than `now`.
  std::optional<UnixTimeMs> NextCrossing(const Inventory& inventory, UnixTimeMs now) const;

  // Inside the first (largest) threshold, used for the `Expiring` status.
  bool IsExpiring(const Certificate& cert, UnixTimeMs now) const;

  const std::vector<Milliseconds>& thresholds() const { return thresholds_; }

 private:
  // 0: outside every window; k in 1..n: inside thresholds_[k-1] (sorted largest first) and
  // no smaller one; n+1: expired.
  std::size_t StageOf(const Certificate& cert, UnixTimeMs now) const;

  std::vector<Milliseconds> thresholds_;                       // largest first
  std::map<std::string, std::size_t, std::less<>> announced_;  // thumbprint -> last stage alerted
};

// A certificate has expired once `now` is past its NotAfter second.
inline bool IsExpired(const Certificate& cert, UnixTimeMs now) {
  return now >= (cert.not_after + 1) * 1000;
}
inline bool IsNotYetValid(const Certificate& cert, UnixTimeMs now) {
  return now < cert.not_before * 1000;
}

}  // namespace transportcertd
