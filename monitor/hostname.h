// Host-name matching for certificate selection (docs/selection.md, rule 2): case-insensitive,
// trailing dot ignored, a wildcard only as the whole left-most label `*.` over at least two labels,
// covering exactly one label (one-level, RFC 6125) or any number of labels (multi-level, Exchange).
// Pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace transportcertd {

enum class WildcardMode { kOneLevel, kMultiLevel };

enum class NameMatch { kNone, kExact, kWildcard };

// Does certificate name `pattern` (a SAN DNS name or CN) cover `hostname`?
NameMatch MatchHostname(std::string_view pattern, std::string_view hostname, WildcardMode mode);

// The same for a `hostname` the caller has checked with IsValidHostname, so that matching one
// host name against many certificate names checks it once.
NameMatch MatchValidHostname(std::string_view pattern, std::string_view hostname,
                             WildcardMode mode);

// A host name the daemon accepts from config and D-Bus: LDH labels (underscore allowed), 1–63
// octets each, at most 253 in all, an optional trailing dot, no wildcard.
bool IsValidHostname(std::string_view name);

// Lowercase, without a trailing dot.
std::string NormalizeHostname(std::string_view name);

}  // namespace transportcertd
