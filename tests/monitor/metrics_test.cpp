#include "monitor/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <sstream>

#include "tests/support/cert_factory.h"

namespace transportcertd {
namespace {

constexpr UnixTime kNotBefore = 1'700'000'000;
constexpr UnixTime kNotAfter = 1'800'000'000;
constexpr UnixTimeMs kNow = 1'750'000'000'000;

// `files`: names in the snapshot's store directory, /store.
StoredCertificate Stored(Certificate cert, std::vector<std::string> files = {"a.pem"}) {
  StoredCertificate stored;
  stored.certificate = std::make_shared<const Certificate>(std::move(cert));
  stored.file_names = std::move(files);
  stored.key_file_name = stored.file_names.empty() ? "" : stored.file_names.front();
  return stored;
}

Certificate PlainCertificate(const std::string& thumbprint = "AAAA") {
  Certificate cert;
  CertificateText text;
  text.thumbprint = thumbprint;
  text.subject = "CN=mail.example.com";
  text.issuer = "CN=Example CA";
  text.common_names = {"mail.example.com"};
  text.issuer_common_name = "Example CA";
  text.serial = "1F";
  cert.SetText(text);
  cert.not_before = kNotBefore;
  cert.not_after = kNotAfter;
  return cert;
}

class AMetricsRendering : public ::testing::Test {
 protected:
  // Adds a certificate to the snapshot; the stored certificate lives as long as the fixture.
  void Add(Certificate cert, std::string status = "Valid",
           ServiceSet services = Bit(Service::kSmtp), bool internal = false,
           std::vector<std::string> files = {"a.pem"}) {
    stored_.push_back(
        std::make_unique<StoredCertificate>(Stored(std::move(cert), std::move(files))));
    snapshot_.certificates.push_back({stored_.back().get(), std::move(status), services, internal});
  }

  std::string Render() {
    snapshot_.now = snapshot_.now == 0 ? kNow : snapshot_.now;
    if (snapshot_.version.empty()) snapshot_.version = "1.2.3";
    if (snapshot_.store_dir.empty()) snapshot_.store_dir = "/store";
    return RenderMetrics(snapshot_);
  }

  // The sample lines (no comments) of `family`, e.g. "x509_cert_not_after".
  std::vector<std::string> Samples(const std::string& text, const std::string& family) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with(family + "{") || line.starts_with(family + " ")) lines.push_back(line);
    }
    return lines;
  }

  MetricsSnapshot snapshot_;
  std::vector<std::unique_ptr<StoredCertificate>> stored_;
};

TEST_F(AMetricsRendering, ShowsEachCertificateWithTheLabelsOfX509CertificateExporter) {
  Add(PlainCertificate());
  const std::string text = Render();
  const std::string labels =
      R"({filepath="/store/a.pem",issuer_CN="Example CA",serial_number="31",)"
      R"(subject_CN="mail.example.com",thumbprint="AAAA"})";
  EXPECT_EQ(Samples(text, "x509_cert_not_after"),
            std::vector<std::string>{"x509_cert_not_after" + labels + " 1800000000"});
  EXPECT_EQ(Samples(text, "x509_cert_not_before"),
            std::vector<std::string>{"x509_cert_not_before" + labels + " 1700000000"});
  EXPECT_EQ(Samples(text, "x509_cert_expired"),
            std::vector<std::string>{"x509_cert_expired" + labels + " 0"});
}

TEST_F(AMetricsRendering, MarksACertificateExpiredFromTheSecondAfterItsNotAfter) {
  Add(PlainCertificate());
  snapshot_.now = kNotAfter * 1000 + 999;
  EXPECT_TRUE(Samples(Render(), "x509_cert_expired")[0].ends_with(" 0"));
  snapshot_.now = (kNotAfter + 1) * 1000;
  EXPECT_TRUE(Samples(Render(), "x509_cert_expired")[0].ends_with(" 1"));
}

