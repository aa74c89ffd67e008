#include "ipc/deferred_replies.h"

#include <cstdint>

#include "ipc/bus_errors.h"
#include "ipc/sd_bus_uv.h"

namespace transportcertd {

DeferredReplies::DeferredReplies(uv_loop_t* loop, sd_bus* bus) : bus_(bus) {
  check_ = new uv_check_t;
  uv_check_init(loop, check_);
  check_->data = this;
  idle_ = new uv_idle_t;
  uv_idle_init(loop, idle_);
  idle_->data = this;
}

DeferredReplies::~DeferredReplies() { Stop(); }

void DeferredReplies::Stop() {
  waiting_.clear();
  under_way_ = false;
  SendAfterUnderWay();  // the reply under way is dropped: nothing left to wait for
  CloseAndFree(check_);
  CloseAndFree(idle_);
  check_ = nullptr;
  idle_ = nullptr;
}

void DeferredReplies::Add(sd_bus_message* call, WritePart write) {
  waiting_.emplace_back(SdBusMessagePtr(sd_bus_message_ref(call)), std::move(write));
  Schedule();
}

void DeferredReplies::Flush() {
  while (!waiting_.empty()) WriteOnePart();
  Schedule();
}

void DeferredReplies::AfterUnderWay(std::function<void()> send) {
  if (!under_way_) {
    send();
    return;
  }
  after_under_way_.push_back(std::move(send));
}

void DeferredReplies::WriteOnePart() {
  SdBusMessagePtr& call = waiting_.front().first;
  const WritePart& write = waiting_.front().second;
  // As for a handler sd-bus calls: an exception becomes an error reply (ipc/bus_errors.h).
  SdBusError error;
  const int r = GuardCallback(error.get(), [&] { return write(call.get()); });
  under_way_ = r > 0;
  if (under_way_) return;
  const SdBusMessagePtr done = std::move(call);
  waiting_.pop_front();
  // A caller that went away or a closed connection cannot be answered: nothing to do then.
  if (r < 0 && error.is_set()) {
    sd_bus_reply_method_error(done.get(), error.get());
  } else if (r < 0) {
    sd_bus_reply_method_errno(done.get(), r, nullptr);
  }
  SendAfterUnderWay();  // the reply is sent: now the signals of the changes it does not show
}

void DeferredReplies::SendAfterUnderWay() {
  const std::vector<std::function<void()>> sends = std::move(after_under_way_);
  after_under_way_.clear();
  for (const auto& send : sends) {
    try {
      send();
    } catch (...) {
      // Out of memory for a signal: the others still go, and the loop goes on.
    }
  }
}

bool DeferredReplies::WriteQueueEmpty() const {
  std::uint64_t queued = 0;
  return sd_bus_get_n_queued_write(bus_, &queued) < 0 || queued == 0;
}

void DeferredReplies::OnCheck(uv_check_t* handle) {
  auto* self = static_cast<DeferredReplies*>(handle->data);
  if (self == nullptr) return;
  // The poll of this turn has read (and answered) what came in; now one part of the reply
  // under way, or the first part of the next one once the previous has left sd-bus's write
  // queue.
  if (!self->waiting_.empty() && (self->under_way_ || self->WriteQueueEmpty())) {
    self->WriteOnePart();
  }
  self->Schedule();
}

void DeferredReplies::Schedule() {
  if (check_ == nullptr) return;
  if (waiting_.empty()) {
    uv_check_stop(check_);
    uv_idle_stop(idle_);
    return;
  }
  uv_check_start(check_, &DeferredReplies::OnCheck);
  // A part to write: keep the next poll from sleeping. Waiting for the socket: sleep in poll,
  // which wakes when it is writable (the bus adapter polls for that while sd-bus has output).
  if (under_way_ || WriteQueueEmpty()) {
    uv_idle_start(idle_, [](uv_idle_t*) {});
  } else {
    uv_idle_stop(idle_);
  }
}

}  // namespace transportcertd
