#include "daemon/config.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/assertions.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

// Predicates for EXPECT_TRUE that show the text when they fail.
::testing::AssertionResult StartsWith(const std::string& text, const std::string& prefix) {
  if (text.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\" does not start with \"" << prefix << "\"";
}

using testing::Contains;

constexpr std::int64_t kSecond = 1000;
constexpr std::int64_t kHour = 3600 * kSecond;
constexpr std::int64_t kDay = 24 * kHour;

// The fqdn is set so that parsing never asks the resolver for this host's name.
constexpr const char* kHeader = "[daemon]\nfqdn = mail.example.com\n";

Result<Config> Parse(const std::string& text) { return ParseConfig(text, "test.conf"); }

// The error message of a config that must not parse ("" when it parses).
std::string ErrorOf(const std::string& text) {
  auto config = Parse(text);
  return config ? "" : config.error().message;
}

std::int64_t Ms(std::string_view duration) {
  auto parsed = ParseDuration(duration);
  EXPECT_TRUE(parsed) << duration << ": " << (parsed ? "" : parsed.error().message);
  return parsed ? parsed->count() : -1;
}

std::vector<std::int64_t> Counts(const std::vector<Milliseconds>& durations) {
  std::vector<std::int64_t> out;
  for (const auto& d : durations) out.push_back(d.count());
  return out;
}

// --- durations -------------------------------------------------------------------------------

TEST(ADuration, TakesEachUnit) {
  EXPECT_EQ(Ms("250ms"), 250);
  EXPECT_EQ(Ms("90s"), 90 * kSecond);
  EXPECT_EQ(Ms("5min"), 300 * kSecond);
  EXPECT_EQ(Ms("12h"), 12 * kHour);
  EXPECT_EQ(Ms("30d"), 30 * kDay);
}

TEST(ADuration, AddsUpCombinedParts) {
  EXPECT_EQ(Ms("1d 12h"), kDay + 12 * kHour);
  EXPECT_EQ(Ms("1d12h"), kDay + 12 * kHour);
  EXPECT_EQ(Ms("1h 30min 15s 500ms"), kHour + 1800 * kSecond + 15 * kSecond + 500);
}

TEST(ADuration, RejectsUnknownOrMissingUnits) {
  for (const char* bad : {"5x", "5", "ms", "", "   ", "1.5h", "5 parsecs", "d5", "2weeks"}) {
    auto parsed = ParseDuration(bad);
    ASSERT_FALSE(parsed) << "\"" << bad << "\" parsed as " << parsed->count() << " ms";
    EXPECT_TRUE(Contains(parsed.error().message, "bad duration")) << bad;
  }
}

TEST(ADuration, RejectsNegativeValues) {
  EXPECT_FALSE(ParseDuration("-5s"));
  EXPECT_FALSE(ParseDuration("1d -12h"));
}

TEST(ADuration, RejectsAPartTooLongToRepresent) {
  EXPECT_FALSE(ParseDuration("9999999999999999999d"));
  EXPECT_FALSE(ParseDuration("999999999999999d"));
}

// Each part alone is below the per-part limit; their sum is not representable in int64 ms.
TEST(ADuration, RejectsASumTooLongToRepresent) {
  auto parsed = ParseDuration("4611686018427387s 4611686018427387s 4611686018427387s");
  EXPECT_FALSE(parsed) << "parsed as " << parsed->count() << " ms";
}

// --- the configuration file ------------------------------------------------------------------

TEST(AConfig, HasTheDocumentedDefaults) {
  auto config = Parse(kHeader);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->store, "/var/lib/transportcertd/store");
  EXPECT_EQ(config->state, "/var/lib/transportcertd");
  EXPECT_EQ(config->publish_dir, "/var/lib/transportcertd/published");
  EXPECT_EQ(Counts(config->warn_before),
            (std::vector<std::int64_t>{30 * kDay, 14 * kDay, 7 * kDay, 3 * kDay, kDay}));
  EXPECT_EQ(config->renew_before.count(), 30 * kDay);
  EXPECT_EQ(config->validity.count(), 1825 * kDay);
  EXPECT_EQ(config->key.ToString(), "rsa:2048");
  EXPECT_EQ(config->default_services, Bit(Service::kSmtp));
  EXPECT_EQ(config->publish_services, Bit(Service::kSmtp));
  EXPECT_EQ(config->wildcard, WildcardMode::kOneLevel);
  EXPECT_TRUE(config->trust.empty());
  EXPECT_TRUE(StoreScanOptions(*config).extra_anchors.empty());
  EXPECT_EQ(config->log_level, "info");
  EXPECT_TRUE(config->reload_command.empty());
  EXPECT_EQ(config->source, "test.conf");
}