TEST_F(AMetricsRendering, DescribesStatusServicesSelfSignedAndInternalTransport) {
  Certificate self = PlainCertificate("BBBB");
  self.self_signed = true;
  Add(PlainCertificate("AAAA"), "Expiring", Bit(Service::kSmtp) | Bit(Service::kImap));
  Add(self, "Valid", 0, /*internal=*/true, {"b.pem"});
  const std::string text = Render();
  EXPECT_EQ(Samples(text, "transportcertd_certificate_info"),
            (std::vector<std::string>{
                R"(transportcertd_certificate_info{thumbprint="AAAA",status="Expiring",)"
                R"(services="SMTP,IMAP",self_signed="false",internal_transport="false"} 1)",
                R"(transportcertd_certificate_info{thumbprint="BBBB",status="Valid",)"
                R"(services="",self_signed="true",internal_transport="true"} 1)"}));
  EXPECT_EQ(Samples(text, "transportcertd_internal_transport_not_after"),
            std::vector<std::string>{"transportcertd_internal_transport_not_after 1800000000"});
}

TEST_F(AMetricsRendering, LeavesTheInternalTransportSeriesOutWhenThereIsNone) {
  Add(PlainCertificate());
  const std::string text = Render();
  EXPECT_TRUE(Samples(text, "transportcertd_internal_transport_not_after").empty());
  EXPECT_NE(text.find("# TYPE transportcertd_internal_transport_not_after gauge\n"),
            std::string::npos);
}

TEST_F(AMetricsRendering, ShowsWhatEachPublishedNameSelects) {
  Add(PlainCertificate());
  snapshot_.selected = {{"mail.example.com", Service::kSmtp, "AAAA"},
                        {"mx.example.com", Service::kImap, "AAAA"}};
  EXPECT_EQ(Samples(Render(), "transportcertd_selected_info"),
            (std::vector<std::string>{
                R"(transportcertd_selected_info{name="mail.example.com",service="SMTP",)"
                R"(thumbprint="AAAA"} 1)",
                R"(transportcertd_selected_info{name="mx.example.com",service="IMAP",)"
                R"(thumbprint="AAAA"} 1)"}));
}

TEST_F(AMetricsRendering, ShowsCountersTimestampsAndTheVersion) {
  snapshot_.unusable_files = 3;
  snapshot_.reload_failures = 2;
  snapshot_.generation_failures = 1;
  snapshot_.last_reload_success = 1'760'000'000;
  snapshot_.version = "0.9.1";
  const std::string text = Render();
  EXPECT_EQ(Samples(text, "transportcertd_unusable_files"),
            std::vector<std::string>{"transportcertd_unusable_files 3"});
  EXPECT_EQ(Samples(text, "transportcertd_reload_failures_total"),
            std::vector<std::string>{"transportcertd_reload_failures_total 2"});
  EXPECT_EQ(Samples(text, "transportcertd_generation_failures_total"),
            std::vector<std::string>{"transportcertd_generation_failures_total 1"});
  EXPECT_EQ(Samples(text, "transportcertd_last_reload_success_timestamp_seconds"),
            std::vector<std::string>{"transportcertd_last_reload_success_timestamp_seconds "
                                     "1760000000"});
  EXPECT_EQ(Samples(text, "transportcertd_build_info"),
            std::vector<std::string>{R"(transportcertd_build_info{version="0.9.1"} 1)"});
  EXPECT_NE(text.find("# TYPE transportcertd_reload_failures_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE transportcertd_generation_failures_total counter\n"),
            std::string::npos);
}

TEST_F(AMetricsRendering, GivesEveryFamilyHelpAndTypeOnceBeforeItsSamples) {
  Add(PlainCertificate("AAAA"));
  Add(PlainCertificate("BBBB"));
  const std::string text = Render();
  ASSERT_TRUE(text.ends_with("\n"));
  std::istringstream in(text);
  std::vector<std::string> families;
  std::string current;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# HELP ")) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_EQ(std::count(families.begin(), families.end(), name), 0) << name;
      families.push_back(name);
      current = name;
    } else if (line.starts_with("# TYPE ")) {
      EXPECT_TRUE(line.starts_with("# TYPE " + current + " ")) << line;
    } else {
      EXPECT_TRUE(line.starts_with(current + "{") || line.starts_with(current + " ")) << line;
    }
  }
  EXPECT_EQ(families.size(), 11u);
}

