#include "tests/ipc/bus_test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace transportcertd::testing {

UnansweredBus::UnansweredBus() {
  int fds[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) {
    ADD_FAILURE() << "socketpair: " << std::strerror(errno);
    return;
  }
  peer_ = fds[1];
  if (sd_bus_new(&bus_) < 0 || sd_bus_set_fd(bus_, fds[0], fds[0]) < 0 || sd_bus_start(bus_) < 0) {
    ADD_FAILURE() << "cannot start an sd-bus connection on a socket pair";
  }
}

UnansweredBus::~UnansweredBus() {
  if (bus_ != nullptr) sd_bus_close_unref(bus_);
  if (peer_ >= 0) close(peer_);
}
namespace {

// argv/envp as the exec family wants them; the strings stay owned by the vectors.
std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Reads `fds` until all of them are at EOF; appends to `outputs` (one per fd).
void ReadUntilEof(const std::vector<int>& fds, const std::vector<std::string*>& outputs,
                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<pollfd> polls;
  polls.reserve(fds.size());
  for (int fd : fds) polls.push_back(pollfd{fd, POLLIN, 0});
  std::size_t open = polls.size();
  while (open > 0 && std::chrono::steady_clock::now() < deadline) {
    if (poll(polls.data(), polls.size(), 100) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < polls.size(); ++i) {
      if (polls[i].fd < 0 || polls[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(polls[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        outputs[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        polls[i].fd = -1;
        --open;
      }
    }
  }
}

}  // namespace

PrivateBus::PrivateBus() {
  chmod(dir_.path().c_str(), 0755);  // `nobody` must reach the socket
  std::vector<std::string> argv = {
      "dbus-daemon", "--nofork", "--print-address=1",
      std::string("--config-file=") + TRANSPORTCERTD_IPC_TEST_DIR + "/test-bus.conf",
      "--address=unix:path=" + (dir_ / "bus")};
  std::vector<char*> args = CStrings(argv);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return;
  }
  // Its complaints (e.g. that it may not raise its fd limit) go to a log, shown on failure.
  const std::string log = dir_ / "dbus-daemon.log";
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], STDOUT_FILENO);
    if (log_fd >= 0) dup2(log_fd, STDERR_FILENO);
    execvp(args[0], args.data());
    _exit(127);
  }
  if (log_fd >= 0) close(log_fd);
  close(out[1]);
  std::string printed;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (printed.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buffer[512];
    const ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;
    printed.append(buffer, static_cast<std::size_t>(n));
  }
  close(out[0]);
  if (printed.find('\n') == std::string::npos) {
    ADD_FAILURE() << "dbus-daemon did not start (is it installed?): " << ReadWholeFile(log);
    Kill();
    return;
  }
  address_ = printed.substr(0, printed.find('\n'));
}

PrivateBus::~PrivateBus() { Kill(); }

