// The systemd notification protocol (sd_notify): READY, STATUS, RELOADING, STOPPING, and
// WATCHDOG pings at half of WATCHDOG_USEC on a libuv timer. Without $NOTIFY_SOCKET every call
// is a no-op. Loop thread only.
#pragma once

#include <uv.h>

#include <string>

#include "daemon/uv_handle.h"

namespace transportcertd {

class SystemdNotifier {
 public:
  // Starts the watchdog timer when systemd asked for pings. `loop` must outlive this.
  explicit SystemdNotifier(uv_loop_t* loop);

  void Ready(const std::string& status);
  // Sends STATUS= only when it differs from the last status sent: a busy store changes
  // nothing systemd shows, and costs no datagram.
  void Status(const std::string& status);
  void Reloading();
  void Stopping();

 private:
  UvHandle<uv_timer_t> watchdog_;
  std::string status_;  // the last STATUS= sent
};

}  // namespace transportcertd
