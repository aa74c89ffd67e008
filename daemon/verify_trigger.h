// Starting transportcertd-verify.service after the mail server was reloaded: `[verify]
// after_reload` after each run of reload_command that exited 0, so that a server that did not
// pick up the new files is caught within seconds (`transportcertctl verify --journal` alerts).
// Only under systemd and on the system bus, where that unit exists; the start itself goes
// through systemd's D-Bus API (StartUnit, mode "replace"). Loop thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "daemon/uv_handle.h"
#include "monitor/expiry.h"

namespace transportcertd {

inline constexpr const char* kVerifyUnit = "transportcertd-verify.service";

// Whether reloads start the verify unit: under systemd (INVOCATION_ID set and sd_booted), on
// the system bus, with a non-zero after_reload.
bool VerifyAfterReloadWanted(bool under_systemd, bool system_bus, Milliseconds after_reload);
// This process runs as a systemd service: INVOCATION_ID is set and systemd is PID 1.
bool RunningUnderSystemd();

class VerifyTrigger {
 public:
  // `start` is called on the loop thread when the delay has passed. `loop` must outlive this.
  VerifyTrigger(uv_loop_t* loop, std::function<void()> start);
  VerifyTrigger(const VerifyTrigger&) = delete;
  VerifyTrigger& operator=(const VerifyTrigger&) = delete;

  // A reload succeeded: `start` runs `delay` from now (a later reload before then moves it, so
  // that a burst of reloads is verified once, after the last).
  void ReloadSucceeded(Milliseconds delay);
  void Stop();

 private:
  std::function<void()> start_;
  UvHandle<uv_timer_t> timer_;
};

}  // namespace transportcertd
