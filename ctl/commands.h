// transportcertctl's commands: each asks the daemon through ManagerClient and returns the text
// (or JSON) to print. Nothing is printed here, so that a failing call prints nothing but its
// error. Single-threaded.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ctl/manager_client.h"
#include "ctl/options.h"

namespace transportcertctl {

// A failure of the command itself (an unknown or ambiguous prefix, an unreadable file):
// main() prints it and exits 1.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Context {
  bool colour = false;
  std::uint64_t now_usec = 0;  // "now" for DAYS
};

struct CommandOutput {
  std::string text;
  bool page = false;         // long output a person reads: through the pager on a terminal
  int exit_status = 0;       // 1 when the command found something wrong (verify)
  std::string warning = {};  // printed on standard error after the output; the status stays
};

// Runs options.command. Throws UsageError, CommandError or BusCallError.
CommandOutput RunCommand(const Options& options, ManagerClient& client, const Context& context);

// Checks the arguments that can be checked without the daemon (CERT syntax), so that a usage
// error is reported before connecting. Throws UsageError.
void CheckArguments(const Options& options);

}  // namespace transportcertctl
