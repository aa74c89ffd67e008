#include "monitor/metrics.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>

#include <utility>

#include "monitor/openssl_handles.h"

namespace transportcertd {
namespace {

// The length of the UTF-8 sequence at the start of `s` (1..4), or 0 when it is not one:
// overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80;  // bounds of the second byte
  unsigned char high = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) low = 0xA0;   // overlong
    if (b0 == 0xED) high = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) low = 0x90;   // overlong
    if (b0 == 0xF4) high = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

using Labels = std::vector<std::pair<std::string_view, std::string>>;

// `{label="value",...}` with the values escaped; empty without labels.
std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (const auto& [label, value] : labels) {
    if (out.size() > 1) out += ',';
    out += label;
    out += "=\"";
    out += EscapeLabelValue(value);
    out += '"';
  }
  out += '}';
  return out;
}

// One metric family: HELP and TYPE, then its sample lines `name{labels} value`.
class Family {
 public:
  Family(std::string* out, std::string_view name, std::string_view type, std::string_view help)
      : out_(out), name_(name) {
    *out_ += "# HELP ";
    *out_ += name;
    *out_ += ' ';
    *out_ += help;
    *out_ += "\n# TYPE ";
    *out_ += name;
    *out_ += ' ';
    *out_ += type;
    *out_ += '\n';
  }

  void Sample(const Labels& labels, std::int64_t value) {
    SampleRendered(RenderLabels(labels), value);
  }
  void SampleRendered(std::string_view rendered_labels, std::int64_t value) {
    *out_ += name_;
    *out_ += rendered_labels;
    *out_ += ' ';
    *out_ += std::to_string(value);
    *out_ += '\n';
  }

 private:
  std::string* out_;
  std::string_view name_;
};

// x509-certificate-exporter takes the last CN of a name (Go's pkix.Name.CommonName).
std::string LastOf(const NameList& values) {
  return values.empty() ? std::string() : std::string(values.back());
}

// The full path of the first of the store files `names` in `dir`; "" when there is none.
std::string FirstFilePath(const std::string& dir, const std::vector<std::string>& names) {
  return names.empty() ? std::string() : StorePath(dir, names.front());
}

std::string JoinServices(ServiceSet services) {
  std::string joined;
  for (const auto& name : ServiceNames(services)) {
    if (!joined.empty()) joined += ',';
    joined += name;
  }
  return joined;
}

const char* Bool(bool b) { return b ? "true" : "false"; }

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  while (!value.empty()) {
    const std::size_t length = Utf8SequenceLength(value);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      value.remove_prefix(1);
      continue;
    }
    if (length == 1) {
      switch (value.front()) {
        case '\\':
          out += "\\\\";
          break;
        case '"':
          out += "\\\"";
          break;
        case '\n':
          out += "\\n";
          break;
        default:
          out += value.front();
      }
    } else {
      out.append(value.substr(0, length));
    }
    value.remove_prefix(length);
  }
  return out;
}

std::string SerialToDecimal(std::string_view hex) {
  const bool negative = !hex.empty() && hex.front() == '-';
  const std::string digits(negative ? hex.substr(1) : hex);
  if (digits.empty() || digits.find_first_not_of("0123456789ABCDEFabcdef") != std::string::npos) {
    return std::string(hex);
  }
  BIGNUM* raw = nullptr;
  if (BN_hex2bn(&raw, digits.c_str()) != static_cast<int>(digits.size())) {
    BN_free(raw);
    return std::string(hex);
  }
  BignumPtr bn(raw);
  char* decimal = BN_bn2dec(bn.get());
  if (decimal == nullptr) return std::string(hex);
  const std::string text = decimal;
  OPENSSL_free(decimal);
  return negative && text != "0" ? "-" + text : text;
}

