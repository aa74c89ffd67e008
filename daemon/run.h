// The start-up script of the daemon: arguments → config → logging → daemon loop.
#pragma once

namespace transportcertd {

// Parses the command line (transportcertd(8), packaging/man/transportcertd.8.scd) and runs the
// daemon; returns the process exit code: 0 clean stop, 78 bad configuration or command line, 1 any
// other fatal start-up error.
int RunMain(int argc, char** argv);

}  // namespace transportcertd
