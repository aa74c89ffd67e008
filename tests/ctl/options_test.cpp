#include "ctl/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace transportcertctl {
namespace {

Options Parse(const std::vector<std::string>& arguments) { return ParseCommandLine(arguments); }

TEST(TheCommandLine, DefaultsToStatusOnTheSystemBus) {
  const Options options = Parse({});
  EXPECT_EQ(options.command, "status");
  EXPECT_EQ(options.bus, BusKind::kSystem);
  EXPECT_FALSE(options.json.has_value());
  EXPECT_TRUE(options.legend);
  EXPECT_TRUE(options.pager);
}

TEST(TheCommandLine, TakesGlobalOptionsBeforeOrAfterTheCommand) {
  const Options options =
      Parse({"--bus=session", "list", "--no-legend", "--json=short", "--no-pager"});
  EXPECT_EQ(options.command, "list");
  EXPECT_EQ(options.bus, BusKind::kSession);
  EXPECT_EQ(options.json, JsonStyle::kShort);
  EXPECT_FALSE(options.legend);
  EXPECT_FALSE(options.pager);
  EXPECT_EQ(Parse({"--bus", "session"}).bus, BusKind::kSession);
  EXPECT_EQ(Parse({"--json=pretty", "list"}).json, JsonStyle::kPretty);
}

TEST(TheCommandLine, TakesAHostInEveryForm) {
  EXPECT_EQ(Parse({"-H", "root@mx1", "list"}).host, "root@mx1");
  EXPECT_EQ(Parse({"-Hmx1"}).host, "mx1");
  EXPECT_EQ(Parse({"--host=mx1"}).host, "mx1");
}

TEST(TheCommandLine, KeepsALoneDashAsAnArgument) {
  const Options options = Parse({"import", "cert.pem", "-", "--services", "SMTP,imap"});
  EXPECT_EQ(options.args, (std::vector<std::string>{"cert.pem", "-"}));
  EXPECT_EQ(options.services, (std::vector<std::string>{"SMTP", "imap"}));
}

TEST(TheCommandLine, EndsOptionsAtDoubleDash) {
  EXPECT_EQ(Parse({"new-self-signed", "--", "--odd"}).args, std::vector<std::string>{"--odd"});
}

TEST(TheCommandLine, TakesEnableWithOnlyTheInternalTransportFlag) {
  const Options options = Parse({"enable", "7FD748", "--internal-transport"});
  EXPECT_TRUE(options.internal_transport);
  EXPECT_EQ(options.args, std::vector<std::string>{"7FD748"});
  EXPECT_EQ(Parse({"enable", "7FD748", "IMAP", "POP"}).args.size(), 3u);
}

TEST(TheCommandLine, RefusesWhatCannotRun) {
  const std::vector<std::vector<std::string>> bad = {
      {"frobnicate"},
      {"--bogus"},
      {"--bus=tcp"},
      {"--bus"},
      {"--json"},
      {"--json=long"},
      {"show"},
      {"show", "A", "B"},
      {"select"},
      {"select", "a", "SMTP", "x"},
      {"enable", "7FD748"},
      {"disable", "7FD748"},
      {"import"},
      {"remove"},
      {"renew", "x"},
      {"reload", "x"},
      {"tlsa", "a", "b"},
      {"list", "--internal-transport"},
      {"list", "--services=SMTP"},
      {"-H", "mx1", "--bus=session"},
  };
  for (const auto& arguments : bad) {
    std::string joined;
    for (const auto& a : arguments) joined += a + " ";
    EXPECT_THROW(Parse(arguments), UsageError) << joined;
  }
}

TEST(TheCommandLine, SaysWhatIsWrong) {
  try {
    Parse({"show"});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "too few arguments; usage: transportcertctl show CERT");
  }
}

TEST(TheCommandLine, AnswersHelpAndVersionWhateverElseIsThere) {
  EXPECT_TRUE(Parse({"frobnicate", "--help"}).help);
  EXPECT_TRUE(Parse({"-h"}).help);
  EXPECT_TRUE(Parse({"--version"}).version);
  EXPECT_NE(UsageText().find("tlsa [NAME]"), std::string::npos);
}

}  // namespace
}  // namespace transportcertctl
