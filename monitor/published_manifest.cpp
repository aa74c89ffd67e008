#include "monitor/published_manifest.h"

#include <openssl/evp.h>

#include <cctype>

#include "monitor/certificate.h"

namespace transportcertd {

std::string FormatManifest(const PublishedManifest& manifest) {
  std::string text =
      "# Files transportcertd wrote in this directory (sha256 name); it removes only these.\n";
  for (const auto& [name, digest] : manifest) text += digest + " " + name + "\n";
  return text;
}

PublishedManifest ParseManifest(std::string_view text) {
  PublishedManifest manifest;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.size() < 66 || line[64] != ' ') continue;
    const std::string_view digest = line.substr(0, 64);
    const std::string_view name = line.substr(65);
    bool hex = true;
    for (const char c : digest) {
      hex = hex && (std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'));
    }
    if (!hex || !IsPublishableFileName(name)) continue;
    manifest[std::string(name)] = std::string(digest);
  }
  return manifest;
}

std::string ContentDigest(std::string_view contents) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(contents.data(), contents.size(), out, &len, EVP_sha256(), nullptr) != 1) {
    return {};
  }
  return HexLower({reinterpret_cast<const char*>(out), len});
}

namespace {

bool IsPlainName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name == kManifestFileName) return false;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/' || byte < 0x20 || byte == 0x7F) return false;
  }
  return true;
}

}  // namespace

bool IsPublishableFileName(std::string_view name) {
  const auto slash = name.find('/');
  if (slash == std::string_view::npos) return IsPlainName(name);
  return IsPlainName(name.substr(0, slash)) && IsPlainName(name.substr(slash + 1));
}

}  // namespace transportcertd
