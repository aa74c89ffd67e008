#include "monitor/atomic_file.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::ReadWholeFile;
using testing::TempDir;

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* entry = ::readdir(d)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

struct stat StatOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

mode_t ModeOf(const std::string& path) { return StatOf(path).st_mode & 07777; }

// Sets the process umask for the life of the object.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

// Makes writes beyond `limit` bytes fail with EFBIG (instead of SIGXFSZ) while alive.
class ScopedFileSizeLimit {
 public:
  explicit ScopedFileSizeLimit(rlim_t limit) {
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    if (::getrlimit(RLIMIT_FSIZE, &old_) != 0) return;
    rlimit lowered = old_;
    lowered.rlim_cur = limit;
    active_ = ::setrlimit(RLIMIT_FSIZE, &lowered) == 0;
  }
  ~ScopedFileSizeLimit() {
    if (active_) ::setrlimit(RLIMIT_FSIZE, &old_);
    static_cast<void>(std::signal(SIGXFSZ, old_handler_));
  }
  bool active() const { return active_; }
  ScopedFileSizeLimit(const ScopedFileSizeLimit&) = delete;
  ScopedFileSizeLimit& operator=(const ScopedFileSizeLimit&) = delete;

 private:
  rlimit old_{};
  bool active_ = false;
  void (*old_handler_)(int) = nullptr;
};

TEST(AnAtomicWrite, CreatesTheFileWithTheContent) {
  TempDir dir;
  const std::string path = dir / "key.pem";

  const Status written = WriteFileAtomically(path, "secret\n", 0600);

  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(ReadWholeFile(path), "secret\n");
}

TEST(AnAtomicWrite, GivesTheFileExactlyTheModeAskedForWhateverTheUmask) {
  TempDir dir;
  ScopedUmask umask(077);

  ASSERT_TRUE(WriteFileAtomically(dir / "public.pem", "x", 0644).ok());
  ASSERT_TRUE(WriteFileAtomically(dir / "private.pem", "x", 0600).ok());

  EXPECT_EQ(ModeOf(dir / "public.pem"), 0644u);
  EXPECT_EQ(ModeOf(dir / "private.pem"), 0600u);
}

TEST(AnAtomicWrite, ReplacesAnExistingFileByRenamingANewOneOverIt) {
  TempDir dir;
  const std::string path = dir.Write("bindings", "old contents that are longer\n", 0644);
  const ino_t old_inode = StatOf(path).st_ino;

  const Status written = WriteFileAtomically(path, "new\n", 0600);

  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(ReadWholeFile(path), "new\n");
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_NE(StatOf(path).st_ino, old_inode);
}

TEST(AnAtomicWrite, LeavesNoTemporaryFileBehind) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir / "a.pem", "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(dir / "a.pem", "two", 0600).ok());

  EXPECT_EQ(ListDir(dir.path()), std::vector<std::string>{"a.pem"});
}

TEST(AnAtomicWrite, WritesLargeContentCompletely) {
  TempDir dir;
  std::string big(3u << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + i % 26);

  ASSERT_TRUE(WriteFileAtomically(dir / "big", big, 0600).ok());

  EXPECT_EQ(ReadWholeFile(dir / "big"), big);
}

TEST(AnAtomicWrite, SetsTheGroupWhenGivenOne) {
  TempDir dir;
  // Root may give a file any group; anyone else only one of their own.
  const gid_t group = ::geteuid() == 0 ? 4242 : ::getegid();

  const Status written = WriteFileAtomically(dir / "shared.pem", "x", 0640, group);

  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(StatOf(dir / "shared.pem").st_gid, group);
  EXPECT_EQ(ModeOf(dir / "shared.pem"), 0640u);
}

TEST(AnAtomicWrite, KeepsTheOldFileWhenWritingTheDataFails) {
  TempDir dir;
  const std::string path = dir.Write("store.pem", "old\n", 0600);
  Status written;
  {
    ScopedFileSizeLimit limit(4096);
    ASSERT_TRUE(limit.active());
    written = WriteFileAtomically(path, std::string(std::size_t{64} * 1024, 'n'), 0600);
  }

  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().message, path + ": could not write: File too large");
  EXPECT_EQ(ReadWholeFile(path), "old\n");
  EXPECT_EQ(ListDir(dir.path()), std::vector<std::string>{"store.pem"});
}

TEST(AnAtomicWrite, FailsAndLeavesNothingWhenTheTargetIsADirectory) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "taken").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFileAtomically(dir / "taken/inside", "keep", 0600).ok());

  const Status written = WriteFileAtomically(dir / "taken", "data", 0600);

  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().message, dir / "taken" + ": could not write: Is a directory");
  EXPECT_TRUE(S_ISDIR(StatOf(dir / "taken").st_mode));
  EXPECT_EQ(ReadWholeFile(dir / "taken/inside"), "keep");
  EXPECT_EQ(ListDir(dir.path()), std::vector<std::string>{"taken"});
}

TEST(AnAtomicWrite, FailsWhenTheDirectoryIsMissing) {
  TempDir dir;
  const std::string path = dir / "missing/file";

  const Status written = WriteFileAtomically(path, "data", 0600);

  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().message, path + ": could not write: No such file or directory");
}

