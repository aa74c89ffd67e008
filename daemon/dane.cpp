#include "daemon/dane.h"

#include <algorithm>
#include <utility>

#include "daemon/logging.h"
#include "monitor/atomic_file.h"

namespace transportcertd {
namespace {

std::string Joined(const std::vector<std::string>& lines, const std::string& separator) {
  if (lines.empty()) return "none";
  std::string out;
  for (const auto& line : lines) out += (out.empty() ? "" : separator) + line;
  return out;
}

}  // namespace

Dane::Dane(uv_loop_t* loop, const Config& config, std::function<void()> changed)
    : config_(config), next_key_(loop, config, std::move(changed)) {}

std::vector<std::string> Dane::Records(const std::vector<DanePublishedName>& names) const {
  std::optional<std::string> next;
  if (config_.NextKeyEnabled() && next_key_.Current()) next = next_key_.Current()->sha256;
  std::vector<std::string> lines;
  for (const auto& record : ComputeTlsaRecords(names, config_.dane_ports, next)) {
    lines.push_back(record.ZoneLine());
  }
  return lines;
}

std::optional<std::string> Dane::TlsaFile(const std::vector<DanePublishedName>& names,
                                          const Inventory& inventory) {
  if (!config_.DaneEnabled()) {
    published_.reset();
    return std::nullopt;
  }
  next_key_.Update(inventory);
  if (config_.NextKeyEnabled() && next_key_.Generating()) return std::nullopt;
  std::optional<std::string> next;
  if (config_.NextKeyEnabled() && next_key_.Current()) next = next_key_.Current()->sha256;
  const std::vector<TlsaRecord> records = ComputeTlsaRecords(names, config_.dane_ports, next);
  std::vector<std::string> lines;
  for (const auto& record : records) lines.push_back(record.ZoneLine());

  const std::string path = config_.publish_dir + "/" + kTlsaFileName;
  if (!published_) {
    auto text = ReadFile(path, std::uint64_t{1024} * 1024);
    published_ = text ? ParseTlsaFile(*text) : std::vector<std::string>{};
  }
  const TlsaChange change = DiffTlsaRecords(*published_, lines);
  if (!change.empty()) {
    AlertFields fields;
    fields.file = path;
    fields.tlsa_add = Joined(change.add_now, "\n");
    fields.tlsa_remove = Joined(change.remove_after_next_renewal, "\n");
    Alert(AlertKind::kTlsaRecordsChanged, spdlog::level::warn, fields,
          "DANE TLSA records changed (" + path + "); add to DNS now: " +
              Joined(change.add_now, "; ") + "; remove from DNS after the next renewal: " +
              Joined(change.remove_after_next_renewal, "; "));
  }
  published_ = std::move(lines);
  return FormatTlsaFile(records);
}

bool Dane::MayReplaceNow(const Inventory& inventory, const Bindings& bindings, UnixTimeMs now) {
  if (!config_.NextKeyEnabled()) {
    held_until_.reset();
    return true;
  }
  next_key_.EnsureLoaded();
  std::optional<UnixTimeMs> since;
  if (next_key_.Current()) since = next_key_.Current()->since;
  const auto allowed = InternalTransportRenewalAllowedAt(inventory, bindings, config_.renew_before,
                                                         now, since, config_.rollover_hold);
  if (!allowed || *allowed <= now) {
    held_until_.reset();
    return true;
  }
  if (held_until_ != allowed) {
    spdlog::info(
        "the internal transport certificate's renewal waits until {} so that the next key's TLSA "
        "record had [dane] rollover_hold ({}) to reach DNS",
        FormatTime(*allowed / 1000), FormatDuration(config_.rollover_hold));
  }
  held_until_ = allowed;
  return false;
}

std::optional<UnixTimeMs> Dane::HeldUntil(UnixTimeMs now) {
  if (!held_until_) return std::nullopt;
  const UnixTimeMs until = *held_until_;
  if (until <= now) held_until_.reset();  // over already: one wake-up, then decided afresh
  return std::max(until, now + 1);
}

}  // namespace transportcertd
