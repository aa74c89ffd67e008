#include "daemon/notify.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

namespace transportcertd {

SystemdNotifier::SystemdNotifier(uv_loop_t* loop) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  const uint64_t interval_ms = std::max<uint64_t>(usec / 2 / 1000, 1);
  watchdog_.Init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
  uv_timer_start(
      watchdog_.get(), [](uv_timer_t*) { sd_notify(0, "WATCHDOG=1"); }, interval_ms, interval_ms);
  spdlog::debug("watchdog pings every {} ms", interval_ms);
}

void SystemdNotifier::Ready(const std::string& status) {
  sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
  status_ = status;
}

void SystemdNotifier::Status(const std::string& status) {
  if (status == status_) return;
  sd_notify(0, ("STATUS=" + status).c_str());
  status_ = status;
}

void SystemdNotifier::Reloading() {
  sd_notify(0, "RELOADING=1\nSTATUS=Reloading");
  status_ = "Reloading";
}

void SystemdNotifier::Stopping() {
  sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
  status_ = "Stopping";
}

}  // namespace transportcertd
