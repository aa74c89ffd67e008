// Bindings: which services each certificate is enabled for, and which certificate is the
// internal transport certificate. Persisted in a small line-oriented text file under the state
// directory, written atomically:
//
//   # transportcertd bindings
//   internal-transport 3BA4...
//   services 3BA4... SMTP IMAP
//   services 77E0...            (explicitly enabled for nothing)
//
// A certificate without a `services` line is enabled for the configured default services.
// Plain data and pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/result.h"

namespace transportcertd {

enum class Service : std::uint32_t { kSmtp = 1, kImap = 2, kPop = 4, kHttp = 8 };

// A set of services as a bit mask of Service values.
using ServiceSet = std::uint32_t;
inline constexpr ServiceSet kAllServices = 0xF;

constexpr ServiceSet Bit(Service s) { return static_cast<ServiceSet>(s); }

// "SMTP", "IMAP", "POP", "HTTP" (case-insensitive) → Service; fails with the accepted names.
Result<Service> ParseService(std::string_view name);
// A list of names → set; fails on the first unknown name.
Result<ServiceSet> ParseServices(const std::vector<std::string>& names);
std::string ServiceName(Service s);
// In canonical order: SMTP IMAP POP HTTP.
std::vector<std::string> ServiceNames(ServiceSet set);

struct Bindings {
  std::string internal_transport;              // thumbprint, or empty
  std::map<std::string, ServiceSet> services;  // explicit settings by thumbprint

  ServiceSet ServicesOf(std::string_view thumbprint, ServiceSet defaults) const;
  bool operator==(const Bindings&) const = default;
};

// Reads the bindings file; a missing file is empty bindings. A malformed file fails with
// "PATH:LINE: what is wrong" and is never reset.
Result<Bindings> LoadBindings(const std::string& path);
// Parses bindings text; `name` is used in error messages.
Result<Bindings> ParseBindings(std::string_view text, const std::string& name);
std::string FormatBindings(const Bindings& bindings);
// Writes the file atomically with mode 0600.
Status SaveBindings(const std::string& path, const Bindings& bindings);

}  // namespace transportcertd