std::string RenderMetrics(const MetricsSnapshot& s) {
  std::string out;
  // The same labels on the three x509_cert_* series of a certificate: rendered once.
  std::vector<std::string> x509_labels;
  x509_labels.reserve(s.certificates.size());
  for (const auto& c : s.certificates) {
    const Certificate& cert = c.stored->cert();
    x509_labels.push_back(
        RenderLabels({{"filepath", FirstFilePath(s.store_dir, c.stored->file_names)},
                      {"issuer_CN", std::string(cert.issuer_common_name())},
                      {"serial_number", SerialToDecimal(cert.serial())},
                      {"subject_CN", LastOf(cert.common_names())},
                      {"thumbprint", std::string(cert.thumbprint())}}));
  }

  Family not_after(&out, "x509_cert_not_after", "gauge",
                   "The certificate's NotAfter, in seconds since the Unix epoch.");
  for (std::size_t i = 0; i < s.certificates.size(); ++i) {
    not_after.SampleRendered(x509_labels[i], s.certificates[i].stored->cert().not_after);
  }
  Family not_before(&out, "x509_cert_not_before", "gauge",
                    "The certificate's NotBefore, in seconds since the Unix epoch.");
  for (std::size_t i = 0; i < s.certificates.size(); ++i) {
    not_before.SampleRendered(x509_labels[i], s.certificates[i].stored->cert().not_before);
  }
  Family expired(&out, "x509_cert_expired", "gauge", "1 when the certificate has expired, else 0.");
  for (std::size_t i = 0; i < s.certificates.size(); ++i) {
    expired.SampleRendered(x509_labels[i],
                           IsExpired(s.certificates[i].stored->cert(), s.now) ? 1 : 0);
  }

  Family info(&out, "transportcertd_certificate_info", "gauge",
              "Each certificate in the store: its status, the services it is enabled for, "
              "whether it is self-signed and whether it is the internal transport certificate.");
  for (const auto& c : s.certificates) {
    info.Sample({{"thumbprint", std::string(c.stored->cert().thumbprint())},
                 {"status", c.status},
                 {"services", JoinServices(c.services)},
                 {"self_signed", Bool(c.stored->cert().self_signed)},
                 {"internal_transport", Bool(c.internal_transport)}},
                1);
  }

  Family internal(&out, "transportcertd_internal_transport_not_after", "gauge",
                  "NotAfter of the internal transport certificate, in seconds since the Unix "
                  "epoch; absent while there is none in the store.");
  for (const auto& c : s.certificates) {
    if (c.internal_transport) {
      internal.Sample({}, c.stored->cert().not_after);
      break;
    }
  }

  Family selected(&out, "transportcertd_selected_info", "gauge",
                  "The certificate each published name presents for a service.");
  for (const auto& sel : s.selected) {
    selected.Sample(
        {{"name", sel.name}, {"service", ServiceName(sel.service)}, {"thumbprint", sel.thumbprint}},
        1);
  }

  Family unusable(&out, "transportcertd_unusable_files", "gauge",
                  "Files in the store that could not be used (the journal says why).");
  unusable.Sample({}, static_cast<std::int64_t>(s.unusable_files));
  Family reload_failures(&out, "transportcertd_reload_failures_total", "counter",
                         "Runs of reload_command that failed, since the daemon started.");
  reload_failures.Sample({}, static_cast<std::int64_t>(s.reload_failures));
  Family generation_failures(
      &out, "transportcertd_generation_failures_total", "counter",
      "Self-signed certificate generations that failed, since the daemon started.");
  generation_failures.Sample({}, static_cast<std::int64_t>(s.generation_failures));
  Family last_reload(&out, "transportcertd_last_reload_success_timestamp_seconds", "gauge",
                     "When reload_command last succeeded, in seconds since the Unix epoch; 0 "
                     "when it has not since the daemon started.");
  last_reload.Sample({}, s.last_reload_success);
  Family build(&out, "transportcertd_build_info", "gauge", "The version of transportcertd.");
  build.Sample({{"version", s.version}}, 1);
  return out;
}

}  // namespace transportcertd
