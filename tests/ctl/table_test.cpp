#include "ctl/table.h"

#include <gtest/gtest.h>

#include <string>

namespace transportcertctl {
namespace {

TEST(ATable, PadsEachColumnToItsWidestCellTwoSpacesApart) {
  Table table({"THUMBPRINT", "NAMES", "DAYS", "STATUS"});
  table.AlignRight(2);
  table.AddRow({{"1854D959F869"}, {"mail.example.com +1"}, {"-3"}, {"Expired"}});
  table.AddRow({{"7FD7482A8F2F"}, {"a.example"}, {"1816"}, {"Valid"}});
  EXPECT_EQ(table.Render(true, false),
            "THUMBPRINT    NAMES                DAYS  STATUS\n"
            "1854D959F869  mail.example.com +1    -3  Expired\n"
            "7FD7482A8F2F  a.example            1816  Valid\n");
}

TEST(ATable, WithoutHeaderHasOnlyTheRows) {
  Table table({"A", "LONG HEADER"});
  table.AddRow({{"x"}, {"y"}});
  EXPECT_EQ(table.Render(false, false), "x  y\n");
  EXPECT_EQ(table.rows(), 1u);
}

TEST(ATable, CountsCharactersNotBytes) {
  Table table({"REASON", "X"});
  table.AddRow({{"by 7FD7\u2026"}, {"1"}});
  table.AddRow({{"by 7FD7..."}, {"2"}});
  EXPECT_EQ(table.Render(false, false), "by 7FD7\u2026    1\nby 7FD7...  2\n");
}

TEST(ATable, ColoursCellsOnlyWhenAskedAndKeepsTheAlignment) {
  Table table({"STATUS", "X"});
  table.AddRow({{"Expired", Colour::kRed}, {"1"}});
  table.AddRow({{"Valid"}, {"2"}});
  EXPECT_EQ(table.Render(false, false).find('\x1b'), std::string::npos);
  EXPECT_EQ(table.Render(false, true),
            "\x1b[0;1;31mExpired\x1b[0m  1\n"
            "Valid    2\n");
  EXPECT_EQ(table.Render(true, true).substr(0, 6), "\x1b[0;4m");
}

TEST(ATable, FillsMissingCellsAndDropsExtraOnes) {
  Table table({"A", "B"});
  table.AddRow({{"only"}});
  table.AddRow({{"1"}, {"2"}, {"3"}});
  EXPECT_EQ(table.Render(false, false), "only\n1     2\n");
}

TEST(Colourize, WrapsInEscapesOnlyWhenEnabled) {
  EXPECT_EQ(Colourize("x", Colour::kYellow, false), "x");
  EXPECT_EQ(Colourize("x", Colour::kNone, true), "x");
  EXPECT_EQ(Colourize("x", Colour::kYellow, true), "\x1b[0;1;33mx\x1b[0m");
}

}  // namespace
}  // namespace transportcertctl
