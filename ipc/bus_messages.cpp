#include "ipc/bus_messages.h"

#include <cstring>

namespace transportcertd {
namespace {

Error CannotRead(std::string_view what, int r) {
  return Error{"cannot read argument " + std::string(what) + ": " + std::strerror(-r),
               ErrorCode::kInvalidArgument};
}

}  // namespace

Result<std::string> ReadStringArgument(sd_bus_message* message, std::string_view what,
                                       std::size_t max_bytes) {
  const char* text = nullptr;
  if (const int r = sd_bus_message_read_basic(message, SD_BUS_TYPE_STRING, &text); r <= 0) {
    return CannotRead(what, r == 0 ? -ENXIO : r);
  }
  const std::string_view view(text);
  if (Status length = CheckArgumentLength(what, view, max_bytes); !length.ok()) {
    return length.error();
  }
  return std::string(view);
}

Result<std::vector<std::string>> ReadStringListArgument(sd_bus_message* message,
                                                        std::string_view what) {
  if (const int r = sd_bus_message_enter_container(message, SD_BUS_TYPE_ARRAY, "s"); r <= 0) {
    return CannotRead(what, r == 0 ? -ENXIO : r);
  }
  std::vector<std::string> texts;
  for (;;) {
    const char* text = nullptr;
    const int r = sd_bus_message_read_basic(message, SD_BUS_TYPE_STRING, &text);
    if (r < 0) return CannotRead(what, r);
    if (r == 0) break;
    if (texts.size() == kMaxListArgumentEntries) {
      return Error{std::string(what) + " has too many entries (at most " +
                       std::to_string(kMaxListArgumentEntries) + ")",
                   ErrorCode::kInvalidArgument};
    }
    const std::string_view view(text);
    if (Status length =
            CheckArgumentLength(std::string(what) + " entry", view, kMaxStringArgumentBytes);
        !length.ok()) {
      return length.error();
    }
    texts.emplace_back(view);
  }
  if (const int r = sd_bus_message_exit_container(message); r < 0) return CannotRead(what, r);
  return texts;
}

Result<bool> ReadBoolArgument(sd_bus_message* message, std::string_view what) {
  int value = 0;
  if (const int r = sd_bus_message_read_basic(message, SD_BUS_TYPE_BOOLEAN, &value); r <= 0) {
    return CannotRead(what, r == 0 ? -ENXIO : r);
  }
  return value != 0;
}

MessageWriter& MessageWriter::String(std::string_view text) {
  return Do([&] {
    const std::string clean = ValidUtf8(text);
    return sd_bus_message_append_basic(message_, SD_BUS_TYPE_STRING, clean.c_str());
  });
}

MessageWriter& MessageWriter::String(const char* text) {
  if (!IsValidUtf8(text)) return String(std::string_view(text));
  return Do([&] { return sd_bus_message_append_basic(message_, SD_BUS_TYPE_STRING, text); });
}

MessageWriter& MessageWriter::String(const std::string& text) {
  if (!IsValidUtf8(text)) return String(std::string_view(text));
  return Do(
      [&] { return sd_bus_message_append_basic(message_, SD_BUS_TYPE_STRING, text.c_str()); });
}

MessageWriter& MessageWriter::Strings(const std::vector<std::string>& texts) {
  Open(SD_BUS_TYPE_ARRAY, "s");
  for (const std::string& text : texts) String(text);
  return Close();
}

MessageWriter& MessageWriter::ValidString(const char* text) {
  return Do([&] { return sd_bus_message_append_basic(message_, SD_BUS_TYPE_STRING, text); });
}

MessageWriter& MessageWriter::ObjectPath(const std::string& path) {
  return ObjectPath(path.c_str());
}

MessageWriter& MessageWriter::ObjectPath(const char* path) {
  return Do([&] { return sd_bus_message_append_basic(message_, SD_BUS_TYPE_OBJECT_PATH, path); });
}

MessageWriter& MessageWriter::Bool(bool value) {
  return Do([&] {
    const int as_int = value ? 1 : 0;
    return sd_bus_message_append_basic(message_, SD_BUS_TYPE_BOOLEAN, &as_int);
  });
}

MessageWriter& MessageWriter::U32(std::uint32_t value) {
  return Do([&] { return sd_bus_message_append_basic(message_, SD_BUS_TYPE_UINT32, &value); });
}

MessageWriter& MessageWriter::U64(std::uint64_t value) {
  return Do([&] { return sd_bus_message_append_basic(message_, SD_BUS_TYPE_UINT64, &value); });
}

MessageWriter& MessageWriter::Open(char type, const char* contents) {
  return Do([&] { return sd_bus_message_open_container(message_, type, contents); });
}

MessageWriter& MessageWriter::Close() {
  return Do([&] { return sd_bus_message_close_container(message_); });
}

std::uint64_t ToUsec(UnixTime seconds) {
  return seconds <= 0 ? 0 : static_cast<std::uint64_t>(seconds) * 1'000'000U;
}

}  // namespace transportcertd
