// Host-name matching (docs/selection.md, rule 2), in two parts.
//
// 1. Hand-written cases, one rule per test, checked in both wildcard modes where the rule holds
//    in both.
//
// 2. Upstream test vectors from shared/corpus/hostname-cases.tsv (format and provenance in
//    hostname-cases.README.md), checked in one-level mode, the mode whose rules the upstream
//    projects share. Each row is a certificate (its entries) and a reference host name; the
//    certificate's names are built as docs/selection.md says (the SAN DNS names, or the subject CNs
//    only when there is no SAN DNS name) and the row matches when any name does.
//
//    Every source in the file is accepted (kAcceptedSources), each with the rules of that source
//    which our rule does not have. A row is skipped only when one of those rules applies to it
//    (kPublicSuffixList and the others below, each saying why). Most rules can only move a verdict
//    one way (a public-suffix list only ever removes matches, matching without syntax checks only
//    ever adds them), so a rule skips only rows whose expected verdict could come from it; the
//    other rows of that kind still have to agree with us. What is left:
//      - x509-limbo: all but the public-suffix, no-CN-fallback and underscore rows. Its emoji row
//        (raw UTF-8 vs an A-label, no match) stays: we do no IDNA mapping either, and a
//        non-ASCII name never matches.
//      - go-crypto-x509: all but the CN rows (Go ignores CN), "*.com" matches, certificate names
//        with a trailing dot, and exact matches of reference names that are not host names.
//      - cpython-ssl: all but the NUL-byte exact match (CPython 3.11 has the same CN-fallback
//        rule as ours).
//      - openssl-v3nametest: the rows that do not use OpenSSL's partial wildcards, its leading-dot
//        "any subdomain" syntax, literal '*' in reference names, or X509_CHECK_FLAG_NO_WILDCARDS.
//      - curl-hostcheck: all but the matches of reference names that are not host names.
//      - rustls-webpki: all but the certificate names with a trailing dot (webpki rejects them).
//      - chromium-net: all but the public-suffix rows and the exact-name rows Chromium rejects
//        as malformed IPv4 literals.
//      - boringssl-x509: all but the rows where a non-DNS SAN disables CN fallback and the
//        X509_CHECK_FLAG_NO_WILDCARDS rows.
//    The test prints how many rows each source used and skipped (and why), fails listing every
//    row that disagrees, and requires enough rows to be checked that it cannot pass vacuously.
#include "monitor/hostname.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace transportcertd {

void PrintTo(NameMatch match, std::ostream* os) {
  switch (match) {
    case NameMatch::kNone:
      *os << "kNone";
      return;
    case NameMatch::kExact:
      *os << "kExact";
      return;
    case NameMatch::kWildcard:
      *os << "kWildcard";
      return;
  }
  *os << "NameMatch(?)";
}

namespace {

constexpr WildcardMode kBothModes[] = {WildcardMode::kOneLevel, WildcardMode::kMultiLevel};

std::string ModeName(WildcardMode mode) {
  return mode == WildcardMode::kOneLevel ? "one-level" : "multi-level";
}

// --- Part 1: hand-written cases ------------------------------------------------------------

TEST(AHostnameMatcher, MatchesAnIdenticalNameExactly) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("mail.example.com", "mail.example.com", mode), NameMatch::kExact);
    EXPECT_EQ(MatchHostname("localhost", "localhost", mode), NameMatch::kExact);
    EXPECT_EQ(MatchHostname("xn--rger-koa.example.com", "xn--rger-koa.example.com", mode),
              NameMatch::kExact);
  }
}

TEST(AHostnameMatcher, RejectsADifferentName) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("mail.example.com", "smtp.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail.example.com", "mail.example.org", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("example.com", "mail.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail.example.com", "example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail.example.com", "mail.example.com.evil", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, IgnoresAsciiCase) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("Mail.EXAMPLE.com", "mail.example.COM", mode), NameMatch::kExact);
    EXPECT_EQ(MatchHostname("*.Example.Com", "MAIL.example.com", mode), NameMatch::kWildcard);
  }
}

