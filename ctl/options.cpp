#include "ctl/options.h"

#include <cstddef>
#include <limits>
#include <string_view>

#include "ctl/format.h"
#include "ctl/served.h"

namespace transportcertctl {
namespace {

constexpr std::size_t kMany = std::numeric_limits<std::size_t>::max();

struct CommandShape {
  const char* name;
  std::size_t min_args;
  std::size_t max_args;
  const char* synopsis;
};

constexpr CommandShape kCommands[] = {
    {"status", 0, 0, "status"},
    {"list", 0, 0, "list"},
    {"show", 1, 1, "show CERT"},
    {"select", 1, 2, "select NAME [SERVICE]"},
    {"explain", 1, 2, "explain NAME [SERVICE]"},
    {"enable", 1, kMany, "enable CERT SERVICE... [--internal-transport]"},
    {"disable", 2, kMany, "disable CERT SERVICE..."},
    {"import", 1, kMany, "import FILE... [--services SERVICE,...]"},
    {"remove", 1, 1, "remove CERT"},
    {"renew", 0, 0, "renew"},
    {"new-self-signed", 0, kMany, "new-self-signed [NAME...]"},
    {"reload", 0, 0, "reload"},
    {"tlsa", 0, 1, "tlsa [NAME]"},
    {"verify", 0, kMany, "verify [NAME...] [--endpoint PORT/PROTO]... [--journal]"},
};

const CommandShape* FindCommand(std::string_view name) {
  for (const CommandShape& shape : kCommands) {
    if (name == shape.name) return &shape;
  }
  return nullptr;
}

// "--name=value" or "--name value": the value, taking the next argument when needed.
std::string OptionValue(const std::vector<std::string>& arguments, std::size_t& i,
                        std::string_view name) {
  const std::string& argument = arguments[i];
  const std::size_t equals = argument.find('=');
  if (equals != std::string::npos) return argument.substr(equals + 1);
  if (i + 1 >= arguments.size()) {
    throw UsageError("option " + std::string(name) + " needs a value");
  }
  return arguments[++i];
}

}  // namespace

Options ParseCommandLine(const std::vector<std::string>& arguments) {
  Options options;
  std::vector<std::string> positional;
  bool services_given = false;
  bool options_done = false;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const std::string& argument = arguments[i];
    if (options_done || argument.size() < 2 || argument[0] != '-') {
      positional.push_back(argument);
      continue;
    }
    const std::string name = argument.substr(0, argument.find('='));
    if (argument == "--") {
      options_done = true;
    } else if (argument == "-h" || argument == "--help") {
      options.help = true;
    } else if (argument == "--version") {
      options.version = true;
    } else if (argument == "--no-pager") {
      options.pager = false;
    } else if (argument == "--no-legend") {
      options.legend = false;
    } else if (name == "--bus") {
      const std::string value = OptionValue(arguments, i, "--bus");
      if (value == "system") {
        options.bus = BusKind::kSystem;
      } else if (value == "session") {
        options.bus = BusKind::kSession;
      } else {
        throw UsageError("--bus must be system or session, not '" + OneLine(value) + "'");
      }
    } else if (name == "--json") {
      if (argument.find('=') == std::string::npos) {
        throw UsageError("--json needs a value: --json=pretty or --json=short");
      }
      const std::string value = OptionValue(arguments, i, "--json");
      if (value == "pretty") {
        options.json = JsonStyle::kPretty;
      } else if (value == "short") {
        options.json = JsonStyle::kShort;
      } else {
        throw UsageError("--json must be pretty or short, not '" + OneLine(value) + "'");
      }
    } else if (argument == "-H" || name == "--host") {
      options.host = OptionValue(arguments, i, "-H");
    } else if (argument.rfind("-H", 0) == 0) {
      options.host = argument.substr(2);
    } else if (argument == "--internal-transport") {
      options.internal_transport = true;
    } else if (name == "--services") {
      services_given = true;
      for (const std::string& service : SplitCommas(OptionValue(arguments, i, "--services"))) {
        options.services.push_back(service);
      }
    } else if (name == "--endpoint") {
      const std::string value = OptionValue(arguments, i, "--endpoint");
      if (!ParseEndpoint(value)) {
        throw UsageError(
            "--endpoint must be PORT/PROTOCOL (protocol smtp, smtps, imap, imaps, "
            "pop3 or pop3s), not '" +
            OneLine(value) + "'");
      }
      options.endpoints.push_back(value);
    } else if (argument == "--journal") {
      options.journal = true;
    } else {
      throw UsageError("unknown option " + OneLine(argument));
    }
  }
  if (options.help || options.version) return options;

