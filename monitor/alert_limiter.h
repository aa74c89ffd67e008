// Bounds on alerts that a caller can cause, such as "an expired certificate was selected for a
// name someone asked about" (docs/reliability.md): at most one alert per key (certificate and
// name) per `repeat_after`, at most `per_window` alerts per `window`, the rest counted for one
// summary line when the window ends, and at most `max_keys` keys remembered (the oldest go
// first). Time is always an argument; nothing here reads a clock. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "monitor/expiry.h"

namespace transportcertd {

class AlertLimiter {
 public:
  struct Limits {
    std::size_t max_keys = 4096;
    Milliseconds repeat_after{86'400'000};  // a day
    std::size_t per_window = 100;
    Milliseconds window{3'600'000};  // an hour
  };

  enum class Verdict {
    kAlert,    // raise the alert
    kRepeat,   // this key was alerted (or counted) within repeat_after: nothing to do
    kCounted,  // over per_window: counted for the summary instead
  };

  explicit AlertLimiter(Limits limits) : limits_(limits) {}
  AlertLimiter() : AlertLimiter(Limits{}) {}

  // Decides about one occurrence of `key` at `now` and remembers the key. Call TakeSummary
  // first, so that a window that has ended is summarized before the next one begins.
  Verdict Admit(const std::string& key, UnixTimeMs now);

  // How many alerts were counted in windows that have ended by `now` (0 when none); each count
  // is returned once.
  std::uint64_t TakeSummary(UnixTimeMs now);
  // When the current window, which has counted alerts, ends; nullopt when nothing is counted.
  std::optional<UnixTimeMs> SummaryDue() const;
  // Everything counted so far, whether its window has ended or not (at stop); returned once.
  std::uint64_t TakeCounted();

  // Forgets the remembered keys (when the inventory changes, a name may deserve a new alert).
  // The window's count stays: changing the store does not lift the bound per window.
  void ForgetKeys();

  std::size_t keys() const { return last_.size(); }

 private:
  void EndWindowIfOver(UnixTimeMs now);

  Limits limits_;
  std::unordered_map<std::string, UnixTimeMs> last_;      // key -> when it was admitted
  std::deque<std::pair<std::string, UnixTimeMs>> order_;  // admissions, oldest first
  std::optional<UnixTimeMs> window_start_;                // nullopt: no window open
  std::size_t alerted_ = 0;                               // alerts in the current window
  std::uint64_t counted_ = 0;                             // counted in the current window
  std::uint64_t ended_counted_ = 0;                       // counted in ended windows, not taken
};

}  // namespace transportcertd
