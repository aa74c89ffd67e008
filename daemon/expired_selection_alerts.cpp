#include "daemon/expired_selection_alerts.h"

#include <algorithm>

#include "daemon/logging.h"

namespace transportcertd {
ExpiredSelectionAlerts::ExpiredSelectionAlerts(uv_loop_t* loop, const Clock& clock)
    : clock_(clock) {
  summary_.Init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
}

bool ExpiredSelectionAlerts::ShouldAlert(const std::string& thumbprint, const std::string& name) {
  const UnixTimeMs now = clock_.Now();
  LogSummary(limiter_.TakeSummary(now));
  const AlertLimiter::Verdict verdict = limiter_.Admit(thumbprint + " " + name, now);
  if (verdict == AlertLimiter::Verdict::kCounted) ArmSummary(now);
  return verdict == AlertLimiter::Verdict::kAlert;
}

void ExpiredSelectionAlerts::ArmSummary(UnixTimeMs now) {
  const auto due = limiter_.SummaryDue();
  if (!due || !summary_ || uv_is_active(reinterpret_cast<uv_handle_t*>(summary_.get()))) return;
  uv_timer_start(
      summary_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<ExpiredSelectionAlerts*>(t->data);
        const UnixTimeMs at = self->clock_.Now();
        self->LogSummary(self->limiter_.TakeSummary(at));
        self->ArmSummary(at);  // the loop's clock may run ahead of the wall clock
      },
      static_cast<std::uint64_t>(std::max<UnixTimeMs>(*due - now, 0)) + 1, 0);
}

void ExpiredSelectionAlerts::Stop() {
  LogSummary(limiter_.TakeCounted());
  summary_.Close();
}

void ExpiredSelectionAlerts::LogSummary(std::uint64_t counted) {
  if (counted == 0) return;
  const AlertLimiter::Limits limits;
  Alert(AlertKind::kExpiredCertificateSelected, spdlog::level::err, {},
        std::to_string(counted) + (counted == 1 ? " more alert" : " more alerts") +
            " about expired certificates selected for names callers asked about were counted "
            "rather than logged (at most " +
            std::to_string(limits.per_window) + " an hour, one per certificate and name a day)");
}

}  // namespace transportcertd
