#include "monitor/selection.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace transportcertd {
namespace {

// How many of a certificate's names a "name mismatch" reason lists before "…".
constexpr std::size_t kNamesListed = 4;

// An eligible certificate and the facts the ranking looks at.
struct Candidate {
  const StoredCertificate* stored = nullptr;
  std::size_t index = 0;  // position in the inventory, and so in the judgements
  NameMatch match = NameMatch::kNone;
  bool expired = false;
};

// ---- Eligibility (docs/selection.md, rules 1–7). ----
// Each check returns the reason it fails, or nothing.

// The best match among the certificate's names: exact over wildcard over none. `fqdn` has
// passed IsValidHostname.
NameMatch BestNameMatch(const Certificate& cert, const std::string& fqdn, WildcardMode mode) {
  NameMatch best = NameMatch::kNone;
  for (const std::string_view name : cert.Names()) {
    const NameMatch match = MatchValidHostname(name, fqdn, mode);
    if (match == NameMatch::kExact) {
      return match;
    }
    if (match == NameMatch::kWildcard) {
      best = match;
    }
  }
  return best;
}

std::optional<std::string> CheckName(const Certificate& cert, NameMatch match) {
  if (match != NameMatch::kNone) {
    return std::nullopt;
  }
  const NameList names = cert.Names();
  if (names.empty()) {
    return "name mismatch: no DNS name and no CN";
  }
  std::string reason = "name mismatch: covers ";
  for (std::size_t i = 0; i < names.size() && i < kNamesListed; ++i) {
    if (i > 0) {
      reason += ", ";
    }
    reason += names[i];
  }
  if (names.size() > kNamesListed) {
    reason += ", …";
  }
  return reason;
}

std::optional<std::string> CheckPrivateKey(const StoredCertificate& stored) {
  if (stored.HasPrivateKey()) {
    return std::nullopt;
  }
  return "no private key in the store";
}

std::optional<std::string> CheckService(const StoredCertificate& stored,
                                        const SelectionInput& input) {
  const ServiceSet services =
      input.bindings.ServicesOf(stored.cert().thumbprint(), input.default_services);
  if ((services & Bit(input.service)) != 0) {
    return std::nullopt;
  }
  return "not enabled for " + ServiceName(input.service);
}

std::optional<std::string> CheckNotBefore(const Certificate& cert, UnixTime now) {
  if (now >= cert.not_before) {
    return std::nullopt;
  }
  return "not yet valid: valid from " + FormatDate(cert.not_before);
}

// The first rule the certificate fails, in the documented order, or nothing when it is eligible.
std::optional<std::string> IneligibleBecause(const StoredCertificate& stored, NameMatch match,
                                             const SelectionInput& input) {
  const Certificate& cert = stored.cert();
  // Rules 1, 4 and 5 look at the certificate alone: UnusableReason checks them, in this order.
  if (cert.version != 3) {
    return UnusableReason(cert);  // rule 1
  }
  if (auto reason = CheckName(cert, match)) {
    return reason;
  }
  if (auto reason = CheckPrivateKey(stored)) {
    return reason;
  }
  if (auto reason = UnusableReason(cert)) {  // rules 4 and 5, the version being 3
    return reason;
  }
  if (auto reason = CheckService(stored, input)) {
    return reason;
  }
  if (auto reason = CheckNotBefore(cert, input.now)) {
    return reason;
  }
  return std::nullopt;
}

// ---- Ranking (docs/selection.md, preferences 1–4). ----

enum class Criterion { kNameMatch, kValidity, kChain, kNotBefore, kNotAfter, kThumbprint, kNone };

// Lower is better.
int ChainRank(ChainStatus chain) {
  switch (chain) {
    case ChainStatus::kVerified:
      return 0;
    case ChainStatus::kIncomplete:
      return 1;
    case ChainStatus::kSelfSigned:
      return 2;
  }
  return 2;
}

struct Comparison {
  bool a_first = false;                     // does `a` rank above `b`?
  Criterion decided_by = Criterion::kNone;  // the first criterion that separates them
};

// The one comparator: walks the preferences in order and stops at the first that differs.
Comparison Compare(const Candidate& a, const Candidate& b) {
  const Certificate& ca = a.stored->cert();
  const Certificate& cb = b.stored->cert();
  if (a.match != b.match) {
    return {a.match == NameMatch::kExact, Criterion::kNameMatch};
  }
  if (a.expired != b.expired) {
    return {!a.expired, Criterion::kValidity};
  }
  const int chain_a = ChainRank(a.stored->chain);
  const int chain_b = ChainRank(b.stored->chain);
  if (chain_a != chain_b) {
    return {chain_a < chain_b, Criterion::kChain};
  }
  if (ca.not_before != cb.not_before) {
    return {ca.not_before > cb.not_before, Criterion::kNotBefore};
  }
  if (ca.not_after != cb.not_after) {
    return {ca.not_after > cb.not_after, Criterion::kNotAfter};
  }
  if (ca.thumbprint() != cb.thumbprint()) {
    return {ca.thumbprint() < cb.thumbprint(), Criterion::kThumbprint};
  }
  return {false, Criterion::kNone};
}

std::string ChainPhrase(const Candidate& winner, const Candidate& loser) {
  const ChainStatus w = winner.stored->chain;
  const ChainStatus l = loser.stored->chain;
  if (w == ChainStatus::kVerified && l == ChainStatus::kIncomplete) {
    return "verified chain beats incomplete chain";
  }
  if (w == ChainStatus::kVerified && l == ChainStatus::kSelfSigned) {
    return "CA-issued beats self-signed";
  }
  return "CA-issued (incomplete chain) beats self-signed";
}

// Why `winner` beat `loser`, from the winner's side.
std::string CriterionPhrase(Criterion criterion, const Candidate& winner, const Candidate& loser) {
  switch (criterion) {
    case Criterion::kNameMatch:
      return "exact name beats wildcard";
    case Criterion::kValidity:
      return "valid beats expired";
    case Criterion::kChain:
      return ChainPhrase(winner, loser);
    case Criterion::kNotBefore:
      return "newer NotBefore";
    case Criterion::kNotAfter:
      return "later NotAfter";
    case Criterion::kThumbprint:
      return "lower thumbprint (tie)";
    case Criterion::kNone:
      break;
  }
  return "same certificate";
}

std::string ExpiryPhrase(const Candidate& c) {
  return (c.expired ? "expired " : "valid until ") + FormatDate(c.stored->cert().not_after);
}

std::string WinnerReason(const Candidate& winner) {
  std::string reason =
      winner.match == NameMatch::kExact ? "exact name match, " : "wildcard name match, ";
  reason += ExpiryPhrase(winner);
  if (winner.expired) {
    reason += " (no valid certificate is eligible)";
  }
  switch (winner.stored->chain) {
    case ChainStatus::kVerified:
      reason += ", CA-issued with a verified chain";
      break;
    case ChainStatus::kIncomplete:
      reason += ", CA-issued with an incomplete chain";
      break;
    case ChainStatus::kSelfSigned:
      reason += ", self-signed";
      break;
  }
  return reason;
}

std::string OutrankedReason(const Candidate& winner, const Candidate& loser) {
  const Criterion criterion = Compare(winner, loser).decided_by;
  std::string reason = "outranked by " +
                       std::string(winner.stored->cert().thumbprint().substr(0, 8)) +
                       "…: " + CriterionPhrase(criterion, winner, loser);
  if (loser.expired) {
    reason += " (" + ExpiryPhrase(loser) + ")";
  }
  return reason;
}

}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kSelected:
      return "selected";
    case Verdict::kEligible:
      return "eligible";
    case Verdict::kIneligible:
      return "ineligible";
  }
  return "ineligible";
}

