// libFuzzer target for the host-name matcher, MatchHostname (monitor/hostname.h). The input is
// a certificate name (the pattern), a newline, and the host name to match; inputs without a
// newline are ignored. Both wildcard modes are tried. Besides never crashing (ASan + UBSan),
// every result must obey docs/selection.md, rule 2:
//   - the same call gives the same result;
//   - a valid host name (IsValidHostname) matches itself exactly;
//   - ASCII case does not matter, on either side;
//   - one trailing dot does not matter, on either side;
//   - an exact match means the two names are equal but for case and a trailing dot, and holds
//     the other way round too;
//   - a wildcard match means the pattern is "*." over a name of at least two labels, and the
//     host name is one label (one-level) or one or more labels (multi-level) in front of it;
//   - a '*' anywhere else (a partial wildcard, a second '*') never matches;
//   - exact matches do not depend on the mode, and a one-level wildcard match is also a
//     multi-level one.
// Seeds: ../shared/corpus/hostname-cases.tsv, converted by scripts/fuzz.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "monitor/hostname.h"

namespace {

using transportcertd::IsValidHostname;
using transportcertd::MatchHostname;
using transportcertd::NameMatch;
using transportcertd::NormalizeHostname;
using transportcertd::WildcardMode;

void Check(bool holds, const char* what) {
  if (!holds) {
    static_cast<void>(std::fprintf(stderr, "hostname_fuzzer: invariant broken: %s\n", what));
    std::abort();
  }
}

std::string WithAsciiCase(std::string_view text, bool upper) {
  std::string out(text);
  for (char& c : out) {
    if (upper && c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    } else if (!upper && c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

NameMatch CheckOneMode(std::string_view pattern, std::string_view host, WildcardMode mode) {
  const NameMatch match = MatchHostname(pattern, host, mode);
  Check(MatchHostname(pattern, host, mode) == match, "the same call gives the same result");
  for (const std::string_view name : {pattern, host}) {
    Check(!IsValidHostname(name) || MatchHostname(name, name, mode) == NameMatch::kExact,
          "a valid host name matches itself exactly");
  }
  Check(MatchHostname(WithAsciiCase(pattern, true), WithAsciiCase(host, false), mode) == match &&
            MatchHostname(WithAsciiCase(pattern, false), WithAsciiCase(host, true), mode) == match,
        "ASCII case does not matter");
  if (!host.ends_with('.')) {
    Check(MatchHostname(pattern, std::string(host) + ".", mode) == match,
          "a trailing dot on the host name does not matter");
  }
  if (!pattern.ends_with('.')) {
    Check(MatchHostname(std::string(pattern) + ".", host, mode) == match,
          "a trailing dot on the pattern does not matter");
  }
  if (match == NameMatch::kNone) {
    return match;
  }

  const std::string name = NormalizeHostname(pattern);
  const std::string normalized_host = NormalizeHostname(host);
  if (match == NameMatch::kExact) {
    Check(name == normalized_host, "an exact match is the same name");
    Check(name.find('*') == std::string::npos, "an exact match has no '*'");
    Check(MatchHostname(host, pattern, mode) == NameMatch::kExact,
          "an exact match holds the other way round");
    return match;
  }
  Check(name.starts_with("*.") && name.find('*', 1) == std::string::npos,
        "a wildcard match has one '*', as the whole left-most label");
  const std::string_view base = std::string_view(name).substr(2);
  Check(base.find('.') != std::string_view::npos, "a wildcard stands over at least two labels");
  Check(normalized_host.size() > base.size() + 1 && normalized_host.ends_with(base) &&
            normalized_host[normalized_host.size() - base.size() - 1] == '.',
        "a wildcard covers one or more labels in front of its base");
  const std::string_view covered =
      std::string_view(normalized_host).substr(0, normalized_host.size() - base.size() - 1);
  Check(mode == WildcardMode::kMultiLevel || covered.find('.') == std::string_view::npos,
        "a one-level wildcard covers exactly one label");
  return match;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  if (newline == std::string_view::npos) {
    return 0;
  }
  const std::string_view pattern = input.substr(0, newline);
  const std::string_view host = input.substr(newline + 1);
  const NameMatch one_level = CheckOneMode(pattern, host, WildcardMode::kOneLevel);
  const NameMatch multi_level = CheckOneMode(pattern, host, WildcardMode::kMultiLevel);
  Check((one_level == NameMatch::kExact) == (multi_level == NameMatch::kExact),
        "exact matches do not depend on the mode");
  Check(one_level != NameMatch::kWildcard || multi_level == NameMatch::kWildcard,
        "a one-level wildcard match is also a multi-level one");
  return 0;
}
