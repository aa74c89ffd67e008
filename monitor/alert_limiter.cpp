#include "monitor/alert_limiter.h"

namespace transportcertd {

void AlertLimiter::EndWindowIfOver(UnixTimeMs now) {
  // A clock set back also ends the window, so that it cannot last longer than `window`.
  if (!window_start_ || (now < *window_start_ + limits_.window.count() && now >= *window_start_)) {
    return;
  }
  ended_counted_ += counted_;
  counted_ = 0;
  alerted_ = 0;
  window_start_.reset();
}

AlertLimiter::Verdict AlertLimiter::Admit(const std::string& key, UnixTimeMs now) {
  EndWindowIfOver(now);
  // Keys admitted longer than repeat_after ago may alert again.
  while (!order_.empty() && order_.front().second + limits_.repeat_after.count() <= now) {
    const auto found = last_.find(order_.front().first);
    if (found != last_.end() && found->second == order_.front().second) last_.erase(found);
    order_.pop_front();
  }
  if (last_.contains(key)) return Verdict::kRepeat;
  // At most max_keys remembered: the oldest one is forgotten first.
  while (last_.size() >= limits_.max_keys && !order_.empty()) {
    const auto found = last_.find(order_.front().first);
    if (found != last_.end() && found->second == order_.front().second) last_.erase(found);
    order_.pop_front();
  }
  if (limits_.max_keys > 0) {
    last_[key] = now;
    order_.emplace_back(key, now);
  }
  if (!window_start_) window_start_ = now;
  if (alerted_ < limits_.per_window) {
    ++alerted_;
    return Verdict::kAlert;
  }
  ++counted_;
  return Verdict::kCounted;
}

std::uint64_t AlertLimiter::TakeSummary(UnixTimeMs now) {
  EndWindowIfOver(now);
  return std::exchange(ended_counted_, 0);
}

std::optional<UnixTimeMs> AlertLimiter::SummaryDue() const {
  if (counted_ == 0 || !window_start_) return std::nullopt;
  return *window_start_ + limits_.window.count();
}

std::uint64_t AlertLimiter::TakeCounted() {
  return std::exchange(ended_counted_, 0) + std::exchange(counted_, 0);
}

void AlertLimiter::ForgetKeys() {
  last_.clear();
  order_.clear();
}

}  // namespace transportcertd
