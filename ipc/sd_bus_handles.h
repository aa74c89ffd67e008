// Owning handles for the sd-bus objects the D-Bus layer keeps, one std::unique_ptr per type.
// A connection is flushed and closed before its last reference goes (sd_bus_flush_close_unref),
// so that replies and signals already queued reach the bus.
#pragma once

#include <systemd/sd-bus.h>

#include <memory>

namespace transportcertd {

template <auto Unref>
struct SdBusDeleter {
  template <typename T>
  void operator()(T* p) const {
    Unref(p);
  }
};

using SdBusPtr = std::unique_ptr<sd_bus, SdBusDeleter<sd_bus_flush_close_unref>>;
using SdBusSlotPtr = std::unique_ptr<sd_bus_slot, SdBusDeleter<sd_bus_slot_unref>>;
using SdBusMessagePtr = std::unique_ptr<sd_bus_message, SdBusDeleter<sd_bus_message_unref>>;
using SdBusCredsPtr = std::unique_ptr<sd_bus_creds, SdBusDeleter<sd_bus_creds_unref>>;

// An sd_bus_error that frees itself.
class SdBusError {
 public:
  SdBusError() = default;
  ~SdBusError() { sd_bus_error_free(&error_); }
  SdBusError(const SdBusError&) = delete;
  SdBusError& operator=(const SdBusError&) = delete;

  sd_bus_error* get() { return &error_; }
  const sd_bus_error* get() const { return &error_; }
  bool is_set() const { return sd_bus_error_is_set(&error_) != 0; }
  const char* name() const { return error_.name != nullptr ? error_.name : ""; }
  const char* message() const { return error_.message != nullptr ? error_.message : ""; }

 private:
  sd_bus_error error_{nullptr, nullptr, 0};  // SD_BUS_ERROR_NULL is a C compound literal
};

}  // namespace transportcertd
