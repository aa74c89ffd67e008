#include "monitor/hostname.h"

#include <algorithm>
#include <cstddef>

namespace transportcertd {
namespace {

constexpr std::size_t kMaxLabelLength = 63;
constexpr std::size_t kMaxNameLength = 253;  // without the trailing dot

constexpr char ToLowerAscii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }

constexpr bool IsLdhOrUnderscore(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '-' || c == '_';
}

bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b,
                            [](char x, char y) { return ToLowerAscii(x) == ToLowerAscii(y); });
}

std::string_view WithoutTrailingDot(std::string_view name) {
  if (name.ends_with('.')) {
    name.remove_suffix(1);
  }
  return name;
}

// 1–63 letters, digits, hyphens or underscores, not starting or ending with a hyphen.
bool IsLdhLabel(std::string_view label) {
  return !label.empty() && label.size() <= kMaxLabelLength && !label.starts_with('-') &&
         !label.ends_with('-') && std::ranges::all_of(label, IsLdhOrUnderscore);
}

// A relative name (no trailing dot) made only of LDH labels.
bool IsLdhName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return false;
  }
  while (true) {
    const std::size_t dot = name.find('.');
    if (!IsLdhLabel(name.substr(0, dot))) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    name.remove_prefix(dot + 1);
  }
}

// No real top-level domain is all digits, so a name ending in one is an IPv4 literal (or a
// mistake) and is matched only literally, never by a wildcard.
bool HasNumericFinalLabel(std::string_view name) {
  const std::size_t dot = name.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
  return !last.empty() && std::ranges::all_of(last, IsDigit);
}

// `host` and `base` are normalised, valid names; `base` has at least two labels.
bool WildcardCovers(std::string_view base, std::string_view host, WildcardMode mode) {
  if (HasNumericFinalLabel(host)) {
    return false;
  }
  if (mode == WildcardMode::kOneLevel) {
    const std::size_t dot = host.find('.');
    return dot != std::string_view::npos && EqualsIgnoringAsciiCase(host.substr(dot + 1), base);
  }
  // Multi-level: one or more whole labels, then ".base".
  if (host.size() < base.size() + 2) {
    return false;
  }
  const std::size_t split = host.size() - base.size() - 1;
  return host[split] == '.' && EqualsIgnoringAsciiCase(host.substr(split + 1), base);
}

}  // namespace

NameMatch MatchHostname(std::string_view pattern, std::string_view hostname, WildcardMode mode) {
  if (!IsValidHostname(hostname)) {
    return NameMatch::kNone;
  }
  return MatchValidHostname(pattern, hostname, mode);
}

NameMatch MatchValidHostname(std::string_view pattern, std::string_view hostname,
                             WildcardMode mode) {
  const std::string_view host = WithoutTrailingDot(hostname);
  pattern = WithoutTrailingDot(pattern);

  if (pattern.starts_with("*.")) {
    const std::string_view base = pattern.substr(2);
    // The wildcard must stand over at least two labels ("*.com" never matches), and the rest of
    // the pattern is an ordinary name (no second "*", no empty label).
    if (pattern.size() > kMaxNameLength || !IsLdhName(base) ||
        base.find('.') == std::string_view::npos) {
      return NameMatch::kNone;
    }
    return WildcardCovers(base, host, mode) ? NameMatch::kWildcard : NameMatch::kNone;
  }
  // Anything else, including a partial wildcard ("f*.example.com") or a "*" outside the left-most
  // label, is a literal name, and a literal with a "*" is not a valid name.
  if (!IsLdhName(pattern)) {
    return NameMatch::kNone;
  }
  return EqualsIgnoringAsciiCase(pattern, host) ? NameMatch::kExact : NameMatch::kNone;
}

bool IsValidHostname(std::string_view name) { return IsLdhName(WithoutTrailingDot(name)); }

std::string NormalizeHostname(std::string_view name) {
  std::string normalized(WithoutTrailingDot(name));
  std::ranges::transform(normalized, normalized.begin(), ToLowerAscii);
  return normalized;
}

}  // namespace transportcertd
