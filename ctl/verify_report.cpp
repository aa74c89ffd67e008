#include "ctl/verify_report.h"

#include <syslog.h>

#include <algorithm>
#include <map>

#include "ctl/format.h"
#include "ctl/json_writer.h"
#include "ctl/table.h"
#include "daemon/alerts.h"

namespace transportcertctl {
namespace {

Colour VerdictColour(Verdict verdict) {
  return verdict == Verdict::kDiffers || verdict == Verdict::kTlsFailed ? Colour::kRed
                                                                        : Colour::kNone;
}

}  // namespace

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kMatch:
      return "match";
    case Verdict::kDiffers:
      return "differs";
    case Verdict::kTlsFailed:
      return "tls-failed";
    case Verdict::kNotListening:
      return "not-listening";
  }
  return "differs";
}

Verdict Judge(const Served& served, const std::string& expected) {
  switch (served.outcome) {
    case Served::Outcome::kNotListening:
      return Verdict::kNotListening;
    case Served::Outcome::kTlsFailed:
      return Verdict::kTlsFailed;
    case Served::Outcome::kServed:
      break;
  }
  return !expected.empty() && served.thumbprint == expected ? Verdict::kMatch : Verdict::kDiffers;
}

CommandOutput RenderVerify(const Options& options, const Context& context,
                           const std::vector<VerifyRow>& rows) {
  const bool failed = std::any_of(rows.begin(), rows.end(), [](const VerifyRow& row) {
    return row.verdict == Verdict::kDiffers || row.verdict == Verdict::kTlsFailed;
  });
  CommandOutput output;
  output.exit_status = failed ? 1 : 0;
  if (options.json) {
    JsonWriter json(*options.json);
    json.BeginArray();
    for (const VerifyRow& row : rows) {
      json.BeginObject();
      json.Key("port").Unsigned(static_cast<std::uint64_t>(row.endpoint.port));
      json.Key("protocol").String(ProtocolName(row.endpoint.protocol));
      json.Key("name").String(row.name);
      json.Key("service").String(row.service);
      json.Key("expected");
      if (row.expected.empty()) {
        json.Null();
      } else {
        json.String(row.expected);
      }
      json.Key("served");
      if (row.served.empty()) {
        json.Null();
      } else {
        json.String(row.served);
      }
      json.Key("verdict").String(VerdictName(row.verdict));
      if (!row.expected_error.empty()) json.Key("expected_error").String(row.expected_error);
      if (!row.served_error.empty()) json.Key("error").String(row.served_error);
      json.EndObject();
    }
    json.EndArray();
    output.text = json.str();
    return output;
  }

  Table table({"PORT", "NAME", "SERVICE", "EXPECTED", "SERVED", "VERDICT"});
  std::map<Verdict, std::size_t> counts;
  std::string notes;
  for (const VerifyRow& row : rows) {
    ++counts[row.verdict];
    table.AddRow({{EndpointText(row.endpoint)},
                  {OneLine(row.name)},
                  {row.service},
                  {row.expected.empty() ? "-" : ShortThumbprint(row.expected)},
                  {row.served.empty() ? "-" : ShortThumbprint(row.served)},
                  {std::string(VerdictName(row.verdict)), VerdictColour(row.verdict)}});
    const std::string where = EndpointText(row.endpoint) + " " + OneLine(row.name) + ": ";
    if (row.verdict == Verdict::kTlsFailed) {
      notes += where + OneLine(row.served_error) + "\n";
    } else if (row.verdict == Verdict::kDiffers) {
      notes +=
          where + "serves " + row.served + ", the daemon selects " +
          (row.expected.empty() ? "nothing (" + OneLine(row.expected_error) + ")" : row.expected) +
          "\n";
    }
  }
  output.text = table.Render(options.legend, context.colour);
  if (options.legend) {
    std::string summary;
    for (const Verdict verdict :
         {Verdict::kMatch, Verdict::kDiffers, Verdict::kTlsFailed, Verdict::kNotListening}) {
      if (counts[verdict] == 0) continue;
      summary += (summary.empty() ? "" : ", ") + std::to_string(counts[verdict]) + " " +
                 std::string(VerdictName(verdict));
    }
    output.text += "\n" + std::to_string(rows.size()) + (rows.size() == 1 ? " check" : " checks") +
                   (summary.empty() ? "" : ": " + summary) + ".\n" + notes;
    if (failed) {
      output.text +=
          "A server that serves something else was not reloaded, or refused the reload.\n";
    }
  }
  return output;
}

namespace {

// A Prometheus label value: backslash, double quote and newline escaped.
std::string LabelValue(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string ServedMatchMetrics(const std::vector<VerifyRow>& rows) {
  std::string text =
      "# HELP transportcertd_served_match Whether the local port serves the certificate "
      "transportcertd selects for the name (1) or not (0), from the last transportcertctl "
      "verify.\n# TYPE transportcertd_served_match gauge\n";
  for (const VerifyRow& row : rows) {
    if (row.verdict == Verdict::kNotListening) continue;
    text += "transportcertd_served_match{port=\"" + std::to_string(row.endpoint.port) +
            "\",name=\"" + LabelValue(row.name) + "\",service=\"" + LabelValue(row.service) +
            "\"} " + (row.verdict == Verdict::kMatch ? "1" : "0") + "\n";
  }
  return text;
}

std::vector<std::string> ServedDiffersJournalFields(const VerifyRow& row) {
  namespace ids = transportcertd;
  const std::string expected = row.expected.empty() ? "(none)" : row.expected;
  const std::string endpoint = EndpointText(row.endpoint);
  return {
      "MESSAGE=" + endpoint + " serves " + row.served + " for " + OneLine(row.name) +
          ", but transportcertd selects " + expected + " for " + row.service,
      "MESSAGE_ID=" + std::string(ids::kServedDiffersMessageId),
      "PRIORITY=" + std::to_string(LOG_WARNING),
      std::string(ids::kFieldPort) + "=" + endpoint,
      std::string(ids::kFieldName) + "=" + OneLine(row.name),
      std::string(ids::kFieldService) + "=" + row.service,
      std::string(ids::kFieldExpected) + "=" + expected,
      std::string(ids::kFieldServed) + "=" + row.served,
  };
}

}  // namespace transportcertctl