TEST(AHostnameMatcher, IgnoresATrailingDotOnEitherSide) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("mail.example.com.", "mail.example.com", mode), NameMatch::kExact);
    EXPECT_EQ(MatchHostname("mail.example.com", "mail.example.com.", mode), NameMatch::kExact);
    EXPECT_EQ(MatchHostname("mail.example.com.", "mail.example.com.", mode), NameMatch::kExact);
    EXPECT_EQ(MatchHostname("*.example.com.", "mail.example.com", mode), NameMatch::kWildcard);
    EXPECT_EQ(MatchHostname("*.example.com", "mail.example.com.", mode), NameMatch::kWildcard);
  }
}

TEST(AHostnameMatcher, IgnoresOnlyOneTrailingDot) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("mail.example.com..", "mail.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail.example.com", "mail.example.com..", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, MatchesALeftMostWildcardOverOneLabel) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("*.example.com", "mail.example.com", mode), NameMatch::kWildcard);
    EXPECT_EQ(MatchHostname("*.example.com", "xn--rger-koa.example.com", mode),
              NameMatch::kWildcard);
    EXPECT_EQ(MatchHostname("*.mx.example.co.uk", "a-1.mx.example.co.uk", mode),
              NameMatch::kWildcard);
  }
}

TEST(AHostnameMatcher, NeverLetsAWildcardMatchTheNameItStandsOver) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("*.example.com", "example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.example.com", ".example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.example.com", "xexample.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.example.com", "mail.example.org", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, CoversExactlyOneLabelInOneLevelMode) {
  constexpr WildcardMode kMode = WildcardMode::kOneLevel;
  EXPECT_EQ(MatchHostname("*.example.com", "mail.example.com", kMode), NameMatch::kWildcard);
  EXPECT_EQ(MatchHostname("*.example.com", "a.mail.example.com", kMode), NameMatch::kNone);
  EXPECT_EQ(MatchHostname("*.example.com", "a.b.c.example.com", kMode), NameMatch::kNone);
}

TEST(AHostnameMatcher, CoversAnyNumberOfLabelsInMultiLevelMode) {
  constexpr WildcardMode kMode = WildcardMode::kMultiLevel;
  EXPECT_EQ(MatchHostname("*.example.com", "mail.example.com", kMode), NameMatch::kWildcard);
  EXPECT_EQ(MatchHostname("*.example.com", "a.mail.example.com", kMode), NameMatch::kWildcard);
  EXPECT_EQ(MatchHostname("*.example.com", "a.b.c.example.com.", kMode), NameMatch::kWildcard);
  EXPECT_EQ(MatchHostname("*.example.com", "example.com", kMode), NameMatch::kNone);
  EXPECT_EQ(MatchHostname("*.example.com", "a.b.example.org", kMode), NameMatch::kNone);
  EXPECT_EQ(MatchHostname("*.example.com", "a.bexample.com", kMode), NameMatch::kNone);
}