  if (!positional.empty()) {
    options.command = positional.front();
    positional.erase(positional.begin());
  }
  const CommandShape* shape = FindCommand(options.command);
  if (shape == nullptr) {
    throw UsageError("unknown command '" + OneLine(options.command) + "'");
  }
  const std::size_t min_args =
      options.command == "enable" && !options.internal_transport ? 2 : shape->min_args;
  if (positional.size() < min_args || positional.size() > shape->max_args) {
    throw UsageError(std::string(positional.size() < min_args ? "too few" : "too many") +
                     " arguments; usage: transportcertctl " + shape->synopsis);
  }
  if (options.internal_transport && options.command != "enable") {
    throw UsageError("--internal-transport belongs to the enable command");
  }
  if ((!options.endpoints.empty() || options.journal) && options.command != "verify") {
    throw UsageError(std::string(options.journal ? "--journal" : "--endpoint") +
                     " belongs to the verify command");
  }
  if (options.command == "verify" && !options.host.empty()) {
    throw UsageError("verify connects to the mail ports of this machine; it does not go with -H");
  }
  if (services_given && options.command != "import") {
    throw UsageError("--services belongs to the import command");
  }
  if (!options.host.empty() && options.bus == BusKind::kSession) {
    throw UsageError(
        "-H reaches the system bus of another host; it does not go with --bus "
        "session");
  }
  options.args = std::move(positional);
  return options;
}

std::string UsageText() {
  return R"(transportcertctl [OPTIONS...] COMMAND [ARGS...]

Asks transportcertd which TLS certificates the mail server has, which one each service presents
for a host name and why, and changes them.

Commands:
  status                     FQDN, store, internal transport certificate, counts, next expiry,
                             and the certificate each published name selects (the default)
  list                       One row per certificate
  show CERT                  Every property of one certificate
  select NAME [SERVICE]      The certificate presented for NAME (SERVICE: SMTP, the default,
                             IMAP, POP or HTTP) and why
  explain NAME [SERVICE]     Every certificate's verdict for NAME and why, the winner first
  enable CERT SERVICE... [--internal-transport]
                             Enable services on a certificate (and make it the internal
                             transport certificate)
  disable CERT SERVICE...    Take services off a certificate
  import FILE... [--services SERVICE,...]
                             Import certificate, chain and private key from PEM files
                             (- reads standard input), concatenated in order
  remove CERT                Remove a certificate (kept under the state's removed/ directory)
  renew                      Replace the internal transport certificate now
  new-self-signed [NAME...]  Generate a self-signed certificate; it becomes the internal
                             transport certificate
  reload                     Re-read configuration and store
  tlsa [NAME]                DANE TLSA records for NAME, or for every published name
  verify [NAME...] [--endpoint PORT/PROTO]... [--journal]
                             Connect to the local mail ports and compare the certificate each
                             presents with the one selected (exit 1 when one differs)

CERT is a thumbprint or a unique prefix of at least 6 hex digits, in any case.

Options:
  -h --help                  Show this help
     --version               Show the version
     --bus=system|session    The bus to ask (default: system)
  -H --host=[USER@]HOST      Ask the daemon on a remote host, over ssh
     --json=pretty|short     Print JSON instead of text
     --no-legend             No column headers and footers
     --no-pager              Do not pipe output into a pager

Exit status: 0 success, 1 the daemon answered with an error, 2 usage error.
See transportcertctl(1).
)";
}

}  // namespace transportcertctl
