// Domain errors become named D-Bus errors here (docs/dbus-api.md, Errors), at the edge, and
// nowhere else. Also the guard that keeps C++ exceptions from crossing an sd-bus callback.
// Loop thread only (like everything that touches sd-bus).
#pragma once

#include <systemd/sd-bus.h>

#include <cerrno>
#include <exception>
#include <new>
#include <string>

#include "monitor/result.h"

namespace transportcertd {

// kNoSuchCertificate → org.transportcertd1.Error.NoSuchCertificate, kInternalTransport →
// ...InternalTransportCertificate, kNoCertificate → ...NoCertificate, kStore → ...StoreError,
// kInvalidArgument → org.freedesktop.DBus.Error.InvalidArgs, kFailed → ...DBus.Error.Failed.
const char* BusErrorName(ErrorCode code);

// Sets `bus_error` to the named form of `error`; returns the negative errno an sd-bus handler
// returns so that sd-bus replies with `bus_error`.
int SetBusError(sd_bus_error* bus_error, const Error& error);

// Sets org.freedesktop.DBus.Error.AccessDenied with `message`; returns the handler's result.
int SetAccessDenied(sd_bus_error* bus_error, const std::string& message);

// Runs `body` (which returns an sd-bus handler result) and turns any exception into an error
// reply instead of letting it unwind through C code.
template <typename Body>
int GuardCallback(sd_bus_error* bus_error, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (const std::exception& e) {
    return SetBusError(bus_error, Error{std::string("internal error: ") + e.what()});
  } catch (...) {
    return SetBusError(bus_error, Error{"internal error"});
  }
}

}  // namespace transportcertd