TEST(AHostnameMatcher, NeverMatchesAWildcardOverASingleLabel) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("*.com", "example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.com.", "example.com.", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.com", "mail.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.localdomain", "mail.localdomain", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, NeverMatchesAPartialWildcard) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("f*.example.com", "foo.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("f*.example.com", "f.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*foo.example.com", "barfoo.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*foo.example.com", "foo.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("b*z.example.com", "baz.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("xn--*.example.com", "xn--rger-koa.example.com", mode),
              NameMatch::kNone);
    EXPECT_EQ(MatchHostname("x*.example.com", "xn--rger-koa.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("**.example.com", "mail.example.com", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, NeverMatchesAWildcardOutsideTheLeftMostLabel) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("mail.*.example.com", "mail.a.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.*.example.com", "a.b.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.example.*", "mail.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail.example.*", "mail.example.com", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, NeverMatchesABareWildcard) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("*", "localhost", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*", "mail.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.", "localhost", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.", "localhost.", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, NeverMatchesEmptyLabels) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("", "", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("", "example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname(".", ".", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail..example.com", "mail..example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail.example.com", "mail..example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname(".example.com", ".example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.example..com", "mail.example..com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*..example.com", "mail..example.com", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, NeverMatchesAHostnameThatIsNotAHostName) {
  using namespace std::string_view_literals;
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    // Identical strings, so nothing but the host name's syntax can refuse them.
    EXPECT_EQ(MatchHostname("*.example.com", "*.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail example.com", "mail example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail.example.com\0.evil"sv, "mail.example.com\0.evil"sv, mode),
              NameMatch::kNone);
    EXPECT_EQ(MatchHostname("m\xc3\xa4il.example.com", "m\xc3\xa4il.example.com", mode),
              NameMatch::kNone);
    EXPECT_EQ(MatchHostname("foo:25", "foo:25", mode), NameMatch::kNone);
    // And no wildcard covers them.
    EXPECT_EQ(MatchHostname("*.example.com", " mail.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.example.com", "\xfe\xfe.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.example.com", std::string(64, 'a') + ".example.com", mode),
              NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.example.com", "-mail.example.com", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, NeverMatchesAPatternWithInvalidCharacters) {
  using namespace std::string_view_literals;
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname(" mail.example.com", "mail.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname(" *.example.com", "mail.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail.example.com\0"sv, "mail.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("mail.example.com\0*.example.com"sv, "mail.example.com", mode),
              NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.example.com\n", "mail.example.com", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.ex\xc3\xa4mple.com", "mail.xn--exmple-cua.com", mode),
              NameMatch::kNone);
    EXPECT_EQ(MatchHostname("\xf0\x9f\x98\x9c.example.com", "xn--628h.example.com", mode),
              NameMatch::kNone);
    EXPECT_EQ(MatchHostname("(mail|smtp).example.com", "mail.example.com", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, AcceptsUnderscores) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("_mta-sts.example.com", "_MTA-STS.example.com", mode),
              NameMatch::kExact);
    EXPECT_EQ(MatchHostname("*.my_zone.example", "mail.my_zone.example", mode),
              NameMatch::kWildcard);
    EXPECT_EQ(MatchHostname("*.example.com", "foo_bar.example.com", mode), NameMatch::kWildcard);
  }
}

TEST(AHostnameMatcher, MatchesIpAddressLookingNamesOnlyLiterally) {
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("127.0.0.1", "127.0.0.1", mode), NameMatch::kExact);
    EXPECT_EQ(MatchHostname("*.0.0.1", "127.0.0.1", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.168.1.10", "192.168.1.10", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.2.3.4.5.6", "1.2.3.4.5.6", mode), NameMatch::kNone);
  }
}

TEST(AHostnameMatcher, NeverWildcardMatchesANameEndingInANumericLabel) {
  // No top-level domain is all digits; such a name is an IPv4 literal or a mistake.
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname("*.0.0.1", "a.0.0.1", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.example.123", "mail.example.123", mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*.1example.com", "1.1example.com", mode), NameMatch::kWildcard);
  }
}

TEST(AHostnameMatcher, AcceptsNamesUpToTheLengthLimits) {
  const std::string label63(63, 'a');
  // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 octets.
  const std::string longest = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(longest.size(), 253U);
  for (const WildcardMode mode : kBothModes) {
    SCOPED_TRACE(ModeName(mode));
    EXPECT_EQ(MatchHostname(longest, longest + ".", mode), NameMatch::kExact);
    EXPECT_EQ(MatchHostname("*.example.com", label63 + ".example.com", mode), NameMatch::kWildcard);
    EXPECT_EQ(MatchHostname("x" + longest, "x" + longest, mode), NameMatch::kNone);
    EXPECT_EQ(MatchHostname("*." + label63 + "a.com", "a." + label63 + "a.com", mode),
              NameMatch::kNone);
  }
}

