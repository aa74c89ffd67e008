#include "daemon/metrics_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include "daemon/logging.h"
#include "monitor/atomic_file.h"

namespace transportcertd {

void MetricsFile::Configure(const std::string& path) {
  if (path == path_) return;
  if (ours_ && unlink(path_.c_str()) == 0) {
    spdlog::info("removed the metrics file {}: metrics now go to {}", path_,
                 path.empty() ? "nowhere" : path);
  }
  path_ = path;
  ours_ = false;
  last_error_.clear();
  if (path_.empty()) return;
  if (const int stale = RemoveStaleTempFilesOf(path_); stale > 0) {
    spdlog::info("removed {} unfinished temporary metrics file(s) next to {}", stale, path_);
  }
}

void MetricsFile::Write(const std::string& text) {
  if (path_.empty()) return;
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644) {
    if (auto current = ReadFile(path_); current && *current == text) {
      ours_ = true;
      return;
    }
  }
  if (Status written = WriteFileAtomically(path_, text, 0644); !written) {
    if (written.error().message != last_error_) {
      spdlog::error("cannot write the metrics file: {}; trying again at the next change",
                    written.error().message);
      last_error_ = written.error().message;
    }
    return;
  }
  if (!last_error_.empty()) spdlog::info("wrote the metrics file {} again", path_);
  last_error_.clear();
  ours_ = true;
  spdlog::debug("wrote the metrics file {}", path_);
}

}  // namespace transportcertd
