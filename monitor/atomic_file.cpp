#include "monitor/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>  // renameat2
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace transportcertd {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

// Closes a file descriptor on scope exit unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;

  int get() const { return fd_; }
  // Closes now and reports close()'s errno (0 on success).
  int Close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// Splits "dir/name" into "dir" and "name"; a bare name lives in ".".
void SplitPath(const std::string& path, std::string* dir, std::string* base) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *base = path;
  } else if (slash == 0) {
    *dir = "/";
    *base = path.substr(1);
  } else {
    *dir = path.substr(0, slash);
    *base = path.substr(slash + 1);
  }
}

// Writes all of `data`, retrying on EINTR and partial writes; returns 0 or an errno.
int WriteAll(int fd, std::string_view data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return 0;
}

int FsyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  FdGuard guard(fd);
  if (::fsync(fd) != 0 && errno != EINVAL) return errno;  // EINVAL: fs cannot sync directories
  return guard.Close();
}

std::string DirectoryOf(const std::string& path) {
  std::string dir;
  std::string base;
  SplitPath(path, &dir, &base);
  return dir;
}

// The first half of an atomic write: a hidden temporary file next to `path` (".name.tmp-XXXXXX")
// holding `data`, with `mode` and `group` (-1: the caller's) settled while it is still empty,
// synced and closed. Returns its path; on failure nothing is left behind and the error is
// "PATH: could not write: reason".
Result<std::string> WriteTemporaryFor(const std::string& path, std::string_view data, mode_t mode,
                                      gid_t group) {
  std::string dir;
  std::string base;
  SplitPath(path, &dir, &base);
  auto failed = [&path](int err) { return Error{path + ": could not write: " + ErrnoText(err)}; };
  if (base.empty()) return failed(EISDIR);

  std::string temp = dir + "/." + base + std::string(kTempFileMarker) + "XXXXXX";
  std::vector<char> name(temp.begin(), temp.end());
  name.push_back('\0');
  const int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return failed(errno);
  temp.assign(name.data());
  FdGuard guard(fd);

  // Every failure from here on is the same: the temporary goes.
  auto abandon = [&](int err) {
    if (guard.get() >= 0) guard.Close();
    ::unlink(temp.c_str());
    return failed(err);
  };

  // Group and mode are settled while the file is still empty, so the data is never readable
  // by anyone the caller did not ask for. chown may clear mode bits, so it goes first.
  if (group != static_cast<gid_t>(-1) && ::fchown(fd, static_cast<uid_t>(-1), group) != 0) {
    return abandon(errno);
  }
  if (::fchmod(fd, mode) != 0) return abandon(errno);
  if (const int err = WriteAll(fd, data); err != 0) return abandon(err);
  if (::fsync(fd) != 0) return abandon(errno);
  if (const int err = guard.Close(); err != 0) return abandon(err);
  return temp;
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode,
                           gid_t group) {
  auto temp = WriteTemporaryFor(path, data, mode, group);
  if (!temp) return temp.error();
  if (::rename(temp->c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp->c_str());
    return Status(Error{path + ": could not write: " + ErrnoText(err)});
  }
  // The new contents are in place; only their durability across a crash is in question now.
  if (const int err = FsyncDirectory(DirectoryOf(path)); err != 0) {
    return Status(Error{path + ": written, but could not sync its directory: " + ErrnoText(err)});
  }
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path, std::uint64_t max_size) {
  auto failed = [&path](int err) { return Error{path + ": " + ErrnoText(err)}; };
  auto too_large = [&path, max_size] {
    return Error{path + ": larger than " + std::to_string(max_size) + " bytes"};
  };

  // Never follows a symbolic link, and never blocks in open() (a FIFO without a writer would
  // otherwise hang the caller): what is not a regular file is refused before any read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ELOOP) {
    return Error{path + ": is a symbolic link (not followed among the daemon's own files)"};
  }
  if (fd < 0) return failed(errno);
  FdGuard guard(fd);

  struct stat st {};
  if (::fstat(fd, &st) != 0) return failed(errno);
  if (S_ISDIR(st.st_mode)) return failed(EISDIR);
  if (!S_ISREG(st.st_mode)) return Error{path + ": not a regular file"};
  if (static_cast<std::uint64_t>(st.st_size) > max_size) return too_large();

  std::string contents;
  contents.reserve(static_cast<std::size_t>(st.st_size));
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return failed(errno);
    }
    if (n == 0) break;
    // The file may have grown since fstat.
    if (contents.size() + static_cast<std::size_t>(n) > max_size) return too_large();
    contents.append(buffer, static_cast<std::size_t>(n));
  }
  return contents;
}

namespace {

// Removes the regular files in `dir` whose names `is_temporary` accepts; returns how many.
template <typename Predicate>
int RemoveTempFiles(const std::string& dir, Predicate is_temporary) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  const int dir_fd = ::dirfd(d);
  int removed = 0;
  while (const dirent* entry = ::readdir(d)) {
    if (!is_temporary(std::string_view(entry->d_name))) continue;
    struct stat st {};
    if (::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode)) continue;
    if (::unlinkat(dir_fd, entry->d_name, 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

}  // namespace

int RemoveStaleTempFiles(const std::string& dir) {
  return RemoveTempFiles(dir, [](std::string_view name) {
    return !name.empty() && name.front() == '.' && name.find(kTempFileMarker) != name.npos;
  });
}

int RemoveStaleTempFilesOf(const std::string& path) {
  std::string dir;
  std::string base;
  SplitPath(path, &dir, &base);
  if (base.empty()) return 0;
  const std::string prefix = "." + base + std::string(kTempFileMarker);
  return RemoveTempFiles(dir, [&prefix](std::string_view name) {
    // mkostemp's XXXXXX: exactly six more characters.
    return name.size() == prefix.size() + 6 && name.starts_with(prefix);
  });
}

Result<std::string> WriteNewFile(const std::string& path, std::string_view data, mode_t mode) {
  auto temp = WriteTemporaryFor(path, data, mode, static_cast<gid_t>(-1));
  if (!temp) return temp.error();
  auto renamed = RenameToFreeName(*temp, path);
  if (!renamed) {
    ::unlink(temp->c_str());
    return renamed.error();
  }
  if (const int err = FsyncDirectory(DirectoryOf(path)); err != 0) {
    return Error{*renamed + ": written, but could not sync its directory: " + ErrnoText(err)};
  }
  return renamed;
}

Result<std::string> RenameToFreeName(const std::string& from, const std::string& path) {
  std::string dir;
  std::string base;
  SplitPath(path, &dir, &base);
  // renameat2(RENAME_NOREPLACE) fails with EEXIST instead of replacing: the next name is tried.
  const std::size_t dot = base.rfind('.');
  const bool has_ext = dot != std::string::npos && dot != 0;
  const std::string stem = has_ext ? base.substr(0, dot) : base;
  const std::string ext = has_ext ? base.substr(dot) : "";
  for (int n = 1; n < 1000; ++n) {
    const std::string target = n == 1 ? path : dir + "/" + stem + "-" + std::to_string(n) + ext;
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0) {
      return target;
    }
    if (errno != EEXIST) return Error{path + ": could not rename into place: " + ErrnoText(errno)};
  }
  return Error{path + ": no free file name"};
}

Status MakeDirectory(const std::string& path, mode_t mode) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return {};
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return Error{path + ": cannot create directory: " + ErrnoText(errno), ErrorCode::kStore};
  }
  return {};
}

}  // namespace transportcertd
