#include "monitor/alert_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace transportcertd {
namespace {

constexpr UnixTimeMs kHour = 3'600'000;
constexpr UnixTimeMs kDay = 24 * kHour;
constexpr UnixTimeMs kStart = 1'800'000'000'000;

using Verdict = AlertLimiter::Verdict;

std::string Name(int i) { return "CERT h" + std::to_string(i) + ".example"; }

TEST(AnAlertLimiter, AlertsOncePerKeyPerDay) {
  AlertLimiter limiter;
  EXPECT_EQ(limiter.Admit("A n1", kStart), Verdict::kAlert);
  EXPECT_EQ(limiter.Admit("A n1", kStart + 1), Verdict::kRepeat);
  EXPECT_EQ(limiter.Admit("A n1", kStart + kDay - 1), Verdict::kRepeat);
  EXPECT_EQ(limiter.Admit("B n1", kStart + 2), Verdict::kAlert) << "another certificate";
  EXPECT_EQ(limiter.Admit("A n2", kStart + 3), Verdict::kAlert) << "another name";
  EXPECT_EQ(limiter.Admit("A n1", kStart + kDay), Verdict::kAlert) << "a day later";
}

TEST(AnAlertLimiter, CountsEverythingPastOneHundredAnHourForOneSummary) {
  AlertLimiter limiter;
  for (int i = 0; i < 100; ++i) ASSERT_EQ(limiter.Admit(Name(i), kStart + i), Verdict::kAlert);
  for (int i = 100; i < 250; ++i) ASSERT_EQ(limiter.Admit(Name(i), kStart + i), Verdict::kCounted);
  EXPECT_EQ(limiter.Admit(Name(150), kStart + 300), Verdict::kRepeat) << "counted once";
  EXPECT_EQ(limiter.TakeSummary(kStart + kHour - 1), 0U) << "the hour is not over";
  EXPECT_EQ(limiter.SummaryDue(), kStart + kHour);
  EXPECT_EQ(limiter.TakeSummary(kStart + kHour), 150U);
  EXPECT_EQ(limiter.TakeSummary(kStart + kHour), 0U) << "once";
  EXPECT_EQ(limiter.SummaryDue(), std::nullopt);
  EXPECT_EQ(limiter.Admit(Name(1000), kStart + kHour), Verdict::kAlert) << "a new hour";
}

TEST(AnAlertLimiter, HasNoSummaryDueWhenNothingWasCounted) {
  AlertLimiter limiter;
  limiter.Admit("A n1", kStart);
  EXPECT_EQ(limiter.SummaryDue(), std::nullopt);
  EXPECT_EQ(limiter.TakeSummary(kStart + 2 * kHour), 0U);
  EXPECT_EQ(limiter.TakeCounted(), 0U);
}

TEST(AnAlertLimiter, GivesWhatIsCountedAtStopBeforeTheHourIsOver) {
  AlertLimiter limiter;
  for (int i = 0; i < 130; ++i) limiter.Admit(Name(i), kStart);
  EXPECT_EQ(limiter.TakeCounted(), 30U);
  EXPECT_EQ(limiter.TakeCounted(), 0U);
  EXPECT_EQ(limiter.TakeSummary(kStart + kHour), 0U);
}

TEST(AnAlertLimiter, RemembersAtMostMaxKeysForgettingTheOldestFirst) {
  AlertLimiter limiter;
  for (int i = 0; i < 100'000; ++i) limiter.Admit(Name(i), kStart + i);
  EXPECT_EQ(limiter.keys(), AlertLimiter::Limits{}.max_keys);
  EXPECT_EQ(limiter.Admit(Name(99'999), kStart + 100'000), Verdict::kRepeat) << "the newest";
  EXPECT_NE(limiter.Admit(Name(0), kStart + 100'000), Verdict::kRepeat) << "the oldest";
  EXPECT_EQ(limiter.keys(), AlertLimiter::Limits{}.max_keys);
}

TEST(AnAlertLimiter, ForgetsItsKeysOnRequestButNotTheHourlyBound) {
  AlertLimiter limiter;
  for (int i = 0; i < 100; ++i) limiter.Admit(Name(i), kStart);
  limiter.ForgetKeys();
  EXPECT_EQ(limiter.keys(), 0U);
  EXPECT_EQ(limiter.Admit(Name(0), kStart + 1), Verdict::kCounted)
      << "a known name is new again, but this hour's alerts are used up";
}

TEST(AnAlertLimiter, EndsTheWindowWhenTheClockIsSetBack) {
  AlertLimiter limiter;
  for (int i = 0; i < 101; ++i) limiter.Admit(Name(i), kStart);
  EXPECT_EQ(limiter.TakeSummary(kStart - kDay), 1U);
  EXPECT_EQ(limiter.Admit(Name(500), kStart - kDay), Verdict::kAlert);
}

TEST(AnAlertLimiter, KeepsToSmallLimits) {
  AlertLimiter limiter(AlertLimiter::Limits{.max_keys = 2,
                                            .repeat_after = Milliseconds{10},
                                            .per_window = 1,
                                            .window = Milliseconds{100}});
  EXPECT_EQ(limiter.Admit("a", 0), Verdict::kAlert);
  EXPECT_EQ(limiter.Admit("b", 1), Verdict::kCounted);
  EXPECT_EQ(limiter.Admit("c", 2), Verdict::kCounted);
  EXPECT_EQ(limiter.keys(), 2U);
  EXPECT_EQ(limiter.Admit("a", 3), Verdict::kCounted) << "forgotten for c";
  EXPECT_EQ(limiter.Admit("c", 11), Verdict::kRepeat);
  EXPECT_EQ(limiter.Admit("c", 12), Verdict::kCounted) << "10 ms after it was admitted";
  EXPECT_EQ(limiter.TakeSummary(100), 4U);
}

}  // namespace
}  // namespace transportcertd
