// transportcertctl's command line: global options, the command and its arguments, checked
// completely before anything is asked of the daemon, so that a usage error (exit 2) never
// depends on what the daemon says. Pure.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ctl/json_writer.h"

namespace transportcertctl {

// A command line that cannot be run; main() prints it and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class BusKind { kSystem, kSession };

struct Options {
  BusKind bus = BusKind::kSystem;
  std::string host;  // -H [USER@]HOST: empty for the local bus
  std::optional<JsonStyle> json;
  bool legend = true;
  bool pager = true;
  bool help = false;
  bool version = false;

  std::string command = "status";
  std::vector<std::string> args;

  // Options of one command.
  bool internal_transport = false;     // enable --internal-transport
  std::vector<std::string> services;   // import --services SERVICE,...
  std::vector<std::string> endpoints;  // verify --endpoint PORT/PROTO (repeatable)
  bool journal = false;                // verify --journal
};

// Parses argv[1..argc-1]. Options may come before or after the command; "--" ends them, and a
// lone "-" is an argument (stdin for import). Throws UsageError.
Options ParseCommandLine(const std::vector<std::string>& arguments);

// The --help text.
std::string UsageText();

}  // namespace transportcertctl
