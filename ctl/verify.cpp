#include "ctl/verify.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
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

std::string StringProperty(const Properties& properties, const char* name) {
  if (auto found = properties.find(name); found != properties.end()) {
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

// Writes `text` to `path` atomically: a hidden temporary file in the same directory, mode
// 0644, synced, renamed over `path`, and the directory synced. Returns "" or why not.
std::string WriteAtomically(const std::string& path, const std::string& text) {
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string temporary = dir + "/." + base + ".XXXXXX";
  const int fd = mkostemp(temporary.data(), O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  std::string_view rest = text;
  bool ok = fchmod(fd, 0644) == 0;
  while (ok && !rest.empty()) {
    const ssize_t n = write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) rest.remove_prefix(static_cast<std::size_t>(n));
  }
  ok = ok && fsync(fd) == 0;
  const int error = errno;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(temporary.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(ok ? errno : error);
    (void)unlink(temporary.c_str());
    return why;
  }
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)fsync(dir_fd);
    (void)close(dir_fd);
  }
  return "";
}

}  // namespace

CommandOutput Verify(const Options& options, ManagerClient& client, const Context& context) {
  const Properties properties = client.ManagerProperties();
  std::vector<std::string> names;
  if (!options.args.empty()) {
    for (const std::string& name : options.args) AddUnique(names, name);
  } else {
    AddUnique(names, StringProperty(properties, transportcertd::kPropertyFqdn));
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
    endpoints =
        present ? ParseEndpoints(configured, "the daemon's VerifyEndpoints") : DefaultEndpoints();
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
      for (char& c : row.expected) {  // the daemon answers in upper case; be sure of it
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
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
  CommandOutput output = RenderVerify(options, context, rows);
  // With [metrics] textfile set, the served_match series go next to it: the one file
  // transportcertctl ever writes (verify runs only against this machine's daemon, never -H).
  const std::string textfile = StringProperty(properties, transportcertd::kPropertyMetricsTextfile);
  if (!textfile.empty()) {
    const std::string path = textfile.substr(0, textfile.rfind('/') + 1) + kVerifyMetricsFileName;
    if (const std::string error = WriteAtomically(path, ServedMatchMetrics(rows)); !error.empty()) {
      output.warning = "cannot write " + OneLine(path) + ": " + error;
    }
  }
  return output;
}

}  // namespace transportcertctl
