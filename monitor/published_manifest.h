// Which files under publish.dir (and in its service folders, imap/ and the like) the daemon
// wrote itself, so that it removes its own files for names and services no longer configured
// (the FQDN changed, a name left publish.names, a service left publish.services) and never
// touches a file someone else put there. Kept as a small text file next to the published
// files: one "<sha256 of the contents> <path relative to publish.dir>" line per file.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace transportcertd {

// Path relative to publish.dir ("mail.example.com.pem", "imap/mail.example.com.pem") ->
// lowercase hex SHA-256 of the contents the daemon last wrote.
using PublishedManifest = std::map<std::string, std::string>;

// The manifest's own name in publish.dir.
inline constexpr std::string_view kManifestFileName = ".transportcertd-published";

std::string FormatManifest(const PublishedManifest& manifest);
// Lines that are not "<64 hex digits> <publishable file name>" are ignored: a damaged
// manifest can only make the daemon forget a file (leave it in place), never remove another.
PublishedManifest ParseManifest(std::string_view text);

// Lowercase hex SHA-256 of `contents`.
std::string ContentDigest(std::string_view contents);

// The files of `manifest` that are not `wanted` any more, and whose contents on disk
// (`on_disk(name)`, nullopt when the file is gone) are still what the daemon wrote: those the
// daemon may remove. A file changed by someone else since is not its own any more.
template <typename OnDisk>
std::vector<std::string> StalePublishedFiles(const PublishedManifest& manifest,
                                             const std::set<std::string>& wanted,
                                             OnDisk&& on_disk) {
  std::vector<std::string> stale;
  for (const auto& [name, digest] : manifest) {
    if (wanted.count(name) != 0) continue;
    const auto contents = on_disk(name);
    if (contents && ContentDigest(*contents) == digest) stale.push_back(name);
  }
  return stale;
}

// A path the manifest may hold: a plain file name, or one folder and a plain file name
// ("imap/mail.example.com.pem"), where plain means not empty, no '/', not "." or "..", not the
// manifest's own name, no control characters. Nothing outside publish.dir can be named.
bool IsPublishableFileName(std::string_view name);

}  // namespace transportcertd