TEST(AConfig, ParsesTheExampleOfTheSpecWithItsInlineComments) {
  const std::string text =
      "[daemon]\n"
      "fqdn = mail.example.com          ; default: this host's FQDN\n"
      "store = /var/lib/transportcertd/store\n"
      "state = /var/lib/transportcertd  ; bindings and internal transport designation\n"
      "default_services = SMTP          ; services of a certificate nobody has enabled\n"
      "log_level = info\n"
      "admin_group =                    ; members may call mutating D-Bus methods\n"
      "\n"
      "[monitor]\n"
      "warn_before = 30d 14d 7d 3d 1d   ; one expiry alert per certificate per threshold\n"
      "renew_before = 30d               ; replace the internal transport certificate\n"
      "\n"
      "[selfsigned]\n"
      "key = rsa:2048                   ; rsa:2048|rsa:3072|rsa:4096|ec:P-256|ec:P-384\n"
      "validity = 1825d                 ; Exchange's default is 5 years\n"
      "names =                          ; extra DNS names\n"
      "\n"
      "[selection]\n"
      "wildcard = one-level             ; one-level (RFC 6125) | multi-level\n"
      "\n"
      "[publish]\n"
      "dir = /var/lib/transportcertd/published\n"
      "names =                          ; host names to publish for (fqdn always)\n"
      "group =                          ; group that may read published keys\n"
      "reload_command =                 ; run after published files change\n";
  auto config = Parse(text);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->fqdn, "mail.example.com");
  EXPECT_EQ(config->state, "/var/lib/transportcertd");
  EXPECT_EQ(config->warn_before.size(), 5u);
  EXPECT_TRUE(config->admin_group.empty());
  EXPECT_TRUE(config->selfsigned_names.empty());
  EXPECT_TRUE(config->reload_command.empty());
}

TEST(AConfig, SortsThresholdsLargestFirst) {
  auto config = Parse(std::string(kHeader) + "[monitor]\nwarn_before = 4s 1d 12h 8s\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(Counts(config->warn_before),
            (std::vector<std::int64_t>{kDay, 12 * kHour, 8 * kSecond, 4 * kSecond}));
}

TEST(AConfig, NormalizesHostNames) {
  auto config = Parse(
      "[daemon]\nfqdn = Mail.Example.COM.\n[publish]\nnames = Smtp.Example.com, mx.example.com\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->fqdn, "mail.example.com");
  EXPECT_EQ(config->publish_names,
            (std::vector<std::string>{"smtp.example.com", "mx.example.com"}));
}

TEST(AConfig, KeepsTheReloadCommandVerbatim) {
  auto config = Parse(std::string(kHeader) +
                      "[publish]\nreload_command = postfix reload && doveadm reload\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->reload_command, "postfix reload && doveadm reload");
}

TEST(AConfig, PublishesTheListedServicesAndSmtpAlways) {
  auto config = Parse(std::string(kHeader) + "[publish]\nservices = imap pop\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->publish_services,
            Bit(Service::kSmtp) | Bit(Service::kImap) | Bit(Service::kPop));
  const std::string error = ErrorOf(std::string(kHeader) + "\n[publish]\nservices = SMTP IMAPS\n");
  EXPECT_TRUE(StartsWith(error, "test.conf:5: services: ")) << error;
  EXPECT_TRUE(Contains(error, "IMAPS")) << error;
}

TEST(AConfig, NamesFileAndLineOfAnUnknownKey) {
  EXPECT_TRUE(StartsWith(ErrorOf("[daemon]\nfqdn = mail.example.com\nfdqn = mail.example.com\n"),
                         "test.conf:3: unknown key \"fdqn\" in [daemon]"));
}

TEST(AConfig, NamesFileAndLineOfAnUnknownSection) {
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "\n[tls]\ncert = x\n"),
                         "test.conf:4: unknown section [tls]"));
}

