#include "ctl/terminal.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace transportcertctl {
namespace {

// systemd's booleans: 1 yes y true t on / 0 no n false f off; anything else is neither (-1).
int ParseBoolean(std::string_view text) {
  for (const char* yes : {"1", "yes", "y", "true", "t", "on"}) {
    if (text == yes) return 1;
  }
  for (const char* no : {"0", "no", "n", "false", "f", "off"}) {
    if (text == no) return 0;
  }
  return -1;
}

}  // namespace

bool ColourWanted(bool is_terminal, GetEnv get_env) {
  if (!is_terminal) return false;
  if (const char* no_color = get_env("NO_COLOR"); no_color != nullptr && *no_color != '\0') {
    return false;
  }
  if (const char* colors = get_env("SYSTEMD_COLORS");
      colors != nullptr && ParseBoolean(colors) == 0) {
    return false;
  }
  const char* term = get_env("TERM");
  return term == nullptr || std::string_view(term) != "dumb";
}

std::string PagerCommand(bool is_terminal, bool pager_option, GetEnv get_env) {
  if (!is_terminal || !pager_option) return "";
  for (const char* name : {"SYSTEMD_PAGER", "PAGER"}) {
    if (const char* pager = get_env(name); pager != nullptr) {
      const std::string_view command(pager);
      if (command.find_first_not_of(" \t") == std::string_view::npos || command == "cat") {
        return "";
      }
      return std::string(command);
    }
  }
  return kDefaultPager;
}

void Pager::Start(const std::string& command) {
  if (command.empty() || pid_ >= 0) return;
  int fds[2];
  if (pipe(fds) < 0) return;  // no pager: the output goes to the terminal as it is
  (void)std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return;
  }
  if (pid == 0) {
    // The pager: reads the pipe, writes to the terminal.
    dup2(fds[0], STDIN_FILENO);
    close(fds[0]);
    close(fds[1]);
    const char* less = std::getenv("SYSTEMD_LESS");
    setenv("LESS", less != nullptr ? less : "FRSXMK", 1);
    if (command == kDefaultPager) {
      // Like systemd: less, else more, else the text as it is.
      execlp("less", "less", static_cast<char*>(nullptr));
      execlp("more", "more", static_cast<char*>(nullptr));
      char buffer[4096];
      ssize_t n = 0;
      while ((n = read(STDIN_FILENO, buffer, sizeof buffer)) > 0) {
        if (write(STDOUT_FILENO, buffer, static_cast<std::size_t>(n)) != n) break;
      }
      _exit(0);
    }
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    (void)std::fprintf(stderr, "transportcertctl: cannot run the pager '%s': %s\n", command.c_str(),
                       std::strerror(errno));
    _exit(1);
  }
  // Here: standard output is the pipe from now on. A pager that quits early (q in less)
  // makes further writes fail instead of killing us.
  (void)std::signal(SIGPIPE, SIG_IGN);
  dup2(fds[1], STDOUT_FILENO);
  close(fds[0]);
  close(fds[1]);
  pid_ = pid;
}

void Pager::Finish() {
  if (pid_ < 0) return;
  (void)std::fflush(stdout);  // what the pager did not take is not missed
  // The pager sees the end of its input once the write end is closed.
  const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, STDOUT_FILENO);
    close(devnull);
  } else {
    close(STDOUT_FILENO);
  }
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

}  // namespace transportcertctl
