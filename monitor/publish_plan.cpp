#include "monitor/publish_plan.h"

#include <algorithm>
#include <cctype>

namespace transportcertd {

std::string ServiceFolder(Service service) {
  if (service == Service::kSmtp) return "";
  std::string folder = ServiceName(service);
  for (char& c : folder) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return folder;
}

std::string PublishedPath(Service service, const std::string& file) {
  const std::string folder = ServiceFolder(service);
  return folder.empty() ? file : folder + "/" + file;
}

std::vector<Service> PublishedServices(ServiceSet services) {
  std::vector<Service> out = {Service::kSmtp};
  for (const Service s : {Service::kImap, Service::kPop, Service::kHttp}) {
    if ((services & Bit(s)) != 0) out.push_back(s);
  }
  return out;
}

std::set<std::string> PublishedPaths(const std::vector<std::string>& names, ServiceSet services) {
  std::set<std::string> paths = {"internal-transport.pem"};
  for (const Service service : PublishedServices(services)) {
    paths.insert(PublishedPath(service, "sni-map"));
    for (const auto& name : names) paths.insert(PublishedPath(service, name + ".pem"));
  }
  return paths;
}

PublishPlan PlanPublishing(const PublishPlanInput& input) {
  std::vector<std::string> names;
  for (const auto& name : input.names) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  PublishPlan plan;
  for (const Service service : PublishedServices(input.services)) {
    std::string sni_map;
    for (const auto& name : names) {
      const std::string path = PublishedPath(service, name + ".pem");
      PlannedFile file;
      if (auto thumbprint = input.select(name, service)) {
        file.thumbprint = std::move(*thumbprint);
      } else {
        const bool exists = input.exists(path);
        const bool keep = exists && (service != Service::kSmtp || input.replacement_pending);
        file.action = keep ? PlannedFile::Action::kKeep : PlannedFile::Action::kRemove;
        plan.lacking.push_back({name, service, path, keep});
        if (!keep) {
          if (service == Service::kSmtp) plan.files[path] = file;  // only SMTP files go
          continue;
        }
      }
      plan.files[path] = file;
      sni_map += name + " " + input.publish_dir + "/" + path + "\n";
    }
    plan.sni_maps[PublishedPath(service, "sni-map")] = std::move(sni_map);
  }
  return plan;
}

std::vector<LackingName> NewlyLacking(const std::vector<LackingName>& before,
                                      const std::vector<LackingName>& now) {
  std::vector<LackingName> out;
  for (const auto& lacking : now) {
    if (std::find(before.begin(), before.end(), lacking) == before.end()) out.push_back(lacking);
  }
  return out;
}

}  // namespace transportcertd