TEST(AHostnameValidator, AcceptsLdhLabelsWithUnderscoresAndAnOptionalTrailingDot) {
  EXPECT_TRUE(IsValidHostname("mail.example.com"));
  EXPECT_TRUE(IsValidHostname("mail.example.com."));
  EXPECT_TRUE(IsValidHostname("localhost"));
  EXPECT_TRUE(IsValidHostname("MX-1.Example.COM"));
  EXPECT_TRUE(IsValidHostname("_dmarc.example.com"));
  EXPECT_TRUE(IsValidHostname("xn--rger-koa.example.com"));
  EXPECT_TRUE(IsValidHostname("127.0.0.1"));
  EXPECT_TRUE(IsValidHostname(std::string(63, 'a') + ".com"));
}

TEST(AHostnameValidator, RejectsWhatIsNotAHostName) {
  using namespace std::string_view_literals;
  EXPECT_FALSE(IsValidHostname(""));
  EXPECT_FALSE(IsValidHostname("."));
  EXPECT_FALSE(IsValidHostname(".example.com"));
  EXPECT_FALSE(IsValidHostname("mail..example.com"));
  EXPECT_FALSE(IsValidHostname("mail.example.com.."));
  EXPECT_FALSE(IsValidHostname("*.example.com"));
  EXPECT_FALSE(IsValidHostname("mail example.com"));
  EXPECT_FALSE(IsValidHostname("mail.example.com\0"sv));
  EXPECT_FALSE(IsValidHostname("m\xc3\xa4il.example.com"));
  EXPECT_FALSE(IsValidHostname("-mail.example.com"));
  EXPECT_FALSE(IsValidHostname("mail-.example.com"));
  EXPECT_FALSE(IsValidHostname("mail.example.com:25"));
  EXPECT_FALSE(IsValidHostname(std::string(64, 'a') + ".com"));
}

TEST(AHostnameValidator, LimitsANameTo253OctetsBesidesTheTrailingDot) {
  const std::string label63(63, 'a');
  const std::string longest = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  EXPECT_TRUE(IsValidHostname(longest));
  EXPECT_TRUE(IsValidHostname(longest + "."));
  EXPECT_FALSE(IsValidHostname(longest + "b"));
}

TEST(AHostnameNormalizer, LowercasesAndDropsTheTrailingDot) {
  EXPECT_EQ(NormalizeHostname("Mail.EXAMPLE.com."), "mail.example.com");
  EXPECT_EQ(NormalizeHostname("mail.example.com"), "mail.example.com");
  EXPECT_EQ(NormalizeHostname("_DMARC.Example.COM"), "_dmarc.example.com");
  EXPECT_EQ(NormalizeHostname(""), "");
}

// --- Part 2: upstream test vectors -----------------------------------------------------------

struct CorpusRow {
  int line = 0;
  std::string source;
  std::string pattern_field;   // as written in the file, for messages
  std::string hostname_field;  // as written in the file, for messages
  std::string hostname;        // \xHH escapes decoded
  bool expected = false;
  std::string note;
  // The certificate's entries, decoded: kind ("dns", "cn", "ip", ...) and value.
  std::vector<std::pair<std::string, std::string>> entries;
};

