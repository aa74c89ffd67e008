// The daemon's DANE hooks (docs/dane.md): what it publishes, as the names daemon/dane.h turns
// into TLSA records, and GetTlsaRecords for the bus. The rest of DANE lives in daemon/dane.h.
#include <algorithm>

#include "daemon/daemon.h"
#include "monitor/hostname.h"

namespace transportcertd {

std::vector<DanePublishedName> Daemon::DaneNames() {
  std::vector<std::string> names = {config_.fqdn};
  for (const auto& name : config_.publish_names) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  std::vector<DanePublishedName> published;
  for (const auto& name : names) {
    const StoredCertificate* winner = Select(name, Service::kSmtp).winner;
    published.push_back(
        {name, winner,
         winner != nullptr && winner->cert().thumbprint() == bindings_.internal_transport,
         inventory_.dir});
  }
  return published;
}

Result<std::vector<std::string>> Daemon::GetTlsaRecords(const std::string& name) {
  std::vector<DanePublishedName> names = DaneNames();
  if (!name.empty()) {
    const std::string wanted = NormalizeHostname(name);
    std::erase_if(names, [&](const DanePublishedName& n) { return n.name != wanted; });
  }
  return dane_->Records(names);
}

}  // namespace transportcertd
