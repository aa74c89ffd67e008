// The daemon's generation of self-signed internal transport certificates: a queue of requests
// (the daemon's own replacements and D-Bus NewSelfSignedCertificate / Renew calls), run one at
// a time on libuv's thread pool so that D-Bus keeps answering, finished on the loop thread,
// where the new certificate is designated, announced and published. A failure is alerted and
// retried with backoff (10 s doubling to 1 h); nothing in the store is touched by a failure.
#include "daemon/generation.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "daemon/logging.h"
#include "monitor/internal_transport.h"
#include "monitor/selfsigned.h"

namespace transportcertd {

bool Daemon::ReplacementPending() const {
  return !generations_.empty() ||
         (retry_ && uv_is_active(reinterpret_cast<uv_handle_t*>(retry_.get())));
}

void Daemon::CheckInternalTransport(UnixTimeMs now) {
  if (ReplacementPending()) return;  // a replacement is under way or waiting for its retry
  auto reason =
      InternalTransportReplacementReason(inventory_, bindings_, config_.renew_before, now);
  // DANE: a routine renewal waits for rollover_hold (ArmDeadline wakes us then).
  if (reason && !dane_->MayReplaceNow(inventory_, bindings_, now)) return;
  if (reason) Enqueue({}, *reason, nullptr);
}

void Daemon::Enqueue(std::vector<std::string> names, std::string reason, GenerationDone done) {
  auto generation = std::make_unique<Generation>();
  generation->daemon = this;
  generation->request.fqdn = config_.fqdn;
  generation->request.extra_names = config_.selfsigned_names;
  for (auto& name : names) generation->request.extra_names.push_back(std::move(name));
  generation->request.key = config_.key;
  generation->request.validity_seconds = config_.validity.count() / 1000;
  generation->store = config_.store;
  generation->reason = std::move(reason);
  if (done) generation->done.push_back(std::move(done));
  generations_.push_back(std::move(generation));
  if (generations_.size() == 1) StartNextGeneration();
}

void Daemon::StartNextGeneration() {
  // FinishGeneration's rescan may already have queued and started the next one.
  if (generations_.empty() || generations_.front()->started) return;
  Generation& generation = *generations_.front();
  generation.started = true;
  spdlog::info("generating a self-signed {} certificate for {}: {}",
               generation.request.key.ToString(), generation.request.fqdn, generation.reason);
  generation.work.data = &generation;
  // DANE: the next key (empty if none); a new next key is made right after the certificate.
  generation.request.existing_key_pem = dane_->next_key().HandOut(generation.next_key_refill);
  // The new certificate must be strictly newer than every one in the store, or a renewal in
  // the same second as the last one would tie on NotBefore and lose the tie-break.
  for (const auto& stored : inventory_.certificates) {
    generation.newer_than = std::max(generation.newer_than, stored.cert().not_before);
  }
  uv_queue_work(
      &loop_, &generation.work,
      [](uv_work_t* work) {  // on a pool thread: nothing here touches the daemon
        auto& g = *static_cast<Generation*>(work->data);
        const Clock& clock = g.daemon->clock_;
        // At most one second (20 naps of 50 ms), even on a clock that does not move.
        for (int naps = 0; naps < 20 && clock.Now() / 1000 <= g.newer_than &&
                           clock.Now() / 1000 + 2 > g.newer_than;
             ++naps) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        g.request.now = clock.Now() / 1000;
        g.generated = GenerateSelfSigned(g.request);
        if (g.generated) g.written = WriteToStore(g.store, *g.generated);
        if (g.written) g.next_key_refill.Run();
      },
      [](uv_work_t* work, int) {
        auto& g = *static_cast<Generation*>(work->data);
        g.daemon->FinishGeneration(g);
      });
}

void Daemon::FinishGeneration(Generation& generation) {
  std::unique_ptr<Generation> owned = std::move(generations_.front());
  generations_.pop_front();
  Result<std::string> outcome{Error{}};
  const std::string previous_internal = bindings_.internal_transport;
  if (!generation.generated || !generation.written) {
    const std::string why = !generation.generated ? generation.generated.error().message
                                                  : generation.written.error().message;
    const std::int64_t delay_ms = generation_backoff_.Next();
    ++generation_failures_;
    Alert(AlertKind::kGenerationFailed, spdlog::level::err, {},
          "generating a self-signed certificate failed: " + why + "; retrying in " +
              FormatDuration(Milliseconds{delay_ms}));
    if (exit_code_ == 0 && sigterm_) {
      uv_timer_start(
          retry_.get(), [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->Evaluate(); },
          static_cast<std::uint64_t>(delay_ms), 0);
    }
    outcome = Error{"generation failed: " + why, ErrorCode::kStore};
  } else {
    generation_backoff_.Reset();
    const std::string thumbprint = generation.generated->thumbprint;
    const Bindings previous = bindings_;
    const std::string& old = previous_internal;
    bindings_.internal_transport = thumbprint;
    bindings_.services[thumbprint] = config_.default_services | Bit(Service::kSmtp);
    if (Status saved = SaveBindingsOrRevert(previous); !saved) {
      outcome = saved.error();
    } else {
      AlertFields fields;
      if (auto parsed = ParseStoreFile(generation.generated->certificate_pem);
          parsed && !parsed->certificates.empty()) {
        fields = FieldsOf(parsed->certificates.front());
      }
      fields.thumbprint = thumbprint;
      fields.old_thumbprint = old;
      fields.file = *generation.written;
      Alert(AlertKind::kInternalTransportReplaced, spdlog::level::warn, fields,
            "new internal transport certificate " + thumbprint + " (" + *generation.written + ")" +
                (old.empty() ? "" : ", replacing " + old) + ": " + generation.reason);
      outcome = thumbprint;
    }
  }
  // DANE: the next key was used (and a new one made), or stays.
  outcome ? dane_->next_key().Used(generation.next_key_refill) : dane_->next_key().Returned();
  // Rescan first, so the new certificate's object exists when clients hear of it.
  if (exit_code_ == 0 && sigterm_) Refresh();
  if (ready_after_generation_ && exit_code_ == 0 && sigterm_) SendReady();
  if (outcome && bus_) {
    bus_->EmitInternalTransportCertificateChanged(previous_internal, *outcome);
  }
  for (auto& done : generation.done) done(outcome);
  StartNextGeneration();
}

}  // namespace transportcertd
