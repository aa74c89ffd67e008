// Reading method arguments from, and appending values to, sd-bus messages: the small
// conversions every handler needs, with the limits of ipc/bus_arguments.h applied while reading.
// Loop thread only.
#pragma once

#include <systemd/sd-bus.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/bus_arguments.h"
#include "monitor/certificate.h"
#include "monitor/result.h"

namespace transportcertd {

// Reads the next argument, a string called `what` (for messages), of at most `max_bytes`.
Result<std::string> ReadStringArgument(sd_bus_message* message, std::string_view what,
                                       std::size_t max_bytes = kMaxStringArgumentBytes);
// Reads the next argument, an array of strings, of at most kMaxListArgumentEntries entries of
// at most kMaxStringArgumentBytes each.
Result<std::vector<std::string>> ReadStringListArgument(sd_bus_message* message,
                                                        std::string_view what);
Result<bool> ReadBoolArgument(sd_bus_message* message, std::string_view what);

// Appends values to a message, remembering the first failure so that a reply reads as a list of
// fields. Strings are sent as valid UTF-8 (see ValidUtf8); those that already are (nearly all)
// are appended as they are, without a copy.
class MessageWriter {
 public:
  explicit MessageWriter(sd_bus_message* message) : message_(message) {}

  MessageWriter& String(std::string_view text);
  MessageWriter& String(const std::string& text);
  MessageWriter& String(const char* text);
  MessageWriter& Strings(const std::vector<std::string>& texts);  // as
  // `text` is known to be valid UTF-8 (checked when it was stored): appended as it is.
  MessageWriter& ValidString(const char* text);
  MessageWriter& ObjectPath(const std::string& path);
  MessageWriter& ObjectPath(const char* path);
  MessageWriter& Bool(bool value);
  MessageWriter& U32(std::uint32_t value);
  MessageWriter& U64(std::uint64_t value);
  MessageWriter& Open(char type, const char* contents);
  MessageWriter& Close();

  // The first negative sd-bus result, or 0.
  int result() const { return result_; }

 private:
  template <typename Append>
  MessageWriter& Do(Append append) {
    if (result_ >= 0) {
      const int r = append();
      if (r < 0) result_ = r;
    }
    return *this;
  }

  sd_bus_message* message_;
  int result_ = 0;
};

// Appends the next part of an array of `count` elements of `signature` (a big reply written a
// part at a time: ipc/deferred_replies.h). `next` is the next element to append, 0 before the
// first part: the array is opened then. Calls `write_row(out, i)` for each i from `next` on, at
// most `max_rows` (> 0) of them, while nothing failed, advancing `next`; the array is closed
// after the last element. Returns 1 while elements remain, 0 once the array is complete, or the
// first negative sd-bus result.
template <typename WriteRow>
int AppendArrayPart(sd_bus_message* message, const char* signature, std::size_t count,
                    std::size_t& next, std::size_t max_rows, const WriteRow& write_row) {
  MessageWriter out(message);
  if (next == 0) out.Open(SD_BUS_TYPE_ARRAY, signature);
  const std::size_t end = next + std::min(count - next, max_rows);
  for (; next < end && out.result() >= 0; ++next) write_row(out, next);
  if (out.result() < 0) return out.result();
  if (next < count) return 1;
  return out.Close().result();
}

// Seconds since the epoch → the `t` microseconds of docs/dbus-api.md (times before 1970 become 0).
std::uint64_t ToUsec(UnixTime seconds);

}  // namespace transportcertd
