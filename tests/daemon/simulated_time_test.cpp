// The daemon on simulated time: the whole Daemon (store, scanner, expiry tracking, generation,
// publisher, the reload command) in this process, on a ManualClock the test moves. The test
// plays the deadline timer: it moves the clock to each NextDeadline() in turn and evaluates
// there, as the timer would; so an alert or a renewal that happens at the wrong moment shows as
// the wrong simulated time, exactly, and weeks pass in milliseconds. The same behaviours on real
// time, through the real binary and with generous limits: daemon_integration_test.py.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/daemon.h"
#include "monitor/clock.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::CertSpec;
using testing::MakeCertificate;
using testing::ReadWholeFile;
using testing::TempDir;
using testing::TestCert;

constexpr UnixTimeMs kSecond = 1000;
constexpr UnixTimeMs kDay = 86'400 * kSecond;
constexpr UnixTimeMs kStart = 1'893'456'000 * kSecond;  // 2030-01-01 00:00:00 UTC
constexpr const char* kFqdn = "mail.example.com";

// Every line the daemon logs, with the simulated time it was logged at.
class RecordingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  struct Line {
    UnixTimeMs when;
    std::string text;
  };

  explicit RecordingSink(const Clock& clock) : clock_(clock) {}

  std::vector<Line> Lines() {
    const std::lock_guard lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.push_back({clock_.Now(), std::string(msg.payload.data(), msg.payload.size())});
  }
  void flush_() override {}

 private:
  const Clock& clock_;
  std::vector<Line> lines_;
};

// An expiry alert as logged: whose, which threshold ("expired" for the expiry), when.
struct LoggedAlert {
  std::string thumbprint;
  std::string what;
  UnixTimeMs when;
  bool operator==(const LoggedAlert&) const = default;
};

void PrintTo(const LoggedAlert& a, std::ostream* os) {
  *os << a.thumbprint.substr(0, 8) << " " << a.what << " at start+" << (a.when - kStart) / kSecond
      << "s";
}

// When a certificate's `threshold` is crossed (0: when it expires): NotAfter is inclusive.
UnixTimeMs Crossing(const TestCert& cert, UnixTimeMs threshold) {
  const auto described = DescribeCertificate(cert.x509.get());
  return (described->not_after + 1) * kSecond - threshold;
}

// The thumbprint of the first certificate in a PEM file; "" when there is none.
std::string ThumbprintOfFile(const std::string& path) {
  if (!std::filesystem::exists(path)) return "";
  const std::string pem = ReadWholeFile(path);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr x509(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!x509) return "";
  const auto described = DescribeCertificate(x509.get());
  return described ? std::string(described->thumbprint()) : "";
}

// A rescan after a store change runs on the thread pool. ScanGate holds each background scan at
// its start until the test opens it, so the test can look at the daemon while one is in flight.
class ScanGate {
 public:
  void Hold() {  // on the worker
    std::unique_lock lock(mutex_);
    ++entered_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
  }
  void Open() {
    {
      const std::lock_guard lock(mutex_);
      open_ = true;
    }
    changed_.notify_all();
  }
  int Entered() {
    const std::lock_guard lock(mutex_);
    return entered_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int entered_ = 0;
  bool open_ = false;
};

class SimulatedTime : public ::testing::Test {
 protected:
  using Settings = std::map<std::string, std::map<std::string, std::string>>;

