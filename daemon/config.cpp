#include "daemon/config.h"

#include <grp.h>
#include <ini.h>
#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "monitor/trust_anchors.h"

namespace transportcertd {
namespace {

std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (const char c : text) {
    if (c == ' ' || c == '\t' || c == ',') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word.push_back(c);
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

bool IsAbsolutePath(std::string_view v) { return !v.empty() && v.front() == '/'; }

bool HasControlCharacter(std::string_view v) {
  return std::any_of(v.begin(), v.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// `path` without "." and ".." parts, doubled or trailing slashes: "/a/b/../c/" -> "/a/c".
std::string NormalPath(std::string_view path) {
  std::string normal = std::filesystem::path(path).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

// Whether `inner` is `outer` or below it (both normal).
bool IsInside(const std::string& inner, const std::string& outer) {
  return inner == outer || (inner.starts_with(outer) && inner[outer.size()] == '/');
}

Status ParseHostnames(std::string_view value, std::vector<std::string>& out) {
  out.clear();
  for (auto& name : SplitWords(value)) {
    if (!IsValidHostname(name)) return Error{"\"" + name + "\" is not a valid host name"};
    out.push_back(NormalizeHostname(name));
  }
  return {};
}

// A name whose published file would overwrite one of the daemon's own.
Status CheckPublishable(const std::string& name) {
  for (const std::string_view reserved : kReservedPublishNames) {
    if (name == reserved) {
      return Error{"\"" + name + "\" cannot be published: " + std::string(reserved) +
                   " is the name of a file the daemon writes in publish.dir itself"};
    }
  }
  return {};
}

Status CheckGroup(std::string_view group) {
  if (group.empty() || getgrnam(std::string(group).c_str()) != nullptr) return {};
  return Error{"group \"" + std::string(group) + "\" does not exist"};
}

using Setter = std::function<Status(Config&, std::string_view)>;

Setter Path(std::string Config::*member) {
  return [member](Config& c, std::string_view v) -> Status {
    if (!IsAbsolutePath(v)) return Error{"must be an absolute path"};
    if (HasControlCharacter(v)) return Error{"must not contain control characters"};
    if (NormalPath(v) == "/") return Error{"must not be / itself"};
    c.*member = std::string(v);
    return {};
  };
}

// A duration where "0" means "never" (or "forever").
Setter DurationOrZero(Milliseconds Config::*member) {
  return [member](Config& c, std::string_view v) -> Status {
    auto d = v == "0" ? Result<Milliseconds>(Milliseconds{0}) : ParseDuration(v);
    if (!d) return d.error();
    if (d->count() < 0) return Error{"must not be negative"};
    c.*member = *d;
    return {};
  };
}

Setter Duration(Milliseconds Config::*member) {
  return [member](Config& c, std::string_view v) -> Status {
    auto d = ParseDuration(v);
    if (!d) return d.error();
    if (d->count() <= 0) return Error{"must be longer than 0"};
    c.*member = *d;
    return {};
  };
}

// "25/smtp": a port from 1 to 65535 and a protocol verify speaks.
bool IsVerifyEndpoint(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 5) return false;
  int port = 0;
  for (const char c : text.substr(0, slash)) {
    if (c < '0' || c > '9') return false;
    port = port * 10 + (c - '0');
  }
  static constexpr std::string_view kProtocols[] = {"smtp",  "smtps", "imap",
                                                    "imaps", "pop3",  "pop3s"};
  const std::string_view protocol = text.substr(slash + 1);
  return port >= 1 && port <= 65535 &&
         std::find(std::begin(kProtocols), std::end(kProtocols), protocol) != std::end(kProtocols);
}

// Every key of every section, with how to apply its value.
const std::map<std::string, std::map<std::string, Setter>>& Keys() {
  static const std::map<std::string, std::map<std::string, Setter>> keys = {
      {"daemon",
       {
           {"fqdn",
            [](Config& c, std::string_view v) -> Status {
              if (v.empty()) return {};  // keep this host's FQDN
              if (!IsValidHostname(v)) {
                return Error{"\"" + std::string(v) + "\" is not a valid host name"};
              }
              c.fqdn = NormalizeHostname(v);
              if (Status ok = CheckPublishable(c.fqdn); !ok) return ok;
              return {};
            }},
           {"store", Path(&Config::store)},
           {"state", Path(&Config::state)},
           {"default_services",
            [](Config& c, std::string_view v) -> Status {
              auto set = ParseServices(SplitWords(v));
              if (!set) return set.error();
              c.default_services = *set;
              return {};
            }},
           {"log_level",
            [](Config& c, std::string_view v) -> Status {
              if (!IsLogLevel(v)) {
                return Error{"unknown log level \"" + std::string(v) +
                             "\" (use trace, debug, info, warning, error or critical)"};
              }
              c.log_level = std::string(v);
              return {};
            }},
           {"admin_group",
            [](Config& c, std::string_view v) -> Status {
              if (Status exists = CheckGroup(v); !exists) return exists;
              c.admin_group = std::string(v);
              return {};
            }},
       }},
      {"store",
       {
           {"keep_removed", DurationOrZero(&Config::keep_removed)},
           {"retire_superseded", DurationOrZero(&Config::retire_superseded)},
       }},
      {"monitor",
       {
           {"warn_before",
            [](Config& c, std::string_view v) -> Status {
              c.warn_before.clear();
              for (const auto& word : SplitWords(v)) {
                auto d = ParseDuration(word);
                if (!d) return d.error();
                if (d->count() <= 0) return Error{"thresholds must be longer than 0"};
                c.warn_before.push_back(*d);
              }
              if (c.warn_before.empty()) return Error{"needs at least one threshold, e.g. 30d 7d"};
              std::sort(c.warn_before.begin(), c.warn_before.end(), std::greater<>());
              return {};
            }},
           {"renew_before", Duration(&Config::renew_before)},
       }},
      {"selfsigned",
       {
           {"key",
            [](Config& c, std::string_view v) -> Status {
              auto key = ParseKeySpec(v);
              if (!key) return key.error();
              c.key = *key;
              return {};
            }},
           {"validity", Duration(&Config::validity)},
           {"names",
            [](Config& c, std::string_view v) { return ParseHostnames(v, c.selfsigned_names); }},
       }},
      {"selection",
       {
           {"wildcard",
            [](Config& c, std::string_view v) -> Status {
              if (v == "one-level") {
                c.wildcard = WildcardMode::kOneLevel;
              } else if (v == "multi-level") {
                c.wildcard = WildcardMode::kMultiLevel;
              } else {
                return Error{"must be one-level or multi-level"};
              }
              return {};
            }},
           {"trust",
            [](Config& c, std::string_view v) -> Status {
              c.trust.clear();
              c.trust_anchors.clear();
              if (v.empty()) return {};
              if (!IsAbsolutePath(v)) return Error{"must be an absolute path"};
              auto anchors = LoadTrustAnchors(std::string(v));
              if (!anchors) return anchors.error();
              c.trust = std::string(v);
              c.trust_anchors = std::move(anchors).value();
              return {};
            }},
       }},
      {"publish",
       {
           {"dir", Path(&Config::publish_dir)},
           {"names",
            [](Config& c, std::string_view v) -> Status {
              if (Status parsed = ParseHostnames(v, c.publish_names); !parsed) return parsed;
              for (const auto& name : c.publish_names) {
                if (Status ok = CheckPublishable(name); !ok) return ok;
              }
              return {};
            }},
           {"group",
            [](Config& c, std::string_view v) -> Status {
              if (Status exists = CheckGroup(v); !exists) return exists;
              c.publish_group = std::string(v);
              return {};
            }},
           {"reload_command",
            [](Config& c, std::string_view v) -> Status {
              c.reload_command = std::string(v);
              return {};
            }},
           {"reload_timeout", Duration(&Config::reload_timeout)},
           {"services",
            [](Config& c, std::string_view v) -> Status {
              auto set = ParseServices(SplitWords(v));
              if (!set) return set.error();
              c.publish_services = *set | Bit(Service::kSmtp);  // the top level is SMTP's
              return {};
            }},
       }},
      {"metrics",
       {
           {"textfile",
            [](Config& c, std::string_view v) -> Status {
              if (v.empty()) {
                c.metrics_textfile.clear();
                return {};
              }
              if (!IsAbsolutePath(v)) return Error{"must be an absolute path"};
              if (std::any_of(v.begin(), v.end(),
                              [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; })) {
                return Error{"must not contain control characters"};
              }
              // node_exporter's textfile collector reads *.prom files and nothing else.
              if (!v.ends_with(".prom") || v.ends_with("/.prom")) {
                return Error{"must name a file ending in .prom (node_exporter reads only those)"};
              }
              c.metrics_textfile = std::string(v);
              return {};
            }},
       }},
      {"dane",
       {
           {"ports",
            [](Config& c, std::string_view v) -> Status {
              c.dane_ports.clear();
              for (const auto& word : SplitWords(v)) {
                int port = 0;
                const auto [end, ec] =
                    std::from_chars(word.data(), word.data() + word.size(), port);
                if (ec != std::errc() || end != word.data() + word.size() || port < 1 ||
                    port > 65535) {
                  return Error{"\"" + word + "\" is not a TCP port (1-65535)"};
                }
                if (std::find(c.dane_ports.begin(), c.dane_ports.end(), port) ==
                    c.dane_ports.end()) {
                  c.dane_ports.push_back(port);
                }
              }
              return {};
            }},
           {"next_key",
            [](Config& c, std::string_view v) -> Status {
              if (v == "yes" || v == "true" || v == "1") {
                c.dane_next_key = true;
              } else if (v == "no" || v == "false" || v == "0") {
                c.dane_next_key = false;
              } else {
                return Error{"must be yes or no"};
              }
              return {};
            }},
           {"rollover_hold", DurationOrZero(&Config::rollover_hold)},
       }},
      {"verify",
       {
           {"endpoints",
            [](Config& c, std::string_view v) -> Status {
              c.verify_endpoints.clear();
              for (const auto& word : SplitWords(v)) {
                if (!IsVerifyEndpoint(word)) {
                  return Error{"\"" + std::string(word) +
                               "\" is not PORT/PROTOCOL (protocol smtp, smtps, imap, imaps, pop3 "
                               "or pop3s)"};
                }
                if (std::find(c.verify_endpoints.begin(), c.verify_endpoints.end(), word) ==
                    c.verify_endpoints.end()) {
                  c.verify_endpoints.emplace_back(word);
                }
              }
              if (c.verify_endpoints.empty()) {
                return Error{"needs at least one endpoint, e.g. 25/smtp 993/imaps"};
              }
              return {};
            }},
           {"after_reload", DurationOrZero(&Config::verify_after_reload)},
       }},
  };
  return keys;
}

// Debian's inih is built without line numbers in the handler, so the reader counts lines and
// the handler reads the count; the reader also checks section headers, so that an unknown
// empty section is an error too.
struct ParseState {
  Config config;
  std::string name;
  std::string_view text;
  size_t pos = 0;
  int line = 0;
  std::string error;                // first error, "NAME:LINE: ..."
  std::map<std::string, int> seen;  // "section.key" -> line

  void Fail(const std::string& what) {
    if (error.empty()) error = name + ":" + std::to_string(line) + ": " + what;
  }
};

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

char* ReadLine(char* out, int size, void* stream) {
  auto& state = *static_cast<ParseState*>(stream);
  if (state.pos >= state.text.size() || !state.error.empty()) return nullptr;
  size_t end = state.text.find('\n', state.pos);
  end = end == std::string_view::npos ? state.text.size() : end + 1;
  const std::string_view line = state.text.substr(state.pos, end - state.pos);
  state.pos = end;
  ++state.line;
  if (line.size() >= static_cast<size_t>(size)) {
    state.Fail("line too long (at most " + std::to_string(size - 2) + " characters)");
    return nullptr;
  }
  if (line.find('\0') != std::string_view::npos) {
    state.Fail("control character (a NUL byte) in the line");
    return nullptr;
  }
  const std::string_view trimmed = Trim(line);
  if (trimmed.starts_with('[')) {
    const auto close = trimmed.find(']');
    const std::string section(trimmed.substr(1, close == std::string_view::npos ? 0 : close - 1));
    if (close == std::string_view::npos) {
      state.Fail("section header without ]");
    } else if (!Keys().contains(section)) {
      state.Fail("unknown section [" + section + "]");
    }
  }
  std::memcpy(out, line.data(), line.size());
  out[line.size()] = '\0';
  return out;
}

int OnEntry(void* user, const char* section, const char* key, const char* value) {
  auto& state = *static_cast<ParseState*>(user);
  if (!state.error.empty()) return 0;
  const auto sec = Keys().find(section);
  if (sec == Keys().end()) {
    state.Fail(*section == '\0' ? "\"" + std::string(key) + "\" is outside any [section]"
                                : "unknown section [" + std::string(section) + "]");
    return 0;
  }
  const auto setter = sec->second.find(key);
  if (setter == sec->second.end()) {
    state.Fail("unknown key \"" + std::string(key) + "\" in [" + section + "]");
    return 0;
  }
  const std::string id = std::string(section) + "." + key;
  if (const auto prev = state.seen.find(id); prev != state.seen.end()) {
    state.Fail("\"" + std::string(key) + "\" set twice (first on line " +
               std::to_string(prev->second) + ")");
    return 0;
  }
  state.seen[id] = state.line;
  Status applied = setter->second(state.config, value);
  if (!applied) state.Fail(std::string(key) + ": " + applied.error().message);
  return applied.ok() ? 1 : 0;
}

}  // namespace

bool IsLogLevel(std::string_view level) {
  static const char* kLevels[] = {"trace", "debug", "info", "warning", "error", "critical"};
  return std::any_of(std::begin(kLevels), std::end(kLevels),
                     [&](const char* l) { return level == l; });
}

Result<Milliseconds> ParseDuration(std::string_view text) {
  static const std::map<std::string_view, std::int64_t> kUnits = {
      {"ms", 1},           {"s", 1000},          {"sec", 1000},       {"min", 60'000},
      {"m", 60'000},       {"h", 3'600'000},     {"hour", 3'600'000}, {"d", 86'400'000},
      {"day", 86'400'000}, {"days", 86'400'000}, {"w", 604'800'000}};
  const std::string bad = "bad duration \"" + std::string(text) +
                          "\" (use a number with a unit: ms, s, min, h, d; e.g. 30d or 1d 12h)";
  std::int64_t total = 0;
  bool any = false;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ' || text[i] == '\t') {
      ++i;
      continue;
    }
    std::int64_t number = 0;
    const auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), number);
    if (ec != std::errc() || number < 0) return Error{bad};
    i = static_cast<size_t>(end - text.data());
    size_t unit_end = i;
    while (unit_end < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_end]))) {
      ++unit_end;
    }
    const auto unit = kUnits.find(text.substr(i, unit_end - i));
    if (unit == kUnits.end()) return Error{bad};
    if (number > (INT64_MAX / 2 - total) / unit->second) return Error{bad + ": too long"};
    total += number * unit->second;
    any = true;
    i = unit_end;
  }
  if (!any) return Error{bad};
  return Milliseconds{total};
}