void PrivateBus::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env) {
  CommandResult result;
  std::vector<std::string> arg_strings = argv;
  std::vector<char*> args = CStrings(arg_strings);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> env = CStrings(env_strings);

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    result.err = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  pid_t pid = -1;
  const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  close(err[1]);
  if (spawned != 0) {
    close(out[0]);
    close(err[0]);
    result.err = argv[0] + ": " + std::strerror(spawned);
    return result;
  }
  ReadUntilEof({out[0], err[0]}, {&result.out, &result.err}, 60s);
  close(out[0]);
  close(err[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::vector<std::string> AsNobody(std::vector<std::string> argv) {
  std::vector<std::string> wrapped = {"setpriv", "--reuid=nobody", "--regid=nogroup",
                                      "--clear-groups"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

std::vector<std::string> Busctl(const std::string& address, std::vector<std::string> args) {
  std::vector<std::string> argv = {"busctl", "--address=" + address};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

bool PumpUntil(uv_loop_t* loop, const std::function<bool()>& condition,
               std::chrono::milliseconds timeout) {
  // Wakes the loop now and then so that conditions other threads make true are seen.
  auto* waker = new uv_timer_t;
  uv_timer_init(loop, waker);
  uv_timer_start(
      waker, [](uv_timer_t*) {}, 10, 10);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool held = condition();
  while (!held && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_ONCE);
    held = condition();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(waker),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  uv_run(loop, UV_RUN_NOWAIT);
  return held;
}

ClientThread::ClientThread(uv_loop_t* loop, std::function<void()> body)
    : loop_(loop), wake_(new uv_async_t) {
  uv_async_init(loop_, wake_, [](uv_async_t*) {});
  thread_ = std::thread([this, body = std::move(body)] {
    body();
    finished_ = true;
    uv_async_send(wake_);
  });
}

ClientThread::~ClientThread() {
  EXPECT_TRUE(Finish()) << "a client thread did not finish";
  thread_.join();
  uv_close(reinterpret_cast<uv_handle_t*>(wake_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
  uv_run(loop_, UV_RUN_NOWAIT);
}

bool ClientThread::Finish(std::chrono::milliseconds timeout) {
  return PumpUntil(
      loop_, [this] { return finished_.load(); }, timeout);
}

void RunClient(uv_loop_t* loop, const std::function<void()>& body) {
  ClientThread client(loop, body);
  EXPECT_TRUE(client.Finish());
}

SdBusPtr ConnectClient(const std::string& address) {
  sd_bus* raw = nullptr;
  if (sd_bus_new(&raw) < 0) return nullptr;
  SdBusPtr bus(raw);
  if (sd_bus_set_address(raw, address.c_str()) < 0 || sd_bus_set_bus_client(raw, 1) < 0 ||
      sd_bus_set_method_call_timeout(raw, 20'000'000) < 0 || sd_bus_start(raw) < 0) {
    ADD_FAILURE() << "cannot connect a client to " << address;
    return nullptr;
  }
  return bus;
}

bool ProcessUntil(sd_bus* client, const std::function<bool()>& done,
                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (sd_bus_process(client, nullptr) > 0) continue;
    sd_bus_wait(client, 100'000);
  }
  return true;
}

std::string ReadString(sd_bus_message* message) {
  const char* text = nullptr;
  EXPECT_GT(sd_bus_message_read_basic(message, SD_BUS_TYPE_STRING, &text), 0);
  return text != nullptr ? text : "";
}

std::vector<std::string> ReadStrings(sd_bus_message* message) {
  std::vector<std::string> texts;
  EXPECT_GT(sd_bus_message_enter_container(message, SD_BUS_TYPE_ARRAY, "s"), 0);
  const char* text = nullptr;
  while (sd_bus_message_read_basic(message, SD_BUS_TYPE_STRING, &text) > 0) {
    texts.emplace_back(text);
  }
  EXPECT_GE(sd_bus_message_exit_container(message), 0);
  return texts;
}

std::string GetStringProperty(sd_bus* bus, const std::string& path, const char* interface,
                              const char* name) {
  SdBusError error;
  char* value = nullptr;
  if (sd_bus_get_property_string(bus, kBusName, path.c_str(), interface, name, error.get(),
                                 &value) < 0) {
    ADD_FAILURE() << "Get " << name << ": " << error.name() << ": " << error.message();
    return {};
  }
  std::string result = value;
  free(value);
  return result;
}

std::vector<std::string> GetStringsProperty(sd_bus* bus, const std::string& path,
                                            const char* interface, const char* name) {
  SdBusError error;
  char** values = nullptr;
  if (sd_bus_get_property_strv(bus, kBusName, path.c_str(), interface, name, error.get(), &values) <
      0) {
    ADD_FAILURE() << "Get " << name << ": " << error.name() << ": " << error.message();
    return {};
  }
  std::vector<std::string> result;
  for (char** v = values; v != nullptr && *v != nullptr; ++v) {
    result.emplace_back(*v);
    free(*v);
  }
  free(values);
  return result;
}

namespace {

template <typename T>
T GetTrivialProperty(sd_bus* bus, const std::string& path, const char* interface, const char* name,
                     char type) {
  SdBusError error;
  T value{};
  if (sd_bus_get_property_trivial(bus, kBusName, path.c_str(), interface, name, error.get(), type,
                                  &value) < 0) {
    ADD_FAILURE() << "Get " << name << ": " << error.name() << ": " << error.message();
  }
  return value;
}

}  // namespace

std::uint64_t GetU64Property(sd_bus* bus, const std::string& path, const char* interface,
                             const char* name) {
  return GetTrivialProperty<std::uint64_t>(bus, path, interface, name, SD_BUS_TYPE_UINT64);
}

std::uint32_t GetU32Property(sd_bus* bus, const std::string& path, const char* interface,
                             const char* name) {
  return GetTrivialProperty<std::uint32_t>(bus, path, interface, name, SD_BUS_TYPE_UINT32);
}

bool GetBoolProperty(sd_bus* bus, const std::string& path, const char* interface,
                     const char* name) {
  return GetTrivialProperty<int>(bus, path, interface, name, SD_BUS_TYPE_BOOLEAN) != 0;
}

}  // namespace transportcertd::testing