namespace {

// Judges the certificate at `index`: eligible ones join `candidates`, the others get a reason.
// `may_match`: whether one of its names may cover input.fqdn (not when the FQDN is invalid, or
// when a name index does not offer the certificate).
std::optional<std::string> Judge(const SelectionInput& input, bool may_match, std::size_t index,
                                 std::vector<Candidate>& candidates) {
  const StoredCertificate& stored = input.inventory.certificates[index];
  const NameMatch match =
      may_match ? BestNameMatch(stored.cert(), input.fqdn, input.wildcard) : NameMatch::kNone;
  auto reason = IneligibleBecause(stored, match, input);
  if (!reason) candidates.push_back({&stored, index, match, input.now > stored.cert().not_after});
  return reason;
}

// The best candidate, recorded in `selection`; nullptr when there is none.
const Candidate* PickWinner(const std::vector<Candidate>& candidates, Selection& selection) {
  if (candidates.empty()) {
    return nullptr;
  }
  const Candidate& winner = *std::min_element(
      candidates.begin(), candidates.end(),
      [](const Candidate& a, const Candidate& b) { return Compare(a, b).a_first; });
  selection.winner = winner.stored;
  selection.winner_expired = winner.expired;
  selection.reason = WinnerReason(winner);
  return &winner;
}

std::uint64_t HashName(std::string_view normalized) {
  return std::hash<std::string_view>{}(normalized);
}

}  // namespace

