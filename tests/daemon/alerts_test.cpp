// Every @FIELD@ of a journal catalog entry is present on every alert with that MESSAGE_ID:
// the catalog file is read as shipped and checked against the fields the logger writes.
#include "daemon/alerts.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "daemon/logging.h"

namespace transportcertd {
namespace {

// MESSAGE_ID -> the @FIELD@ names its entry uses (header and body).
std::map<std::string, std::set<std::string>> ReadCatalog() {
  std::ifstream in(TRANSPORTCERTD_CATALOG);
  EXPECT_TRUE(in) << TRANSPORTCERTD_CATALOG;
  std::map<std::string, std::set<std::string>> entries;
  const std::regex header(R"(^-- ([0-9a-f]{32})\s*$)");
  const std::regex field(R"(@([A-Z0-9_]+)@)");
  std::string line;
  std::string id;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, header)) {
      id = m[1];
      entries[id];
      continue;
    }
    if (id.empty() || line.starts_with("#")) continue;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), field);
         it != std::sregex_iterator(); ++it) {
      entries[id].insert((*it)[1]);
    }
  }
  return entries;
}

std::set<std::string> NamesOf(const std::vector<std::string>& fields) {
  std::set<std::string> names;
  for (const auto& f : fields) names.insert(f.substr(0, f.find('=')));
  return names;
}

TEST(Alerts, TheCatalogHasOneEntryPerAlertKindAndNoOther) {
  const auto catalog = ReadCatalog();
  std::set<std::string> ids;
  for (const AlertKind kind : kAllAlertKinds) ids.insert(std::string(MessageId(kind)));
  // The one entry that is not the daemon's: transportcertctl verify --journal logs it (its
  // fields are checked below against what transportcertctl writes).
  ids.insert(std::string(kServedDiffersMessageId));
  std::set<std::string> entries;
  for (const auto& [id, fields] : catalog) entries.insert(id);
  EXPECT_EQ(entries, ids);
}

TEST(Alerts, EveryCatalogFieldOfTheVerifyEntryIsOneTransportcertctlWrites) {
  const auto catalog = ReadCatalog();
  const auto entry = catalog.find(std::string(kServedDiffersMessageId));
  ASSERT_NE(entry, catalog.end());
  const std::set<std::string> written(std::begin(kServedDiffersFields),
                                      std::end(kServedDiffersFields));
  EXPECT_FALSE(entry->second.empty());
  for (const auto& name : entry->second) {
    EXPECT_EQ(written.count(name), 1u)
        << "the verify catalog entry shows @" << name << "@, which transportcertctl does not write";
  }
}

TEST(Alerts, EveryCatalogFieldIsWrittenEvenWhenTheCallerLeftItEmpty) {
  const auto catalog = ReadCatalog();
  for (const AlertKind kind : kAllAlertKinds) {
    const std::string id(MessageId(kind));
    const auto entry = catalog.find(id);
    ASSERT_NE(entry, catalog.end()) << id;
    const auto written = NamesOf(JournalFields(kind, AlertFields{}));
    for (const auto& name : entry->second) {
      EXPECT_EQ(written.count(name), 1u) << "the catalog entry " << id << " shows @" << name
                                         << "@, which an alert of that kind may lack";
    }
  }
}

TEST(Alerts, GivenFieldsAreWrittenAndEmptyOptionalOnesLeftOut) {
  AlertFields fields;
  fields.thumbprint = "AB";
  fields.subject = "CN=mail.example.com";
  const auto written = JournalFields(AlertKind::kInternalTransportReplaced, fields);
  EXPECT_EQ(written, (std::vector<std::string>{"TRANSPORTCERTD_THUMBPRINT=AB",
                                               "TRANSPORTCERTD_SUBJECT=CN=mail.example.com"}));
  EXPECT_EQ(JournalFields(AlertKind::kCertificateExpired, {}),
            (std::vector<std::string>{"TRANSPORTCERTD_THUMBPRINT=(unknown)",
                                      "TRANSPORTCERTD_SUBJECT=(unknown)",
                                      "TRANSPORTCERTD_NOT_AFTER=(unknown)"}));
}

}  // namespace
}  // namespace transportcertd
