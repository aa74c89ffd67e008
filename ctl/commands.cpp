#include "ctl/commands.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "ctl/format.h"
#include "ctl/json_writer.h"
#include "ctl/table.h"
#include "ctl/verify.h"
#include "ipc/bus_names.h"

namespace transportcertctl {
namespace {

constexpr std::array<const char*, 6> kStatuses = {"Valid",       "Expiring",     "Expired",
                                                  "NotYetValid", "NoPrivateKey", "Unusable"};
constexpr const char* kDefaultService = "SMTP";
constexpr const char* kUnknownMethod = "org.freedesktop.DBus.Error.UnknownMethod";
// More than the daemon takes (1 MiB of PEM): the daemon judges, this only stops a runaway read.
constexpr std::size_t kMaxImportBytes = std::size_t{4} * 1024 * 1024;

Colour StatusColour(const std::string& status) {
  if (status == "Expired") return Colour::kRed;
  if (status == "Expiring") return Colour::kYellow;
  return Colour::kNone;
}

bool TakesCert(const std::string& command) {
  return command == "show" || command == "enable" || command == "disable" || command == "remove";
}

// The number of certificates in `rows` with each status (every status the daemon knows, 0 or
// more, and any other status a newer daemon reports).
std::map<std::string, std::size_t> CountByStatus(const std::vector<CertificateRow>& rows) {
  std::map<std::string, std::size_t> counts;
  for (const char* status : kStatuses) counts[status] = 0;
  for (const CertificateRow& row : rows) ++counts[row.status];
  return counts;
}

// "2 Valid, 1 Expired, 1 NoPrivateKey": the statuses that occur, in the daemon's order.
std::string CountsText(const std::vector<CertificateRow>& rows) {
  const auto counts = CountByStatus(rows);
  std::string text;
  std::vector<std::string> order(kStatuses.begin(), kStatuses.end());
  for (const auto& [status, count] : counts) {  // statuses a newer daemon may add
    if (std::find(order.begin(), order.end(), status) == order.end()) order.push_back(status);
  }
  for (const std::string& status : order) {
    const std::size_t count = counts.at(status);
    if (count == 0) continue;
    if (!text.empty()) text += ", ";
    text += std::to_string(count) + " " + status;
  }
  return text;
}

std::string Plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

const CertificateRow* FindRow(const std::vector<CertificateRow>& rows,
                              const std::string& thumbprint) {
  for (const CertificateRow& row : rows) {
    if (row.thumbprint == thumbprint) return &row;
  }
  return nullptr;
}

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// ---- CERT arguments ----

// The full thumbprint a CERT argument names. A full thumbprint is passed on as it is (the daemon
// says whether it knows it); a prefix is looked up in ListCertificates.
std::string ResolveCert(ManagerClient& client, const std::string& argument) {
  const PrefixMatch syntax = ResolvePrefix(argument, {});
  if (syntax.kind == PrefixMatch::Kind::kInvalid) {
    throw UsageError("'" + OneLine(argument) +
                     "' is not a thumbprint or a prefix of one (6 to 40 hex digits)");
  }
  if (syntax.prefix.size() == kThumbprintDigits) return syntax.prefix;

  const std::vector<CertificateRow> rows = client.ListCertificates();
  std::vector<std::string> thumbprints;
  for (const CertificateRow& row : rows) thumbprints.push_back(row.thumbprint);
  const PrefixMatch match = ResolvePrefix(argument, thumbprints);
  if (match.kind == PrefixMatch::Kind::kUnique) return match.matches.front();
  if (match.kind == PrefixMatch::Kind::kNone) {
    throw CommandError("no certificate in the store has a thumbprint starting with " +
                       match.prefix);
  }
  std::string message = match.prefix + " is ambiguous: it starts " +
                        std::to_string(match.matches.size()) + " thumbprints:";
  for (const std::string& thumbprint : match.matches) {
    const CertificateRow* row = FindRow(rows, thumbprint);
    message += "\n  " + thumbprint;
    if (row != nullptr) {
      message += "  " + OneLine(NamesSummary(row->domains)) + "  " + OneLine(row->status);
    }
  }
  throw CommandError(message);
}

// ---- status ----

std::vector<std::string> PublishedNames(const Properties& properties, const std::string& fqdn) {
  std::vector<std::string> names;
  if (!fqdn.empty()) names.push_back(fqdn);
  // Daemons that publish their names list them in PublishedNames; the FQDN is always published.
  if (auto found = properties.find(transportcertd::kPropertyPublishedNames);
      found != properties.end()) {
    if (const auto* list = std::get_if<std::vector<std::string>>(&found->second.value)) {
      for (const std::string& name : *list) {
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      }
    }
  }
  return names;
}

std::string StringProperty(const Properties& properties, const char* name) {
  if (auto found = properties.find(name); found != properties.end()) {
    if (const auto* text = std::get_if<std::string>(&found->second.value)) return *text;
  }
  return "";
}

struct PublishedSelection {
  std::string name;
  std::optional<Selected> selected;
  std::string error;  // why nothing is selected
};

// Label: value lines with the labels right-aligned, as hostnamectl prints them; a value of
// several lines continues under the first.
class LabelledLines {
 public:
  void Add(std::string label, std::string value) {
    lines_.emplace_back(std::move(label), std::move(value));
  }
  std::string Render() const {
    std::size_t width = 0;
    for (const auto& [label, value] : lines_) width = std::max(width, DisplayWidth(label));
    std::string out;
    for (const auto& [label, value] : lines_) {
      out.append(width - DisplayWidth(label), ' ');
      out += label + ": ";
      std::size_t start = 0;
      for (;;) {
        const std::size_t end = value.find('\n', start);
        out += value.substr(start, end == std::string::npos ? std::string::npos : end - start);
        out += '\n';
        if (end == std::string::npos) break;
        out.append(width + 2, ' ');
        start = end + 1;
      }
    }
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> lines_;
};

CommandOutput Status(const Options& options, ManagerClient& client, const Context& context) {
  const Properties properties = client.ManagerProperties();
  const std::vector<CertificateRow> rows = client.ListCertificates();
  const std::string fqdn = StringProperty(properties, transportcertd::kPropertyFqdn);
  const std::string internal =
      StringProperty(properties, transportcertd::kPropertyInternalTransportCertificate);
  // The next certificate to expire: the first NotAfter still ahead (those past are counted as
  // Expired already).
  const CertificateRow* next_expiry = nullptr;
  for (const CertificateRow& row : rows) {
    if (row.not_after > context.now_usec &&
        (next_expiry == nullptr || row.not_after < next_expiry->not_after)) {
      next_expiry = &row;
    }
  }
  const CertificateRow* internal_row = internal.empty() ? nullptr : FindRow(rows, internal);

  std::vector<PublishedSelection> published;
  for (const std::string& name : PublishedNames(properties, fqdn)) {
    PublishedSelection selection{name, std::nullopt, ""};
    try {
      selection.selected = client.SelectCertificate(name, kDefaultService);
    } catch (const BusCallError& e) {
      selection.error = e.what();
    }
    published.push_back(std::move(selection));
  }

  if (options.json) {
    JsonWriter json(*options.json);
    json.BeginObject();
    json.Key("fqdn").String(fqdn);
    json.Key("store").String(StringProperty(properties, transportcertd::kPropertyStorePath));
    json.Key("version").String(StringProperty(properties, transportcertd::kPropertyVersion));
    json.Key("internal_transport");
    if (internal.empty()) {
      json.Null();
    } else {
      json.BeginObject().Key("thumbprint").String(internal);
      if (internal_row != nullptr) {
        json.Key("subject").String(internal_row->subject);
        json.Key("not_after").String(IsoTime(internal_row->not_after));
        json.Key("days_left").Number(DaysLeft(internal_row->not_after, context.now_usec));
        json.Key("status").String(internal_row->status);
      }
      json.EndObject();
    }
    json.Key("certificate_count").Unsigned(rows.size());
    json.Key("counts").BeginObject();
    for (const auto& [status, count] : CountByStatus(rows)) json.Key(status).Unsigned(count);
    json.EndObject();
    json.Key("next_expiry");
    if (next_expiry == nullptr) {
      json.Null();
    } else {
      json.BeginObject()
          .Key("thumbprint")
          .String(next_expiry->thumbprint)
          .Key("not_after")
          .String(IsoTime(next_expiry->not_after))
          .Key("days_left")
          .Number(DaysLeft(next_expiry->not_after, context.now_usec))
          .EndObject();
    }
    json.Key("published").BeginArray();
    for (const PublishedSelection& selection : published) {
      json.BeginObject().Key("name").String(selection.name).Key("service").String(kDefaultService);
      if (selection.selected) {
        json.Key("thumbprint").String(selection.selected->thumbprint);
        json.Key("reason").String(selection.selected->reason);
      } else {
        json.Key("thumbprint").Null();
        json.Key("error").String(selection.error);
      }
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
    return {json.str(), true};
  }

  LabelledLines lines;
  lines.Add("FQDN", OneLine(fqdn));
  lines.Add("Store", OneLine(StringProperty(properties, transportcertd::kPropertyStorePath)));
  if (internal.empty()) {
    lines.Add("Internal transport", Colourize("none", Colour::kRed, context.colour));
  } else if (internal_row == nullptr) {
    lines.Add("Internal transport",
              internal + Colourize(" (not in the store)", Colour::kRed, context.colour));
  } else {
    const std::int64_t days = DaysLeft(internal_row->not_after, context.now_usec);
    const std::string expiry = std::string(days < 0 ? "expired " : "expires ") +
                               UtcDateTime(internal_row->not_after) + " (" +
                               DaysPhrase(internal_row->not_after, context.now_usec) + ")";
    lines.Add("Internal transport",
              internal + "\n" + OneLine(internal_row->subject) + ", " +
                  Colourize(expiry, StatusColour(internal_row->status), context.colour));
  }
  const std::string counts = CountsText(rows);
  lines.Add("Certificates",
            std::to_string(rows.size()) + (counts.empty() ? "" : " (" + counts + ")"));
  if (next_expiry == nullptr) {
    lines.Add("Next expiry", "none");
  } else {
    const std::string when = UtcDateTime(next_expiry->not_after) + " (" +
                             DaysPhrase(next_expiry->not_after, context.now_usec) + ")";
    lines.Add("Next expiry", Colourize(when, StatusColour(next_expiry->status), context.colour) +
                                 "\n" + next_expiry->thumbprint + " " +
                                 OneLine(NamesSummary(next_expiry->domains)));
  }
  std::string names;
  for (const PublishedSelection& selection : published) {
    if (!names.empty()) names += '\n';
    names += OneLine(selection.name) + " -> ";
    if (selection.selected) {
      names += selection.selected->thumbprint;
    } else {
      names += Colourize("none: " + OneLine(selection.error), Colour::kRed, context.colour);
    }
  }
  lines.Add(published.size() == 1 ? "Published name" : "Published names", names);
  lines.Add("Version", OneLine(StringProperty(properties, transportcertd::kPropertyVersion)));
  return {lines.Render(), true};
}

// ---- list ----

void WriteRowJson(JsonWriter& json, const CertificateRow& row) {
  json.BeginObject();
  json.Key("thumbprint").String(row.thumbprint);
  json.Key("subject").String(row.subject);
  json.Key("issuer").String(row.issuer);
  json.Key("domains").Strings(row.domains);
  json.Key("not_before").String(IsoTime(row.not_before));
  json.Key("not_after").String(IsoTime(row.not_after));
  json.Key("services").Strings(row.services);
  json.Key("status").String(row.status);
  json.Key("self_signed").Bool(row.self_signed);
  json.Key("has_private_key").Bool(row.has_private_key);
  json.Key("internal_transport").Bool(row.internal_transport);
  json.Key("object_path").String(row.object_path);
  json.EndObject();
}

CommandOutput List(const Options& options, ManagerClient& client, const Context& context) {
  const std::vector<CertificateRow> rows = client.ListCertificates();
  if (options.json) {
    JsonWriter json(*options.json);
    json.BeginArray();
    for (const CertificateRow& row : rows) WriteRowJson(json, row);
    json.EndArray();
    return {json.str(), true};
  }
  Table table({"THUMBPRINT", "NAMES", "NOT AFTER", "DAYS", "STATUS", "SERVICES", "FLAGS"});
  table.AlignRight(3);
  for (const CertificateRow& row : rows) {
    const Colour colour = StatusColour(row.status);
    table.AddRow({{ShortThumbprint(row.thumbprint)},
                  {OneLine(NamesSummary(row.domains))},
                  {UtcDate(row.not_after)},
                  {std::to_string(DaysLeft(row.not_after, context.now_usec)), colour},
                  {row.status, colour},
                  {JoinOrDash(row.services)},
                  {Flags(row.internal_transport, row.self_signed, row.has_private_key)}});
  }
  std::string text = table.Render(options.legend, context.colour);
  if (options.legend) {
    const std::string counts = CountsText(rows);
    text += "\n" + Plural(rows.size(), "certificate", "certificates") + " listed" +
            (counts.empty() ? "" : ": " + counts) + ".\n";
    if (!rows.empty()) {
      text += "FLAGS: I internal transport, S self-signed, K has its private key.\n";
    }
  }
  return {text, true};
}

// ---- show ----

std::string SnakeCase(const std::string& name) {
  std::string out;
  for (const char c : name) {
    if (std::isupper(static_cast<unsigned char>(c)) != 0) {
      if (!out.empty()) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

bool IsTimeProperty(const std::string& name) { return name == "NotBefore" || name == "NotAfter"; }

CommandOutput Show(const Options& options, ManagerClient& client, const Context& context) {
  const std::string thumbprint = ResolveCert(client, options.args.at(0));
  const Properties properties = client.CertificateProperties(client.GetCertificate(thumbprint));

  // The order a person reads them in; properties a newer daemon adds follow, by name.
  static const std::vector<std::pair<std::string, std::string>> kLabels = {
      {"Thumbprint", "Thumbprint"},
      {"Sha256Fingerprint", "SHA-256"},
      {"Subject", "Subject"},
      {"Issuer", "Issuer"},
      {"SerialNumber", "Serial number"},
      {"Domains", "Names"},
      {"NotBefore", "Not before"},
      {"NotAfter", "Not after"},
      {"Status", "Status"},
      {"Services", "Services"},
      {"IsInternalTransport", "Internal transport"},
      {"IsSelfSigned", "Self-signed"},
      {"HasPrivateKey", "Private key"},
      {"KeyAlgorithm", "Key algorithm"},
      {"KeyBits", "Key bits"},
      {"Files", "Files"},
  };
  std::vector<std::pair<std::string, std::string>> order;
  for (const auto& entry : kLabels) {
    if (properties.count(entry.first) != 0) order.push_back(entry);
  }
  for (const auto& property : properties) {
    const std::string& name = property.first;
    const bool listed = std::any_of(kLabels.begin(), kLabels.end(),
                                    [&](const auto& entry) { return entry.first == name; });
    if (!listed) order.emplace_back(name, name);
  }

  if (options.json) {
    JsonWriter json(*options.json);
    json.BeginObject();
    for (const auto& [name, label] : order) {
      const PropertyValue& property = properties.at(name);
      json.Key(SnakeCase(name));
      if (const auto* text = std::get_if<std::string>(&property.value)) {
        json.String(*text);
      } else if (const auto* flag = std::get_if<bool>(&property.value)) {
        json.Bool(*flag);
      } else if (const auto* number = std::get_if<std::uint64_t>(&property.value)) {
        if (IsTimeProperty(name)) {
          json.String(IsoTime(*number));
        } else {
          json.Unsigned(*number);
        }
      } else {
        json.Strings(std::get<std::vector<std::string>>(property.value));
      }
    }
    json.EndObject();
    return {json.str(), true};
  }

  std::string status;
  if (auto found = properties.find("Status"); found != properties.end()) {
    if (const auto* text = std::get_if<std::string>(&found->second.value)) status = *text;
  }
  LabelledLines lines;
  for (const auto& [name, label] : order) {
    const PropertyValue& property = properties.at(name);
    std::string value;
    if (const auto* text = std::get_if<std::string>(&property.value)) {
      value = OneLine(*text);
      if (name == "Status") value = Colourize(value, StatusColour(status), context.colour);
    } else if (const auto* flag = std::get_if<bool>(&property.value)) {
      value = *flag ? "yes" : "no";
    } else if (const auto* number = std::get_if<std::uint64_t>(&property.value)) {
      if (IsTimeProperty(name)) {
        value = UtcDateTime(*number) + " (" + DaysPhrase(*number, context.now_usec) + ")";
        if (name == "NotAfter") value = Colourize(value, StatusColour(status), context.colour);
      } else {
        value = std::to_string(*number);
      }
    } else {
      const auto& list = std::get<std::vector<std::string>>(property.value);
      std::vector<std::string> clean;
      for (const std::string& item : list) clean.push_back(OneLine(item));
      value = JoinOrDash(clean, name == "Files" ? "\n" : ", ");
    }
    lines.Add(label, value);
  }
  return {lines.Render(), true};
}

// ---- select, explain ----

std::string ServiceArgument(const Options& options) {
  return options.args.size() > 1 ? Upper(options.args[1]) : kDefaultService;
}

CommandOutput Select(const Options& options, ManagerClient& client, const Context& /*context*/) {
  const std::string service = ServiceArgument(options);
  const Selected selected = client.SelectCertificate(options.args[0], service);
  if (options.json) {
    JsonWriter json(*options.json);
    json.BeginObject()
        .Key("name")
        .String(options.args[0])
        .Key("service")
        .String(service)
        .Key("thumbprint")
        .String(selected.thumbprint)
        .Key("reason")
        .String(selected.reason)
        .EndObject();
    return {json.str(), false};
  }
  return {selected.thumbprint + "\n" + OneLine(selected.reason) + "\n", false};
}

int VerdictRank(const std::string& verdict) {
  if (verdict == "selected") return 0;
  if (verdict == "eligible") return 1;
  return 2;
}

CommandOutput Explain(const Options& options, ManagerClient& client, const Context& context) {
  const std::string service = ServiceArgument(options);
  std::vector<VerdictRow> verdicts = client.ExplainSelection(options.args[0], service);
  std::stable_sort(verdicts.begin(), verdicts.end(), [](const VerdictRow& a, const VerdictRow& b) {
    return VerdictRank(a.verdict) < VerdictRank(b.verdict);
  });
  if (options.json) {
    JsonWriter json(*options.json);
    json.BeginArray();
    for (const VerdictRow& row : verdicts) {
      json.BeginObject()
          .Key("thumbprint")
          .String(row.thumbprint)
          .Key("verdict")
          .String(row.verdict)
          .Key("reason")
          .String(row.reason)
          .EndObject();
    }
    json.EndArray();
    return {json.str(), true};
  }

  const std::vector<CertificateRow> rows = client.ListCertificates();
  Table table({"VERDICT", "THUMBPRINT", "NAMES", "REASON"});
  std::size_t eligible = 0;
  const VerdictRow* winner = nullptr;
  for (const VerdictRow& row : verdicts) {
    if (row.verdict == "selected") winner = &row;
    if (row.verdict == "eligible") ++eligible;
    const CertificateRow* certificate = FindRow(rows, row.thumbprint);
    table.AddRow({{row.verdict, row.verdict == "selected" ? Colour::kBold : Colour::kNone},
                  {ShortThumbprint(row.thumbprint)},
                  {certificate != nullptr ? OneLine(NamesSummary(certificate->domains)) : "-"},
                  {OneLine(row.reason)}});
  }
  std::string text = table.Render(options.legend, context.colour);
  if (options.legend) {
    const std::string what = service + " on " + OneLine(options.args[0]);
    text += "\n";
    if (winner != nullptr) {
      text += "Selected for " + what + ": " + winner->thumbprint + "; ";
    } else {
      text += "Nothing is selected for " + what + "; ";
    }
    text += std::to_string(eligible) + " eligible but outranked, " +
            std::to_string(verdicts.size() - eligible - (winner != nullptr ? 1 : 0)) +
            " ineligible.\n";
  }
  return {text, true};
}

// ---- changing ----

std::string ReadImportFile(const std::string& path) {
  std::FILE* file = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  const std::string shown = path == "-" ? "standard input" : OneLine(path);
  if (file == nullptr) {
    throw CommandError("cannot read " + shown + ": " + std::strerror(errno));
  }
  std::string text;
  char buffer[65536];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
    text.append(buffer, n);
    if (text.size() > kMaxImportBytes) break;
  }
  const bool failed = std::ferror(file) != 0;
  const int error = errno;
  if (file != stdin) (void)std::fclose(file);  // read only: nothing to lose on close
  if (failed) throw CommandError("cannot read " + shown + ": " + std::strerror(error));
  if (text.size() > kMaxImportBytes) {
    throw CommandError(shown + " is too large to be PEM certificates and keys");
  }
  return text;
}

// The files concatenated and imported; the new (or already present) certificate's thumbprint.
std::string Import(const Options& options, ManagerClient& client) {
  std::string pem;
  for (const std::string& path : options.args) {
    pem += ReadImportFile(path);
    if (!pem.empty() && pem.back() != '\n') pem += '\n';
  }
  return client.ImportCertificate(pem, options.services);
}

CommandOutput ThumbprintOutput(const Options& options, const std::string& thumbprint) {
  if (options.json) {
    JsonWriter json(*options.json);
    json.BeginObject().Key("thumbprint").String(thumbprint).EndObject();
    return {json.str(), false};
  }
  return {thumbprint + "\n", false};
}

// ---- tlsa ----

CommandOutput Tlsa(const Options& options, ManagerClient& client) {
  std::vector<std::string> records;
  try {
    records = client.GetTlsaRecords(options.args.empty() ? "" : options.args[0]);
  } catch (const BusCallError& e) {
    if (e.name() != kUnknownMethod) throw;
    throw BusCallError(e.name(),
                       "TLSA records are not supported by this daemon (it has no GetTlsaRecords "
                       "method); upgrade transportcertd");
  }
  if (options.json) {
    JsonWriter json(*options.json);
    json.Strings(records);
    return {json.str(), true};
  }
  std::string text;
  for (const std::string& record : records) text += OneLine(record) + "\n";
  return {text, true};
}

}  // namespace

void CheckArguments(const Options& options) {
  if (TakesCert(options.command) && !options.args.empty() &&
      ResolvePrefix(options.args[0], {}).kind == PrefixMatch::Kind::kInvalid) {
    throw UsageError("'" + OneLine(options.args[0]) +
                     "' is not a thumbprint or a prefix of one (6 to 40 hex digits)");
  }
  if (options.command == "import" &&
      std::count(options.args.begin(), options.args.end(), "-") > 1) {
    throw UsageError("standard input (-) can be read only once");
  }
}

CommandOutput RunCommand(const Options& options, ManagerClient& client, const Context& context) {
  const std::string& command = options.command;
  if (command == "status") return Status(options, client, context);
  if (command == "list") return List(options, client, context);
  if (command == "show") return Show(options, client, context);
  if (command == "select") return Select(options, client, context);
  if (command == "explain") return Explain(options, client, context);
  if (command == "enable" || command == "disable") {
    const std::string thumbprint = ResolveCert(client, options.args[0]);
    const std::vector<std::string> services(options.args.begin() + 1, options.args.end());
    if (command == "enable") {
      client.EnableCertificate(thumbprint, services, options.internal_transport);
    } else {
      client.DisableCertificate(thumbprint, services);
    }
    return {};
  }
  if (command == "import") return ThumbprintOutput(options, Import(options, client));
  if (command == "remove") {
    client.RemoveCertificate(ResolveCert(client, options.args[0]));
    return {};
  }
  if (command == "renew") {
    return ThumbprintOutput(options, client.RenewInternalTransportCertificate());
  }
  if (command == "new-self-signed") {
    return ThumbprintOutput(options, client.NewSelfSignedCertificate(options.args));
  }
  if (command == "reload") {
    client.Reload();
    return {};
  }
  if (command == "tlsa") return Tlsa(options, client);
  if (command == "verify") return Verify(options, client, context);
  throw UsageError("unknown command '" + OneLine(command) + "'");
}

}  // namespace transportcertctl
