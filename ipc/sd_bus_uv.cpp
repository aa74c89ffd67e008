#include "ipc/sd_bus_uv.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

namespace transportcertd {
namespace {

std::uint64_t MonotonicNowUsec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000U +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1'000U;
}

std::string ErrnoText(int negative_errno) { return std::strerror(-negative_errno); }

std::string LostReason(const char* what, int negative_errno) {
  switch (-negative_errno) {
    case ECONNRESET:
    case ENOTCONN:
    case ESHUTDOWN:
    case EPIPE:
    case ECONNABORTED:
      return "connection to the bus lost (" + ErrnoText(negative_errno) + ")";
    default:
      return std::string(what) + " failed: " + ErrnoText(negative_errno);
  }
}

}  // namespace

std::optional<std::uint64_t> DelayUntilDeadlineMs(std::uint64_t deadline_usec,
                                                  std::uint64_t now_usec) {
  if (deadline_usec == UINT64_MAX) return std::nullopt;
  if (deadline_usec <= now_usec) return 0;
  const std::uint64_t remaining = deadline_usec - now_usec;
  return (remaining + 999U) / 1000U;
}

Result<std::unique_ptr<SdBusUv>> SdBusUv::Attach(uv_loop_t* loop, sd_bus* bus,
                                                 LostCallback on_lost) {
  const int fd = sd_bus_get_fd(bus);
  if (fd < 0) {
    return Error{"the bus connection has no file descriptor to poll: " + ErrnoText(fd)};
  }
  std::unique_ptr<SdBusUv> adapter(new SdBusUv(loop, bus));

  auto* poll = new uv_poll_t;
  if (const int r = uv_poll_init(loop, poll, fd); r < 0) {
    delete poll;  // never initialized: no uv_close
    return Error{std::string("cannot watch the bus connection: ") + uv_strerror(r)};
  }
  poll->data = adapter.get();
  adapter->poll_ = poll;

  adapter->timer_ = new uv_timer_t;
  uv_timer_init(loop, adapter->timer_);
  adapter->timer_->data = adapter.get();

  adapter->prepare_ = new uv_prepare_t;
  uv_prepare_init(loop, adapter->prepare_);
  adapter->prepare_->data = adapter.get();
  uv_prepare_start(adapter->prepare_, &SdBusUv::OnPrepare);

  adapter->more_ = new uv_idle_t;
  uv_idle_init(loop, adapter->more_);
  adapter->more_->data = adapter.get();

  // Messages may already be queued (the Hello reply, a name request made before attaching).
  // Failing here is an error of Attach, not a call of `on_lost`, which is only set afterwards.
  if (!adapter->Arm()) return Error{"the bus connection was lost while attaching it"};
  adapter->on_lost_ = std::move(on_lost);
  return adapter;
}

SdBusUv::SdBusUv(uv_loop_t* loop, sd_bus* bus) : loop_(loop), bus_(sd_bus_ref(bus)) {}

SdBusUv::~SdBusUv() {
  Detach();
  sd_bus_unref(bus_);
}

void SdBusUv::Detach() {
  CloseAndFree(poll_);
  CloseAndFree(timer_);
  CloseAndFree(prepare_);
  CloseAndFree(more_);
  more_ = nullptr;
  poll_ = nullptr;
  timer_ = nullptr;
  prepare_ = nullptr;
}

void SdBusUv::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<SdBusUv*>(handle->data);
  if (self == nullptr) return;
  if (!self->Process()) return;  // `self` may be gone
  if (status < 0) {
    // sd-bus did not notice anything wrong, but the fd cannot be polled: stop rather than spin.
    self->Lose(std::string("polling the bus connection failed: ") + uv_strerror(status));
  }
}

void SdBusUv::OnTimer(uv_timer_t* handle) {
  auto* self = static_cast<SdBusUv*>(handle->data);
  if (self == nullptr) return;
  self->armed_deadline_.reset();  // one-shot: it must be re-armed even for the same deadline
  self->Process();
}

void SdBusUv::OnPrepare(uv_prepare_t* handle) {
  auto* self = static_cast<SdBusUv*>(handle->data);
  if (self == nullptr) return;
  self->Arm();
}

void SdBusUv::OnIdle(uv_idle_t* handle) {
  auto* self = static_cast<SdBusUv*>(handle->data);
  if (self == nullptr) return;
  self->Process();
}

bool SdBusUv::Process() {
  for (int turn = 0; turn < kMessagesPerTurn; ++turn) {
    const int r = sd_bus_process(bus_, nullptr);
    if (r < 0) {
      Lose(LostReason("processing the bus connection", r));
      return false;
    }
    if (r == 0) {
      uv_idle_stop(more_);
      return true;
    }
  }
  // More may be waiting, already read from the socket (so polling would not see it): carry on
  // in the next loop turn, after the loop's other handles had theirs.
  uv_idle_start(more_, &SdBusUv::OnIdle);
  return true;
}

bool SdBusUv::Arm() {
  const int events = sd_bus_get_events(bus_);
  if (events < 0) {
    Lose(LostReason("asking the bus connection what to wait for", events));
    return false;
  }
  const int wanted =
      ((events & POLLIN) != 0 ? UV_READABLE : 0) | ((events & POLLOUT) != 0 ? UV_WRITABLE : 0);
  if (wanted != armed_events_) {
    const int r = wanted == 0 ? uv_poll_stop(poll_) : uv_poll_start(poll_, wanted, &OnPoll);
    if (r < 0) {
      Lose(std::string("cannot watch the bus connection: ") + uv_strerror(r));
      return false;
    }
    armed_events_ = wanted;
  }

  std::uint64_t deadline = UINT64_MAX;
  if (const int r = sd_bus_get_timeout(bus_, &deadline); r < 0) {
    Lose(LostReason("asking the bus connection for its timeout", r));
    return false;
  }
  if (deadline == UINT64_MAX) {
    if (armed_deadline_) uv_timer_stop(timer_);
    armed_deadline_.reset();
    return true;
  }
  if (armed_deadline_ == deadline) return true;
  const std::optional<std::uint64_t> delay = DelayUntilDeadlineMs(deadline, MonotonicNowUsec());
  uv_update_time(loop_);  // the timer counts from the loop's notion of now
  uv_timer_start(timer_, &OnTimer, delay.value_or(0), 0);
  armed_deadline_ = deadline;
  return true;
}

void SdBusUv::Lose(const std::string& reason) {
  if (lost_) return;
  lost_ = true;
  if (poll_ != nullptr) uv_poll_stop(poll_);
  if (timer_ != nullptr) uv_timer_stop(timer_);
  if (prepare_ != nullptr) uv_prepare_stop(prepare_);
  if (more_ != nullptr) uv_idle_stop(more_);
  armed_events_ = 0;
  armed_deadline_.reset();
  // The callback may destroy this adapter: nothing of `this` is touched after the call.
  const LostCallback on_lost = on_lost_;
  if (on_lost) on_lost(reason);
}

}  // namespace transportcertd
