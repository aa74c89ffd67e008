// Big replies wait their turn so that small ones do not wait behind them (docs/dbus-api.md,
// "Order of replies"; docs/benchmarks.md, "Under load"). At thousands of certificates a
// ListCertificates reply is megabytes and an ExplainSelection reply about one; built as they
// arrive, every call read after one of them (a SelectCertificate of a few hundred bytes included)
// would wait for it to be built and then for the bus to take it. Here such a call is kept, with
// what builds its reply, and:
//   - every call read from the bus in a loop turn is handled first (the small ones answered at
//     once), then ONE waiting reply is built and sent (a uv_check handle, after the poll);
//   - the next one is built only once sd-bus has handed the previous one to the socket, so
//     that at most one big reply sits in the connection's write queue ahead of small ones
//     (the loop then sleeps in poll until the socket is writable, it does not spin);
//   - while replies wait and the write queue is empty, a uv_idle handle keeps the loop from
//     sleeping; with nothing waiting both handles are stopped: no wake-up while idle.
// A reply is built when its turn comes, from what the daemon holds then. Flush() builds every
// waiting reply at once, in order; the bus service calls it before anything that changes what
// they answer, so that a call is never answered with a change made after a later call.
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

#include "ipc/sd_bus_handles.h"

namespace transportcertd {

class DeferredReplies {
 public:
  // Builds and sends the reply to `call` (or an error reply); returns a negative errno when
  // nothing could be sent, and then the call is answered with that errno.
  using Build = std::function<int(sd_bus_message* call)>;

  // `bus` is the connection the calls came on; it must outlive this object.
  DeferredReplies(uv_loop_t* loop, sd_bus* bus);
  ~DeferredReplies();
  DeferredReplies(const DeferredReplies&) = delete;
  DeferredReplies& operator=(const DeferredReplies&) = delete;

  // Keeps `call` (a reference is taken) until its turn.
  void Add(sd_bus_message* call, Build build);
  // Builds and sends every waiting reply now, oldest first.
  void Flush();
  // Drops what waits (the connection is closing) and closes the handles. Idempotent.
  void Stop();

  std::size_t waiting() const { return waiting_.size(); }

 private:
  static void OnCheck(uv_check_t* handle);
  // Builds the oldest waiting reply.
  void BuildOne();
  // Starts or stops the handles for what waits and what sd-bus still has to write.
  void Schedule();
  bool WriteQueueEmpty() const;

  sd_bus* bus_;
  std::deque<std::pair<SdBusMessagePtr, Build>> waiting_;
  uv_check_t* check_ = nullptr;
  uv_idle_t* idle_ = nullptr;
};

}  // namespace transportcertd
