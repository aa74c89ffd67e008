#include "monitor/published_manifest.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

namespace transportcertd {
namespace {

// Files on "disk" for StalePublishedFiles.
struct FakeDir {
  std::map<std::string, std::string> files;
  std::optional<std::string> operator()(const std::string& name) const {
    const auto it = files.find(name);
    return it == files.end() ? std::nullopt : std::optional(it->second);
  }
};

TEST(PublishedManifest, FormatsAndParsesBack) {
  const PublishedManifest manifest = {{"mail.example.com.pem", ContentDigest("a")},
                                      {"sni-map", ContentDigest("b")}};
  EXPECT_EQ(ParseManifest(FormatManifest(manifest)), manifest);
}

TEST(PublishedManifest, DigestIsLowercaseSha256Hex) {
  EXPECT_EQ(ContentDigest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(PublishedManifest, IgnoresLinesThatNameNoPublishableFileOrHaveNoDigest) {
  const std::string digest = ContentDigest("x");
  const std::string text = "# comment\n" + digest + " ../../etc/passwd\n" + digest +
                           " sub/dir/deeper.pem\n" + digest + " ../x.pem\n" + digest +
                           " imap/..\n" + digest + " /etc/passwd\n" + digest + " imap/\n" + digest +
                           " ..\n" + digest + " \n" + "nothex" + digest.substr(6) + " a.pem\n" +
                           digest.substr(1) + " short.pem\n" + digest +
                           " .transportcertd-published\n" + digest + " good.pem";
  EXPECT_EQ(ParseManifest(text), (PublishedManifest{{"good.pem", digest}}));
}

TEST(PublishedManifest, HoldsTheFilesOfServiceFolders) {
  const PublishedManifest manifest = {{"imap/mail.example.com.pem", ContentDigest("a")},
                                      {"imap/sni-map", ContentDigest("b")},
                                      {"mail.example.com.pem", ContentDigest("c")}};
  EXPECT_EQ(ParseManifest(FormatManifest(manifest)), manifest);
  FakeDir dir{{{"imap/mail.example.com.pem", "a"}, {"imap/sni-map", "b"}}};
  EXPECT_EQ(StalePublishedFiles(manifest, {"mail.example.com.pem"}, dir),
            (std::vector<std::string>{"imap/mail.example.com.pem", "imap/sni-map"}));
}

TEST(PublishedManifest, OnlyFilesItWroteAndNoLongerWantsAreStale) {
  const PublishedManifest manifest = {{"old.example.com.pem", ContentDigest("old")},
                                      {"mail.example.com.pem", ContentDigest("mail")}};
  FakeDir dir{{{"old.example.com.pem", "old"},
               {"mail.example.com.pem", "mail"},
               {"by-hand.pem", "someone else's"}}};
  EXPECT_EQ(StalePublishedFiles(manifest, {"mail.example.com.pem"}, dir),
            std::vector<std::string>{"old.example.com.pem"});
  // Not in the manifest: never stale, whatever its name.
  EXPECT_EQ(StalePublishedFiles(manifest, {"old.example.com.pem", "mail.example.com.pem"}, dir),
            std::vector<std::string>{});
}

TEST(PublishedManifest, AFileChangedByHandSinceIsNotItsOwnAnyMore) {
  const PublishedManifest manifest = {{"old.example.com.pem", ContentDigest("old")},
                                      {"gone.example.com.pem", ContentDigest("gone")}};
  FakeDir dir{{{"old.example.com.pem", "replaced by an administrator"}}};
  EXPECT_EQ(StalePublishedFiles(manifest, {}, dir), std::vector<std::string>{});
}

}  // namespace
}  // namespace transportcertd
