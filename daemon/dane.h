// DANE for the daemon (docs/dane.md): keeps the next key (daemon/next_key.h), turns what is
// published into TLSA records (monitor/dane.h) for `<publish.dir>/tlsa`, raises one alert when
// the records change (what to add to DNS now, what to remove after the next renewal), and holds
// a routine renewal of the internal transport certificate until the next key's record had
// [dane] rollover_hold to reach DNS. Loop thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/next_key.h"
#include "monitor/bindings.h"
#include "monitor/dane.h"
#include "monitor/store.h"

namespace transportcertd {

// The name of the TLSA file in publish.dir.
inline constexpr const char* kTlsaFileName = "tlsa";

class Dane {
 public:
  // `loop` and `config` must outlive it; `changed` runs on the loop thread when the next key
  // changed, so the daemon publishes again.
  Dane(uv_loop_t* loop, const Config& config, std::function<void()> changed);
  Dane(const Dane&) = delete;
  Dane& operator=(const Dane&) = delete;

  // The TLSA records of `names` (zone-file lines).
  std::vector<std::string> Records(const std::vector<DanePublishedName>& names) const;

  // The contents of the tlsa file for `names`, or nullopt to leave the file as it is: DANE is
  // off, or a new next key is being made (the records would change twice). When the records
  // differ from those last published, raises the alert. Also keeps the next key (Update).
  std::optional<std::string> TlsaFile(const std::vector<DanePublishedName>& names,
                                      const Inventory& inventory);

  // Whether a replacement of the internal transport certificate that is due may start at `now`
  // (a routine one waits for rollover_hold); when not, HeldUntil says when.
  bool MayReplaceNow(const Inventory& inventory, const Bindings& bindings, UnixTimeMs now);
  // When the replacement the last MayReplaceNow held may start (never before `now` + 1 ms, so a
  // timer armed for it always fires, once); nullopt when none is held.
  std::optional<UnixTimeMs> HeldUntil(UnixTimeMs now);

  NextKey& next_key() { return next_key_; }
  void Stop() { next_key_.Stop(); }

 private:
  const Config& config_;
  NextKey next_key_;
  std::optional<std::vector<std::string>> published_;  // the records last published
  std::optional<UnixTimeMs> held_until_;               // set by MayReplaceNow
};

}  // namespace transportcertd
