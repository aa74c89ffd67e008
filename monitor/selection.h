// Selection (docs/selection.md): which certificate a service presents for a host name, with a
// verdict and a one-line reason for every certificate in the store. The daemon publishes from this
// and the D-Bus Select/Explain calls answer from it, so both always agree.
// Pure function of its input; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "monitor/bindings.h"
#include "monitor/hostname.h"
#include "monitor/store.h"

namespace transportcertd {

struct SelectionInput {
  const Inventory& inventory;
  const Bindings& bindings;
  ServiceSet default_services = Bit(Service::kSmtp);
  std::string fqdn;
  Service service = Service::kSmtp;
  WildcardMode wildcard = WildcardMode::kOneLevel;
  UnixTime now = 0;
};

enum class Verdict { kSelected, kEligible, kIneligible };
const char* VerdictName(Verdict v);  // "selected", "eligible", "ineligible"

struct Judgement {
  std::string thumbprint;
  Verdict verdict = Verdict::kIneligible;
  std::string reason;  // one line, e.g. "not enabled for SMTP", "expired 2012-01-31"
};

struct Selection {
  const StoredCertificate* winner = nullptr;  // points into the input inventory
  std::string reason;                         // why the winner won (empty without winner)
  bool winner_expired = false;                // an expired certificate had to be used
  std::vector<Judgement> judgements;          // one per certificate, in inventory order
};

class NameIndex;

// The full selection: a judgement with its reason for every certificate (ExplainSelection).
// With `index` (built from `input.inventory`), the names of only the certificates it offers
// are matched against the FQDN, the others' cannot cover it: the same judgements, without
// matching every name of the store.
Selection Select(const SelectionInput& input, const NameIndex* index = nullptr);

// Where in an inventory the certificates are that may cover a host name, so that finding the
// winner looks at those few and not at every certificate in the store. Built once per
// inventory; it holds positions, so it must be rebuilt whenever the inventory changes.
class NameIndex {
 public:
  NameIndex() = default;
  explicit NameIndex(const Inventory& inventory);

  // Inventory positions, ascending, of every certificate one of whose names may cover `fqdn`
  // under `mode` (a superset: hash collisions and names MatchHostname rejects are included).
  std::vector<std::size_t> Candidates(std::string_view fqdn, WildcardMode mode) const;
  // Candidates(fqdn, mode).size() <= 1, without building the list: for a check that runs for
  // every certificate of the store on every evaluation.
  bool AtMostOneCandidate(std::string_view fqdn, WildcardMode mode) const;
  // Whether one of the names of the certificate at inventory position `position` covers a
  // host (CoveredHost) that no other certificate may cover, under either wildcard mode: it is
  // the only candidate there, so nothing can outrank it there. Worked out when the index is
  // built (off the loop, with the scan), for the superseded check that runs on every
  // evaluation: in a typical store nearly every certificate has such a name.
  bool HasNameOnlyItCovers(std::size_t position) const {
    return position < only_it_covers_.size() && only_it_covers_[position];
  }

 private:
  // (hash of a normalized certificate name, inventory position), sorted.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> entries_;
  std::vector<bool> only_it_covers_;  // by inventory position
};

// A host name that certificate name `name` covers: the name itself, or for a wildcard name one
// host under it ("*.example.com" -> "transportcertd-probe.example.com").
std::string CoveredHost(std::string_view name);

// The same winner, reason and winner_expired as Select, judging only the certificates `index`
// offers: `judgements` stays empty. `index` must have been built from `input.inventory`.
Selection SelectWinner(const SelectionInput& input, const NameIndex& index);

}  // namespace transportcertd