TEST(AConfig, RejectsAnUnknownSectionEvenWhenItIsEmpty) {
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "[tls]\n"), "test.conf:3: "));
}

TEST(AConfig, RejectsASettingOutsideAnySection) {
  EXPECT_TRUE(StartsWith(ErrorOf("fqdn = mail.example.com\n"), "test.conf:1: "));
}

TEST(AConfig, RejectsALineThatIsNotASetting) {
  EXPECT_TRUE(
      StartsWith(ErrorOf(std::string(kHeader) + "[publish]\nreload postfix\n"), "test.conf:4: "));
}

TEST(AConfig, RejectsAnIndentedContinuationLine) {
  EXPECT_TRUE(StartsWith(
      ErrorOf(std::string(kHeader) + "[publish]\nnames = a.example.com\n  b.example.com\n"),
      "test.conf:5: "));
}

TEST(AConfig, NamesBothLinesOfADuplicateKey) {
  const std::string error =
      ErrorOf(std::string(kHeader) + "[monitor]\nwarn_before = 7d\n\nwarn_before = 1d\n");
  EXPECT_TRUE(StartsWith(error, "test.conf:6: "));
  EXPECT_TRUE(Contains(error, "twice"));
  EXPECT_TRUE(Contains(error, "line 4"));
}

TEST(AConfig, NamesTheLineOfABadDuration) {
  EXPECT_TRUE(
      StartsWith(ErrorOf(std::string(kHeader) + "[monitor]\nrenew_before = 30days 2fortnights\n"),
                 "test.conf:4: renew_before: bad duration"));
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "[monitor]\nwarn_before = 7d 3x\n"),
                         "test.conf:4: warn_before: bad duration"));
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "[selfsigned]\nvalidity = -5d\n"),
                         "test.conf:4: validity: bad duration"));
}

TEST(AConfig, RejectsARenewalDueAsSoonAsTheCertificateIsMade) {
  const std::string error =
      ErrorOf(std::string(kHeader) + "[selfsigned]\nvalidity = 7d\n");  // renew_before 30d
  EXPECT_TRUE(StartsWith(error, "test.conf:4: renew_before (30d) must be shorter than")) << error;
  EXPECT_TRUE(StartsWith(
      ErrorOf(std::string(kHeader) + "[monitor]\nrenew_before = 1h\n[selfsigned]\nvalidity = 1h\n"),
      "test.conf:6: renew_before (1h)"));
  const std::string ok =
      std::string(kHeader) + "[monitor]\nrenew_before = 3599s\n[selfsigned]\nvalidity = 1h\n";
  EXPECT_TRUE(ParseConfig(ok, "test.conf").ok());
}

TEST(AConfig, RejectsZeroDurations) {
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "[monitor]\nrenew_before = 0s\n"),
                         "test.conf:4: "));
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "[monitor]\nwarn_before = 7d 0ms\n"),
                         "test.conf:4: "));
}

TEST(AConfig, RejectsAnEmptyWarnBefore) {
  const std::string error = ErrorOf(std::string(kHeader) + "[monitor]\nwarn_before =\n");
  EXPECT_TRUE(StartsWith(error, "test.conf:"));
  EXPECT_TRUE(Contains(error, "warn_before"));
}

TEST(AConfig, NamesTheLineOfAnEmptyWarnBefore) {
  EXPECT_TRUE(
      StartsWith(ErrorOf(std::string(kHeader) + "[monitor]\nwarn_before =\n"), "test.conf:4: "));
}

TEST(AConfig, NamesTheLineOfABadKeySpec) {
  for (const char* bad : {"rsa:1024", "dsa:2048", "ec:P-192", "rsa", ""}) {
    EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "[selfsigned]\nkey = " + bad + "\n"),
                           "test.conf:4: key: "))
        << bad;
  }
}

