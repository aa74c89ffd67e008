#include "monitor/background_scan.h"

#include <utility>

namespace transportcertd {

BackgroundScanner::BackgroundScanner(std::unique_ptr<StoreScanner> scanner)
    : dir_(scanner->dir()), scanner_(std::move(scanner)) {}

bool BackgroundScanner::Request() {
  if (running_) {
    again_ = true;
    return false;
  }
  running_ = true;
  return true;
}

bool BackgroundScanner::Finished() {
  running_ = false;
  return std::exchange(again_, false);
}

void BackgroundScanner::BackgroundScan() {
  const std::lock_guard lock(mutex_);
  if (before_background_scan_) before_background_scan_();
  ScanOutcome outcome = ScanLocked();
  // An inventory nobody took yet stays unless this one replaces it: the scanner's cache has
  // its changes, so later scans would not build it again.
  const bool holds_inventory = untaken_ && untaken_->ok() && untaken_->value().has_value();
  if (holds_inventory && !(outcome.ok() && outcome.value().has_value())) return;
  untaken_ = std::move(outcome);
}

std::optional<ScanOutcome> BackgroundScanner::TakeBackgroundResult() {
  const std::lock_guard lock(mutex_);
  return std::exchange(untaken_, std::nullopt);
}

ScanOutcome BackgroundScanner::ScanNow() {
  const std::lock_guard lock(mutex_);
  ScanOutcome outcome = ScanLocked();
  if (!outcome.ok()) return outcome;  // an untaken inventory stays for the next scan
  std::optional<ScanOutcome> earlier = std::exchange(untaken_, std::nullopt);
  // A background scan already took in the changes (the scanner's cache has them) but its
  // inventory has not reached the owner: that inventory is the store's now.
  if (!outcome.value().has_value() && earlier && earlier->ok() && earlier->value().has_value()) {
    return std::move(*earlier);
  }
  return outcome;
}

ScanOutcome BackgroundScanner::ScanLocked() {
  auto scanned = scanner_->ScanIfChanged();
  if (!scanned) return scanned.error();
  if (!scanned->has_value()) return std::optional<ScannedStore>();
  ScannedStore store{std::move(scanned.value().value()), {}};
  store.names = NameIndex(store.inventory);
  return std::optional<ScannedStore>(std::move(store));
}

void BackgroundScanner::SetBeforeBackgroundScan(std::function<void()> hook) {
  const std::lock_guard lock(mutex_);
  before_background_scan_ = std::move(hook);
}

}  // namespace transportcertd
