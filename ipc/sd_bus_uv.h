// The one place where sd-bus meets libuv: runs an sd-bus connection inside a libuv loop.
//
// A uv_poll_t watches sd_bus_get_fd() for the events sd_bus_get_events() asks for; one uv_timer_t
// fires at sd_bus_get_timeout() (an ABSOLUTE CLOCK_MONOTONIC time in µs, converted here to a
// relative delay rounded up); a uv_prepare_t re-computes both before the loop blocks, because
// sends made outside sd_bus_process() (signals from a timer, replies after a worker finished)
// change them. Whenever the poll or timer fires, sd_bus_process() is called until it has nothing
// left to do, or at most kMessagesPerTurn times: under a stream of calls the loop's other work
// (the store watch, the deadline timer) still gets its turn, and a uv_idle_t carries on with
// what is left in the next turn without sleeping.
//
// Loop thread only. The libuv handles' memory is freed in their close callbacks, so the loop
// must run (at least once) after Detach() or destruction to release it.
#pragma once

#include <systemd/sd-bus.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "monitor/result.h"

namespace transportcertd {

// Closes a libuv handle allocated with `new Handle` and deletes it in its close callback (libuv
// requires the memory to stay valid until then); clears `data` so that no callback still
// queued reaches its owner. Null is ignored.
template <typename Handle>
void CloseAndFree(Handle* handle) {
  if (handle == nullptr) return;
  handle->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* closed) { delete reinterpret_cast<Handle*>(closed); });
}

class SdBusUv {
 public:
  static constexpr int kMessagesPerTurn = 64;

  // Called once, on the loop thread, when the connection fails or is closed by the peer
  // (sd_bus_process() or sd_bus_get_events() fail, e.g. ECONNRESET or ENOTCONN). The adapter
  // has stopped watching the bus by then; the callback may destroy the adapter.
  using LostCallback = std::function<void(std::string reason)>;

  // Starts driving `bus` (a started connection attached to no other event loop) from `loop`.
  // Holds a reference to `bus` until destroyed. Fails when the bus has no pollable fd.
  static Result<std::unique_ptr<SdBusUv>> Attach(uv_loop_t* loop, sd_bus* bus,
                                                 LostCallback on_lost);

  ~SdBusUv();
  SdBusUv(const SdBusUv&) = delete;
  SdBusUv& operator=(const SdBusUv&) = delete;

  // Stops watching the bus and closes the libuv handles. Idempotent; the destructor calls it.
  void Detach();

 private:
  SdBusUv(uv_loop_t* loop, sd_bus* bus);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  static void OnPrepare(uv_prepare_t* handle);
  static void OnIdle(uv_idle_t* handle);

  // sd_bus_process() until it returns 0 or kMessagesPerTurn times (then the idle handle runs
  // the rest in the next loop turn); false when the connection was lost.
  bool Process();
  // Re-computes the poll events and the timer from the bus; false when the connection was lost.
  bool Arm();
  void Lose(const std::string& reason);

  uv_loop_t* loop_;
  sd_bus* bus_;  // referenced
  LostCallback on_lost_;
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  uv_prepare_t* prepare_ = nullptr;
  uv_idle_t* more_ = nullptr;                    // active while Process() stopped with work left
  int armed_events_ = -1;                        // UV_READABLE|UV_WRITABLE currently polled for
  std::optional<std::uint64_t> armed_deadline_;  // absolute µs the timer is set for
  bool lost_ = false;
};

// The delay in milliseconds until sd_bus_get_timeout()'s absolute CLOCK_MONOTONIC deadline
// `deadline_usec` as seen at `now_usec`, rounded up so the timer never fires before it; 0 when
// it has passed (sd-bus reports 0 for "process now"); nullopt for UINT64_MAX ("no timeout").
std::optional<std::uint64_t> DelayUntilDeadlineMs(std::uint64_t deadline_usec,
                                                  std::uint64_t now_usec);

}  // namespace transportcertd