Selection Select(const SelectionInput& input, const NameIndex* index) {
  Selection selection;
  std::vector<Candidate> candidates;
  const std::size_t count = input.inventory.certificates.size();
  const bool valid_fqdn = IsValidHostname(input.fqdn);
  std::vector<std::size_t> offered;  // ascending
  if (index != nullptr && valid_fqdn) offered = index->Candidates(input.fqdn, input.wildcard);
  auto next_offered = offered.cbegin();
  selection.judgements.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    bool may_match = valid_fqdn;
    if (index != nullptr) {
      while (next_offered != offered.cend() && *next_offered < i) ++next_offered;
      may_match = next_offered != offered.cend() && *next_offered == i;
    }
    Judgement judgement{
        std::string(input.inventory.certificates[i].cert().thumbprint()), Verdict::kIneligible, {}};
    if (auto reason = Judge(input, may_match, i, candidates)) {
      judgement.reason = std::move(*reason);
    } else {
      judgement.verdict = Verdict::kEligible;
    }
    selection.judgements.push_back(std::move(judgement));
  }
  const Candidate* winner = PickWinner(candidates, selection);
  if (winner == nullptr) {
    return selection;
  }
  for (const Candidate& candidate : candidates) {
    Judgement& judgement = selection.judgements[candidate.index];
    if (&candidate == winner) {
      judgement.verdict = Verdict::kSelected;
      judgement.reason = selection.reason;
    } else {
      judgement.reason = OutrankedReason(*winner, candidate);
    }
  }
  return selection;
}

NameIndex::NameIndex(const Inventory& inventory) {
  const std::vector<StoredCertificate>& certificates = inventory.certificates;
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    for (const std::string_view name : certificates[i].cert().Names()) {
      entries_.emplace_back(HashName(NormalizeHostname(name)), static_cast<std::uint32_t>(i));
    }
  }
  std::sort(entries_.begin(), entries_.end());
  // The multi-level mode looks up every key the one-level mode does and more, so a name alone
  // under it is alone under both.
  only_it_covers_.assign(certificates.size(), false);
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    for (const std::string_view name : certificates[i].cert().Names()) {
      if (AtMostOneCandidate(CoveredHost(name), WildcardMode::kMultiLevel)) {
        only_it_covers_[i] = true;
        break;
      }
    }
  }
}

std::string CoveredHost(std::string_view name) {
  if (name.starts_with("*.")) return "transportcertd-probe" + std::string(name.substr(1));
  return std::string(name);
}

// A certificate name covers `fqdn` only if, normalized, it is `fqdn` itself or "*." followed by
// what comes after one of its dots (the first dot only, one-level): those are the keys looked up.
bool NameIndex::AtMostOneCandidate(std::string_view fqdn, WildcardMode mode) const {
  const std::string host = NormalizeHostname(fqdn);
  std::optional<std::uint32_t> only;  // the one position seen so far
  auto one_so_far = [&](std::uint64_t key) {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), std::pair{key, std::uint32_t{0}});
    for (; it != entries_.end() && it->first == key; ++it) {
      if (only && *only != it->second) return false;
      only = it->second;
    }
    return true;
  };
  if (!one_so_far(HashName(host))) return false;
  std::string wildcard;
  for (std::size_t dot = host.find('.'); dot != std::string::npos; dot = host.find('.', dot + 1)) {
    wildcard.assign("*.").append(host, dot + 1);
    if (!one_so_far(HashName(wildcard))) return false;
    if (mode == WildcardMode::kOneLevel) break;
  }
  return true;
}

std::vector<std::size_t> NameIndex::Candidates(std::string_view fqdn, WildcardMode mode) const {
  const std::string host = NormalizeHostname(fqdn);
  std::vector<std::uint64_t> keys = {HashName(host)};
  for (std::size_t dot = host.find('.'); dot != std::string::npos; dot = host.find('.', dot + 1)) {
    keys.push_back(HashName("*." + host.substr(dot + 1)));
    if (mode == WildcardMode::kOneLevel) {
      break;
    }
  }
  std::vector<std::size_t> positions;
  for (const std::uint64_t key : keys) {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), std::pair{key, std::uint32_t{0}});
    for (; it != entries_.end() && it->first == key; ++it) {
      positions.push_back(it->second);
    }
  }
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  return positions;
}

Selection SelectWinner(const SelectionInput& input, const NameIndex& index) {
  Selection selection;
  if (!IsValidHostname(input.fqdn)) {
    return selection;  // no certificate name matches an invalid host name
  }
  std::vector<Candidate> candidates;
  for (const std::size_t i : index.Candidates(input.fqdn, input.wildcard)) {
    if (i < input.inventory.certificates.size()) {
      Judge(input, /*may_match=*/true, i, candidates);
    }
  }
  PickWinner(candidates, selection);
  return selection;
}

}  // namespace transportcertd