  SimulatedTime() : sink_(std::make_shared<RecordingSink>(clock_)) {
    previous_logger_ = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink_));
  }

  ~SimulatedTime() override {
    gate_.Open();  // a background scan a failed test left held
    if (daemon_) {
      EXPECT_EQ(daemon_->Stop(), 0);
    }
    daemon_.reset();
    spdlog::set_default_logger(previous_logger_);
  }

  std::string Store() const { return dir_ / "store"; }
  std::string State() const { return dir_ / "state"; }
  std::string Published(const std::string& file) const { return dir_ / "published/" + file; }

  // A certificate valid from `not_before` to `not_after` (simulated milliseconds).
  TestCert Make(const std::string& name, UnixTimeMs not_before, UnixTimeMs not_after) {
    CertSpec spec;
    spec.cn = name;
    spec.dns_names = {name};
    spec.now = kStart / kSecond;
    spec.not_before_offset = (not_before - kStart) / kSecond;
    spec.not_after_offset = (not_after - kStart) / kSecond;
    return MakeCertificate(spec);
  }

  void PutInStore(const std::string& file, const TestCert& cert) {
    std::filesystem::create_directories(Store());
    dir_.Write("store/" + file, cert.cert_pem + cert.key_pem, 0600);
  }

  void Designate(const TestCert& cert) {
    std::filesystem::create_directories(State());
    chmod(State().c_str(), 0700);
    dir_.Write(
        "state/bindings",
        "internal-transport " + cert.thumbprint + "\nservices " + cert.thumbprint + " SMTP\n",
        0600);
  }

  // Starts the daemon, without D-Bus, on the test's configuration changed by `changes`.
  void Start(const Settings& changes = {}) {
    Settings settings = {
        {"daemon", {{"fqdn", kFqdn}, {"store", Store()}, {"state", State()}}},
        {"selfsigned", {{"key", "ec:P-256"}}},
        {"publish",
         {{"dir", dir_ / "published"},
          {"reload_command", "echo reload >> '" + (dir_ / "reloads") + "'"}}},
        {"dane", {{"ports", ""}}},
    };
    for (const auto& [section, keys] : changes) {
      for (const auto& [key, value] : keys) settings[section][key] = value;
    }
    std::string text;
    for (const auto& [section, keys] : settings) {
      text += "[" + section + "]\n";
      for (const auto& [key, value] : keys) text += key + " = " + value + "\n";
    }
    const std::string path = dir_.Write("transportcertd.conf", text);
    auto config = LoadConfig(path, true);
    ASSERT_TRUE(config.ok()) << config.error().message;
    daemon_ = std::make_unique<Daemon>(
        std::move(config).value(), DaemonOptions{path, true, std::nullopt, std::nullopt}, clock_);
    const Status started = daemon_->Start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }

  // Runs the loop until `done` holds (a generation takes real time on the thread pool, the
  // reload command a real process); false after 30 real seconds.
  bool RunUntil(const std::function<bool()>& done) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done()) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      uv_run(daemon_->loop(), UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  // Waits for what Start() set going (the first internal transport certificate, its
  // publishing, the rescan its new store file causes) to be over.
  void SettleAfterStart() {
    ASSERT_TRUE(RunUntil([&] { return Reloads() == 1; }));
    const std::uint64_t quiet = uv_now(daemon_->loop()) + 500;  // past the store watch's debounce
    ASSERT_TRUE(RunUntil([&] { return uv_now(daemon_->loop()) >= quiet; }));
  }

  // Moves the clock to `t`, stopping at each deadline on the way and evaluating there, as the
  // deadline timer would.
  void AdvanceTo(UnixTimeMs t) {
    while (const auto due = daemon_->NextDeadline()) {
      if (*due > t) break;
      ASSERT_GE(*due, clock_.Now()) << "a deadline in the past";
      clock_.Set(*due);
      daemon_->Evaluate();
      uv_run(daemon_->loop(), UV_RUN_NOWAIT);
    }
    clock_.Set(t);
  }

  // The lines logged so far that match `pattern`.
  std::vector<RecordingSink::Line> Logged(const std::string& pattern) {
    const std::regex re(pattern);
    std::vector<RecordingSink::Line> found;
    for (auto& line : sink_->Lines()) {
      if (std::regex_search(line.text, re)) found.push_back(std::move(line));
    }
    return found;
  }

  std::vector<LoggedAlert> ExpiryAlerts() {
    const std::regex re(
        R"(^certificate ([0-9A-F]{40}) \(.*\) (expired at|expires at .*, within (\S+)$))");
    std::vector<LoggedAlert> alerts;
    for (const auto& line : sink_->Lines()) {
      std::smatch m;
      if (std::regex_search(line.text, m, re)) {
        alerts.push_back({m[1], m[3].matched ? std::string(m[3]) : "expired", line.when});
      }
    }
    return alerts;
  }

  int Reloads() {
    const std::string path = dir_ / "reloads";
    if (!std::filesystem::exists(path)) return 0;
    const std::string text = ReadWholeFile(path);
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }

  ScanGate gate_;  // holds background scans once a test hands it to the daemon
  TempDir dir_;
  ManualClock clock_{kStart};
  std::shared_ptr<RecordingSink> sink_;
  std::shared_ptr<spdlog::logger> previous_logger_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(SimulatedTime, EachThresholdAndTheExpiryAlertOnceAtTheMomentTheyAreCrossed) {
  // Outside every window at start: crosses 30d, 14d, 7d, 3d, 1d, then expires.
  const TestCert later = Make("later.example.com", kStart - kDay, kStart + 40 * kDay);
  // Inside 30d, 14d and 7d at start: one alert, for the nearest, then the rest on time.
  const TestCert sooner = Make("sooner.example.com", kStart - kDay, kStart + 5 * kDay);
  PutInStore("later.pem", later);
  PutInStore("sooner.pem", sooner);
  Start();

  AdvanceTo(kStart + 60 * kDay);

  auto at = [](const TestCert& cert, const std::string& what, UnixTimeMs threshold) {
    return LoggedAlert{cert.thumbprint, what, Crossing(cert, threshold)};
  };
  const std::vector<LoggedAlert> expected = {
      {sooner.thumbprint, "7d", kStart}, at(sooner, "3d", 3 * kDay),  at(sooner, "1d", kDay),
      at(sooner, "expired", 0),          at(later, "30d", 30 * kDay), at(later, "14d", 14 * kDay),
      at(later, "7d", 7 * kDay),         at(later, "3d", 3 * kDay),   at(later, "1d", kDay),
      at(later, "expired", 0),
  };
  EXPECT_EQ(ExpiryAlerts(), expected)
      << "no other certificate (the internal transport one lasts years) alerts";
}

TEST_F(SimulatedTime, NoDeadlineIsArmedBeforeTheCrossingItIsFor) {
  const TestCert cert = Make("later.example.com", kStart - kDay, kStart + 40 * kDay);
  PutInStore("later.pem", cert);
  Start({{"monitor", {{"warn_before", "30d"}}}});
  ASSERT_EQ(daemon_->NextDeadline(), Crossing(cert, 30 * kDay));

  AdvanceTo(Crossing(cert, 30 * kDay) - 1);
  daemon_->Evaluate();  // an evaluation for another reason, a millisecond early
  EXPECT_EQ(ExpiryAlerts(), std::vector<LoggedAlert>{}) << "not a millisecond early";
  AdvanceTo(Crossing(cert, 30 * kDay));
  EXPECT_EQ(ExpiryAlerts().size(), 1u);
  EXPECT_EQ(daemon_->NextDeadline(), Crossing(cert, 0));
}

TEST_F(SimulatedTime, AClockSetForwardAlertsOnceForTheNearestThresholdAndSetBackRepeatsNothing) {
  const TestCert cert = Make("later.example.com", kStart - kDay, kStart + 40 * kDay);
  PutInStore("later.pem", cert);
  Start();

  // Four days left: past 30d, 14d and 7d at once.
  clock_.Set(Crossing(cert, 4 * kDay));
  daemon_->ClockSet();
  EXPECT_EQ(ExpiryAlerts(),
            (std::vector<LoggedAlert>{{cert.thumbprint, "7d", Crossing(cert, 4 * kDay)}}));

  // Set back to the start, then forward again day by day: only what was not said yet.
  clock_.Set(kStart);
  daemon_->ClockSet();
  EXPECT_EQ(ExpiryAlerts().size(), 1u) << "setting the clock back repeats nothing";
  AdvanceTo(kStart + 60 * kDay);
  EXPECT_EQ(ExpiryAlerts(), (std::vector<LoggedAlert>{
                                {cert.thumbprint, "7d", Crossing(cert, 4 * kDay)},
                                {cert.thumbprint, "3d", Crossing(cert, 3 * kDay)},
                                {cert.thumbprint, "1d", Crossing(cert, kDay)},
                                {cert.thumbprint, "expired", Crossing(cert, 0)},
                            }));
  EXPECT_EQ(Logged("the system clock was set").size(), 2u);
}

TEST_F(SimulatedTime, TheInternalTransportCertificateIsRenewedTheMomentRenewBeforeIsReached) {
  const TestCert current = Make(kFqdn, kStart - kDay, kStart + 20 * kDay);
  PutInStore("current.pem", current);
  Designate(current);
  Start({{"monitor", {{"renew_before", "10d"}}}});
  ASSERT_TRUE(RunUntil([&] { return Reloads() == 1; }));
  EXPECT_EQ(ThumbprintOfFile(Published("internal-transport.pem")), current.thumbprint);

  const UnixTimeMs renew_at = Crossing(current, 10 * kDay);
  AdvanceTo(renew_at - 1);
  EXPECT_TRUE(Logged("generating a self-signed").empty()) << "not renewed early";

  AdvanceTo(renew_at);
  const auto generating = Logged("generating a self-signed");
  ASSERT_EQ(generating.size(), 1u);
  EXPECT_EQ(generating[0].when, renew_at);
  ASSERT_TRUE(RunUntil(
      [&] { return ThumbprintOfFile(Published("internal-transport.pem")) != current.thumbprint; }));
  const std::string renewed = ThumbprintOfFile(Published("internal-transport.pem"));
  EXPECT_EQ(ThumbprintOfFile(Published(std::string(kFqdn) + ".pem")), renewed);
  ASSERT_TRUE(RunUntil([&] { return Reloads() == 2; })) << "one reload for the renewal";

  // Made on the daemon's clock: valid from the moment of the renewal.
  const Inventory& inventory = daemon_->CurrentInventory();
  const auto it = std::find_if(inventory.certificates.begin(), inventory.certificates.end(),
                               [&](const auto& s) { return s.cert().thumbprint() == renewed; });
  ASSERT_NE(it, inventory.certificates.end());
  EXPECT_EQ(it->cert().not_before, renew_at / kSecond);
  EXPECT_TRUE(std::filesystem::exists(Store() + "/current.pem")) << "the old one stays";

  // Nothing more until the renewed certificate's own renewal, years later.
  AdvanceTo(kStart + 400 * kDay);
  EXPECT_EQ(Logged("generating a self-signed").size(), 1u);
  EXPECT_EQ(Reloads(), 2);
}

TEST_F(SimulatedTime, ACertificateIsPublishedTheMomentItsNotBeforeArrives) {
  const UnixTimeMs valid_from = kStart + 3 * kDay;
  const TestCert future = Make("later.example.com", valid_from, kStart + 300 * kDay);
  PutInStore("later.pem", future);
  Start({{"publish", {{"names", "later.example.com"}}}});
  ASSERT_TRUE(RunUntil([&] { return Reloads() == 1; }));
  const std::string published = Published("later.example.com.pem");
  EXPECT_FALSE(std::filesystem::exists(published)) << "not valid yet";
  EXPECT_EQ(daemon_->NextDeadline(), valid_from);

  AdvanceTo(valid_from - 1);
  EXPECT_FALSE(std::filesystem::exists(published));
  AdvanceTo(valid_from);
  EXPECT_EQ(ThumbprintOfFile(published), future.thumbprint);
  EXPECT_TRUE(RunUntil([&] { return Reloads() == 2; }));
}

TEST_F(SimulatedTime, RemovedFilesAreDeletedWhenKeepRemovedRunsOutAndNotBefore) {
  const TestCert cert = Make("old.example.com", kStart - kDay, kStart + 300 * kDay);
  PutInStore("old.pem", cert);
  Start({{"store", {{"keep_removed", "3d"}}}});
  clock_.Set(kStart + 5 * kSecond);
  const Status removal = daemon_->RemoveCertificate(cert.thumbprint);
  ASSERT_TRUE(removal.ok()) << removal.error().message;
  const std::string removed = State() + "/removed";
  ASSERT_FALSE(std::filesystem::is_empty(removed));

  AdvanceTo(kStart + 5 * kSecond + 3 * kDay - 1);
  EXPECT_FALSE(std::filesystem::is_empty(removed)) << "kept for keep_removed";
  AdvanceTo(kStart + 5 * kSecond + 3 * kDay);
  EXPECT_TRUE(std::filesystem::is_empty(removed)) << "deleted once keep_removed ran out";
}

TEST_F(SimulatedTime, ASupersededCertificateIsRetiredWhenRetireSupersededRunsOut) {
  const TestCert old_one = Make("www.example.com", kStart - 60 * kDay, kStart + 30 * kDay);
  const TestCert renewal = Make("www.example.com", kStart - kDay, kStart + 90 * kDay);
  PutInStore("old.pem", old_one);
  PutInStore("renewal.pem", renewal);
  Start({{"store", {{"retire_superseded", "7d"}}}});

  AdvanceTo(kStart + 7 * kDay - 1);
  EXPECT_TRUE(std::filesystem::exists(Store() + "/old.pem"));
  AdvanceTo(kStart + 7 * kDay);
  EXPECT_FALSE(std::filesystem::exists(Store() + "/old.pem")) << "retired after 7 days";
  EXPECT_TRUE(std::filesystem::exists(Store() + "/renewal.pem"));
}

TEST_F(SimulatedTime, TheLoopRunsWhileAStoreRescanIsInFlightAndAChangeMeanwhileFollows) {
  const TestCert first = Make("first.example.com", kStart - kDay, kStart + 300 * kDay);
  const TestCert second = Make("second.example.com", kStart - kDay, kStart + 300 * kDay);
  Start();
  SettleAfterStart();
  daemon_->SetBeforeBackgroundScan([this] { gate_.Hold(); });
  PutInStore("first.pem", first);
  ASSERT_TRUE(RunUntil([&] { return gate_.Entered() == 1; }));

  // The loop goes on: a timer fires, and the daemon answers from the inventory it has.
  uv_timer_t timer;
  bool fired = false;
  uv_timer_init(daemon_->loop(), &timer);
  timer.data = &fired;
  uv_timer_start(
      &timer, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 1, 0);
  EXPECT_TRUE(RunUntil([&] { return fired; }));
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  EXPECT_EQ(daemon_->CurrentInventory().Find(first.thumbprint), nullptr) << "not taken in yet";
  EXPECT_EQ(daemon_->Select("first.example.com", Service::kSmtp).winner, nullptr);

  // A change while the scan is held: noticed (past the debounce delay), but no second scan
  // starts while the first runs; one follows it.
  PutInStore("second.pem", second);
  const std::uint64_t noticed = uv_now(daemon_->loop()) + 500;
  ASSERT_TRUE(RunUntil([&] { return uv_now(daemon_->loop()) >= noticed; }));
  EXPECT_EQ(gate_.Entered(), 1) << "one scan at a time";
  gate_.Open();
  EXPECT_TRUE(RunUntil([&] { return gate_.Entered() == 2; })) << "a scan follows the first";
  EXPECT_TRUE(RunUntil([&] {
    const Inventory& inventory = daemon_->CurrentInventory();
    return inventory.Find(first.thumbprint) != nullptr &&
           inventory.Find(second.thumbprint) != nullptr;
  }));
  const StoredCertificate* winner = daemon_->Select("second.example.com", Service::kSmtp).winner;
  ASSERT_NE(winner, nullptr);
  EXPECT_EQ(winner->cert().thumbprint(), second.thumbprint);
}

TEST_F(SimulatedTime, AnImportDuringABackgroundRescanSeesWhatThatRescanFinds) {
  const TestCert cert = Make("dropped.example.com", kStart - kDay, kStart + 300 * kDay);
  Start({{"publish", {{"names", "dropped.example.com"}}}});
  SettleAfterStart();
  daemon_->SetBeforeBackgroundScan([this] { gate_.Hold(); });
  PutInStore("dropped.pem", cert);
  ASSERT_TRUE(RunUntil([&] { return gate_.Entered() == 1; }));
  // The import (on the loop) waits for the scan in flight, then scans itself: the certificate
  // the held scan finds is in the store already, so the import writes nothing.
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    gate_.Open();
  });
  const auto imported = daemon_->ImportCertificate(cert.cert_pem + cert.key_pem, 0);
  opener.join();
  ASSERT_TRUE(imported.ok()) << imported.error().message;
  EXPECT_EQ(*imported, cert.thumbprint);
  EXPECT_EQ(Logged("the store already holds it").size(), 1u);
  const StoredCertificate* stored = daemon_->CurrentInventory().Find(cert.thumbprint);
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(daemon_->CurrentInventory().dir, Store());
  EXPECT_EQ(stored->file_names, std::vector<std::string>{"dropped.pem"});
  // The held scan's completion finds nothing left to take in, and evaluates what the import
  // took in: the new certificate is published for its name.
  EXPECT_TRUE(RunUntil(
      [&] { return ThumbprintOfFile(Published("dropped.example.com.pem")) == cert.thumbprint; }));
}

}  // namespace
}  // namespace transportcertd
