// The order in which big replies, their parts and signals leave the daemon
// (ipc/deferred_replies.h), without a bus: the parts are written by test functions that log
// them, on a connection that never sends (testing::UnansweredBus).
#include "ipc/deferred_replies.h"

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "ipc/sd_bus_handles.h"
#include "tests/ipc/bus_test_support.h"

namespace transportcertd {
namespace {

using Log = std::vector<std::string>;

class DeferredRepliesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    replies_ = std::make_unique<DeferredReplies>(&loop_, bus_.get());
    sd_bus_message* message = nullptr;
    ASSERT_GE(sd_bus_message_new_signal(bus_.get(), &message, "/test", "org.example.Test", "Call"),
              0);
    call_.reset(message);
  }

  void TearDown() override {
    replies_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // the handles' close callbacks
    EXPECT_EQ(uv_loop_close(&loop_), 0);
    call_.reset();
  }

  // A reply of `parts` parts, each logged as "NAME part N" when it is written.
  DeferredReplies::WritePart Reply(const std::string& name, int parts) {
    return [this, name, parts, written = 0](sd_bus_message* /*call*/) mutable {
      log_.push_back(name + " part " + std::to_string(++written));
      return written < parts ? 1 : 0;
    };
  }

  void Signal(const std::string& name) {
    replies_->AfterUnderWay([this, name] { log_.push_back(name); });
  }

  // Turns of the loop until no reply waits.
  void RunUntilAllAreSent() {
    for (int turn = 0; turn < 100 && replies_->waiting() > 0; ++turn) {
      uv_run(&loop_, UV_RUN_NOWAIT);
    }
  }

  uv_loop_t loop_{};
  testing::UnansweredBus bus_;
  SdBusMessagePtr call_;
  std::unique_ptr<DeferredReplies> replies_;
  Log log_;
};

TEST_F(DeferredRepliesTest, WritesOnePartPerTurnOfTheLoop) {
  replies_->Add(call_.get(), Reply("list", 3));
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(log_, Log({"list part 1"}));
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(log_, Log({"list part 1", "list part 2"}));
  RunUntilAllAreSent();
  EXPECT_EQ(log_, Log({"list part 1", "list part 2", "list part 3"}));
}

// The signals of a change made while a reply is written wait for that reply, which goes on a
// part per turn (a small call read meanwhile is answered between two parts), and leave before
// the next reply starts, which answers from the state after the change.
TEST_F(DeferredRepliesTest, SendsSignalsAfterTheReplyUnderWayWithoutHurryingIt) {
  replies_->Add(call_.get(), Reply("list", 3));
  replies_->Add(call_.get(), Reply("explain", 2));
  uv_run(&loop_, UV_RUN_NOWAIT);
  ASSERT_EQ(log_, Log({"list part 1"}));

  Signal("removed");
  Signal("added");
  EXPECT_EQ(log_, Log({"list part 1"}));

  RunUntilAllAreSent();
  EXPECT_EQ(log_, Log({"list part 1", "list part 2", "list part 3", "removed", "added",
                       "explain part 1", "explain part 2"}));
}

TEST_F(DeferredRepliesTest, SendsSignalsAtOnceWhenNoReplyIsUnderWay) {
  Signal("idle");
  EXPECT_EQ(log_, Log({"idle"}));
  // A reply not started yet answers from the state after the change: no need to wait for it.
  replies_->Add(call_.get(), Reply("list", 2));
  Signal("before the list starts");
  EXPECT_EQ(log_, Log({"idle", "before the list starts"}));
  RunUntilAllAreSent();
  EXPECT_EQ(log_, Log({"idle", "before the list starts", "list part 1", "list part 2"}));
}

TEST_F(DeferredRepliesTest, FlushSendsTheSignalsRightAfterTheReplyUnderWay) {
  replies_->Add(call_.get(), Reply("list", 2));
  replies_->Add(call_.get(), Reply("explain", 1));
  uv_run(&loop_, UV_RUN_NOWAIT);
  Signal("changed");
  replies_->Flush();
  EXPECT_EQ(log_, Log({"list part 1", "list part 2", "changed", "explain part 1"}));
}

// The connection is closing: the replies that wait are dropped, and the signals queued behind
// the one under way are sent, not lost.
TEST_F(DeferredRepliesTest, SendsTheQueuedSignalsWhenStopped) {
  replies_->Add(call_.get(), Reply("list", 3));
  uv_run(&loop_, UV_RUN_NOWAIT);
  Signal("expired");
  replies_->Stop();
  EXPECT_EQ(log_, Log({"list part 1", "expired"}));
}

}  // namespace
}  // namespace transportcertd
