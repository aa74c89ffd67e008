#include "ctl/verify.h"

#include <systemd/sd-journal.h>
#include <sys/uio.h>

#include <syslog.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <utility>

#include "ctl/format.h"
#include "ctl/served.h"
#include "ctl/verify_report.h"
#include "ipc/bus_names.h"

namespace transportcertctl {
namespace {

std::vector<std::string> StringsProperty(const Properties& properties, const char* name,
                                         bool& present) {
  present = false;
  if (auto found = properties.find(name); found != properties.end()) {
    if (const auto* list = std::get_if<std::vector<std::string>>(&found->second.value)) {
      present = true;
      return *list;
    }
  }
  return {};
}

std::string FqdnOf(const Properties& properties) {
  if (auto found = properties.find(transportcertd::kPropertyFqdn); found != properties.end()) {
    if (const auto* text = std::get_if<std::string>(&found->second.value)) return *text;
  }
  return "";
}

void AddUnique(std::vector<std::string>& names, const std::string& name) {
  if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
    names.push_back(name);
  }
}

std::vector<Endpoint> ParseEndpoints(const std::vector<std::string>& texts, const char* where) {
  std::vector<Endpoint> endpoints;
  for (const std::string& text : texts) {
    const std::optional<Endpoint> endpoint = ParseEndpoint(text);
    if (!endpoint) {
      throw CommandError(std::string(where) + " names an endpoint that is not PORT/PROTOCOL: '" +
                         OneLine(text) + "'");
    }
    endpoints.push_back(*endpoint);
  }
  return endpoints;
}

// Logs each row that differs once, with its own MESSAGE_ID and the catalog's fields; a row
// that failed TLS is logged too, as a plain warning (nothing was served to compare).
void LogToJournal(const std::vector<VerifyRow>& rows) {
  for (const VerifyRow& row : rows) {
    if (row.verdict == Verdict::kDiffers) {
      const std::vector<std::string> fields = ServedDiffersJournalFields(row);
      std::vector<iovec> vector;
      for (const std::string& field : fields) {
        vector.push_back({const_cast<char*>(field.data()), field.size()});
      }
      const int r = sd_journal_sendv(vector.data(), static_cast<int>(vector.size()));
      if (r < 0) throw CommandError("cannot write to the journal: " + std::string(strerror(-r)));
    } else if (row.verdict == Verdict::kTlsFailed) {
      (void)sd_journal_send("MESSAGE=%s %s: %s", EndpointText(row.endpoint).c_str(),
                            OneLine(row.name).c_str(), OneLine(row.served_error).c_str(),
                            "PRIORITY=%d", LOG_WARNING, nullptr);
    }
  }
}

}  // namespace

CommandOutput Verify(const Options& options, ManagerClient& client, const Context& context) {
  const Properties properties = client.ManagerProperties();
  std::vector<std::string> names;
  if (!options.args.empty()) {
    for (const std::string& name : options.args) AddUnique(names, name);
  } else {
    AddUnique(names, FqdnOf(properties));
    bool present = false;
    for (const std::string& name :
         StringsProperty(properties, transportcertd::kPropertyPublishedNames, present)) {
      AddUnique(names, name);
    }
  }

  std::vector<Endpoint> endpoints;
  if (!options.endpoints.empty()) {
    endpoints = ParseEndpoints(options.endpoints, "--endpoint");
  } else {
    bool present = false;
    const std::vector<std::string> configured =
        StringsProperty(properties, transportcertd::kPropertyVerifyEndpoints, present);
    endpoints = present ? ParseEndpoints(configured, "the daemon's VerifyEndpoints")
                        : DefaultEndpoints();
  }

  // One selection per (name, service), asked once.
  std::map<std::pair<std::string, std::string>, std::pair<std::string, std::string>> selections;
  std::vector<VerifyRow> rows;
  for (const Endpoint& endpoint : endpoints) {
    bool refused = false;
    for (const std::string& name : names) {
      VerifyRow row;
      row.endpoint = endpoint;
      row.name = name;
      row.service = std::string(ServiceOf(endpoint.protocol));
      const auto key = std::make_pair(name, row.service);
      if (selections.count(key) == 0) {
        try {
          selections[key] = {client.SelectCertificate(name, row.service).thumbprint, ""};
        } catch (const BusCallError& e) {
          selections[key] = {"", e.what()};
        }
      }
      row.expected = selections[key].first;
      for (char& c : row.expected) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      row.expected_error = selections[key].second;
      // A port that refused the connection refuses it for every name.
      Served served;
      if (refused) {
        served.outcome = Served::Outcome::kNotListening;
      } else {
        served = FetchServedLeaf(endpoint, name);
        refused = served.outcome == Served::Outcome::kNotListening;
      }
      row.served = served.thumbprint;
      row.served_error = served.error;
      row.verdict = Judge(served, row.expected);
      rows.push_back(std::move(row));
    }
  }
  if (options.journal) LogToJournal(rows);
  return RenderVerify(options, context, rows);
}

}  // namespace transportcertctl
