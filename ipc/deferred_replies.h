// Big replies wait their turn, and are written a part at a time, so that small ones do not
// wait behind them (docs/dbus-api.md, "Order of replies"; docs/benchmarks.md, "Under load"). At
// thousands of certificates a ListCertificates reply is megabytes and an ExplainSelection reply
// about one; written in one go as they arrive, every call read after one of them (a
// SelectCertificate of a few hundred bytes included) would wait for all of it to be written and
// then for the bus to take it. Here such a call is kept, with what writes its reply, and:
//   - every call read from the bus in a loop turn is handled first (the small ones answered at
//     once), then ONE part of the oldest waiting reply is written (a uv_check handle, after the
//     poll): what the reply holds is taken when its first part is written, and it is sent with
//     its last, so a call that comes meanwhile waits for one part at most;
//   - the next reply is started only once sd-bus has handed the previous one to the socket, so
//     that at most one big reply sits in the connection's write queue ahead of small ones
//     (the loop then sleeps in poll until the socket is writable, it does not spin);
//   - while a reply is under way, or replies wait and the write queue is empty, a uv_idle
//     handle keeps the loop from sleeping; with nothing waiting both handles are stopped: no
//     wake-up while idle.
// Flush() writes every waiting reply to the end at once, in order; the bus service calls it
// before anything that changes what they answer, so that a call is never answered with a change
// made after a later call. A part holds up the calls that come meanwhile for about a
// millisecond, except the first, which takes what the reply answers (every certificate's
// Status, the rows when they must be built again, or an explanation's whole selection).
//
// Loop thread only. The libuv handles' memory is freed in their close callbacks, so the loop
// must run (at least once) after Stop() or destruction.
#pragma once

#include <systemd/sd-bus.h>
#include <uv.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "ipc/sd_bus_handles.h"

namespace transportcertd {

class DeferredReplies {
 public:
  // Writes the next part of the reply to `call`: returns 1 while more remains, 0 once the reply
  // (or an error reply) is sent, or a negative errno when nothing could be sent (the call is then
  // answered with that errno, or with the error an exception carried: ipc/bus_errors.h).
  using WritePart = std::function<int(sd_bus_message* call)>;

  // `bus` is the connection the calls came on; it must outlive this object.
  DeferredReplies(uv_loop_t* loop, sd_bus* bus);
  ~DeferredReplies();
  DeferredReplies(const DeferredReplies&) = delete;
  DeferredReplies& operator=(const DeferredReplies&) = delete;

  // Keeps `call` (a reference is taken) until its turn.
  void Add(sd_bus_message* call, WritePart write);
  // Writes and sends every waiting reply now, to the end, oldest first.
  void Flush();
  // Runs `send` (which sends signals) now when no reply is under way, or else as soon as the
  // reply under way is sent, before the next reply starts: a reply never reaches a client after
  // a signal of a change the reply does not show, and the replies not started yet answer from
  // the state after it. Queued sends run in the order given. The bus service sends every signal
  // through it; the reply under way is not hurried (its remaining parts would hold the loop up
  // to 20 ms at 10,000 certificates), its parts go on one per loop turn.
  void AfterUnderWay(std::function<void()> send);
  // Drops the replies that wait (the connection is closing), runs what AfterUnderWay queued,
  // and closes the handles. Idempotent.
  void Stop();

  std::size_t waiting() const { return waiting_.size(); }

 private:
  static void OnCheck(uv_check_t* handle);
  // Writes the next part of the oldest waiting reply.
  void WriteOnePart();
  // Runs what AfterUnderWay queued, in order.
  void SendAfterUnderWay();
  // Starts or stops the handles for what waits and what sd-bus still has to write.
  void Schedule();
  bool WriteQueueEmpty() const;

  sd_bus* bus_;
  std::deque<std::pair<SdBusMessagePtr, WritePart>> waiting_;
  bool under_way_ = false;  // the oldest waiting reply has parts written
  std::vector<std::function<void()>> after_under_way_;  // AfterUnderWay, in order
  uv_check_t* check_ = nullptr;
  uv_idle_t* idle_ = nullptr;
};

}  // namespace transportcertd
