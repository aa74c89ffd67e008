#include "monitor/expiry.h"

#include <algorithm>

namespace transportcertd {

std::string FormatDuration(Milliseconds d) {
  struct Unit {
    std::int64_t ms;
    const char* name;
  };
  static constexpr Unit kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "min"}, {1000, "s"}, {1, "ms"}};
  std::int64_t left = d.count();
  if (left == 0) return "0s";
  std::string out;
  for (const auto& unit : kUnits) {
    if (left < unit.ms) continue;
    if (!out.empty()) out += ' ';
    out += std::to_string(left / unit.ms) + unit.name;
    left %= unit.ms;
  }
  return out;
}

ExpiryTracker::ExpiryTracker(std::vector<Milliseconds> thresholds)
    : thresholds_(std::move(thresholds)) {
  std::sort(thresholds_.begin(), thresholds_.end(), std::greater<>());
  thresholds_.erase(std::unique(thresholds_.begin(), thresholds_.end()), thresholds_.end());
}

std::size_t ExpiryTracker::StageOf(const Certificate& cert, UnixTimeMs now) const {
  if (IsExpired(cert, now)) return thresholds_.size() + 1;
  const UnixTimeMs expiry = (cert.not_after + 1) * 1000;
  std::size_t stage = 0;
  for (std::size_t i = 0; i < thresholds_.size(); ++i) {
    if (now >= expiry - thresholds_[i].count()) stage = i + 1;
  }
  return stage;
}

bool ExpiryTracker::IsExpiring(const Certificate& cert, UnixTimeMs now) const {
  const std::size_t stage = StageOf(cert, now);
  return stage >= 1 && stage <= thresholds_.size();
}

std::vector<ExpiryAlert> ExpiryTracker::Update(const Inventory& inventory, UnixTimeMs now) {
  std::vector<ExpiryAlert> alerts;
  std::map<std::string, std::size_t, std::less<>> announced;
  for (const auto& stored : inventory.certificates) {
    const std::size_t stage = StageOf(stored.cert(), now);
    const auto previous = announced_.find(stored.cert().thumbprint());
    const std::size_t last = previous != announced_.end() ? previous->second : 0;
    if (stage > last) {
      if (stage == thresholds_.size() + 1) {
        alerts.push_back({ExpiryAlert::Kind::kExpired, &stored, Milliseconds{0}});
      } else {
        alerts.push_back({ExpiryAlert::Kind::kExpiring, &stored, thresholds_[stage - 1]});
      }
    }
    // A clock set backwards does not re-announce what was already said. Certificates outside
    // every window (most of them) are not remembered: absent means stage 0.
    if (std::max(stage, last) > 0) {
      announced.emplace(stored.cert().thumbprint(),
                        std::max(stage, last));  // thumbprints are unique
    }
  }
  announced_ = std::move(announced);
  return alerts;
}

std::optional<UnixTimeMs> ExpiryTracker::NextCrossing(const Inventory& inventory,
                                                      UnixTimeMs now) const {
  std::optional<UnixTimeMs> next;
  auto consider = [&](UnixTimeMs t) {
    if (t > now && (!next || t < *next)) next = t;
  };
  for (const auto& stored : inventory.certificates) {
    const UnixTimeMs expiry = (stored.cert().not_after + 1) * 1000;
    consider(expiry);
    for (const auto& threshold : thresholds_) consider(expiry - threshold.count());
  }
  return next;
}

}  // namespace transportcertd
