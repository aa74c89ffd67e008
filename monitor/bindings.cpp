#include "monitor/bindings.h"

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

#include "monitor/atomic_file.h"

namespace transportcertd {
namespace {

constexpr std::array<Service, 4> kServices = {Service::kSmtp, Service::kImap, Service::kPop,
                                              Service::kHttp};
constexpr std::string_view kAcceptedServices = "SMTP, IMAP, POP, HTTP";
constexpr std::string_view kInternalTransportKeyword = "internal-transport";
constexpr std::string_view kServicesKeyword = "services";
constexpr std::size_t kThumbprintLength = 40;

char ToUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToUpper(c);
  return out;
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool IsThumbprint(std::string_view s) {
  if (s.size() != kThumbprintLength) return false;
  for (char c : s) {
    if (!IsHexDigit(c)) return false;
  }
  return true;
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits one line into whitespace-separated words, dropping a '#' comment.
std::vector<std::string_view> Words(std::string_view line) {
  if (const std::size_t hash = line.find('#'); hash != line.npos) line = line.substr(0, hash);
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

std::string UnknownService(std::string_view name) {
  return "unknown service '" + std::string(name) + "' (expected " + std::string(kAcceptedServices) +
         ")";
}

}  // namespace

Result<Service> ParseService(std::string_view name) {
  const std::string upper = Upper(name);
  for (Service s : kServices) {
    if (upper == ServiceName(s)) return s;
  }
  return Error{UnknownService(name)};
}

Result<ServiceSet> ParseServices(const std::vector<std::string>& names) {
  ServiceSet set = 0;
  for (const std::string& name : names) {
    Result<Service> service = ParseService(name);
    if (!service) return service.error();
    set |= Bit(*service);
  }
  return set;
}

std::string ServiceName(Service s) {
  switch (s) {
    case Service::kSmtp:
      return "SMTP";
    case Service::kImap:
      return "IMAP";
    case Service::kPop:
      return "POP";
    case Service::kHttp:
      return "HTTP";
  }
  return "UNKNOWN";
}

std::vector<std::string> ServiceNames(ServiceSet set) {
  std::vector<std::string> names;
  for (Service s : kServices) {
    if ((set & Bit(s)) != 0) names.push_back(ServiceName(s));
  }
  return names;
}

ServiceSet Bindings::ServicesOf(std::string_view thumbprint, ServiceSet defaults) const {
  const auto it = services.find(Upper(thumbprint));
  return it == services.end() ? defaults : it->second;
}

Result<Bindings> ParseBindings(std::string_view text, const std::string& name) {
  Bindings bindings;
  std::size_t internal_transport_line = 0;
  std::map<std::string, std::size_t> services_lines;

  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const std::size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == text.npos ? text.size() : newline + 1);

    auto fail = [&name, line_number](const std::string& what) {
      return Error{name + ":" + std::to_string(line_number) + ": " + what};
    };

    const std::vector<std::string_view> words = Words(line);
    if (words.empty()) continue;
    const std::string_view keyword = words[0];

    if (keyword != kInternalTransportKeyword && keyword != kServicesKeyword) {
      return fail("unknown keyword '" + std::string(keyword) + "' (expected " +
                  std::string(kInternalTransportKeyword) + " or " + std::string(kServicesKeyword) +
                  ")");
    }
    if (words.size() < 2) return fail(std::string(keyword) + " needs a thumbprint");
    if (!IsThumbprint(words[1])) {
      return fail("'" + std::string(words[1]) + "' is not a thumbprint (40 hex digits)");
    }
    const std::string thumbprint = Upper(words[1]);

    if (keyword == kInternalTransportKeyword) {
      if (words.size() > 2) {
        return fail(std::string(kInternalTransportKeyword) + " takes one thumbprint, not " +
                    std::to_string(words.size() - 1) + " words");
      }
      if (internal_transport_line != 0) {
        return fail(std::string(kInternalTransportKeyword) + " given twice (first on line " +
                    std::to_string(internal_transport_line) + ")");
      }
      internal_transport_line = line_number;
      bindings.internal_transport = thumbprint;
      continue;
    }

    const auto [previous, inserted] = services_lines.emplace(thumbprint, line_number);
    if (!inserted) {
      return fail("services of " + thumbprint + " given twice (first on line " +
                  std::to_string(previous->second) + ")");
    }
    ServiceSet set = 0;
    for (std::size_t i = 2; i < words.size(); ++i) {
      Result<Service> service = ParseService(words[i]);
      if (!service) return fail(service.error().message);
      if ((set & Bit(*service)) != 0) {
        return fail("service " + ServiceName(*service) + " listed twice");
      }
      set |= Bit(*service);
    }
    bindings.services.emplace(thumbprint, set);
  }
  return bindings;
}

std::string FormatBindings(const Bindings& bindings) {
  std::string text =
      "# transportcertd bindings: the internal transport certificate and the services each\n"
      "# certificate is enabled for, by thumbprint. Maintained by transportcertd, which rewrites\n"
      "# this file; change bindings over D-Bus rather than here. A certificate without a\n"
      "# services line is enabled for the configured default services.\n";
  if (!bindings.internal_transport.empty()) {
    text += std::string(kInternalTransportKeyword) + " " + bindings.internal_transport + "\n";
  }
  // std::map keeps the thumbprints sorted, so equal bindings always give the same file.
  for (const auto& [thumbprint, set] : bindings.services) {
    text += std::string(kServicesKeyword) + " " + thumbprint;
    for (const std::string& service : ServiceNames(set)) text += " " + service;
    text += "\n";
  }
  return text;
}

Result<Bindings> LoadBindings(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) return Bindings{};
  Result<std::string> text = ReadFile(path, 16u << 20);
  if (!text) return text.error();
  return ParseBindings(*text, path);
}

Status SaveBindings(const std::string& path, const Bindings& bindings) {
  return WriteFileAtomically(path, FormatBindings(bindings), 0600);
}

}  // namespace transportcertd