std::string LocalFqdn() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "localhost";
  addrinfo hints{};
  hints.ai_flags = AI_CANONNAME;
  addrinfo* info = nullptr;
  std::string fqdn = host;
  if (getaddrinfo(host, nullptr, &hints, &info) == 0 && info != nullptr) {
    if (info->ai_canonname != nullptr && IsValidHostname(info->ai_canonname)) {
      fqdn = info->ai_canonname;
    }
    freeaddrinfo(info);
  }
  return IsValidHostname(fqdn) ? NormalizeHostname(fqdn) : "localhost";
}

Result<Config> ParseConfig(std::string_view text, const std::string& name) {
  ParseState state;
  state.name = name;
  state.text = text;
  ini_allow_multiline = false;  // a continuation line is an error, not part of a value
  const int rc = ini_parse_stream(ReadLine, &state, OnEntry, &state);
  if (!state.error.empty()) return Error{state.error};
  if (rc > 0) {
    return Error{name + ":" + std::to_string(rc) +
                 ": not a setting (expected key = value or [section])"};
  }
  if (rc < 0) return Error{name + ": cannot be parsed"};
  Config config = std::move(state.config);
  // A renewal due as soon as the certificate is made would make a new one every second.
  if (config.renew_before >= config.validity) {
    const auto line = [&](const char* id) {
      const auto seen = state.seen.find(id);
      return seen != state.seen.end() ? seen->second : 0;
    };
    return Error{
        name + ":" +
        std::to_string(std::max(line("monitor.renew_before"), line("selfsigned.validity"))) +
        ": renew_before (" + FormatDuration(config.renew_before) +
        ") must be shorter than [selfsigned] validity (" + FormatDuration(config.validity) +
        "): every new internal transport certificate would be due for renewal at once"};
  }
  // Published copies inside the store would be scanned as store files (and the other way
  // round the publisher would overwrite store files).
  const std::string store = NormalPath(config.store);
  const std::string publish = NormalPath(config.publish_dir);
  if (IsInside(store, publish) || IsInside(publish, store)) {
    const int line = std::max(state.seen.contains("daemon.store") ? state.seen["daemon.store"] : 0,
                              state.seen.contains("publish.dir") ? state.seen["publish.dir"] : 0);
    const std::string what =
        store == publish ? "are the same directory"
        : IsInside(publish, store)
            ? "overlap: the publish directory is inside the store (published copies would be "
              "scanned as store files)"
            : "overlap: the store is inside the publish directory";
    return Error{name + ":" + std::to_string(line) + ": [daemon] store (" + config.store +
                 ") and [publish] dir (" + config.publish_dir + ") " + what};
  }
  config.source = name;
  if (config.fqdn.empty()) config.fqdn = LocalFqdn();
  return config;
}