TEST(AConfig, AcceptsEveryDocumentedKeySpec) {
  for (const char* good : {"rsa:2048", "rsa:3072", "rsa:4096", "ec:P-256", "ec:P-384"}) {
    auto config = Parse(std::string(kHeader) + "[selfsigned]\nkey = " + good + "\n");
    ASSERT_TRUE(config) << good << ": " << config.error().message;
    EXPECT_EQ(config->key.ToString(), good);
  }
}

TEST(AConfig, NamesTheLineOfABadHostName) {
  EXPECT_TRUE(StartsWith(ErrorOf("[daemon]\nfqdn = -mail-.example.com\n"), "test.conf:2: fqdn: "));
  EXPECT_TRUE(StartsWith(ErrorOf("[daemon]\nfqdn = *.example.com\n"), "test.conf:2: fqdn: "));
  const std::string error =
      ErrorOf(std::string(kHeader) + "[publish]\nnames = ok.example.com bad!name.example.com\n");
  EXPECT_TRUE(StartsWith(error, "test.conf:4: names: "));
  EXPECT_TRUE(Contains(error, "bad!name.example.com"));
  EXPECT_TRUE(
      StartsWith(ErrorOf(std::string(kHeader) + "[selfsigned]\nnames = under score..example\n"),
                 "test.conf:4: names: "));
}

TEST(AConfig, RejectsBadValuesOfTheOtherKeys) {
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "store = relative/store\n"),
                         "test.conf:3: store: "));
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "default_services = SMTP FTP\n"),
                         "test.conf:3: default_services: "));
  EXPECT_TRUE(
      StartsWith(ErrorOf(std::string(kHeader) + "log_level = loud\n"), "test.conf:3: log_level: "));
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "[selection]\nwildcard = two-level\n"),
                         "test.conf:4: wildcard: "));
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "[publish]\ndir = published\n"),
                         "test.conf:4: dir: "));
}

