#include "ipc/bus_arguments.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace transportcertd {
namespace {

const std::string kThumbprint = "3BA4C1D2E5F60718293A4B5C6D7E8F9012345678";

::testing::AssertionResult IsInvalidArgument(const Error& error, const std::string& part) {
  if (error.code != ErrorCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "not kInvalidArgument: " << error.message;
  }
  if (error.message.find(part) == std::string::npos) {
    return ::testing::AssertionFailure() << "\"" << error.message << "\" lacks \"" << part << "\"";
  }
  return ::testing::AssertionSuccess();
}

TEST(AThumbprintArgument, IsFortyHexDigitsInAnyCaseAndComesBackUppercase) {
  Result<std::string> lower = ParseThumbprintArgument("3ba4c1d2e5f60718293a4b5c6d7e8f9012345678");
  ASSERT_TRUE(lower.ok());
  EXPECT_EQ(*lower, kThumbprint);
  EXPECT_EQ(*ParseThumbprintArgument(kThumbprint), kThumbprint);
}

TEST(AThumbprintArgument, RejectsAnythingElseNamingWhatWasGiven) {
  for (const std::string& bad :
       {std::string(""), std::string("3BA4"), kThumbprint + "0", kThumbprint.substr(0, 39) + "G",
        std::string("../") + kThumbprint.substr(3), std::string("3B:A4:C1:D2:E5:F6:07:18:29:3A"),
        kThumbprint.substr(0, 20) + " " + kThumbprint.substr(21)}) {
    Result<std::string> parsed = ParseThumbprintArgument(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(IsInvalidArgument(parsed.error(), "not a thumbprint")) << bad;
  }
}

TEST(AThumbprintArgument, NeverEchoesMoreThanAShortPrintableExcerpt) {
  const std::string huge(std::size_t{64} * 1024, 'x');
  Result<std::string> parsed = ParseThumbprintArgument(huge + "\n\x01\xff");
  ASSERT_FALSE(parsed.ok());
  EXPECT_LT(parsed.error().message.size(), 200U);
  EXPECT_NE(parsed.error().message.find("..."), std::string::npos);

  Result<std::string> control = ParseThumbprintArgument("a\nb\x1b[31m");
  ASSERT_FALSE(control.ok());
  EXPECT_EQ(control.error().message.find('\n'), std::string::npos);
  EXPECT_EQ(control.error().message.find('\x1b'), std::string::npos);
}

TEST(AHostnameArgument, IsNormalized) {
  EXPECT_EQ(*ParseHostnameArgument("Mail.Example.COM."), "mail.example.com");
}

TEST(AHostnameArgument, RejectsWildcardsBadLabelsAndOverlongNames) {
  std::string long_name;
  while (long_name.size() < 254) long_name += "abcdefghi.";
  long_name.pop_back();  // 259 octets of valid labels
  for (const std::string& bad :
       {std::string(""), std::string("*.example.com"), std::string("mail..example.com"),
        std::string("-mail.example.com"), std::string("mail example.com"),
        std::string("../etc/passwd"), long_name}) {
    Result<std::string> parsed = ParseHostnameArgument(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(IsInvalidArgument(parsed.error(), "not a valid host name")) << bad;
  }
}

TEST(AHostnameArgument, RejectsUnicodeThatLooksLikeAName) {
  for (const std::string& bad :
       {std::string("ma\u200Dil.example.com"), std::string("\u200Fmail.example.com"),
        std::string("\U0001F61C.example.com"), std::string("e\u0301xample.com"),
        std::string("mail\uFF0Eexample\uFF0Ecom"), std::string("mail\u3002example\u3002com"),
        std::string("xn--.example.com"), std::string("xn--\U0001F61C.example.com")}) {
    Result<std::string> parsed = ParseHostnameArgument(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(IsInvalidArgument(parsed.error(), "not a valid host name")) << bad;
    const std::string quoted = QuoteForMessage(bad);
    EXPECT_TRUE(
        std::all_of(quoted.begin(), quoted.end(), [](char c) { return c >= 0x20 && c < 0x7F; }))
        << "only printable ASCII is echoed: " << quoted;
  }
  // An A-label is plain LDH: a name certificates carry, so it is accepted as it is.
  EXPECT_EQ(*ParseHostnameArgument("xn--ls8h.Example.com"), "xn--ls8h.example.com");
}

TEST(AServiceArgument, IsOneOfTheFourInAnyCase) {
  EXPECT_EQ(*ParseServiceArgument("smtp"), Service::kSmtp);
  EXPECT_EQ(*ParseServiceArgument("IMAP"), Service::kImap);
  EXPECT_EQ(*ParseServiceArgument("Pop"), Service::kPop);
  EXPECT_EQ(*ParseServiceArgument("HTTP"), Service::kHttp);
  Result<Service> ftp = ParseServiceArgument("FTP");
  ASSERT_FALSE(ftp.ok());
  EXPECT_TRUE(IsInvalidArgument(ftp.error(), "unknown service \"FTP\" (expected SMTP, IMAP"));
}

TEST(AServiceArgument, RejectsLookalikesOfTheFourNames) {
  for (const std::string& bad :
       {std::string(""), std::string("\uFF33\uFF2D\uFF34\uFF30"), std::string("SMTP\u200D"),
        std::string("\uFEFFSMTP"), std::string("S\u0301MTP"), std::string("SMTP "),
        std::string(" smtp"), std::string("SMTP,IMAP"), std::string(std::size_t{64} * 1024, 'S')}) {
    Result<Service> parsed = ParseServiceArgument(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(IsInvalidArgument(parsed.error(), "unknown service")) << bad;
    EXPECT_LT(parsed.error().message.size(), 200U);
  }
}

TEST(AServiceListArgument, BecomesASetAndRejectsUnknownNamesAndLongLists) {
  EXPECT_EQ(*ParseServiceListArgument({}), 0U);
  EXPECT_EQ(*ParseServiceListArgument({"SMTP", "imap", "SMTP"}),
            Bit(Service::kSmtp) | Bit(Service::kImap));
  EXPECT_FALSE(ParseServiceListArgument({"SMTP", "XMPP"}).ok());
  EXPECT_TRUE(IsInvalidArgument(
      ParseServiceListArgument(std::vector<std::string>(101, "SMTP")).error(), "too many"));
}

TEST(ANameListArgument, IsNormalizedWithoutDuplicatesAndBounded) {
  Result<std::vector<std::string>> names =
      ParseNameListArgument({"Relay.Example.com", "relay.example.com.", "mx1.example.com"});
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"relay.example.com", "mx1.example.com"}));
  EXPECT_FALSE(ParseNameListArgument({"ok.example.com", "not ok"}).ok());
  EXPECT_TRUE(IsInvalidArgument(
      ParseNameListArgument(std::vector<std::string>(101, "a.example.com")).error(), "too many"));
}

TEST(APemArgument, MayBeUpToOneMebibyte) {
  EXPECT_TRUE(CheckPemArgument(std::string(std::size_t{1024} * 1024, 'A')).ok());
  Status too_big = CheckPemArgument(std::string(std::size_t{1024} * 1024 + 1, 'A'));
  ASSERT_FALSE(too_big.ok());
  EXPECT_TRUE(IsInvalidArgument(too_big.error(), "too long"));
}

TEST(AStringArgument, OverTheLimitIsRejectedWithItsSize) {
  EXPECT_TRUE(CheckArgumentLength("fqdn", std::string(kMaxStringArgumentBytes, 'a'),
                                  kMaxStringArgumentBytes)
                  .ok());
  Status too_long = CheckArgumentLength("fqdn", std::string(kMaxStringArgumentBytes + 1, 'a'),
                                        kMaxStringArgumentBytes);
  ASSERT_FALSE(too_long.ok());
  EXPECT_TRUE(IsInvalidArgument(too_long.error(), "fqdn is too long: 65537 bytes"));
}

TEST(ValidUtf8Text, KeepsValidTextAndReplacesEveryInvalidByte) {
  EXPECT_EQ(ValidUtf8("CN=Müller Straße, O=日本"), "CN=Müller Straße, O=日本");
  EXPECT_EQ(ValidUtf8("a\xff"
                      "b"),
            "a?b");
  EXPECT_EQ(ValidUtf8("\xc3"), "?");                    // truncated sequence
  EXPECT_EQ(ValidUtf8("\xc0\xaf"), "??");               // overlong '/'
  EXPECT_EQ(ValidUtf8("\xed\xa0\x80"), "???");          // UTF-16 surrogate
  EXPECT_EQ(ValidUtf8("\xef\xbf\xbf"), "???");          // U+FFFF
  EXPECT_EQ(ValidUtf8(std::string("a\0b", 3)), "a?b");  // NUL
}

TEST(ValidUtf8Text, IsRecognizedWithoutACopyExactlyWhenValidUtf8WouldKeepIt) {
  for (const std::string& text :
       {std::string(""), std::string("CN=mail.example.com, O=Example"),
        std::string("CN=Müller Straße, O=日本"), std::string(40, 'A'),
        std::string("a\xff"
                    "b"),
        std::string("\xc3"), std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
        std::string("\xef\xbf\xbf"), std::string("a\0b", 3), std::string("0123456789abcdef\0", 17),
        std::string("01234567\x80"
                    "9abcdef")}) {
    EXPECT_EQ(IsValidUtf8(text), ValidUtf8(text) == text) << QuoteForMessage(text);
  }
  EXPECT_TRUE(IsValidUtf8("CN=Müller Straße, O=日本"));
  EXPECT_FALSE(IsValidUtf8(std::string("0123456789abcdef\0", 17)));  // NUL after 8-byte words
}

}  // namespace
}  // namespace transportcertd