ScanOptions StoreScanOptions(const Config& config) {
  ScanOptions options;
  options.extra_anchors = config.trust_anchors;
  return options;
}

Result<Config> LoadConfig(const std::string& path, bool must_exist) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT && !must_exist) {
      auto config = ParseConfig("", path);
      if (config) config.value().source.clear();
      return config;
    }
    return Error{path + ":0: cannot read: " + std::strerror(errno)};
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

std::string FormatConfig(const Config& c) {
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
    return out;
  };
  std::vector<std::string> warn;
  for (const auto& d : c.warn_before) warn.push_back(FormatDuration(d));
  std::ostringstream out;
  out << "# effective configuration, from " << (c.source.empty() ? "built-in defaults" : c.source)
      << "\n[daemon]\nfqdn = " << c.fqdn << "\nstore = " << c.store << "\nstate = " << c.state
      << "\ndefault_services = " << join(ServiceNames(c.default_services))
      << "\nlog_level = " << c.log_level << "\nadmin_group = " << c.admin_group
      << "\n\n[store]\nkeep_removed = "
      << (c.keep_removed.count() == 0 ? std::string("0") : FormatDuration(c.keep_removed))
      << "\nretire_superseded = "
      << (c.retire_superseded.count() == 0 ? std::string("0") : FormatDuration(c.retire_superseded))
      << "\n\n[monitor]\nwarn_before = " << join(warn)
      << "\nrenew_before = " << FormatDuration(c.renew_before)
      << "\n\n[selfsigned]\nkey = " << c.key.ToString()
      << "\nvalidity = " << FormatDuration(c.validity) << "\nnames = " << join(c.selfsigned_names)
      << "\n\n[selection]\nwildcard = "
      << (c.wildcard == WildcardMode::kOneLevel ? "one-level" : "multi-level")
      << "\ntrust = " << c.trust << "\n\n[publish]\ndir = " << c.publish_dir
      << "\nnames = " << join(c.publish_names) << "\ngroup = " << c.publish_group
      << "\nreload_command = " << c.reload_command
      << "\nreload_timeout = " << FormatDuration(c.reload_timeout)
      << "\nservices = " << join(ServiceNames(c.publish_services));
  out << "\n\n[dane]\nports =";
  for (const int port : c.dane_ports) out << " " << port;
  out << "\nnext_key = " << (c.dane_next_key ? "yes" : "no") << "\nrollover_hold = "
      << (c.rollover_hold.count() == 0 ? std::string("0") : FormatDuration(c.rollover_hold))
      << "\n\n[metrics]\ntextfile = " << c.metrics_textfile
      << "\n\n[verify]\nendpoints = " << join(c.verify_endpoints) << "\nafter_reload = "
      << (c.verify_after_reload.count() == 0 ? std::string("0")
                                             : FormatDuration(c.verify_after_reload))
      << "\n";
  return out.str();
}

}  // namespace transportcertd
