// A store scanner shared by the daemon's loop and a background scan on a worker thread, so that
// a rescan after a store change (stat of every file, reading and parsing what changed, building
// the inventory) does not hold up the loop: the loop goes on answering from the inventory it
// has, and swaps in the new one when the scan is done.
//
// At most one background scan runs at a time: a change noticed while one runs is remembered and
// followed by one more scan after it (Request/Finished). A scan the loop needs at once (before
// an import or a removal, on a reload) waits for a running background scan and then scans
// itself (ScanNow), so it always sees the store as it is then; the background scan's result is
// then part of what ScanNow returns, and nothing is left for the background scan to deliver.
//
// Threads: BackgroundScan runs on a worker; everything else on the thread that owns the
// inventory (the loop). The scanner's cache is only touched under the lock.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "monitor/result.h"
#include "monitor/selection.h"
#include "monitor/store.h"

namespace transportcertd {

// A new inventory and its name index, built together off the loop.
struct ScannedStore {
  Inventory inventory;
  NameIndex names;  // of inventory (positions in it: they stay valid when both are moved)
};

// What a scan found: a new inventory, or nullopt when no store file changed since the
// inventory the owner holds.
using ScanOutcome = Result<std::optional<ScannedStore>>;

class BackgroundScanner {
 public:
  explicit BackgroundScanner(std::unique_ptr<StoreScanner> scanner);
  BackgroundScanner(const BackgroundScanner&) = delete;
  BackgroundScanner& operator=(const BackgroundScanner&) = delete;

  const std::string& dir() const { return dir_; }

  // The store changed. True: start a background scan now (BackgroundScan on a worker, then
  // TakeBackgroundResult and Finished here). False: one is running; Finished will say that
  // another is wanted after it, however many changes arrive meanwhile.
  bool Request();
  // The background scan that Request started is over (its result taken, or taken by ScanNow).
  // True when the store changed while it ran: request another scan.
  bool Finished();
  bool Running() const { return running_; }

  // On a worker: scans as ScanIfChanged does (and indexes the names of a new inventory) and
  // keeps the outcome for TakeBackgroundResult.
  void BackgroundScan();
  // The outcome of the last background scan if nobody took it yet; waits for a running one.
  std::optional<ScanOutcome> TakeBackgroundResult();

  // Scans now, on the calling thread, once any running background scan is over. The inventory
  // when the store changed since the one the owner holds (including changes a background scan
  // saw and nobody took yet); nullopt when it did not.
  ScanOutcome ScanNow();

  // Tests only: called on the worker at the start of each background scan, before the scan
  // (and with the scanner held, as the scan itself).
  void SetBeforeBackgroundScan(std::function<void()> hook);

 private:
  const std::string dir_;
  // Loop thread only.
  bool running_ = false;
  bool again_ = false;
  // Under mutex_.
  std::mutex mutex_;
  std::unique_ptr<StoreScanner> scanner_;
  std::optional<ScanOutcome> untaken_;  // of the last background scan
  std::function<void()> before_background_scan_;

  ScanOutcome ScanLocked();
};

}  // namespace transportcertd
