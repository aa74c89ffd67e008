// The metrics file (`[metrics] textfile`) for node_exporter's textfile collector: the text that
// monitor/metrics.h renders, written atomically (a hidden temporary file in the same directory,
// which the collector ignores, then rename) with mode 0644, and only when it differs from what
// the file holds. The directory is shared with other programs: only our own temporary files
// are ever removed from it. Loop thread only.
#pragma once

#include <string>

namespace transportcertd {

class MetricsFile {
 public:
  MetricsFile() = default;
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;

  // Sets the file ("" turns metrics off). Removes temporary files a killed write of ours left
  // next to it. When the path changes, the file this daemon wrote at the old path goes, so
  // that no stale figures stay behind for the collector.
  void Configure(const std::string& path);
  bool enabled() const { return !path_.empty(); }

  // Writes `text` unless the file already holds exactly that with mode 0644. A failure is
  // logged (once, until the reason changes or a write succeeds) and the next Write tries again.
  void Write(const std::string& text);

 private:
  std::string path_;
  bool ours_ = false;       // path_ holds what this daemon wrote (or found identical)
  std::string last_error_;  // of the last failed write, to log each reason once
};

}  // namespace transportcertd
