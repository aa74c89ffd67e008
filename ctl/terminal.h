// How transportcertctl meets a person at a terminal, as systemd's tools do: colour only when
// standard output is a terminal (and neither NO_COLOR nor SYSTEMD_COLORS=0 says otherwise), and
// long output through a pager only on a terminal ($SYSTEMD_PAGER, else $PAGER, else less, with
// LESS=FRSXMK unless $SYSTEMD_LESS says otherwise; "cat" or "" means none).
// Main thread only.
#pragma once

#include <sys/types.h>

#include <string>

namespace transportcertctl {

inline constexpr const char* kDefaultPager = "less";

// Reads an environment variable; nullptr when unset. A seam for the tests.
using GetEnv = const char* (*)(const char*);

// Whether to colour output that goes to a terminal (`is_terminal`).
bool ColourWanted(bool is_terminal, GetEnv get_env);

// The pager command line to run, or "" for none (standard output not a terminal, --no-pager,
// or the environment asks for none). "less" is the default.
std::string PagerCommand(bool is_terminal, bool pager_option, GetEnv get_env);

// Pipes standard output into a pager from Start() until Finish() (or destruction), which waits
// for the pager to exit. Does nothing when PagerCommand() is empty.
class Pager {
 public:
  Pager() = default;
  ~Pager() { Finish(); }
  Pager(const Pager&) = delete;
  Pager& operator=(const Pager&) = delete;

  void Start(const std::string& command);
  void Finish();

 private:
  pid_t pid_ = -1;
};

}  // namespace transportcertctl
