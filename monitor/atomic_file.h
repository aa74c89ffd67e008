// Atomic file replacement: write a hidden temporary file in the same directory, fsync it, set
// mode and group, rename it over the target, fsync the directory. Readers see the old file or
// the new one, never a mix; a failure leaves the old file untouched and no temporary behind.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "monitor/result.h"

namespace transportcertd {

// Prefix of the temporary files WriteFileAtomically creates (".name.tmp-XXXXXX"); the store
// scanner ignores hidden files and the daemon removes stale ones at start.
inline constexpr std::string_view kTempFileMarker = ".tmp-";

// `group` = -1 keeps the caller's group.
Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode,
                           gid_t group = static_cast<gid_t>(-1));

// Reads a whole regular file; fails with "PATH: reason". For the daemon's own files: a symbolic
// link is not followed and anything but a regular file (FIFO, socket, device) is refused
// without blocking.
Result<std::string> ReadFile(const std::string& path, std::uint64_t max_size = 64u << 20);

// Creates directory `path` with `mode` (and its missing parents) unless it exists; fails with
// "PATH: cannot create directory: reason" (kStore).
Status MakeDirectory(const std::string& path, mode_t mode);

// Removes leftover temporary files of WriteFileAtomically from `dir`; returns how many.
int RemoveStaleTempFiles(const std::string& dir);

// Renames `from` to `path`, or, when `path` exists, to the first free name of "stem-2.ext",
// "stem-3.ext", ...: never replaces a file. Returns the name taken.
Result<std::string> RenameToFreeName(const std::string& from, const std::string& path);

// Writes a new file as WriteFileAtomically does, but never replaces an existing one: when
// `path` exists, the data goes to the first free name of "stem-2.ext", "stem-3.ext", ...
// Returns the path written.
Result<std::string> WriteNewFile(const std::string& path, std::string_view data, mode_t mode);

// Removes leftover temporary files of WriteFileAtomically for `path` only (".name.tmp-XXXXXX"
// next to it), for directories shared with other programs; returns how many.
int RemoveStaleTempFilesOf(const std::string& path);

}  // namespace transportcertd
