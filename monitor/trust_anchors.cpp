#include "monitor/trust_anchors.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "monitor/certificate.h"

namespace transportcertd {
namespace {

// A CA bundle such as Debian's ca-certificates.crt is about 200 KiB.
constexpr off_t kMaxAnchorFileSize = off_t{8} * 1024 * 1024;

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};

bool NamedLikeACertificateFile(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string extension = name.substr(dot);
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".pem" || extension == ".crt" || extension == ".cer";
}

// The certificates in one file, as DER. With `required`, a file without any, or with a part that
// is not usable, is an error; otherwise such a file contributes nothing.
Status ReadAnchorFile(const std::string& path, bool required, std::vector<std::string>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{path + ": cannot read: " + std::strerror(errno)};
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Error{path + ": read failed"};
  auto parsed = ParseStoreFile(contents);
  if (!parsed || parsed->certificates.empty()) {
    if (!required) return {};
    return Error{path + ": holds no certificate" +
                 (parsed ? std::string() : " (" + parsed.error().message + ")")};
  }
  if (required && !parsed->skipped.empty()) {
    return Error{path + ": " + parsed->skipped.front()};
  }
  for (const auto& der : parsed->certificate_ders) out.push_back(der);
  return {};
}

}  // namespace

Result<std::vector<std::string>> LoadTrustAnchors(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Error{path + ": " + std::strerror(errno)};
  std::vector<std::string> anchors;
  if (S_ISREG(st.st_mode)) {
    if (st.st_size > kMaxAnchorFileSize) return Error{path + ": too large for a CA bundle"};
    if (Status read = ReadAnchorFile(path, true, anchors); !read) return read.error();
  } else if (S_ISDIR(st.st_mode)) {
    std::unique_ptr<DIR, DirCloser> dir(opendir(path.c_str()));
    if (!dir) return Error{path + ": cannot read the directory: " + std::strerror(errno)};
    std::vector<std::string> names;
    while (const dirent* entry = readdir(dir.get())) {
      if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const std::string file = path + (path.ends_with('/') ? "" : "/") + name;
      struct stat file_st {};
      if (stat(file.c_str(), &file_st) != 0) {
        if (errno == ENOENT) continue;  // a dangling link, or removed meanwhile
        return Error{file + ": " + std::strerror(errno)};
      }
      if (!S_ISREG(file_st.st_mode)) continue;
      if (file_st.st_size > kMaxAnchorFileSize) return Error{file + ": too large for a CA bundle"};
      const bool required = NamedLikeACertificateFile(name);
      if (Status read = ReadAnchorFile(file, required, anchors); !read) return read.error();
    }
    if (anchors.empty()) return Error{path + ": holds no file with a PEM certificate"};
  } else {
    return Error{path + ": neither a file nor a directory"};
  }
  std::sort(anchors.begin(), anchors.end());
  anchors.erase(std::unique(anchors.begin(), anchors.end()), anchors.end());
  return anchors;
}

}  // namespace transportcertd
