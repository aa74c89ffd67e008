#include "ctl/format.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace transportcertctl {
namespace {

const std::vector<std::string> kThumbprints = {
    "3BA4C1D2E5F60718293A4B5C6D7E8F9012345678",
    "3BA4C1FF00112233445566778899AABBCCDDEEFF",
    "7FD7482A8F2FE2A563A154C9B9F33B66E198F0A1",
};

constexpr std::uint64_t kSecond = 1000000;
constexpr std::uint64_t kDay = 86400 * kSecond;
// 2026-11-30 12:00:00 UTC
constexpr std::uint64_t kNow = std::uint64_t{1796040000} * kSecond;

TEST(APrefix, OfSixOrMoreDigitsNamesTheOneCertificateItStarts) {
  const PrefixMatch match = ResolvePrefix("7FD748", kThumbprints);
  EXPECT_EQ(match.kind, PrefixMatch::Kind::kUnique);
  EXPECT_EQ(match.matches, std::vector<std::string>{kThumbprints[2]});
}

TEST(APrefix, IsMatchedInAnyCase) {
  const PrefixMatch match = ResolvePrefix("7fd7482a8f2f", kThumbprints);
  EXPECT_EQ(match.kind, PrefixMatch::Kind::kUnique);
  EXPECT_EQ(match.prefix, "7FD7482A8F2F");
  EXPECT_EQ(match.matches.front(), kThumbprints[2]);
}

TEST(APrefix, ThatStartsSeveralThumbprintsIsAmbiguousAndListsThemAll) {
  const PrefixMatch match = ResolvePrefix("3ba4c1", kThumbprints);
  EXPECT_EQ(match.kind, PrefixMatch::Kind::kAmbiguous);
  EXPECT_EQ(match.matches, (std::vector<std::string>{kThumbprints[0], kThumbprints[1]}));
  // One more digit tells them apart.
  EXPECT_EQ(ResolvePrefix("3BA4C1D", kThumbprints).kind, PrefixMatch::Kind::kUnique);
}

TEST(APrefix, ThatStartsNothingMatchesNone) {
  EXPECT_EQ(ResolvePrefix("000000", kThumbprints).kind, PrefixMatch::Kind::kNone);
  EXPECT_EQ(ResolvePrefix("000000", {}).kind, PrefixMatch::Kind::kNone);
}

TEST(APrefix, IsInvalidWhenShorterThanSixLongerThanFortyOrNotHex) {
  for (const std::string bad : {"", "3BA4C", "3BA4C1G", "3BA4 C1", "-3BA4C1", "3B:A4:C1",
                                "3BA4C1D2E5F60718293A4B5C6D7E8F90123456780"}) {
    EXPECT_EQ(ResolvePrefix(bad, kThumbprints).kind, PrefixMatch::Kind::kInvalid) << bad;
  }
}

TEST(AFullThumbprint, IsItsOwnPrefix) {
  EXPECT_EQ(ResolvePrefix(kThumbprints[0], kThumbprints).matches,
            std::vector<std::string>{kThumbprints[0]});
}

TEST(Dates, AreShownInUtc) {
  EXPECT_EQ(UtcDate(kNow), "2026-11-30");
  EXPECT_EQ(UtcDateTime(kNow + 5 * kSecond), "2026-11-30 12:00:05 UTC");
  EXPECT_EQ(IsoTime(kNow + 5 * kSecond), "2026-11-30T12:00:05Z");
  EXPECT_EQ(IsoTime(0), "1970-01-01T00:00:00Z");
}

TEST(DaysLeft, CountsWholeDaysFromNow) {
  EXPECT_EQ(DaysLeft(kNow + 30 * kDay, kNow), 30);
  EXPECT_EQ(DaysLeft(kNow + 30 * kDay - 1, kNow), 29);
  EXPECT_EQ(DaysLeft(kNow + kDay - 1, kNow), 0);
  EXPECT_EQ(DaysLeft(kNow, kNow), 0);
}

TEST(DaysLeft, IsNegativeFromTheMomentItHasPassed) {
  EXPECT_EQ(DaysLeft(kNow - 1, kNow), -1);
  EXPECT_EQ(DaysLeft(kNow - kDay, kNow), -1);
  EXPECT_EQ(DaysLeft(kNow - kDay - 1, kNow), -2);
  EXPECT_EQ(DaysLeft(0, kNow), -static_cast<std::int64_t>(kNow / kDay) - 1);
}

TEST(DaysPhrase, SaysHowFarAheadOrBackInWords) {
  EXPECT_EQ(DaysPhrase(kNow + 3 * kDay, kNow), "in 3 days");
  EXPECT_EQ(DaysPhrase(kNow + kDay + 5, kNow), "in 1 day");
  EXPECT_EQ(DaysPhrase(kNow + 60 * kSecond, kNow), "in less than a day");
  EXPECT_EQ(DaysPhrase(kNow - 60 * kSecond, kNow), "less than a day ago");
  EXPECT_EQ(DaysPhrase(kNow - kDay, kNow), "1 day ago");
  EXPECT_EQ(DaysPhrase(kNow - 12 * kDay - 5, kNow), "12 days ago");
}

TEST(ShortForms, ForTheListColumns) {
  EXPECT_EQ(ShortThumbprint(kThumbprints[2]), "7FD7482A8F2F");
  EXPECT_EQ(ShortThumbprint("ABC"), "ABC");
  EXPECT_EQ(NamesSummary({}), "-");
  EXPECT_EQ(NamesSummary({"mail.example.com"}), "mail.example.com");
  EXPECT_EQ(NamesSummary({"mail.example.com", "a.example.com", "b.example.com"}),
            "mail.example.com +2");
  EXPECT_EQ(JoinOrDash({}), "-");
  EXPECT_EQ(JoinOrDash({"SMTP", "IMAP"}), "SMTP,IMAP");
  EXPECT_EQ(Flags(true, true, true), "ISK");
  EXPECT_EQ(Flags(false, false, true), "--K");
  EXPECT_EQ(Flags(false, true, false), "-S-");
}

TEST(OneLine, TurnsControlCharactersIntoSpacesAndKeepsUtf8) {
  EXPECT_EQ(OneLine("a\nb\tc\x1b[31md\x7f"), "a b c [31md ");
  EXPECT_EQ(OneLine("outranked by 7FD7482A\u2026: CA-issued"),
            "outranked by 7FD7482A\u2026: CA-issued");
  EXPECT_EQ(OneLine("x\xc2\x9b"
                    "31my"),
            "x 31my");  // U+009B, the one-byte CSI
  EXPECT_EQ(OneLine("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(SplitCommas, DropsEmptyPieces) {
  EXPECT_EQ(SplitCommas("SMTP,IMAP"), (std::vector<std::string>{"SMTP", "IMAP"}));
  EXPECT_EQ(SplitCommas(",SMTP,,"), std::vector<std::string>{"SMTP"});
  EXPECT_TRUE(SplitCommas("").empty());
}

}  // namespace
}  // namespace transportcertctl
