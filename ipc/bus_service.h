// The daemon on D-Bus (docs/dbus-api.md): bus name org.transportcertd1, the Manager interface on
// /org/transportcertd1, one org.transportcertd1.Certificate object per certificate, and the
// ObjectManager on the root. Runs sd-bus inside the daemon's libuv loop (ipc/sd_bus_uv.h);
// only the loop thread touches it.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "ipc/backend.h"
#include "monitor/result.h"

namespace transportcertd {

enum class BusKind { kSystem, kSession };

class BusService {
 public:
  virtual ~BusService() = default;

  // Connects to the bus, registers the objects and requests the name; fails with one line
  // (e.g. "cannot connect to the system bus: ...", "org.transportcertd1 is already owned").
  // `backend` and `loop` must outlive the returned service. `on_lost` is called (on the loop
  // thread) with a reason if the connection to the bus is lost; the daemon then exits with a
  // clear message so that systemd restarts it.
  static Result<std::unique_ptr<BusService>> Start(uv_loop_t* loop, BusKind kind,
                                                   ManagerBackend& backend,
                                                   std::function<void(std::string)> on_lost);

  // Called by the daemon after the inventory, bindings or configuration changed (or a
  // certificate's status may have changed with time, e.g. after an expiry alert): announces
  // certificates that came and went (InterfacesAdded/Removed) and the properties that changed
  // since the last call (PropertiesChanged on the Manager and on certificate objects).
  virtual void InventoryChanged() = 0;
  virtual void EmitCertificateExpiring(const std::string& thumbprint, const std::string& subject,
                                       std::uint64_t not_after_usec,
                                       const std::string& threshold) = 0;
  virtual void EmitCertificateExpired(const std::string& thumbprint, const std::string& subject,
                                      std::uint64_t not_after_usec) = 0;
  virtual void EmitInternalTransportCertificateChanged(const std::string& old_thumbprint,
                                                       const std::string& new_thumbprint) = 0;
  // Asks systemd (org.freedesktop.systemd1, on this connection) to start `unit` with mode
  // "replace", without waiting. `done` is called on the loop thread with "" once systemd has
  // queued the start, or with why not.
  // (`done` by value: the implementation keeps it until systemd answers.)
  virtual void StartUnit(
      const std::string& unit,
      std::function<void(std::string)> done) {  // NOLINT(performance-unnecessary-value-param)
    (void)unit;
    done("not connected to a bus");
  }
  // Releases the name, flushes and closes the connection, and closes its libuv handles; call
  // before the loop is run dry at shutdown.
  virtual void Stop() = 0;
};

}  // namespace transportcertd
