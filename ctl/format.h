// What transportcertctl shows, computed without any I/O: thumbprint prefixes resolved against the
// store's thumbprints, dates in UTC, days left, the short forms of the tables. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace transportcertctl {

// ---- certificates named on the command line ----

// What a CERT argument (a thumbprint or a prefix of one) names among `thumbprints`.
struct PrefixMatch {
  enum class Kind {
    kInvalid,    // not 6 to 40 hex digits
    kUnique,     // exactly one certificate: `matches[0]`
    kAmbiguous,  // more than one: all of them in `matches`
    kNone,       // no certificate's thumbprint starts with it
  };
  Kind kind = Kind::kInvalid;
  std::string prefix;                // the argument in upper case
  std::vector<std::string> matches;  // full thumbprints, in the order given
};

inline constexpr std::size_t kMinPrefixDigits = 6;
inline constexpr std::size_t kThumbprintDigits = 40;

// Resolves `argument` (6 to 40 hex digits, any case) against `thumbprints` (upper case).
PrefixMatch ResolvePrefix(std::string_view argument, const std::vector<std::string>& thumbprints);

// ---- times ----

// D-Bus times are microseconds since the epoch (0 = none). All dates are shown in UTC.
// "2031-11-21"
std::string UtcDate(std::uint64_t usec);
// "2031-11-21 10:00:38 UTC"
std::string UtcDateTime(std::uint64_t usec);
// "2031-11-21T10:00:38Z" (ISO 8601, for --json)
std::string IsoTime(std::uint64_t usec);

// Whole days from `now` to `then` (both microseconds since the epoch), rounded down: 0 on the
// last day, -1 from the moment it has passed, as the DAYS column counts them.
std::int64_t DaysLeft(std::uint64_t then_usec, std::uint64_t now_usec);

// How far `then` is from `now`, in whole days: "in 3 days", "in 1 day", "in less than a day",
// "less than a day ago", "1 day ago", "12 days ago".
std::string DaysPhrase(std::uint64_t then_usec, std::uint64_t now_usec);

// ---- short forms ----

// The first `digits` hex digits of a thumbprint (all of it when it is shorter).
std::string ShortThumbprint(std::string_view thumbprint, std::size_t digits = 12);

// "mail.example.com" or "mail.example.com +2" for more names; "-" for none.
std::string NamesSummary(const std::vector<std::string>& names);

// "SMTP,IMAP"; "-" for none.
std::string JoinOrDash(const std::vector<std::string>& items, std::string_view separator = ",");

// The FLAGS column: I internal transport, S self-signed, K has its private key; "-" where not.
std::string Flags(bool internal_transport, bool self_signed, bool has_private_key);

// `text` on one line: every control character (newline, tab, escape, the C1 controls) becomes a
// space, so
// that nothing a daemon or certificate says can move the cursor or colour the terminal.
std::string OneLine(std::string_view text);

// Splits "SMTP,IMAP" (the --services value) at commas; empty pieces are dropped.
std::vector<std::string> SplitCommas(std::string_view text);

}  // namespace transportcertctl