TEST_F(AMetricsRendering, EscapesBackslashQuoteAndNewlineInLabelValues) {
  Certificate hostile = PlainCertificate();
  CertificateText text = hostile.Text();
  text.common_names = {"evil\"} 1\nx509_cert_expired{a=\"b\\"};
  hostile.SetText(text);
  Add(hostile, "Valid", Bit(Service::kSmtp), false, {"quote\"back\\slash\nnl.pem"});
  const std::string line = Samples(Render(), "x509_cert_not_after").at(0);
  EXPECT_NE(line.find(R"(subject_CN="evil\"} 1\nx509_cert_expired{a=\"b\\")"), std::string::npos)
      << line;
  EXPECT_NE(line.find(R"(filepath="/store/quote\"back\\slash\nnl.pem")"), std::string::npos)
      << line;
  EXPECT_EQ(Samples(Render(), "x509_cert_expired").size(), 1u) << "no injected sample";
}

TEST_F(AMetricsRendering, ReplacesBytesThatAreNotUtf8) {
  EXPECT_EQ(EscapeLabelValue("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(EscapeLabelValue(std::string("bad\xFF") + "byte"),
            std::string("bad\xEF\xBF\xBD") + "byte");
  EXPECT_EQ(EscapeLabelValue("cut\xE2\x82"), "cut\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeLabelValue("overlong\xC0\xAF"), "overlong\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeLabelValue("surrogate\xED\xA0\x80"),
            "surrogate\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeLabelValue("\xF0\x9F\x94\x8F"), "\xF0\x9F\x94\x8F");
  EXPECT_EQ(EscapeLabelValue("\xF4\x90\x80\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_F(AMetricsRendering, ShowsSerialNumbersInDecimalAsTheExporterDoes) {
  EXPECT_EQ(SerialToDecimal("1F"), "31");
  EXPECT_EQ(SerialToDecimal("00"), "0");
  EXPECT_EQ(SerialToDecimal("-0A"), "-10");
  EXPECT_EQ(SerialToDecimal("0123456789ABCDEF0123456789ABCDEF01234567"),
            "6495562832581790663061892574634853316331521383");
  EXPECT_EQ(SerialToDecimal(""), "");
  EXPECT_EQ(SerialToDecimal("XYZ"), "XYZ");
}

TEST_F(AMetricsRendering, UsesTheLastCommonNameAndEmptyLabelsWhenThereIsNone) {
  Certificate cert = PlainCertificate();
  CertificateText text = cert.Text();
  text.common_names = {"first.example.com", "last.example.com"};
  text.issuer_common_name.clear();
  cert.SetText(text);
  Add(cert, "Valid", Bit(Service::kSmtp), false, {});
  const std::string line = Samples(Render(), "x509_cert_not_after").at(0);
  EXPECT_NE(line.find(R"(subject_CN="last.example.com")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"(issuer_CN="")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"(filepath="")"), std::string::npos) << line;
}

TEST_F(AMetricsRendering, NeverShowsKeyMaterial) {
  const testing::TestCert real = testing::MakeCertificate({});
  auto parsed = ParseStoreFile(real.cert_pem + real.key_pem);
  ASSERT_TRUE(parsed) << parsed.error().message;
  Add(parsed->certificates.at(0), "Valid", Bit(Service::kSmtp), true);
  const std::string text = Render();
  EXPECT_EQ(text.find("PRIVATE"), std::string::npos);
  EXPECT_EQ(text.find("BEGIN"), std::string::npos);
  // No line of the key's base64 body, nor of the certificate's, appears in the text.
  std::istringstream key(real.key_pem + real.cert_pem);
  for (std::string line; std::getline(key, line);) {
    if (line.starts_with("-----") || line.size() < 16) continue;
    EXPECT_EQ(text.find(line.substr(0, 16)), std::string::npos) << line;
  }
  EXPECT_NE(text.find(real.thumbprint), std::string::npos);
}

TEST_F(AMetricsRendering, GivesTheSameTextForTheSameSnapshot) {
  Add(PlainCertificate("AAAA"));
  Add(PlainCertificate("BBBB"), "Expired");
  snapshot_.selected = {{"mail.example.com", Service::kSmtp, "AAAA"}};
  EXPECT_EQ(Render(), Render());
}

}  // namespace
}  // namespace transportcertd
