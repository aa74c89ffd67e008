#include "tests/support/temp_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

namespace transportcertd::testing {

TempDir::TempDir() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
  pattern += "/transportcertd-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    // Without a directory no test can do anything sensible.
    static_cast<void>(
        std::fprintf(stderr, "TempDir: mkdtemp(%s): %s\n", pattern.c_str(), std::strerror(errno)));
    std::abort();
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) {
    static_cast<void>(
        std::fprintf(stderr, "TempDir: removing %s: %s\n", path_.c_str(), ec.message().c_str()));
  }
}

std::string TempDir::Write(const std::string& name, const std::string& contents,
                           mode_t mode) const {
  std::string path = *this / name;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    ADD_FAILURE() << "TempDir::Write: open(" << path << "): " << std::strerror(errno);
    return path;
  }
  // The mode asked for, whatever the umask.
  if (::fchmod(fd, mode) != 0) {
    ADD_FAILURE() << "TempDir::Write: fchmod(" << path << "): " << std::strerror(errno);
  }
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      ADD_FAILURE() << "TempDir::Write: write(" << path << "): " << std::strerror(errno);
      break;
    }
    written += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {};
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace transportcertd::testing
