#include "monitor/publish_plan.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace transportcertd {
namespace {

using Action = PlannedFile::Action;

// What each (name, service) selects, and which published files are on disk.
struct World {
  std::map<std::pair<std::string, Service>, std::string> selected;
  std::set<std::string> on_disk;
  bool replacement_pending = false;

  PublishPlan Plan(std::vector<std::string> names, ServiceSet services) const {
    PublishPlanInput input;
    input.names = std::move(names);
    input.services = services;
    input.publish_dir = "/pub";
    input.select = [this](const std::string& name, Service service) -> std::optional<std::string> {
      const auto it = selected.find({name, service});
      return it == selected.end() ? std::nullopt : std::optional(it->second);
    };
    input.exists = [this](const std::string& path) { return on_disk.count(path) != 0; };
    input.replacement_pending = replacement_pending;
    return PlanPublishing(input);
  }
};

constexpr ServiceSet kSmtpImap = Bit(Service::kSmtp) | Bit(Service::kImap);

TEST(PublishPlan, SmtpOnlyByDefaultAtTheTopLevel) {
  World world;
  world.selected[{"mail.example.com", Service::kSmtp}] = "AAAA";
  world.selected[{"mail.example.com", Service::kImap}] = "BBBB";  // not published: no IMAP
  const PublishPlan plan = world.Plan({"mail.example.com"}, Bit(Service::kSmtp));
  ASSERT_EQ(plan.files.size(), 1u);
  EXPECT_EQ(plan.files.at("mail.example.com.pem").action, Action::kWrite);
  EXPECT_EQ(plan.files.at("mail.example.com.pem").thumbprint, "AAAA");
  EXPECT_EQ(plan.sni_maps, (std::map<std::string, std::string>{
                               {"sni-map", "mail.example.com /pub/mail.example.com.pem\n"}}));
  EXPECT_TRUE(plan.lacking.empty());
}

TEST(PublishPlan, EachOtherServiceHasItsOwnFolderWithWhatThatServiceSelects) {
  World world;
  world.selected[{"mail.example.com", Service::kSmtp}] = "SMTP1";
  world.selected[{"mail.example.com", Service::kImap}] = "IMAP1";
  world.selected[{"imap.example.com", Service::kSmtp}] = "SMTP2";
  world.selected[{"imap.example.com", Service::kImap}] = "IMAP2";
  world.selected[{"mail.example.com", Service::kPop}] = "POP1";
  const PublishPlan plan = world.Plan({"mail.example.com", "imap.example.com", "mail.example.com"},
                                      kSmtpImap | Bit(Service::kPop));
  EXPECT_EQ(plan.files.at("mail.example.com.pem").thumbprint, "SMTP1");
  EXPECT_EQ(plan.files.at("imap.example.com.pem").thumbprint, "SMTP2");
  EXPECT_EQ(plan.files.at("imap/mail.example.com.pem").thumbprint, "IMAP1");
  EXPECT_EQ(plan.files.at("imap/imap.example.com.pem").thumbprint, "IMAP2");
  EXPECT_EQ(plan.files.at("pop/mail.example.com.pem").thumbprint, "POP1");
  EXPECT_EQ(plan.files.count("pop/imap.example.com.pem"), 0u) << "nothing to write or keep";
  EXPECT_EQ(plan.sni_maps.at("imap/sni-map"),
            "mail.example.com /pub/imap/mail.example.com.pem\n"
            "imap.example.com /pub/imap/imap.example.com.pem\n");
  EXPECT_EQ(plan.sni_maps.at("pop/sni-map"), "mail.example.com /pub/pop/mail.example.com.pem\n");
  EXPECT_EQ(plan.sni_maps.at("sni-map"),
            "mail.example.com /pub/mail.example.com.pem\n"
            "imap.example.com /pub/imap.example.com.pem\n");
  EXPECT_EQ(plan.lacking, (std::vector<LackingName>{{"imap.example.com", Service::kPop,
                                                     "pop/imap.example.com.pem", false}}));
}

TEST(PublishPlan, ANameWithoutAnEligibleCertificateForAServiceKeepsItsPreviousFile) {
  World world;
  world.selected[{"mail.example.com", Service::kSmtp}] = "SMTP1";
  world.on_disk = {"mail.example.com.pem", "imap/mail.example.com.pem"};
  const PublishPlan plan = world.Plan({"mail.example.com"}, kSmtpImap);
  EXPECT_EQ(plan.files.at("imap/mail.example.com.pem").action, Action::kKeep);
  EXPECT_EQ(plan.sni_maps.at("imap/sni-map"), "mail.example.com /pub/imap/mail.example.com.pem\n")
      << "a kept file stays in its sni-map";
  EXPECT_EQ(plan.lacking, (std::vector<LackingName>{{"mail.example.com", Service::kImap,
                                                     "imap/mail.example.com.pem", true}}));
}

TEST(PublishPlan, ATopLevelNameWithoutAnEligibleCertificateLosesItsFile) {
  World world;
  world.selected[{"mail.example.com", Service::kSmtp}] = "SMTP1";
  world.on_disk = {"mail.example.com.pem", "other.example.com.pem"};
  const PublishPlan plan = world.Plan({"mail.example.com", "other.example.com"}, kSmtpImap);
  EXPECT_EQ(plan.files.at("other.example.com.pem").action, Action::kRemove);
  EXPECT_EQ(plan.sni_maps.at("sni-map"), "mail.example.com /pub/mail.example.com.pem\n");
  EXPECT_EQ(plan.sni_maps.at("imap/sni-map"), "") << "written, empty, for postmap -F";

  world.replacement_pending = true;  // the internal transport certificate awaits a replacement
  const PublishPlan pending = world.Plan({"mail.example.com", "other.example.com"}, kSmtpImap);
  EXPECT_EQ(pending.files.at("other.example.com.pem").action, Action::kKeep);
  EXPECT_EQ(pending.sni_maps.at("sni-map"),
            "mail.example.com /pub/mail.example.com.pem\n"
            "other.example.com /pub/other.example.com.pem\n");
}

TEST(PublishPlan, PublishedPathsCoverEveryServiceFolder) {
  EXPECT_EQ(PublishedPaths({"mail.example.com"}, Bit(Service::kSmtp)),
            (std::set<std::string>{"internal-transport.pem", "mail.example.com.pem", "sni-map"}));
  EXPECT_EQ(PublishedPaths({"mail.example.com"}, Bit(Service::kImap) | Bit(Service::kHttp)),
            (std::set<std::string>{"internal-transport.pem", "mail.example.com.pem", "sni-map",
                                   "imap/mail.example.com.pem", "imap/sni-map",
                                   "http/mail.example.com.pem", "http/sni-map"}));
  EXPECT_EQ(ServiceFolder(Service::kPop), "pop");
  EXPECT_EQ(PublishedPath(Service::kSmtp, "sni-map"), "sni-map");
}

TEST(PublishPlan, ALackingNameIsAlertedOncePerChange) {
  const LackingName kept{"mail.example.com", Service::kImap, "imap/mail.example.com.pem", true};
  const LackingName none{"mail.example.com", Service::kImap, "imap/mail.example.com.pem", false};
  EXPECT_EQ(NewlyLacking({}, {kept}), std::vector<LackingName>{kept});
  EXPECT_EQ(NewlyLacking({kept}, {kept}), std::vector<LackingName>{}) << "not on every evaluation";
  EXPECT_EQ(NewlyLacking({kept}, {none}), std::vector<LackingName>{none}) << "its file went";
  EXPECT_EQ(NewlyLacking({kept}, {}), std::vector<LackingName>{});
}

}  // namespace
}  // namespace transportcertd
