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
  CloseAndFree(check_);
  CloseAndFree(idle_);
  check_ = nullptr;
  idle_ = nullptr;
}

void DeferredReplies::Add(sd_bus_message* call, Build build) {
  waiting_.emplace_back(SdBusMessagePtr(sd_bus_message_ref(call)), std::move(build));
  Schedule();
}

void DeferredReplies::Flush() {
  while (!waiting_.empty()) BuildOne();
  Schedule();
}

void DeferredReplies::BuildOne() {
  SdBusMessagePtr call = std::move(waiting_.front().first);
  const Build build = std::move(waiting_.front().second);
  waiting_.pop_front();
  // As for a handler sd-bus calls: an exception becomes an error reply (ipc/bus_errors.h).
  SdBusError error;
  const int r = GuardCallback(error.get(), [&] { return build(call.get()); });
  if (r >= 0) return;
  // A caller that went away or a closed connection cannot be answered: nothing to do then.
  if (error.is_set()) {
    sd_bus_reply_method_error(call.get(), error.get());
  } else {
    sd_bus_reply_method_errno(call.get(), r, nullptr);
  }
}

bool DeferredReplies::WriteQueueEmpty() const {
  std::uint64_t queued = 0;
  return sd_bus_get_n_queued_write(bus_, &queued) < 0 || queued == 0;
}

void DeferredReplies::OnCheck(uv_check_t* handle) {
  auto* self = static_cast<DeferredReplies*>(handle->data);
  if (self == nullptr) return;
  // The poll of this turn has read (and answered) what came in; now one big reply, if the
  // previous one has left sd-bus's write queue.
  if (!self->waiting_.empty() && self->WriteQueueEmpty()) self->BuildOne();
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
  // Ready to build: keep the next poll from sleeping. Waiting for the socket: sleep in poll,
  // which wakes when it is writable (the bus adapter polls for that while sd-bus has output).
  if (WriteQueueEmpty()) {
    uv_idle_start(idle_, [](uv_idle_t*) {});
  } else {
    uv_idle_stop(idle_);
  }
}

}  // namespace transportcertd