TEST(AConfig, ReadsTrustAnchorsFromAFileOrADirectory) {
  testing::TempDir dir;
  const auto root_a = testing::MakeCa("Root A");
  const auto root_b = testing::MakeCa("Root B");
  const std::string file = dir.Write("our-ca.pem", root_a.cert_pem);
  auto config = Parse(std::string(kHeader) + "[selection]\ntrust = " + file + "\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->trust, file);
  EXPECT_EQ(config->trust_anchors, std::vector<std::string>{root_a.der});
  EXPECT_EQ(StoreScanOptions(*config).extra_anchors, config->trust_anchors);
  // Anchors are added to the system trust store, which stays in use.
  EXPECT_TRUE(StoreScanOptions(*config).trust_file.empty());
  EXPECT_TRUE(StoreScanOptions(*config).trust_dir.empty());

  dir.Write("second.crt", root_b.cert_pem);
  config = Parse(std::string(kHeader) + "[selection]\ntrust = " + dir.path() + "\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->trust_anchors.size(), 2u);
  EXPECT_TRUE(Contains(FormatConfig(*config), "\ntrust = " + dir.path() + "\n"));
}

TEST(AConfig, NamesTheLineAndFileOfUnusableTrustAnchors) {
  testing::TempDir dir;
  const std::string prefix = std::string(kHeader) + "[selection]\nwildcard = one-level\n";
  EXPECT_EQ(ErrorOf(prefix + "trust = ca.pem\n"), "test.conf:5: trust: must be an absolute path");
  EXPECT_EQ(ErrorOf(prefix + "trust = " + dir / "missing.pem\n"),
            "test.conf:5: trust: " + dir / "missing.pem" + ": No such file or directory");
  const std::string garbage = dir.Write("garbage.pem", "not a certificate\n");
  EXPECT_TRUE(StartsWith(ErrorOf(prefix + "trust = " + dir.path() + "\n"),
                         "test.conf:5: trust: " + garbage + ": holds no certificate"));
  auto empty = Parse(prefix + "trust =\n");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->trust_anchors.empty());
}

TEST(AConfig, CountsLinesAcrossCommentsAndBlankLines) {
  const std::string text =
      "# transportcertd configuration\n"  // 1
      "; another comment style\n"         // 2
      "\n"                                // 3
      "[daemon]\n"                        // 4
      "fqdn = mail.example.com\n"         // 5
      "\n"                                // 6
      "   \n"                             // 7
      "# [monitor] is next\n"             // 8
      "[monitor]\n"                       // 9
      "; renew early\n"                   // 10
      "renew_before = 30d\n"              // 11
      "\n"                                // 12
      "warn_before = 7d soonish\n";       // 13
  EXPECT_TRUE(StartsWith(ErrorOf(text), "test.conf:13: "));
}

TEST(AConfig, CountsWindowsLineEndingsLikeOthers) {
  EXPECT_TRUE(StartsWith(ErrorOf("[daemon]\r\nfqdn = mail.example.com\r\n\r\nbogus = 1\r\n"),
                         "test.conf:4: unknown key \"bogus\""));
}

TEST(AConfig, PrintsAnEffectiveConfigurationThatParsesToTheSame) {
  auto config = Parse(
      "[daemon]\nfqdn = mail.example.com\nstore = /srv/store\nstate = /srv/state\n"
      "default_services = SMTP IMAP\nlog_level = debug\nadmin_group = root\n"
      "[monitor]\nwarn_before = 1d 12h 5s\nrenew_before = 45d\n"
      "[selfsigned]\nkey = ec:P-384\nvalidity = 90d\nnames = mx.example.com\n"
      "[selection]\nwildcard = multi-level\n"
      "[publish]\ndir = /srv/published\nnames = smtp.example.com\ngroup = nogroup\n"
      "reload_command = postfix reload\nreload_timeout = 90s\nservices = SMTP IMAP HTTP\n");
  ASSERT_TRUE(config) << config.error().message;
  const std::string printed = FormatConfig(*config);
  auto again = ParseConfig(printed, "printed");
  ASSERT_TRUE(again) << again.error().message << "\n" << printed;
  // The same text but for the first line, which names the source.
  const auto body = [](const std::string& s) { return s.substr(s.find('\n')); };
  EXPECT_EQ(body(FormatConfig(*again)), body(printed));
  EXPECT_EQ(again->store, "/srv/store");
  EXPECT_EQ(again->state, "/srv/state");
  EXPECT_EQ(again->default_services, Bit(Service::kSmtp) | Bit(Service::kImap));
  EXPECT_EQ(again->publish_services,
            Bit(Service::kSmtp) | Bit(Service::kImap) | Bit(Service::kHttp));
  EXPECT_EQ(again->log_level, "debug");
  EXPECT_EQ(again->admin_group, "root");
  EXPECT_EQ(Counts(again->warn_before), Counts(config->warn_before));
  EXPECT_EQ(again->renew_before, config->renew_before);
  EXPECT_EQ(again->key, config->key);
  EXPECT_EQ(again->validity, config->validity);
  EXPECT_EQ(again->selfsigned_names, config->selfsigned_names);
  EXPECT_EQ(again->wildcard, WildcardMode::kMultiLevel);
  EXPECT_EQ(again->publish_dir, "/srv/published");
  EXPECT_EQ(again->publish_names, config->publish_names);
  EXPECT_EQ(again->publish_group, "nogroup");
  EXPECT_EQ(again->reload_command, "postfix reload");
  EXPECT_EQ(again->reload_timeout, Milliseconds{90 * kSecond});
}

// --- cross-checks ----------------------------------------------------------------------------

TEST(AConfig, WaitsAMinuteForTheReloadCommandByDefault) {
  auto config = Parse(kHeader);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->reload_timeout, Milliseconds{60 * kSecond});
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "[publish]\nreload_timeout = 0s\n"),
                         "test.conf:4: reload_timeout: must be longer than 0"));
}

