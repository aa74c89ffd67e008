// When the daemon starts transportcertd-verify.service: only under systemd, on the system bus,
// with a non-zero after_reload; and once after a burst of reloads, not once per reload.
#include "daemon/verify_trigger.h"

#include <gtest/gtest.h>
#include <uv.h>

namespace transportcertd {
namespace {

TEST(VerifyAfterReload, OnlyUnderSystemdOnTheSystemBusWithADelay) {
  EXPECT_TRUE(VerifyAfterReloadWanted(true, true, Milliseconds{10'000}));
  EXPECT_FALSE(VerifyAfterReloadWanted(false, true, Milliseconds{10'000}));
  EXPECT_FALSE(VerifyAfterReloadWanted(true, false, Milliseconds{10'000}));
  EXPECT_FALSE(VerifyAfterReloadWanted(true, true, Milliseconds{0}));
}

TEST(VerifyTrigger, StartsOnceAfterABurstOfReloads) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  int started = 0;
  {
    VerifyTrigger trigger(&loop, [&] { ++started; });
    trigger.ReloadSucceeded(Milliseconds{20});
    trigger.ReloadSucceeded(Milliseconds{20});
    trigger.ReloadSucceeded(Milliseconds{1});
    EXPECT_EQ(started, 0);          // nothing before the loop runs
    uv_run(&loop, UV_RUN_DEFAULT);  // the one timer fires, then nothing is left
    EXPECT_EQ(started, 1);
    trigger.ReloadSucceeded(Milliseconds{1});
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(started, 2);
    trigger.Stop();
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // the closed handle is freed
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace transportcertd
