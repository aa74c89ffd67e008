#include "monitor/retirement.h"

#include <algorithm>

namespace transportcertd {
namespace {

constexpr Service kServices[] = {Service::kSmtp, Service::kImap, Service::kPop, Service::kHttp};

}  // namespace

std::vector<std::string> SupersededCertificates(const Inventory& inventory,
                                                const Bindings& bindings,
                                                ServiceSet default_services, WildcardMode wildcard,
                                                UnixTime now, const NameIndex& index) {
  std::vector<std::string> superseded;
  for (std::size_t position = 0; position < inventory.certificates.size(); ++position) {
    // The common case, decided when the index was built: the only certificate for one of its
    // names is never outranked everywhere.
    if (index.HasNameOnlyItCovers(position)) continue;
    const StoredCertificate& stored = inventory.certificates[position];
    const Certificate& cert = stored.cert();
    if (!stored.HasPrivateKey() || cert.is_ca || cert.thumbprint() == bindings.internal_transport) {
      continue;
    }
    const ServiceSet services = bindings.ServicesOf(cert.thumbprint(), default_services);
    if (services == 0 || cert.Names().empty()) continue;
    bool outranked_everywhere = true;
    for (const std::string_view name : cert.Names()) {
      const std::string host = NormalizeHostname(CoveredHost(name));
      // No other certificate may even cover this name under this wildcard mode.
      if (index.AtMostOneCandidate(host, wildcard)) {
        outranked_everywhere = false;
        break;
      }
      for (const Service service : kServices) {
        if ((services & Bit(service)) == 0) continue;
        const SelectionInput input{inventory, bindings, default_services, host, service,
                                   wildcard,  now};
        const Selection selection = SelectWinner(input, index);
        if (selection.winner == nullptr || selection.winner == &stored) {
          outranked_everywhere = false;
          break;
        }
      }
      if (!outranked_everywhere) break;
    }
    if (outranked_everywhere) superseded.emplace_back(cert.thumbprint());
  }
  return superseded;
}

std::vector<std::string> SupersededSince::Update(const std::vector<std::string>& superseded,
                                                 UnixTime now, std::int64_t hold) {
  std::map<std::string, UnixTime> since;
  std::vector<std::string> due;
  for (const std::string& thumbprint : superseded) {
    const auto known = since_.find(thumbprint);
    const UnixTime start = known != since_.end() ? known->second : now;
    since.emplace(thumbprint, start);
    if (start + hold <= now) due.push_back(thumbprint);
  }
  since_ = std::move(since);
  std::sort(due.begin(), due.end());
  return due;
}

std::optional<UnixTime> SupersededSince::NextDue(std::int64_t hold) const {
  std::optional<UnixTime> next;
  for (const auto& [thumbprint, start] : since_) {
    if (!next || start + hold < *next) next = start + hold;
  }
  return next;
}

}  // namespace transportcertd
