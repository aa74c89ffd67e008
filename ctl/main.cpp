// transportcertctl: the command line face of transportcertd's D-Bus API (see
// transportcertctl(1)). Exit status 0 on success, 1 when the daemon answers with an error or the
// command fails, 2 for usage errors.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "ctl/commands.h"
#include "ctl/format.h"
#include "ctl/manager_client.h"
#include "ctl/options.h"
#include "ctl/terminal.h"
#include "transportcertd_version.h"

namespace transportcertctl {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

const char* GetEnvironment(const char* name) { return std::getenv(name); }

void PrintError(const std::string& message) {
  (void)std::fprintf(stderr, "transportcertctl: %s\n", message.c_str());
}

// Writes `text` to standard output; false (with errno) when it could not be written, e.g. to a
// full disk. A pager that quit before reading everything is not a failure.
bool WriteOutput(const std::string& text) {
  const bool written = std::fputs(text.c_str(), stdout) >= 0 && std::fflush(stdout) == 0;
  return written || errno == EPIPE;
}

std::uint64_t NowUsec() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

int Run(const std::vector<std::string>& arguments) {
  Options options;
  try {
    options = ParseCommandLine(arguments);
    CheckArguments(options);
  } catch (const UsageError& e) {
    PrintError(e.what());
    (void)std::fprintf(stderr, "Try 'transportcertctl --help' for more information.\n");
    return kExitUsage;
  }
  if (options.help || options.version) {
    const std::string text =
        options.help ? UsageText()
                     : std::string("transportcertctl ") + transportcertd::kVersion + "\n";
    if (WriteOutput(text)) return 0;
    PrintError(std::string("cannot write the output: ") + std::strerror(errno));
    return kExitFailure;
  }

  const bool terminal = isatty(STDOUT_FILENO) != 0;
  Context context;
  context.colour = ColourWanted(terminal, GetEnvironment);
  context.now_usec = NowUsec();
  try {
    ManagerClient client(options);
    const CommandOutput output = RunCommand(options, client, context);
    Pager pager;
    if (output.page) pager.Start(PagerCommand(terminal, options.pager, GetEnvironment));
    if (!WriteOutput(output.text)) {
      PrintError(std::string("cannot write the output: ") + std::strerror(errno));
      return kExitFailure;
    }
    if (!output.warning.empty()) PrintError(output.warning);
    return output.exit_status;
  } catch (const UsageError& e) {
    PrintError(e.what());
    return kExitUsage;
  } catch (const BusCallError& e) {
    // One line, with the error's name when the daemon (or the bus) gave one.
    const std::string message = OneLine(e.what());
    PrintError(e.name().empty() ? message : message + " (" + OneLine(e.name()) + ")");
    return kExitFailure;
  } catch (const CommandError& e) {
    PrintError(e.what());
    return kExitFailure;
  } catch (const std::exception& e) {
    PrintError(e.what());
    return kExitFailure;
  }
}

}  // namespace
}  // namespace transportcertctl

int main(int argc, char** argv) {
  return transportcertctl::Run(std::vector<std::string>(argv + 1, argv + argc));
}
