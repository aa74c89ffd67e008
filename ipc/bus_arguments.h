// What the D-Bus methods accept: every argument that arrives over the bus is checked here before
// the daemon sees it, and a malformed one becomes an ErrorCode::kInvalidArgument error whose
// message says what was wrong without echoing more than a short, printable excerpt of the input.
// Also the clean-up of strings the daemon sends (D-Bus strings must be valid UTF-8).
// Pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/bindings.h"
#include "monitor/result.h"

namespace transportcertd {

inline constexpr std::size_t kMaxStringArgumentBytes =
    std::size_t{64} * 1024;  // any string but a PEM
inline constexpr std::size_t kMaxPemArgumentBytes = std::size_t{1024} * 1024;
inline constexpr std::size_t kMaxListArgumentEntries = 100;
inline constexpr std::size_t kMaxHostnameBytes = 253;

// Fails when `value` (the argument called `what`) is longer than `max_bytes`.
Status CheckArgumentLength(std::string_view what, std::string_view value, std::size_t max_bytes);

// Exactly 40 hex digits in any case → uppercase; anything else: "not a thumbprint: ...".
Result<std::string> ParseThumbprintArgument(std::string_view text);

// A host name to select a certificate for (monitor/hostname.h IsValidHostname, at most 253
// octets) → normalized (lowercase, no trailing dot).
Result<std::string> ParseHostnameArgument(std::string_view text);

// SMTP IMAP POP HTTP, any case.
Result<Service> ParseServiceArgument(std::string_view text);

// A list of services (at most kMaxListArgumentEntries) → set. An empty list is the empty set.
Result<ServiceSet> ParseServiceListArgument(const std::vector<std::string>& names);

// Extra DNS names for a self-signed certificate (at most kMaxListArgumentEntries, each a valid
// host name) → normalized, without duplicates, in the order given.
Result<std::vector<std::string>> ParseNameListArgument(const std::vector<std::string>& names);

// PEM text for ImportCertificate: at most kMaxPemArgumentBytes. Whether it holds a usable
// certificate and key is the daemon's to judge.
Status CheckPemArgument(std::string_view pem);

// Untrusted input made safe to quote in a message: printable ASCII (other bytes become '?'), at
// most 64 characters (then "..."), in double quotes.
std::string QuoteForMessage(std::string_view text);

// `text` with every byte that is not part of a valid UTF-8 sequence (as D-Bus and sd-bus define
// it: no NUL, no surrogates, no noncharacters) replaced by '?'.
std::string ValidUtf8(std::string_view text);
// Whether ValidUtf8(text) would return `text` unchanged (valid UTF-8 without NUL), without
// copying it: most strings are, and a reply can then carry them as they are.
bool IsValidUtf8(std::string_view text);

}  // namespace transportcertd
