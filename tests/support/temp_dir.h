// Test support: a fresh temporary directory, removed with everything in it on destruction, and
// small file helpers.
#pragma once

#include <sys/types.h>

#include <string>

namespace transportcertd::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  // Writes `contents` to path()/name (plain write, mode `mode`); returns the full path.
  std::string Write(const std::string& name, const std::string& contents, mode_t mode = 0644) const;

 private:
  std::string path_;
};

std::string ReadWholeFile(const std::string& path);

}  // namespace transportcertd::testing