std::vector<std::string_view> Split(std::string_view text, std::string_view separator) {
  std::vector<std::string_view> parts;
  while (true) {
    const std::size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) {
      return parts;
    }
    text.remove_prefix(at + separator.size());
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// The file writes bytes that are not text as \xHH and has no other backslash.
std::string Unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x' &&
        HexDigit(text[i + 2]) >= 0 && HexDigit(text[i + 3]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(text[i + 2]) * 16 + HexDigit(text[i + 3])));
      i += 3;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::vector<CorpusRow> ReadCorpus(const std::string& path, std::vector<std::string>* errors) {
  std::ifstream in(path);
  if (!in) {
    errors->push_back("cannot open " + path);
    return {};
  }
  std::vector<CorpusRow> rows;
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') {
      text.pop_back();
    }
    if (line == 1 || text.empty()) {
      continue;  // the header
    }
    const std::vector<std::string_view> fields = Split(text, "\t");
    if (fields.size() != 5 || (fields[3] != "0" && fields[3] != "1")) {
      errors->push_back("line " + std::to_string(line) + ": not 5 fields with expected 0/1");
      continue;
    }
    CorpusRow row;
    row.line = line;
    row.source = fields[0];
    row.pattern_field = fields[1];
    row.hostname_field = fields[2];
    row.hostname = Unescape(fields[2]);
    row.expected = fields[3] == "1";
    row.note = fields[4];
    for (const std::string_view entry : Split(fields[1], " ; ")) {
      const std::size_t colon = entry.find(':');
      if (colon == std::string_view::npos) {
        errors->push_back("line " + std::to_string(line) + ": entry without a kind");
        continue;
      }
      row.entries.emplace_back(std::string(entry.substr(0, colon)),
                               Unescape(entry.substr(colon + 1)));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

bool HasEntry(const CorpusRow& row, std::string_view kind) {
  return std::ranges::any_of(row.entries, [&](const auto& entry) { return entry.first == kind; });
}

// docs/selection.md, rule 2: the SAN DNS names, or the subject CNs only when there is no SAN DNS
// name.
std::vector<std::string> CertificateNames(const CorpusRow& row) {
  const std::string_view kind = HasEntry(row, "dns") ? "dns" : "cn";
  std::vector<std::string> names;
  for (const auto& [entry_kind, value] : row.entries) {
    if (entry_kind == kind) {
      names.push_back(value);
    }
  }
  return names;
}

bool NamesFromCommonName(const CorpusRow& row) {
  return !HasEntry(row, "dns") && HasEntry(row, "cn");
}

bool AnyName(const CorpusRow& row, bool (*predicate)(std::string_view)) {
  return std::ranges::any_of(CertificateNames(row),
                             [&](const std::string& name) { return predicate(name); });
}

std::string_view FirstLabel(std::string_view name) { return name.substr(0, name.find('.')); }

// The part a leading "*." stands over, or empty when `name` does not start with "*.".
std::string_view WildcardBase(std::string_view name) {
  if (name.ends_with('.')) {
    name.remove_suffix(1);
  }
  return name.starts_with("*.") ? name.substr(2) : std::string_view{};
}

std::string AsciiLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return lower;
}

bool IsLdhByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Written here rather than with IsValidHostname so the filter does not depend on the code under
// test: only LDH bytes and underscores, no empty label (bar one trailing dot), labels ≤ 63 octets.
bool HasHostNameSyntax(std::string_view name) {
  if (name.ends_with('.')) {
    name.remove_suffix(1);
  }
  if (name.empty()) {
    return false;
  }
  return std::ranges::all_of(Split(name, "."), [](std::string_view label) {
    return !label.empty() && label.size() <= 63 && std::ranges::all_of(label, IsLdhByte);
  });
}

// A rule of an upstream source that our rule (docs/selection.md, rule 2) does not have. `applies`
// says whether a row's expected verdict may come from that rule.
struct ExclusionRule {
  std::string_view name;
  bool (*applies)(const CorpusRow&);
};

// The multi-label public suffixes the corpus puts under a wildcard (ICANN "co.uk", "com.br";
// PSL-private "s3.amazonaws.com").
constexpr std::string_view kPublicSuffixesInCorpus[] = {"co.uk", "com.br", "s3.amazonaws.com"};

// x509-limbo and Chromium refuse a wildcard over a public suffix ("*.co.uk"); we have no
// public-suffix list, so for us "*.co.uk" is an ordinary wildcard over two labels (as for
// webpki). A list only ever removes matches, and over a single label ("*.com") our own
// two-label rule already says no, so only no-match rows over a multi-label suffix are skipped.
const ExclusionRule kPublicSuffixList{
    "public-suffix list", [](const CorpusRow& row) {
      return !row.expected && AnyName(row, [](std::string_view name) {
        const std::string base = AsciiLower(WildcardBase(name));
        return std::ranges::find(kPublicSuffixesInCorpus, base) !=
               std::end(kPublicSuffixesInCorpus);
      });
    }};