TEST(AConfig, RefusesThePublishDirectoryInsideTheStoreOrEqualToIt) {
  const std::string store = std::string(kHeader) + "store = /srv/store\n";
  EXPECT_TRUE(StartsWith(ErrorOf(store + "[publish]\ndir = /srv/store/published\n"),
                         "test.conf:5: [daemon] store (/srv/store) and [publish] dir "
                         "(/srv/store/published) overlap: the publish directory is inside"));
  EXPECT_TRUE(
      Contains(ErrorOf(store + "[publish]\ndir = /srv/x/../store/\n"), "are the same directory"));
  EXPECT_TRUE(StartsWith(ErrorOf("[publish]\ndir = /srv/p\n[daemon]\nfqdn = a.example\n"
                                 "store = //srv/p/./s\n"),
                         "test.conf:5: [daemon] store (//srv/p/./s) and [publish] dir (/srv/p) "
                         "overlap: the store is inside the publish directory"));
  EXPECT_EQ(ErrorOf(store + "[publish]\ndir = /srv/store-published\n"), "")
      << "a common prefix is not nesting";
  EXPECT_EQ(ErrorOf(store + "state = /srv\n[publish]\ndir = /srv/published\n"), "")
      << "the state directory may hold both";
}

TEST(AConfig, RefusesTheRootDirectoryForAnyOfItsDirectories) {
  for (const std::string line : {"store = /", "state = //", "[publish]\ndir = /./"}) {
    EXPECT_TRUE(Contains(ErrorOf(std::string(kHeader) + line + "\n"), "must not be / itself"))
        << line;
  }
}

TEST(AConfig, RefusesControlCharactersInPathsAndNulBytesAnywhere) {
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "store = /srv/st\x1bore\n"),
                         "test.conf:3: store: must not contain control characters"));
  EXPECT_TRUE(StartsWith(
      ErrorOf(std::string(kHeader) + "store = /srv/store" + std::string(1, '\0') + "/etc\n"),
      "test.conf:3: control character (a NUL byte) in the line"));
}

TEST(AConfig, RefusesPublishNamesThatWouldOverwriteTheDaemonsOwnFiles) {
  EXPECT_TRUE(StartsWith(
      ErrorOf(std::string(kHeader) + "[publish]\nnames = a.example Internal-Transport\n"),
      "test.conf:4: names: \"internal-transport\" cannot be published"));
  EXPECT_TRUE(Contains(ErrorOf(std::string(kHeader) + "[publish]\nnames = sni-map\n"),
                       "sni-map is the name of a file the daemon writes"));
  EXPECT_TRUE(Contains(ErrorOf("[daemon]\nfqdn = internal-transport\n"), "cannot be published"));
}

TEST(AConfig, RefusesGroupsThatDoNotExist) {
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "admin_group = no-such-group-here\n"),
                         "test.conf:3: admin_group: group \"no-such-group-here\" does not exist"));
  EXPECT_TRUE(StartsWith(ErrorOf(std::string(kHeader) + "[publish]\ngroup = no-such-group-here\n"),
                         "test.conf:4: group: group \"no-such-group-here\" does not exist"));
  EXPECT_EQ(ErrorOf(std::string(kHeader) + "admin_group = root\n[publish]\ngroup = root\n"), "");
}

TEST(LoadingAConfig, UsesDefaultsWhenTheDefaultFileIsMissing) {
  testing::TempDir dir;
  auto config = LoadConfig(dir / "missing.conf", /*must_exist=*/false);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->source.empty());
  EXPECT_EQ(config->warn_before.size(), 5u);
}

TEST(LoadingAConfig, FailsWhenANamedFileIsMissing) {
  testing::TempDir dir;
  auto config = LoadConfig(dir / "missing.conf", /*must_exist=*/true);
  ASSERT_FALSE(config);
  EXPECT_TRUE(StartsWith(config.error().message, dir / "missing.conf" + ":"));
}

TEST(LoadingAConfig, NamesTheFileItRead) {
  testing::TempDir dir;
  const std::string path = dir.Write("t.conf", std::string(kHeader) + "[monitor]\nfoo = 1\n");
  auto config = LoadConfig(path, /*must_exist=*/true);
  ASSERT_FALSE(config);
  EXPECT_TRUE(StartsWith(config.error().message, path + ":4: unknown key \"foo\""));
}

