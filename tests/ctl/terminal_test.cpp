#include "ctl/terminal.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace transportcertctl {
namespace {

// The environment of one test.
std::map<std::string, std::string> environment;

const char* FakeEnv(const char* name) {
  const auto found = environment.find(name);
  return found == environment.end() ? nullptr : found->second.c_str();
}

class TheTerminal : public ::testing::Test {
 protected:
  void SetUp() override { environment = {{"TERM", "xterm-256color"}}; }
};

TEST_F(TheTerminal, GetsColourOnlyWhenOutputIsATerminal) {
  EXPECT_TRUE(ColourWanted(true, FakeEnv));
  EXPECT_FALSE(ColourWanted(false, FakeEnv));
}

TEST_F(TheTerminal, GetsNoColourWithNoColorOrSystemdColorsOff) {
  environment["NO_COLOR"] = "1";
  EXPECT_FALSE(ColourWanted(true, FakeEnv));
  environment["NO_COLOR"] = "";  // empty means unset (no-color.org)
  EXPECT_TRUE(ColourWanted(true, FakeEnv));
  environment["SYSTEMD_COLORS"] = "0";
  EXPECT_FALSE(ColourWanted(true, FakeEnv));
  environment["SYSTEMD_COLORS"] = "false";
  EXPECT_FALSE(ColourWanted(true, FakeEnv));
  environment["SYSTEMD_COLORS"] = "256";
  EXPECT_TRUE(ColourWanted(true, FakeEnv));
  environment["SYSTEMD_COLORS"] = "1";
  EXPECT_FALSE(ColourWanted(false, FakeEnv));
}

TEST_F(TheTerminal, GetsNoColourWhenDumb) {
  environment["TERM"] = "dumb";
  EXPECT_FALSE(ColourWanted(true, FakeEnv));
}

TEST_F(TheTerminal, PagesWithLessUnlessToldOtherwise) {
  EXPECT_EQ(PagerCommand(true, true, FakeEnv), "less");
  EXPECT_EQ(PagerCommand(false, true, FakeEnv), "");
  EXPECT_EQ(PagerCommand(true, false, FakeEnv), "");
  environment["PAGER"] = "most -s";
  EXPECT_EQ(PagerCommand(true, true, FakeEnv), "most -s");
  environment["SYSTEMD_PAGER"] = "pg";
  EXPECT_EQ(PagerCommand(true, true, FakeEnv), "pg");
  environment["SYSTEMD_PAGER"] = "cat";
  EXPECT_EQ(PagerCommand(true, true, FakeEnv), "");
  environment["SYSTEMD_PAGER"] = "";
  EXPECT_EQ(PagerCommand(true, true, FakeEnv), "");
}

}  // namespace
}  // namespace transportcertctl