// x509-limbo (Web PKI) and Go ≥ 1.15 never use the subject CN; we use it when the certificate
// has no SAN DNS name.
const ExclusionRule kNoCommonNameFallback{"no CN fallback", [](const CorpusRow& row) {
                                            return !row.expected && NamesFromCommonName(row);
                                          }};

// BoringSSL falls back to the CN only when there is no SAN extension at all, so an email, IP,
// otherName or undecodable SAN disables it; we only ask for the absence of SAN DNS names.
const ExclusionRule kCommonNameFallbackBlockedByOtherSans{
    "CN fallback blocked by a non-DNS SAN", [](const CorpusRow& row) {
      return !row.expected && NamesFromCommonName(row) &&
             (HasEntry(row, "ip") || HasEntry(row, "email") || HasEntry(row, "other") ||
              HasEntry(row, "sanext"));
    }};

// x509-limbo rejects '_' in dNSName (RFC 5280 preferred-name syntax); we allow underscores.
const ExclusionRule kUnderscoreRejected{"underscore rejected", [](const CorpusRow& row) {
                                          return !row.expected &&
                                                 (row.hostname.find('_') != std::string::npos ||
                                                  AnyName(row, [](std::string_view name) {
                                                    return name.find('_') != std::string_view::npos;
                                                  }));
                                        }};

// Go has no minimum label count, so "*.com" matches "example.com"; we need two labels.
const ExclusionRule kWildcardOverOneLabel{
    "wildcard over a single label", [](const CorpusRow& row) {
      return row.expected && AnyName(row, [](std::string_view name) {
               const std::string_view base = WildcardBase(name);
               return !base.empty() && base.find('.') == std::string_view::npos;
             });
    }};

// webpki never matches a certificate name ending in '.', and Go matches one only against a
// reference that ends in '.' too; we ignore a trailing dot on both sides.
const ExclusionRule kAbsoluteCertificateName{
    "certificate name with a trailing dot", [](const CorpusRow& row) {
      return !row.expected &&
             AnyName(row, [](std::string_view name) { return name.ends_with('.'); });
    }};

// OpenSSL reads a reference name starting with '.' as "any subdomain of this"; for us it is not
// a host name.
const ExclusionRule kLeadingDotSubdomainSyntax{
    "leading-dot reference syntax",
    [](const CorpusRow& row) { return row.expected && row.hostname.starts_with('.'); }};

// OpenSSL lets a '*' be part of the left-most label ("*www.example.com") and match the empty
// string; we never match a partial wildcard.
const ExclusionRule kPartialWildcard{
    "partial wildcard", [](const CorpusRow& row) {
      return row.expected && AnyName(row, [](std::string_view name) {
               const std::string_view label = FirstLabel(name);
               return label != "*" && label.find('*') != std::string_view::npos;
             });
    }};

// X509_CHECK_FLAG_NO_WILDCARDS turns wildcards off; we have no such mode.
const ExclusionRule kWildcardsDisabled{"X509_CHECK_FLAG_NO_WILDCARDS", [](const CorpusRow& row) {
                                         return !row.expected &&
                                                row.note.find("NO_WILDCARDS") != std::string::npos;
                                       }};

// curl compares bytes without checking host-name syntax, Go compares exact names without it,
// CPython matched a name with a NUL byte, OpenSSL lets a literal '*' in a reference name match;
// We never match a reference that is not a host name. Skipping a check only adds matches.
const ExclusionRule kUncheckedReferenceSyntax{
    "reference name not checked for syntax",
    [](const CorpusRow& row) { return row.expected && !HasHostNameSyntax(row.hostname); }};

// Chromium reads a host whose last label is numeric as an IPv4 literal and refuses a malformed
// one ("1.2.3.4.5") even against the identical name; we compare IP-looking names literally
// (and already refuse to wildcard-match them, so rows with a wildcard name stay).
const ExclusionRule kIpv4LiteralCanonicalization{
    "IPv4-literal canonicalization", [](const CorpusRow& row) {
      const std::string_view host = row.hostname;
      const std::string_view last = host.substr(host.rfind('.') + 1);
      const bool numeric =
          !last.empty() && std::ranges::all_of(last, [](char c) { return c >= '0' && c <= '9'; });
      return !row.expected && numeric &&
             !AnyName(row, [](std::string_view name) { return !WildcardBase(name).empty(); });
    }};

