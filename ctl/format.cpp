#include "ctl/format.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace transportcertctl {

PrefixMatch ResolvePrefix(std::string_view argument, const std::vector<std::string>& thumbprints) {
  PrefixMatch match;
  match.prefix.reserve(argument.size());
  for (const char c : argument) {
    match.prefix.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  if (argument.size() < kMinPrefixDigits || argument.size() > kThumbprintDigits) return match;
  for (const char c : argument) {
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return match;
  }
  for (const std::string& thumbprint : thumbprints) {
    if (thumbprint.size() >= match.prefix.size() &&
        thumbprint.compare(0, match.prefix.size(), match.prefix) == 0) {
      match.matches.push_back(thumbprint);
    }
  }
  if (match.matches.empty()) {
    match.kind = PrefixMatch::Kind::kNone;
  } else if (match.matches.size() == 1) {
    match.kind = PrefixMatch::Kind::kUnique;
  } else {
    match.kind = PrefixMatch::Kind::kAmbiguous;
  }
  return match;
}

namespace {

std::tm UtcParts(std::uint64_t usec) {
  const auto seconds = static_cast<std::time_t>(usec / 1000000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  return parts;
}

// "YYYY-MM-DD", then `time_separator` and "hh:mm:ss" unless it is null.
std::string Format(std::uint64_t usec, const char* time_separator) {
  const std::tm parts = UtcParts(usec);
  char buffer[64];
  int n = std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02d", parts.tm_year + 1900,
                        parts.tm_mon + 1, parts.tm_mday);
  if (time_separator != nullptr && n > 0) {
    n += std::snprintf(buffer + n, sizeof buffer - static_cast<std::size_t>(n), "%s%02d:%02d:%02d",
                       time_separator, parts.tm_hour, parts.tm_min, parts.tm_sec);
  }
  return std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
}

}  // namespace

std::string UtcDate(std::uint64_t usec) { return Format(usec, nullptr); }

std::string UtcDateTime(std::uint64_t usec) { return Format(usec, " ") + " UTC"; }

std::string IsoTime(std::uint64_t usec) { return Format(usec, "T") + "Z"; }

std::int64_t DaysLeft(std::uint64_t then_usec, std::uint64_t now_usec) {
  constexpr std::int64_t kDay = std::int64_t{86400} * 1000000;
  const std::int64_t difference = then_usec >= now_usec
                                      ? static_cast<std::int64_t>(then_usec - now_usec)
                                      : -static_cast<std::int64_t>(now_usec - then_usec);
  // Rounded towards minus infinity: one microsecond past is day -1.
  std::int64_t days = difference / kDay;
  if (difference % kDay != 0 && difference < 0) --days;
  return days;
}

std::string DaysPhrase(std::uint64_t then_usec, std::uint64_t now_usec) {
  const auto days = [](std::int64_t n) { return std::to_string(n) + (n == 1 ? " day" : " days"); };
  if (then_usec >= now_usec) {
    const std::int64_t ahead = DaysLeft(then_usec, now_usec);
    return ahead == 0 ? "in less than a day" : "in " + days(ahead);
  }
  const std::int64_t ago = DaysLeft(now_usec, then_usec);
  return ago == 0 ? "less than a day ago" : days(ago) + " ago";
}

std::string ShortThumbprint(std::string_view thumbprint, std::size_t digits) {
  return std::string(thumbprint.substr(0, digits));
}

std::string NamesSummary(const std::vector<std::string>& names) {
  if (names.empty()) return "-";
  std::string text = names.front();
  if (names.size() > 1) text += " +" + std::to_string(names.size() - 1);
  return text;
}

std::string JoinOrDash(const std::vector<std::string>& items, std::string_view separator) {
  if (items.empty()) return "-";
  std::string text;
  for (const std::string& item : items) {
    if (!text.empty()) text += separator;
    text += item;
  }
  return text;
}

std::string Flags(bool internal_transport, bool self_signed, bool has_private_key) {
  std::string flags;
  flags += internal_transport ? 'I' : '-';
  flags += self_signed ? 'S' : '-';
  flags += has_private_key ? 'K' : '-';
  return flags;
}

std::string OneLine(std::string_view text) {
  std::string line;
  line.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7f) {
      line += ' ';
    } else if (byte == 0xc2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      line += ' ';  // U+0080..U+009F, the C1 controls (U+009B starts an escape sequence too)
      ++i;
    } else {
      line += text[i];
    }
  }
  return line;
}

std::vector<std::string> SplitCommas(std::string_view text) {
  std::vector<std::string> pieces;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) pieces.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return pieces;
}

}  // namespace transportcertctl
