// The bound on "expired certificate selected" alerts, which any caller of SelectCertificate
// can cause (docs/reliability.md): AlertLimiter decides, this class adds the clock and a timer
// that logs the summary line of an hour in which more than 100 such alerts were counted, and
// logs what is still counted at stop. Loop thread only.
#pragma once

#include <uv.h>

#include <string>

#include "daemon/uv_handle.h"
#include "monitor/alert_limiter.h"
#include "monitor/clock.h"

namespace transportcertd {

class ExpiredSelectionAlerts {
 public:
  // `loop` and `clock` must outlive this object.
  ExpiredSelectionAlerts(uv_loop_t* loop, const Clock& clock);
  ExpiredSelectionAlerts(const ExpiredSelectionAlerts&) = delete;
  ExpiredSelectionAlerts& operator=(const ExpiredSelectionAlerts&) = delete;

  // Whether to raise the alert that expired certificate `thumbprint` was selected for `name`
  // now; when not, the occurrence is a repeat or counted for the summary.
  bool ShouldAlert(const std::string& thumbprint, const std::string& name);
  // The inventory changed: every (certificate, name) may be alerted again.
  void ForgetNames() { limiter_.ForgetKeys(); }
  // At shutdown: logs the summary of what is counted so far and closes the timer.
  void Stop();

 private:
  void ArmSummary(UnixTimeMs now);  // the timer, for the end of a window with counted alerts
  void LogSummary(std::uint64_t counted);

  const Clock& clock_;
  AlertLimiter limiter_;
  UvHandle<uv_timer_t> summary_;
};

}  // namespace transportcertd
