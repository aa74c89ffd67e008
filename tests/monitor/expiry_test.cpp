#include "monitor/expiry.h"

#include <gtest/gtest.h>

#include "monitor/internal_transport.h"

namespace transportcertd {
namespace {

constexpr std::int64_t kDay = 86'400'000;
constexpr UnixTime kNotAfter = 2'000'000'000;           // seconds
constexpr UnixTimeMs kExpiry = (kNotAfter + 1) * 1000;  // first expired millisecond

Inventory OneCertificate(const std::string& thumbprint = "AA", UnixTime not_after = kNotAfter) {
  Inventory inventory;
  Certificate cert;
  CertificateText text;
  text.thumbprint = thumbprint;
  cert.SetText(text);
  cert.not_before = 1'000'000'000;
  cert.not_after = not_after;
  StoredCertificate stored;
  stored.certificate = std::make_shared<const Certificate>(std::move(cert));
  stored.key_file_name = "key.pem";
  inventory.certificates.push_back(stored);
  return inventory;
}

ExpiryTracker Tracker() {
  return ExpiryTracker({Milliseconds{7 * kDay}, Milliseconds{30 * kDay}, Milliseconds{kDay}});
}

TEST(AnExpiryTracker, SaysNothingOutsideEveryWindow) {
  auto tracker = Tracker();
  EXPECT_TRUE(tracker.Update(OneCertificate(), kExpiry - 31 * kDay).empty());
}

TEST(AnExpiryTracker, AlertsOnceForTheNearestThresholdAtStart) {
  auto tracker = Tracker();
  const auto inventory = OneCertificate();
  const auto alerts = tracker.Update(inventory, kExpiry - 5 * kDay);  // inside 30d and 7d
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, ExpiryAlert::Kind::kExpiring);
  EXPECT_EQ(alerts[0].threshold, Milliseconds{7 * kDay});
  EXPECT_TRUE(tracker.Update(inventory, kExpiry - 5 * kDay + 1000).empty());
}

TEST(AnExpiryTracker, AlertsOncePerThresholdAsEachIsCrossed) {
  auto tracker = Tracker();
  const auto inventory = OneCertificate();
  std::vector<std::string> seen;
  for (UnixTimeMs t = kExpiry - 40 * kDay; t <= kExpiry + kDay; t += kDay / 4) {
    for (const auto& a : tracker.Update(inventory, t)) {
      seen.push_back(a.kind == ExpiryAlert::Kind::kExpired ? "expired"
                                                           : FormatDuration(a.threshold));
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"30d", "7d", "1d", "expired"}));
}

TEST(AnExpiryTracker, AlertsExactlyAtTheCrossingAndNotBefore) {
  auto tracker = Tracker();
  const auto inventory = OneCertificate();
  EXPECT_TRUE(tracker.Update(inventory, kExpiry - 7 * kDay - 1).size() == 1);  // the 30d one
  EXPECT_TRUE(tracker.Update(inventory, kExpiry - 7 * kDay - 1).empty());
  EXPECT_EQ(tracker.Update(inventory, kExpiry - 7 * kDay).size(), 1u);
  EXPECT_TRUE(tracker.Update(inventory, kExpiry - 1).size() == 1);  // 1d
  const auto expired = tracker.Update(inventory, kExpiry);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].kind, ExpiryAlert::Kind::kExpired);
}

TEST(AnExpiryTracker, GivesOneAlertWhenAClockJumpCrossesSeveralThresholds) {
  auto tracker = Tracker();
  const auto inventory = OneCertificate();
  EXPECT_TRUE(tracker.Update(inventory, kExpiry - 60 * kDay).empty());
  const auto alerts = tracker.Update(inventory, kExpiry - kDay / 2);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].threshold, Milliseconds{kDay});
}

TEST(AnExpiryTracker, DoesNotRepeatAfterTheClockIsSetBack) {
  auto tracker = Tracker();
  const auto inventory = OneCertificate();
  EXPECT_EQ(tracker.Update(inventory, kExpiry - 5 * kDay).size(), 1u);
  EXPECT_TRUE(tracker.Update(inventory, kExpiry - 10 * kDay).empty());
  EXPECT_TRUE(tracker.Update(inventory, kExpiry - 5 * kDay).empty());
}

