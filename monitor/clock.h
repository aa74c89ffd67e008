// The wall clock, as a seam: the daemon asks a Clock for the time instead of reading the
// system clock itself, so that a test can give it a clock of its own (leveldb's Env idea).
// Expiry tracking, selection and renewal take the time as an argument; the daemon passes what
// its Clock says. Implementations must be safe to call from any thread (key generation on the
// thread pool asks for the time too).
#pragma once

#include <atomic>

#include "monitor/expiry.h"

namespace transportcertd {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (UTC).
  virtual UnixTimeMs Now() const = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  UnixTimeMs Now() const override;
  // One shared instance, for callers that have no clock of their own.
  static const SystemClock& Instance();
};

// A clock that says what it is told: for tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(UnixTimeMs now) : now_(now) {}
  UnixTimeMs Now() const override { return now_; }
  void Set(UnixTimeMs now) { now_ = now; }
  void Advance(UnixTimeMs ms) { now_ += ms; }

 private:
  std::atomic<UnixTimeMs> now_;  // read from the thread pool too
};

}  // namespace transportcertd
