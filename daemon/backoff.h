// Retry delays that double after each failure, from a first delay up to a ceiling, and start
// over after a success. Generation of the internal transport certificate and publishing each
// keep one. Plain data; the loop thread owns it.
#pragma once

#include <algorithm>
#include <cstdint>

namespace transportcertd {

class Backoff {
 public:
  constexpr Backoff(std::int64_t first_ms, std::int64_t max_ms)
      : first_ms_(first_ms), max_ms_(max_ms) {}

  // After a failure: the delay before the next try (first_ms, then doubled, at most max_ms).
  std::int64_t Next() {
    delay_ms_ = std::clamp(delay_ms_ * 2, first_ms_, max_ms_);
    return delay_ms_;
  }
  // After a success: the next failure waits first_ms again.
  void Reset() { delay_ms_ = 0; }
  // The delay Next() returned last; 0 after a success.
  std::int64_t current_ms() const { return delay_ms_; }

 private:
  std::int64_t first_ms_;
  std::int64_t max_ms_;
  std::int64_t delay_ms_ = 0;
};

}  // namespace transportcertd