TEST(AnExpiryTracker, AnnouncesARenewedCertificateAfresh) {
  auto tracker = Tracker();
  EXPECT_EQ(tracker.Update(OneCertificate("AA"), kExpiry - 5 * kDay).size(), 1u);
  EXPECT_EQ(tracker.Update(OneCertificate("BB"), kExpiry - 5 * kDay).size(), 1u);
}

TEST(AnExpiryTracker, NamesTheNextCrossing) {
  auto tracker = Tracker();
  const auto inventory = OneCertificate();
  EXPECT_EQ(tracker.NextCrossing(inventory, kExpiry - 40 * kDay), kExpiry - 30 * kDay);
  EXPECT_EQ(tracker.NextCrossing(inventory, kExpiry - 30 * kDay), kExpiry - 7 * kDay);
  EXPECT_EQ(tracker.NextCrossing(inventory, kExpiry - 2), kExpiry);
  EXPECT_EQ(tracker.NextCrossing(inventory, kExpiry), std::nullopt);
  EXPECT_EQ(tracker.NextCrossing(Inventory{}, kExpiry), std::nullopt);
}

TEST(AnExpiryTracker, CallsACertificateExpiringInsideTheLargestWindowOnly) {
  const auto tracker = Tracker();
  const Inventory inventory = OneCertificate();
  const Certificate& cert = inventory.certificates[0].cert();
  EXPECT_FALSE(tracker.IsExpiring(cert, kExpiry - 31 * kDay));
  EXPECT_TRUE(tracker.IsExpiring(cert, kExpiry - 29 * kDay));
  EXPECT_FALSE(tracker.IsExpiring(cert, kExpiry));  // expired, not expiring
}

TEST(ADuration, IsFormattedWithTheLargestUnitsFirst) {
  EXPECT_EQ(FormatDuration(Milliseconds{30 * kDay}), "30d");
  EXPECT_EQ(FormatDuration(Milliseconds{kDay + kDay / 2}), "1d 12h");
  EXPECT_EQ(FormatDuration(Milliseconds{90'000}), "1min 30s");
  EXPECT_EQ(FormatDuration(Milliseconds{250}), "250ms");
}

class TheInternalTransportRule : public ::testing::Test {
 protected:
  Inventory inventory_ = OneCertificate("AA");
  Bindings bindings_{"AA", {}};
  Milliseconds renew_before_{30 * kDay};
};

TEST_F(TheInternalTransportRule, KeepsAHealthyCertificate) {
  EXPECT_EQ(
      InternalTransportReplacementReason(inventory_, bindings_, renew_before_, kExpiry - 31 * kDay),
      std::nullopt);
  EXPECT_EQ(InternalTransportRenewalTime(inventory_, bindings_, renew_before_, kExpiry - 31 * kDay),
            kExpiry - 30 * kDay);
}

TEST_F(TheInternalTransportRule, ReplacesWhenNoneIsDesignated) {
  bindings_.internal_transport.clear();
  EXPECT_EQ(InternalTransportReplacementReason(inventory_, bindings_, renew_before_, 0),
            "no internal transport certificate is designated");
}

TEST_F(TheInternalTransportRule, ReplacesOneMissingFromTheStore) {
  bindings_.internal_transport = "BB";
  auto why =
      InternalTransportReplacementReason(inventory_, bindings_, renew_before_, kExpiry - 60 * kDay);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("missing from the store"), std::string::npos);
}

TEST_F(TheInternalTransportRule, ReplacesOneWithoutItsKey) {
  inventory_.certificates[0].key_file_name.clear();
  auto why =
      InternalTransportReplacementReason(inventory_, bindings_, renew_before_, kExpiry - 60 * kDay);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("no private key"), std::string::npos);
}

TEST_F(TheInternalTransportRule, ReplacesOneWithinRenewBefore) {
  auto why =
      InternalTransportReplacementReason(inventory_, bindings_, renew_before_, kExpiry - 30 * kDay);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("within renew_before 30d"), std::string::npos);
}

TEST_F(TheInternalTransportRule, ReplacesAnExpiredOne) {
  auto why = InternalTransportReplacementReason(inventory_, bindings_, renew_before_, kExpiry);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("expired"), std::string::npos);
}

TEST_F(TheInternalTransportRule, ReplacesOneNotYetValid) {
  auto why =
      InternalTransportReplacementReason(inventory_, bindings_, renew_before_, 999'999'999'000);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("not valid before"), std::string::npos);
}

}  // namespace
}  // namespace transportcertd
