#include "daemon/run.h"

#include <getopt.h>
#include <openssl/crypto.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/logging.h"
#include "transportcertd_version.h"

namespace transportcertd {
namespace {

constexpr int kExitConfig = 78;  // EX_CONFIG

constexpr const char* kUsage =
    "Usage: transportcertd [OPTION]...\n"
    "Keeps the mail server's TLS certificates, selects one per host name and service, and\n"
    "always keeps a working internal transport certificate.\n"
    "\n"
    "  --config FILE        configuration file (default /etc/transportcertd/transportcertd.conf)\n"
    "  --bus system|session D-Bus bus to serve on (default system)\n"
    "  --log-target auto|console|journal   where to log (default auto)\n"
    "  --log-level LEVEL    trace, debug, info, warning, error or critical\n"
    "  --check-config       validate the configuration, print it, and exit\n"
    "  --version            print the version and exit\n"
    "  --help               print this help and exit\n";

struct Arguments {
  std::string config_path = kDefaultConfigPath;
  bool config_explicit = false;
  BusKind bus = BusKind::kSystem;
  LogTarget log_target = LogTarget::kAuto;
  std::optional<std::string> log_level;
  bool check_config = false;
  bool version = false;
  bool help = false;
};

Result<Arguments> ParseArguments(int argc, char** argv) {
  enum { kConfig = 1000, kBus, kLogTarget, kLogLevel, kCheckConfig, kVersion, kHelp };
  static const option kOptions[] = {{"config", required_argument, nullptr, kConfig},
                                    {"bus", required_argument, nullptr, kBus},
                                    {"log-target", required_argument, nullptr, kLogTarget},
                                    {"log-level", required_argument, nullptr, kLogLevel},
                                    {"check-config", no_argument, nullptr, kCheckConfig},
                                    {"version", no_argument, nullptr, kVersion},
                                    {"help", no_argument, nullptr, kHelp},
                                    {nullptr, 0, nullptr, 0}};
  Arguments args;
  opterr = 0;
  optind = 1;
  for (;;) {
    const int option_index = optind;
    const int c = getopt_long(argc, argv, "", kOptions, nullptr);
    if (c == -1) break;
    const std::string value = optarg != nullptr ? optarg : "";
    switch (c) {
      case kConfig:
        args.config_path = value;
        args.config_explicit = true;
        break;
      case kBus:
        if (value != "system" && value != "session") {
          return Error{"--bus: \"" + value + "\" is neither system nor session"};
        }
        args.bus = value == "system" ? BusKind::kSystem : BusKind::kSession;
        break;
      case kLogTarget: {
        auto target = ParseLogTarget(value);
        if (!target) return Error{"--log-target: " + target.error().message};
        args.log_target = *target;
        break;
      }
      case kLogLevel:
        if (!IsLogLevel(value)) {
          return Error{"--log-level: unknown level \"" + value +
                       "\" (use trace, debug, info, warning, error or critical)"};
        }
        args.log_level = value;
        break;
      case kCheckConfig:
        args.check_config = true;
        break;
      case kVersion:
        args.version = true;
        break;
      case kHelp:
        args.help = true;
        break;
      default: {
        const std::string bad = option_index < argc ? argv[option_index] : "?";
        return Error{optopt != 0 && c == ':' ? bad + ": needs a value"
                                             : "unknown or incomplete option \"" + bad + "\""};
      }
    }
  }
  if (optind < argc) return Error{"unexpected argument \"" + std::string(argv[optind]) + "\""};
  return args;
}

}  // namespace

int RunMain(int argc, char** argv) {
  auto args = ParseArguments(argc, argv);
  if (!args) {
    PrintStartupError("transportcertd: " + args.error().message);
    std::cerr << "Try 'transportcertd --help'.\n";
    return kExitConfig;
  }
  if (args->help) {
    std::cout << kUsage;
    return 0;
  }
  if (args->version) {
    std::cout << "transportcertd " << kVersion << " (" << OpenSSL_version(OPENSSL_VERSION) << ")\n";
    return 0;
  }
  auto config = LoadConfig(args->config_path, args->config_explicit);
  if (!config) {
    PrintStartupError(config.error().message);
    return kExitConfig;
  }
  if (args->check_config) {
    std::cout << FormatConfig(*config);
    return 0;
  }
  SetUpLogging(args->log_target, args->log_level.value_or(config->log_level));
  spdlog::info("transportcertd {} starting: fqdn {}, store {}, config {}", kVersion, config->fqdn,
               config->store, config->source.empty() ? "built-in defaults" : config->source);
  Daemon daemon(std::move(config).value(), DaemonOptions{args->config_path, args->config_explicit,
                                                         args->bus, args->log_level});
  return daemon.Run();
}

}  // namespace transportcertd
