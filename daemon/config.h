// The configuration (docs/configuration.md), parsed once, strictly, into a typed struct: every
// unknown section or key, bad value and bad duration is an error "FILE:LINE: what is wrong".
// Plain data; the loop thread owns the daemon's copy.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "monitor/bindings.h"
#include "monitor/expiry.h"
#include "monitor/hostname.h"
#include "monitor/result.h"
#include "monitor/selfsigned.h"
#include "monitor/store.h"

namespace transportcertd {

inline constexpr const char* kDefaultConfigPath = "/etc/transportcertd/transportcertd.conf";

// Names of files the publisher writes for itself in publish.dir (`<name>.pem` and `sni-map`):
// no publish.names entry may take them.
inline constexpr std::string_view kReservedPublishNames[] = {"internal-transport", "sni-map"};

struct Config {
  std::string source;  // the file read, or "" for built-in defaults

  // [daemon]
  std::string fqdn;  // this host's FQDN unless set
  std::string store = "/var/lib/transportcertd/store";
  std::string state = "/var/lib/transportcertd";
  ServiceSet default_services = Bit(Service::kSmtp);
  std::string log_level = "info";
  std::string admin_group;

  // [store]
  Milliseconds keep_removed{30 * 86'400'000LL};      // how long removed files are kept; 0: forever
  Milliseconds retire_superseded{7 * 86'400'000LL};  // superseded this long: removed; 0: never

  // [monitor]
  std::vector<Milliseconds> warn_before = {
      Milliseconds{30 * 86'400'000LL}, Milliseconds{14 * 86'400'000LL},
      Milliseconds{7 * 86'400'000LL}, Milliseconds{3 * 86'400'000LL}, Milliseconds{86'400'000LL}};
  Milliseconds renew_before{30 * 86'400'000LL};

  // [selfsigned]
  KeySpec key;
  Milliseconds validity{1825 * 86'400'000LL};
  std::vector<std::string> selfsigned_names;

  // [selection]
  WildcardMode wildcard = WildcardMode::kOneLevel;
  std::string trust;                       // a PEM file or directory of them; empty: none
  std::vector<std::string> trust_anchors;  // what `trust` held when the file was read (DER)

  // [publish]
  std::string publish_dir = "/var/lib/transportcertd/published";
  std::vector<std::string> publish_names;
  std::string publish_group;
  std::string reload_command;
  Milliseconds reload_timeout{60'000};  // then its process group is killed
  // Whose selection is published: SMTP at the top of publish_dir always, every other service
  // in a folder of its own (monitor/publish_plan.h).
  ServiceSet publish_services = Bit(Service::kSmtp);

  // [metrics]
  std::string metrics_textfile;  // empty: no metrics file

  // [dane] (docs/dane.md)
  std::vector<int> dane_ports = {25};  // empty: no TLSA records, no tlsa file
  bool dane_next_key = true;           // keep a pre-generated next key in <state>/next-key.pem
  Milliseconds rollover_hold{2 * 86'400'000LL};  // a routine renewal waits this long for it

  // [verify]
  // What `transportcertctl verify` connects to on loopback: PORT/PROTOCOL, protocol one of
  // smtp imap pop3 (STARTTLS) and smtps imaps pop3s (TLS at once).
  std::vector<std::string> verify_endpoints = {"25/smtp",   "587/smtp", "465/smtps", "143/imap",
                                               "993/imaps", "110/pop3", "995/pop3s"};
  Milliseconds verify_after_reload{10'000};  // start the verify service this long after a reload

  std::string BindingsPath() const { return state + "/bindings"; }
  // Where removed store files are kept (never scanned): docs/configuration.md, [store].
  std::string RemovedPath() const { return state + "/removed"; }
  // The next key of the internal transport certificate (docs/dane.md), never in the store.
  std::string NextKeyPath() const { return state + "/next-key.pem"; }
  // DANE is on while [dane] ports lists a port; the next key while next_key is on too.
  bool DaneEnabled() const { return !dane_ports.empty(); }
  bool NextKeyEnabled() const { return DaneEnabled() && dane_next_key; }
};

// How the store is scanned under `config`: the system trust store plus `trust_anchors`.
ScanOptions StoreScanOptions(const Config& config);

// Reads `path`. When `must_exist` is false a missing file means built-in defaults.
Result<Config> LoadConfig(const std::string& path, bool must_exist);
// Parses config text; `name` is used in error messages.
Result<Config> ParseConfig(std::string_view text, const std::string& name);
// The effective configuration as INI text (for --check-config).
std::string FormatConfig(const Config& config);

// systemd-style durations: "30d", "1d 12h", "90s", "250ms"; units ms s min h d (also w).
Result<Milliseconds> ParseDuration(std::string_view text);
// The log levels accepted by log_level and --log-level.
bool IsLogLevel(std::string_view level);
// This machine's fully qualified host name (getaddrinfo AI_CANONNAME, else gethostname).
std::string LocalFqdn();

}  // namespace transportcertd