// The sources whose rows are checked, each with its rules that ours do not share. A source
// missing here is skipped whole.
const std::map<std::string_view, std::vector<const ExclusionRule*>> kAcceptedSources = {
    {"x509-limbo", {&kPublicSuffixList, &kNoCommonNameFallback, &kUnderscoreRejected}},
    {"go-crypto-x509",
     {&kNoCommonNameFallback, &kWildcardOverOneLabel, &kAbsoluteCertificateName,
      &kUncheckedReferenceSyntax}},
    {"cpython-ssl", {&kUncheckedReferenceSyntax}},
    {"openssl-v3nametest",
     {&kLeadingDotSubdomainSyntax, &kPartialWildcard, &kWildcardsDisabled,
      &kUncheckedReferenceSyntax}},
    {"curl-hostcheck", {&kUncheckedReferenceSyntax}},
    {"rustls-webpki", {&kAbsoluteCertificateName}},
    {"chromium-net", {&kPublicSuffixList, &kIpv4LiteralCanonicalization}},
    {"boringssl-x509", {&kCommonNameFallbackBlockedByOtherSans, &kWildcardsDisabled}},
};

struct SourceTally {
  int checked = 0;
  int skipped = 0;
  std::map<std::string_view, int> skipped_by;
};

TEST(AHostnameMatcher, AgreesWithTheUpstreamVectorsThatFollowTheSpec) {
  const std::string path = std::string(TRANSPORTCERTD_SHARED_DIR) + "/corpus/hostname-cases.tsv";
  std::vector<std::string> errors;
  const std::vector<CorpusRow> rows = ReadCorpus(path, &errors);
  ASSERT_TRUE(errors.empty()) << errors.front();

  std::map<std::string, SourceTally> tally;
  std::vector<std::string> mismatches;
  int checked = 0;
  for (const CorpusRow& row : rows) {
    SourceTally& source = tally[row.source];
    const auto accepted = kAcceptedSources.find(row.source);
    if (accepted == kAcceptedSources.end()) {
      ++source.skipped;
      ++source.skipped_by["source not accepted"];
      continue;
    }
    const auto rule = std::ranges::find_if(accepted->second,
                                           [&](const ExclusionRule* r) { return r->applies(row); });
    if (rule != accepted->second.end()) {
      ++source.skipped;
      ++source.skipped_by[(*rule)->name];
      continue;
    }

    bool matched = false;
    for (const std::string& name : CertificateNames(row)) {
      matched =
          matched || MatchHostname(name, row.hostname, WildcardMode::kOneLevel) != NameMatch::kNone;
    }
    ++source.checked;
    ++checked;
    if (matched != row.expected) {
      mismatches.push_back("line " + std::to_string(row.line) + " [" + row.source + "] " +
                           row.pattern_field + " vs \"" + row.hostname_field + "\": expected " +
                           (row.expected ? "match" : "no match") + ", got " +
                           (matched ? "match" : "no match") + " (" + row.note + ")");
    }
  }

  std::ostringstream report;
  report << "hostname-cases.tsv, one-level mode: " << checked << " of " << rows.size()
         << " rows checked\n";
  for (const auto& [source, counts] : tally) {
    report << "  " << source << ": " << counts.checked << " used, " << counts.skipped << " skipped";
    for (const auto& [why, count] : counts.skipped_by) {
      report << "; " << count << " " << why;
    }
    report << "\n";
  }
  std::cout << report.str();

  std::string list;
  for (const std::string& mismatch : mismatches) {
    list += "\n  " + mismatch;
  }
  EXPECT_TRUE(mismatches.empty()) << mismatches.size() << " rows disagree:" << list;
  ASSERT_GT(checked, 150) << "too few rows checked for the test to mean anything";
}

}  // namespace
}  // namespace transportcertd
