#include "ipc/sd_bus_uv.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "ipc/sd_bus_handles.h"
#include "tests/ipc/bus_test_support.h"

namespace transportcertd {
namespace {

using testing::PrivateBus;
using testing::PumpUntil;
using namespace std::chrono_literals;

TEST(ADelayUntilTheBusDeadline, IsNoneForNoTimeoutAndZeroForNow) {
  EXPECT_EQ(DelayUntilDeadlineMs(UINT64_MAX, 5'000'000), std::nullopt);
  EXPECT_EQ(DelayUntilDeadlineMs(0, 5'000'000), 0U);          // sd-bus: "process now"
  EXPECT_EQ(DelayUntilDeadlineMs(4'999'999, 5'000'000), 0U);  // already passed
  EXPECT_EQ(DelayUntilDeadlineMs(5'000'000, 5'000'000), 0U);
}

TEST(ADelayUntilTheBusDeadline, IsRelativeToNowAndRoundedUp) {
  const std::uint64_t now = 123'456'789'000;  // an absolute monotonic time, as from the kernel
  EXPECT_EQ(DelayUntilDeadlineMs(now + 1, now), 1U);
  EXPECT_EQ(DelayUntilDeadlineMs(now + 1'000, now), 1U);
  EXPECT_EQ(DelayUntilDeadlineMs(now + 1'001, now), 2U);
  EXPECT_EQ(DelayUntilDeadlineMs(now + 25'000'000, now), 25'000U);
}

// Two connections to a private bus driven by one libuv loop through the adapter: a "server"
// whose method never answers, and a client calling it.
class AnSdBusConnectionInALibuvLoop : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(bus_.address().empty());
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    server_ = Connect();
    client_ = Connect();
    ASSERT_TRUE(server_ && client_);
    sd_bus_slot* slot = nullptr;
    ASSERT_GE(sd_bus_add_object_vtable(server_.get(), &slot, "/test", "org.example.Test",
                                       kSilentVtable, nullptr),
              0);
    server_slot_.reset(slot);
    ASSERT_GE(sd_bus_request_name(server_.get(), "org.example.Test", 0), 0);
    server_uv_ = Attach(server_.get());
    client_uv_ = Attach(client_.get());
  }

  void TearDown() override {
    server_uv_.reset();
    client_uv_.reset();
    pending_.reset();
    server_slot_.reset();
    server_.reset();
    client_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // the adapters' handles close and free themselves
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a libuv handle was left open";
  }

  SdBusPtr Connect() {
    sd_bus* raw = nullptr;
    EXPECT_GE(sd_bus_new(&raw), 0);
    SdBusPtr bus(raw);
    EXPECT_GE(sd_bus_set_address(raw, bus_.address().c_str()), 0);
    EXPECT_GE(sd_bus_set_bus_client(raw, 1), 0);
    EXPECT_GE(sd_bus_start(raw), 0);
    return bus;
  }

  std::unique_ptr<SdBusUv> Attach(sd_bus* bus) {
    Result<std::unique_ptr<SdBusUv>> attached =
        SdBusUv::Attach(&loop_, bus, [this](const std::string& reason) { lost_ = reason; });
    EXPECT_TRUE(attached.ok()) << attached.error().message;
    return attached.ok() ? std::move(attached).value() : nullptr;
  }

  // Calls `member` on `destination` asynchronously; the reply lands in reply_error_/replied_.
  void CallAsync(const char* destination, const char* path, const char* interface,
                 const char* member, std::uint64_t timeout_usec) {
    SdBusMessagePtr call;
    sd_bus_message* raw = nullptr;
    ASSERT_GE(
        sd_bus_message_new_method_call(client_.get(), &raw, destination, path, interface, member),
        0);
    call.reset(raw);
    sd_bus_slot* slot = nullptr;
    ASSERT_GE(sd_bus_call_async(client_.get(), &slot, call.get(), &OnReply, this, timeout_usec), 0);
    pending_.reset(slot);
  }

  static int OnReply(sd_bus_message* reply, void* userdata, sd_bus_error* /*error*/) {
    auto* self = static_cast<AnSdBusConnectionInALibuvLoop*>(userdata);
    const sd_bus_error* error = sd_bus_message_get_error(reply);
    self->reply_error_ = error != nullptr && error->name != nullptr ? error->name : "";
    self->replied_ = true;
    return 0;
  }

  // A method that never answers: its reply is left to the caller's timeout.
  static int NeverAnswer(sd_bus_message*, void*, sd_bus_error*) { return 1; }
  static constexpr sd_bus_vtable kSilentVtable[] = {
      SD_BUS_VTABLE_START(0),
      SD_BUS_METHOD("Silent", "", "", NeverAnswer, SD_BUS_VTABLE_UNPRIVILEGED), SD_BUS_VTABLE_END};

  PrivateBus bus_;
  uv_loop_t loop_{};
  SdBusPtr server_, client_;
  SdBusSlotPtr server_slot_, pending_;
  std::unique_ptr<SdBusUv> server_uv_, client_uv_;
  bool replied_ = false;
  std::string reply_error_;
  std::string lost_;
};

TEST_F(AnSdBusConnectionInALibuvLoop, GetsRepliesThroughThePolledDescriptor) {
  CallAsync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId",
            5'000'000);
  ASSERT_TRUE(PumpUntil(
      &loop_, [&] { return replied_; }, 5s));
  EXPECT_EQ(reply_error_, "");
}

TEST_F(AnSdBusConnectionInALibuvLoop, DeliversCallsBetweenTwoConnectionsOnOneLoop) {
  // The server's reply to Peer.Ping is sent by sd-bus from inside sd_bus_process().
  CallAsync("org.example.Test", "/test", "org.freedesktop.DBus.Peer", "Ping", 5'000'000);
  ASSERT_TRUE(PumpUntil(
      &loop_, [&] { return replied_; }, 5s));
  EXPECT_EQ(reply_error_, "");
}

TEST_F(AnSdBusConnectionInALibuvLoop, TimesOutAMethodCallAtItsAbsoluteDeadline) {
  const auto start = std::chrono::steady_clock::now();
  CallAsync("org.example.Test", "/test", "org.example.Test", "Silent", 300'000);
  ASSERT_TRUE(PumpUntil(
      &loop_, [&] { return replied_; }, 10s))
      << "the timeout never fired: the timer was not armed from sd_bus_get_timeout()";
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(reply_error_, SD_BUS_ERROR_NO_REPLY);
  EXPECT_GE(waited, 290ms);
  EXPECT_LT(waited, 3s);
}

TEST_F(AnSdBusConnectionInALibuvLoop, ReportsTheLossOfTheBusOnce) {
  bus_.Kill();
  ASSERT_TRUE(PumpUntil(
      &loop_, [&] { return !lost_.empty(); }, 10s));
  EXPECT_NE(lost_.find("connection to the bus lost"), std::string::npos) << lost_;
}

TEST_F(AnSdBusConnectionInALibuvLoop, CanBeDetachedWhileCallsArePending) {
  CallAsync("org.example.Test", "/test", "org.example.Test", "Silent", 60'000'000);
  uv_run(&loop_, UV_RUN_NOWAIT);
  client_uv_->Detach();
  client_uv_->Detach();  // idempotent
  // TearDown checks that every handle was closed and freed.
}

// A stream of calls must not keep the loop from its other work (the store watch, the deadline
// timer): the adapter hands back to the loop after SdBusUv::kMessagesPerTurn messages.
struct Counted {
  int handled = 0;
  int handled_when_the_timer_fired = -1;
  uv_timer_t timer{};
};

int CountCall(sd_bus_message* call, void* userdata, sd_bus_error* /*error*/) {
  auto* counted = static_cast<Counted*>(userdata);
  if (counted->handled++ == 0) {
    // Due at once: it fires as soon as the loop gets its turn.
    uv_timer_start(
        &counted->timer,
        [](uv_timer_t* t) {
          auto* c = static_cast<Counted*>(t->data);
          c->handled_when_the_timer_fired = c->handled;
        },
        0, 0);
  }
  (void)call;
  return 0;
}

constexpr sd_bus_vtable kCountingVtable[] = {
    SD_BUS_VTABLE_START(0), SD_BUS_METHOD("Count", "", "", CountCall, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END};

TEST_F(AnSdBusConnectionInALibuvLoop, LetsTheLoopRunItsTimersDuringAStreamOfCalls) {
  Counted counted;
  ASSERT_EQ(uv_timer_init(&loop_, &counted.timer), 0);
  counted.timer.data = &counted;
  sd_bus_slot* raw = nullptr;
  ASSERT_GE(sd_bus_add_object_vtable(server_.get(), &raw, "/count", "org.example.Count",
                                     kCountingVtable, &counted),
            0);
  const SdBusSlotPtr slot(raw);

  // Many calls from a connection outside the loop, all sent before the loop runs, so that the
  // server finds them waiting together.
  constexpr int kCalls = 4 * SdBusUv::kMessagesPerTurn;
  SdBusPtr sender = Connect();
  for (int i = 0; i < kCalls; ++i) {
    sd_bus_message* call = nullptr;
    ASSERT_GE(sd_bus_message_new_method_call(sender.get(), &call, "org.example.Test", "/count",
                                             "org.example.Count", "Count"),
              0);
    const SdBusMessagePtr owned(call);
    ASSERT_GE(sd_bus_message_set_expect_reply(call, 0), 0);
    ASSERT_GE(sd_bus_send(sender.get(), call, nullptr), 0);
  }
  ASSERT_GE(sd_bus_flush(sender.get()), 0);
  std::this_thread::sleep_for(200ms);  // the bus daemon passes them on meanwhile

  ASSERT_TRUE(PumpUntil(
      &loop_, [&] { return counted.handled == kCalls; }, 10s));
  EXPECT_GE(counted.handled_when_the_timer_fired, 1);
  EXPECT_LE(counted.handled_when_the_timer_fired, SdBusUv::kMessagesPerTurn)
      << "the timer waited until every waiting call was handled";
  uv_close(reinterpret_cast<uv_handle_t*>(&counted.timer), nullptr);
  uv_run(&loop_, UV_RUN_NOWAIT);
}

}  // namespace
}  // namespace transportcertd