TEST(AnAtomicWrite, KeepsTheOldFileWhenTheDirectoryIsNotWritable) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only directories";
  TempDir dir;
  const std::string sub = dir / "ro";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  const std::string path = sub + "/bindings";
  ASSERT_TRUE(WriteFileAtomically(path, "old", 0600).ok());
  ASSERT_EQ(::chmod(sub.c_str(), 0555), 0);

  const Status written = WriteFileAtomically(path, "new", 0600);
  ::chmod(sub.c_str(), 0755);

  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().message, path + ": could not write: Permission denied");
  EXPECT_EQ(ReadWholeFile(path), "old");
}

TEST(AnAtomicWrite, WorksWithAPathRelativeToTheCurrentDirectory) {
  TempDir dir;
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);

  const Status written = WriteFileAtomically("plain", "here", 0600);
  ASSERT_EQ(::chdir(cwd), 0);

  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(ReadWholeFile(dir / "plain"), "here");
  EXPECT_EQ(ListDir(dir.path()), std::vector<std::string>{"plain"});
}

TEST(ReadingAFile, ReturnsItsWholeContent) {
  TempDir dir;
  const std::string path = dir.Write("f", std::string("a\0b\n", 4));

  const Result<std::string> read = ReadFile(path);

  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(*read, std::string("a\0b\n", 4));
}

TEST(ReadingAFile, ReturnsAnEmptyStringForAnEmptyFile) {
  TempDir dir;
  const Result<std::string> read = ReadFile(dir.Write("empty", ""));

  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(*read, "");
}

TEST(ReadingAFile, FailsWithThePathAndReasonWhenItIsMissing) {
  TempDir dir;
  const Result<std::string> read = ReadFile(dir / "nope");

  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().message, dir / "nope" + ": No such file or directory");
}

TEST(ReadingAFile, FailsOnADirectory) {
  TempDir dir;
  const Result<std::string> read = ReadFile(dir.path());

  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().message, dir.path() + ": Is a directory");
}

TEST(ReadingAFile, RefusesAFifoWithoutWaitingForAWriter) {
  TempDir dir;
  const std::string path = dir / "fifo";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);

  const Result<std::string> read = ReadFile(path);

  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().message, path + ": not a regular file");
}

TEST(ReadingAFile, DoesNotFollowASymbolicLink) {
  TempDir dir;
  const std::string target = dir.Write("target", "secret\n");
  const std::string path = dir / "link";
  ASSERT_EQ(symlink(target.c_str(), path.c_str()), 0);

  const Result<std::string> read = ReadFile(path);

  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().message,
            path + ": is a symbolic link (not followed among the daemon's own files)");
}

TEST(ReadingAFile, RefusesAFileLargerThanTheLimit) {
  TempDir dir;
  const std::string path = dir.Write("big", std::string(11, 'x'));

  const Result<std::string> read = ReadFile(path, 10);

  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().message, path + ": larger than 10 bytes");
}

TEST(ReadingAFile, AcceptsAFileExactlyAtTheLimit) {
  TempDir dir;
  const Result<std::string> read = ReadFile(dir.Write("edge", std::string(10, 'x')), 10);

  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read->size(), 10u);
}

TEST(RemovingStaleTempFiles, RemovesOnlyHiddenRegularFilesWithTheTempMarker) {
  TempDir dir;
  dir.Write(".store.pem.tmp-a1B2c3", "half");
  dir.Write(".bindings.tmp-XyZ123", "half");
  dir.Write("visible.tmp-abcdef", "keep: not hidden");
  dir.Write(".hidden", "keep: no marker");
  dir.Write("cert.pem", "keep");
  ASSERT_EQ(::mkdir((dir / ".dir.tmp-abcdef").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("cert.pem", (dir / ".link.tmp-abcdef").c_str()), 0);

  const int removed = RemoveStaleTempFiles(dir.path());

  EXPECT_EQ(removed, 2);
  EXPECT_EQ(ListDir(dir.path()),
            (std::vector<std::string>{".dir.tmp-abcdef", ".hidden", ".link.tmp-abcdef", "cert.pem",
                                      "visible.tmp-abcdef"}));
}

TEST(RemovingStaleTempFilesOfOneFile, LeavesOtherProgramsTemporariesInASharedDirectory) {
  TempDir dir;
  dir.Write(".transportcertd.prom.tmp-a1B2c3", "half");
  dir.Write(".transportcertd.prom.tmp-a1B2c3x", "keep: not mkostemp's six characters");
  dir.Write(".node.prom.tmp-a1B2c3", "keep: another program's");
  dir.Write(".transportcertd-verify.prom.tmp-a1B2c3", "keep: another file's");
  dir.Write("transportcertd.prom", "keep");
  ASSERT_EQ(::mkdir((dir / ".transportcertd.prom.tmp-dirdir").c_str(), 0755), 0);

  const int removed = RemoveStaleTempFilesOf(dir / "transportcertd.prom");

  EXPECT_EQ(removed, 1);
  EXPECT_EQ(ListDir(dir.path()), (std::vector<std::string>{
                                     ".node.prom.tmp-a1B2c3",
                                     ".transportcertd-verify.prom.tmp-a1B2c3",
                                     ".transportcertd.prom.tmp-a1B2c3x",
                                     ".transportcertd.prom.tmp-dirdir",
                                     "transportcertd.prom",
                                 }));
}

TEST(RemovingStaleTempFiles, ReturnsZeroForAMissingDirectory) {
  TempDir dir;
  EXPECT_EQ(RemoveStaleTempFiles(dir / "missing"), 0);
}

}  // namespace
}  // namespace transportcertd
