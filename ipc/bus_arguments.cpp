#include "ipc/bus_arguments.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>

#include "monitor/hostname.h"

namespace transportcertd {
namespace {

constexpr std::size_t kQuotedExcerptChars = 64;

Error InvalidArgument(std::string message) {
  return Error{std::move(message), ErrorCode::kInvalidArgument};
}

bool IsHexDigit(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

char ToUpper(char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }

// Length of the valid UTF-8 sequence at the start of `text`, or 0 when there is none.
std::size_t Utf8SequenceLength(std::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  if (lead == 0) return 0;
  if (lead < 0x80) return 1;
  struct Form {
    unsigned char mask, marker, payload;
    std::size_t length;
    std::uint32_t minimum;  // smaller code points would be overlong encodings
  };
  static constexpr Form kForms[] = {
      {0xE0, 0xC0, 0x1F, 2, 0x80}, {0xF0, 0xE0, 0x0F, 3, 0x800}, {0xF8, 0xF0, 0x07, 4, 0x10000}};
  const Form* form = nullptr;
  for (const Form& candidate : kForms) {
    if ((lead & candidate.mask) == candidate.marker) form = &candidate;
  }
  if (form == nullptr) return 0;
  const std::size_t length = form->length;
  const std::uint32_t minimum = form->minimum;
  std::uint32_t code = lead & form->payload;
  if (text.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    const auto next = static_cast<unsigned char>(text[i]);
    if ((next & 0xC0U) != 0x80U) return 0;
    code = (code << 6U) | (next & 0x3FU);
  }
  const bool valid = code >= minimum && code < 0x110000 && (code & 0xFFFFF800U) != 0xD800 &&
                     !(code >= 0xFDD0 && code <= 0xFDEF) && (code & 0xFFFEU) != 0xFFFE;
  return valid ? length : 0;
}

}  // namespace

Status CheckArgumentLength(std::string_view what, std::string_view value, std::size_t max_bytes) {
  if (value.size() <= max_bytes) return Status::Ok();
  return InvalidArgument(std::string(what) + " is too long: " + std::to_string(value.size()) +
                         " bytes (at most " + std::to_string(max_bytes) + ")");
}

Result<std::string> ParseThumbprintArgument(std::string_view text) {
  if (text.size() != 40 || !std::all_of(text.begin(), text.end(), IsHexDigit)) {
    return InvalidArgument("not a thumbprint: " + QuoteForMessage(text) +
                           " (expected 40 hex digits, the SHA-1 of the certificate)");
  }
  std::string thumbprint(text);
  std::transform(thumbprint.begin(), thumbprint.end(), thumbprint.begin(), ToUpper);
  return thumbprint;
}

Result<std::string> ParseHostnameArgument(std::string_view text) {
  if (text.size() > kMaxHostnameBytes + 1 /* trailing dot */ || !IsValidHostname(text)) {
    return InvalidArgument("not a valid host name: " + QuoteForMessage(text));
  }
  return NormalizeHostname(text);
}

Result<Service> ParseServiceArgument(std::string_view text) {
  Result<Service> service = ParseService(text);
  if (service.ok()) return service;
  return InvalidArgument("unknown service " + QuoteForMessage(text) +
                         " (expected SMTP, IMAP, POP or HTTP)");
}

Result<ServiceSet> ParseServiceListArgument(const std::vector<std::string>& names) {
  if (names.size() > kMaxListArgumentEntries) {
    return InvalidArgument("too many services: " + std::to_string(names.size()) + " (at most " +
                           std::to_string(kMaxListArgumentEntries) + ")");
  }
  ServiceSet set = 0;
  for (const std::string& name : names) {
    Result<Service> service = ParseServiceArgument(name);
    if (!service.ok()) return service.error();
    set |= Bit(*service);
  }
  return set;
}

Result<std::vector<std::string>> ParseNameListArgument(const std::vector<std::string>& names) {
  if (names.size() > kMaxListArgumentEntries) {
    return InvalidArgument("too many names: " + std::to_string(names.size()) + " (at most " +
                           std::to_string(kMaxListArgumentEntries) + ")");
  }
  std::vector<std::string> normalized;
  for (const std::string& name : names) {
    Result<std::string> hostname = ParseHostnameArgument(name);
    if (!hostname.ok()) return hostname.error();
    if (std::find(normalized.begin(), normalized.end(), *hostname) == normalized.end()) {
      normalized.push_back(*hostname);
    }
  }
  return normalized;
}

Status CheckPemArgument(std::string_view pem) {
  return CheckArgumentLength("PEM text", pem, kMaxPemArgumentBytes);
}

std::string QuoteForMessage(std::string_view text) {
  std::string quoted = "\"";
  const std::size_t shown = std::min(text.size(), kQuotedExcerptChars);
  for (std::size_t i = 0; i < shown; ++i) {
    const char c = text[i];
    const bool printable = c >= 0x20 && c < 0x7F;
    quoted += printable ? c : '?';
  }
  if (text.size() > shown) quoted += "...";
  quoted += '"';
  return quoted;
}

namespace {

// How many bytes at the start of `text` are ASCII other than NUL, looked at eight at a time.
std::size_t AsciiPrefix(std::string_view text) {
  constexpr std::uint64_t kHigh = 0x8080808080808080U;
  constexpr std::uint64_t kLow = 0x0101010101010101U;
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, text.data() + i, 8);
    // A byte with its high bit set, or a zero byte, stops the run.
    if (((word & kHigh) | ((word - kLow) & ~word & kHigh)) != 0) break;
  }
  while (i < text.size() && text[i] != '\0' && (static_cast<unsigned char>(text[i]) & 0x80U) == 0) {
    ++i;
  }
  return i;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  while (!text.empty()) {
    text.remove_prefix(AsciiPrefix(text));
    if (text.empty()) break;
    const std::size_t length = Utf8SequenceLength(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

std::string ValidUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  std::string clean;
  clean.reserve(text.size());
  while (!text.empty()) {
    // A run of ASCII (not NUL) at once: most strings are nothing else.
    const auto run = std::find_if(text.begin(), text.end(), [](char c) {
      return c == '\0' || (static_cast<unsigned char>(c) & 0x80U) != 0;
    });
    const auto ascii = static_cast<std::size_t>(run - text.begin());
    clean.append(text.substr(0, ascii));
    text.remove_prefix(ascii);
    if (text.empty()) break;
    const std::size_t length = Utf8SequenceLength(text);
    if (length == 0) {
      clean += '?';
      text.remove_prefix(1);
    } else {
      clean.append(text.substr(0, length));
      text.remove_prefix(length);
    }
  }
  return clean;
}

}  // namespace transportcertd
