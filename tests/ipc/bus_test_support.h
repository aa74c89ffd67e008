// Test support for the D-Bus tests: a private dbus-daemon, commands run the way an
// administrator runs them (busctl, optionally as `nobody`), client code on its own thread while
// the test thread runs the service's libuv loop, and small sd-bus client helpers.
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ipc/bus_names.h"
#include "ipc/sd_bus_handles.h"
#include "tests/support/temp_dir.h"

namespace transportcertd::testing {

using namespace std::chrono_literals;

// A started sd-bus connection on which no message is ever sent: sd-bus makes messages only on a
// started connection, so it is started on one end of a socket pair whose other end never
// answers. For tests of what builds and queues messages. Closed without a flush (the
// handshake would wait for the peer).
class UnansweredBus {
 public:
  UnansweredBus();
  ~UnansweredBus();
  UnansweredBus(const UnansweredBus&) = delete;
  UnansweredBus& operator=(const UnansweredBus&) = delete;

  sd_bus* get() const { return bus_; }

 private:
  sd_bus* bus_ = nullptr;
  int peer_ = -1;
};

// A private dbus-daemon (tests/ipc/test-bus.conf) listening in a temporary directory, stopped
// on destruction (and killed with the test process if that dies first). Every local user may
// connect.
class PrivateBus {
 public:
  PrivateBus();  // on failure: a test failure is recorded and address() is empty
  ~PrivateBus();
  PrivateBus(const PrivateBus&) = delete;
  PrivateBus& operator=(const PrivateBus&) = delete;

  const std::string& address() const { return address_; }
  // Stops the bus now (what a client sees when the bus goes away).
  void Kill();

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  std::string address_;
};

struct CommandResult {
  int exit_code = -1;  // -1: did not exit normally
  std::string out, err;
};

// Runs `argv` (looked up in PATH) with `extra_env` ("NAME=value") added to the environment,
// waits for it and returns its exit code and output. Blocking; safe from any thread.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env = {});

// `argv` run as nobody:nogroup without supplementary groups (setpriv; needs root).
std::vector<std::string> AsNobody(std::vector<std::string> argv);

// `busctl --address=ADDRESS args...`.
std::vector<std::string> Busctl(const std::string& address, std::vector<std::string> args);

// Runs `loop` until `condition()` holds or `timeout` passes; returns whether it holds.
bool PumpUntil(uv_loop_t* loop, const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = 30s);

// Client code on its own thread (with its own bus connections) while the test thread keeps
// running the service's loop: a synchronous call on the loop's thread could never be answered.
class ClientThread {
 public:
  ClientThread(uv_loop_t* loop, std::function<void()> body);
  ~ClientThread();  // Finish(), then join
  ClientThread(const ClientThread&) = delete;
  ClientThread& operator=(const ClientThread&) = delete;

  bool finished() const { return finished_; }
  // Runs the loop until the body has returned; false on timeout.
  bool Finish(std::chrono::milliseconds timeout = 30s);

 private:
  uv_loop_t* loop_;
  uv_async_t* wake_;  // freed in its close callback
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

// Runs `body` on a client thread and the loop until it has returned.
void RunClient(uv_loop_t* loop, const std::function<void()>& body);

// A new client connection to the bus at `address` (use it on one thread only).
SdBusPtr ConnectClient(const std::string& address);

// Processes what arrives on `client` (replies, signals, their callbacks) until `done` or
// `timeout`; true when done.
bool ProcessUntil(sd_bus* client, const std::function<bool()>& done,
                  std::chrono::milliseconds timeout);

struct CallResult {
  SdBusMessagePtr reply;  // on success
  std::string error_name, error_message;
  bool ok() const { return reply != nullptr; }
};

// Calls `method` of `interface` on `path` of org.transportcertd1; `types` and `args` as for
// sd_bus_call_method() (e.g. "sasb", thumbprint, 2, "SMTP", "IMAP", 1).
template <typename... Args>
CallResult CallMethod(sd_bus* bus, const char* path, const char* interface, const char* method,
                      const char* types, Args... args) {
  SdBusError error;
  sd_bus_message* reply = nullptr;
  CallResult result;
  if (sd_bus_call_method(bus, kBusName, path, interface, method, error.get(), &reply, types,
                         args...) >= 0) {
    result.reply.reset(reply);
  } else {
    result.error_name = error.name();
    result.error_message = error.message();
  }
  return result;
}

template <typename... Args>
CallResult CallManager(sd_bus* bus, const char* method, const char* types = nullptr, Args... args) {
  return CallMethod(bus, kManagerPath, kManagerInterface, method, types, args...);
}

// Reads a string / an array of strings from a reply (the next value).
std::string ReadString(sd_bus_message* message);
std::vector<std::string> ReadStrings(sd_bus_message* message);

// Properties of org.transportcertd1 objects; a failure is recorded as a test failure.
std::string GetStringProperty(sd_bus* bus, const std::string& path, const char* interface,
                              const char* name);
std::vector<std::string> GetStringsProperty(sd_bus* bus, const std::string& path,
                                            const char* interface, const char* name);
std::uint64_t GetU64Property(sd_bus* bus, const std::string& path, const char* interface,
                             const char* name);
std::uint32_t GetU32Property(sd_bus* bus, const std::string& path, const char* interface,
                             const char* name);
bool GetBoolProperty(sd_bus* bus, const std::string& path, const char* interface, const char* name);

}  // namespace transportcertd::testing
