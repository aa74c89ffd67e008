#include "daemon/verify_trigger.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <utility>

namespace transportcertd {

bool VerifyAfterReloadWanted(bool under_systemd, bool system_bus, Milliseconds after_reload) {
  return under_systemd && system_bus && after_reload.count() > 0;
}

bool RunningUnderSystemd() {
  const char* invocation = std::getenv("INVOCATION_ID");
  return invocation != nullptr && *invocation != '\0' && sd_booted() > 0;
}

VerifyTrigger::VerifyTrigger(uv_loop_t* loop, std::function<void()> start)
    : start_(std::move(start)) {
  timer_.Init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
}

void VerifyTrigger::ReloadSucceeded(Milliseconds delay) {
  if (!timer_) return;
  uv_timer_start(
      timer_.get(), [](uv_timer_t* t) { static_cast<VerifyTrigger*>(t->data)->start_(); },
      static_cast<std::uint64_t>(delay.count()), 0);
}

void VerifyTrigger::Stop() { timer_.Close(); }

}  // namespace transportcertd
