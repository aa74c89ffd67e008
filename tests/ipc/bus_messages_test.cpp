#include "ipc/bus_messages.h"

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "ipc/sd_bus_handles.h"
#include "tests/ipc/bus_test_support.h"

namespace transportcertd {
namespace {

// The rows of the messages below: (su) "row N", N.
constexpr const char* kRowSignature = "(su)";

void WriteRow(MessageWriter& out, std::size_t i) {
  out.Open(SD_BUS_TYPE_STRUCT, "su")
      .String("row " + std::to_string(i))
      .U32(static_cast<std::uint32_t>(i))
      .Close();
}

// Messages built on a connection that never sends.
class AnArrayWrittenInParts : public ::testing::Test {
 protected:
  SdBusMessagePtr NewMessage() {
    sd_bus_message* raw = nullptr;
    EXPECT_GE(sd_bus_message_new_signal(bus_.get(), &raw, "/test", "org.example.Test", "Rows"), 0);
    return SdBusMessagePtr(raw);
  }

  // `count` rows written at once, without AppendArrayPart.
  SdBusMessagePtr WrittenAtOnce(std::size_t count) {
    SdBusMessagePtr message = NewMessage();
    MessageWriter out(message.get());
    out.Open(SD_BUS_TYPE_ARRAY, kRowSignature);
    for (std::size_t i = 0; i < count; ++i) WriteRow(out, i);
    out.Close();
    EXPECT_EQ(out.result(), 0);
    return message;
  }

  // The body of `message`, sealed, as sd-bus prints it.
  static std::string Dump(sd_bus_message* message) {
    EXPECT_GE(sd_bus_message_seal(message, 1, 0), 0);
    char* text = nullptr;
    std::size_t size = 0;
    FILE* out = open_memstream(&text, &size);
    EXPECT_NE(out, nullptr);
    if (out == nullptr) return {};
    EXPECT_GE(sd_bus_message_dump(message, out, 0), 0);
    EXPECT_EQ(std::fclose(out), 0);
    std::string dump(text, size);
    std::free(text);  // open_memstream's buffer
    return dump;
  }

 private:
  testing::UnansweredBus bus_;
};

TEST_F(AnArrayWrittenInParts, EqualsTheSameArrayWrittenAtOnceInAsManyPartsAsItTakes) {
  constexpr std::size_t kMaxRows = 3;
  for (const std::size_t count : {0U, 1U, 3U, 6U, 7U}) {
    SCOPED_TRACE("rows: " + std::to_string(count));
    SdBusMessagePtr message = NewMessage();
    std::size_t next = 0;
    std::size_t parts = 0;
    int r = 1;
    while (r == 1 && parts <= count) {
      r = AppendArrayPart(message.get(), kRowSignature, count, next, kMaxRows, WriteRow);
      ++parts;
    }
    EXPECT_EQ(r, 0);
    EXPECT_EQ(next, count);
    // Closed with the part that writes the last row; an empty array takes one part.
    EXPECT_EQ(parts, count == 0 ? 1 : (count + kMaxRows - 1) / kMaxRows);
    EXPECT_EQ(Dump(message.get()), Dump(WrittenAtOnce(count).get()));
  }
}

TEST_F(AnArrayWrittenInParts, StopsAtTheFirstFailureAndReturnsIt) {
  SdBusMessagePtr message = NewMessage();
  std::size_t next = 0;
  std::size_t written = 0;
  const int r = AppendArrayPart(message.get(), "s", 5, next, 3,
                                [&written](MessageWriter& out, std::size_t /*i*/) {
                                  ++written;
                                  out.U32(1);  // not the array's "s"
                                });
  EXPECT_LT(r, 0);
  EXPECT_EQ(written, 1U);
}

}  // namespace
}  // namespace transportcertd