TEST(AMetricsTextfile, IsOffByDefault) {
  auto config = Parse(kHeader);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->metrics_textfile, "");
}

TEST(AMetricsTextfile, TakesTheDocumentedPathAndPrintsItBack) {
  auto config =
      Parse(std::string(kHeader) +
            "[metrics]\ntextfile = /var/lib/prometheus/node-exporter/transportcertd.prom\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->metrics_textfile, "/var/lib/prometheus/node-exporter/transportcertd.prom");
  auto again = ParseConfig(FormatConfig(*config), "printed");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->metrics_textfile, config->metrics_textfile);
  auto empty = Parse(std::string(kHeader) + "[metrics]\ntextfile =\n");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->metrics_textfile, "");
}

TEST(AMetricsTextfile, RejectsWhatNodeExporterWouldNeverRead) {
  const std::string section = std::string(kHeader) + "[metrics]\n";
  EXPECT_TRUE(StartsWith(ErrorOf(section + "textfile = transportcertd.prom\n"),
                         "test.conf:4: textfile: must be an absolute path"));
  EXPECT_TRUE(StartsWith(ErrorOf(section + "textfile = /var/lib/prometheus/transportcertd.txt\n"),
                         "test.conf:4: textfile: must name a file ending in .prom"));
  EXPECT_TRUE(StartsWith(ErrorOf(section + "textfile = /var/lib/prometheus/.prom\n"),
                         "test.conf:4: textfile: must name a file ending in .prom"));
  EXPECT_TRUE(StartsWith(ErrorOf(section + "textfile = /var/lib/\x01x.prom\n"),
                         "test.conf:4: textfile: must not contain control characters"));
  EXPECT_TRUE(StartsWith(ErrorOf(section + "file = /x.prom\n"),
                         "test.conf:4: unknown key \"file\" in [metrics]"));
}

}  // namespace
TEST(VerifySettings, DefaultToTheMailPortsAndTenSeconds) {
  auto config = Parse(kHeader);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->verify_endpoints,
            (std::vector<std::string>{"25/smtp", "587/smtp", "465/smtps", "143/imap", "993/imaps",
                                      "110/pop3", "995/pop3s"}));
  EXPECT_EQ(config->verify_after_reload, Milliseconds{10'000});
}

TEST(VerifySettings, TakeEndpointsAndADelayAndPrintThemBack) {
  auto config = Parse(std::string(kHeader) +
                      "[verify]\nendpoints = 2525/smtp 993/imaps 993/imaps\nafter_reload = 0\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->verify_endpoints, (std::vector<std::string>{"2525/smtp", "993/imaps"}));
  EXPECT_EQ(config->verify_after_reload, Milliseconds{0});
  auto again = ParseConfig(FormatConfig(*config), "printed");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->verify_endpoints, config->verify_endpoints);
  EXPECT_EQ(again->verify_after_reload, config->verify_after_reload);
  auto later = Parse(std::string(kHeader) + "[verify]\nafter_reload = 1min\n");
  ASSERT_TRUE(later) << later.error().message;
  EXPECT_EQ(later->verify_after_reload, Milliseconds{60'000});
}

TEST(VerifySettings, RejectBadEndpointsWithFileAndLine) {
  const std::string section = std::string(kHeader) + "[verify]\n";
  for (const char* bad :
       {"25", "smtp", "25/SMTP", "25/http", "0/smtp", "65536/smtp", "x/smtp", "/smtp", "25/"}) {
    EXPECT_TRUE(
        StartsWith(ErrorOf(section + "endpoints = 993/imaps " + bad + "\n"),
                   std::string("test.conf:4: endpoints: \"") + bad + "\" is not PORT/PROTOCOL"))
        << bad << ": " << ErrorOf(section + "endpoints = " + bad + "\n");
  }
  EXPECT_TRUE(StartsWith(ErrorOf(section + "endpoints =\n"),
                         "test.conf:4: endpoints: needs at least one endpoint"));
  EXPECT_TRUE(StartsWith(ErrorOf(section + "after_reload = soon\n"), "test.conf:4: after_reload"));
}

}  // namespace transportcertd
