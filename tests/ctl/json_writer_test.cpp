#include "ctl/json_writer.h"

#include <gtest/gtest.h>

#include <string>

namespace transportcertctl {
namespace {

TEST(JsonQuote, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(JsonQuote(std::string("a\0b", 3)), "\"a\\u0000b\"");
  EXPECT_EQ(JsonQuote("</script>"), "\"</script>\"");
}

TEST(JsonQuote, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonQuote("7FD7482A\u2026 caf\u00e9 \U0001F512"),
            "\"7FD7482A\u2026 caf\u00e9 \U0001F512\"");
  EXPECT_EQ(JsonQuote("a\xff"
                      "b"),
            "\"a\\ufffdb\"");
  EXPECT_EQ(JsonQuote("\xc3"), "\"\\ufffd\"");                                   // truncated
  EXPECT_EQ(JsonQuote("\xc0\xaf"), "\"\\ufffd\\ufffd\"");                        // overlong '/'
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");             // a surrogate
  EXPECT_EQ(JsonQuote("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
}

TEST(AJsonWriter, WritesShortDocumentsOnOneLine) {
  JsonWriter json(JsonStyle::kShort);
  json.BeginObject()
      .Key("thumbprint")
      .String("7FD7")
      .Key("names")
      .Strings({"a", "b"})
      .Key("days")
      .Number(-3)
      .Key("count")
      .Unsigned(4)
      .Key("ok")
      .Bool(true)
      .Key("none")
      .Null()
      .Key("empty")
      .BeginArray()
      .EndArray()
      .Key("nested")
      .BeginObject()
      .EndObject()
      .EndObject();
  EXPECT_EQ(json.str(),
            "{\"thumbprint\":\"7FD7\",\"names\":[\"a\",\"b\"],\"days\":-3,\"count\":4,\"ok\":true,"
            "\"none\":null,\"empty\":[],\"nested\":{}}\n");
}

TEST(AJsonWriter, IndentsPrettyDocumentsWithTabs) {
  JsonWriter json(JsonStyle::kPretty);
  json.BeginArray();
  json.BeginObject().Key("a").Number(1).Key("b").Strings({"x"}).EndObject();
  json.EndArray();
  EXPECT_EQ(json.str(), "[\n\t{\n\t\t\"a\" : 1,\n\t\t\"b\" : [\n\t\t\t\"x\"\n\t\t]\n\t}\n]\n");
}

TEST(AJsonWriter, WritesAnEmptyArray) {
  JsonWriter json(JsonStyle::kPretty);
  json.BeginArray().EndArray();
  EXPECT_EQ(json.str(), "[]\n");
}

TEST(AJsonWriter, EscapesKeysToo) {
  JsonWriter json(JsonStyle::kShort);
  json.BeginObject().Key("a\"b").String("c").EndObject();
  EXPECT_EQ(json.str(), "{\"a\\\"b\":\"c\"}\n");
}

}  // namespace
}  // namespace transportcertctl
