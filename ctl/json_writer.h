// A small JSON writer for transportcertctl's --json output: objects, arrays, strings, numbers,
// booleans and null, written in order as they are added, either compact (--json=short, one line)
// or indented with tabs (--json=pretty, as busctl and systemd's tools indent). Strings are
// escaped as RFC 8259 requires; bytes that are not valid UTF-8 become U+FFFD.
// Not thread-safe; one writer per document.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace transportcertctl {

enum class JsonStyle { kPretty, kShort };

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

class JsonWriter {
 public:
  explicit JsonWriter(JsonStyle style) : style_(style) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Inside an object: the name of the next value.
  JsonWriter& Key(std::string_view name);

  JsonWriter& String(std::string_view text);
  JsonWriter& Strings(const std::vector<std::string>& texts);  // an array of strings
  JsonWriter& Number(std::int64_t value);
  JsonWriter& Unsigned(std::uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // The document so far; complete once every Begin has its End. Ends with a newline when
  // complete.
  std::string str() const;

 private:
  struct Level {
    bool is_object = false;
    bool empty = true;
  };
  void BeforeValue();
  void NewLine();
  JsonWriter& Close(char bracket);

  JsonStyle style_;
  std::string out_;
  std::vector<Level> levels_;
  bool after_key_ = false;
};

}  // namespace transportcertctl
