// The real daemon on a private bus, driven the way an administrator drives it: busctl for every
// method, property and signal; dbus-send or an sd-bus client where the D-Bus error name matters
// (busctl prints only the message, and every AccessDenied as "Access denied").
// The daemon binary comes from TRANSPORTCERTD_DAEMON (set by tests/ipc/CMakeLists.txt).
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "ipc/bus_arguments.h"
#include "ipc/bus_names.h"
#include "tests/ipc/bus_test_support.h"
#include "tests/support/assertions.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using namespace std::chrono_literals;
using testing::AsNobody;
using testing::CallManager;
using testing::CallResult;
using testing::CertSpec;
using testing::CommandResult;
using testing::ConnectClient;
using testing::PrivateBus;
using testing::ReadString;
using testing::ReadWholeFile;
using testing::RunCommand;
using testing::TempDir;

constexpr std::int64_t kDay = 86400;
constexpr const char* kManager = "org.transportcertd1.Manager";

using testing::Contains;

std::string Lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The quoted strings of a busctl reply line, in order (`s "A" "B"` → {A, B}).
std::vector<std::string> QuotedStrings(const std::string& busctl_output) {
  std::vector<std::string> strings;
  std::size_t at = 0;
  while ((at = busctl_output.find('"', at)) != std::string::npos) {
    const std::size_t end = busctl_output.find('"', at + 1);
    if (end == std::string::npos) break;
    strings.push_back(busctl_output.substr(at + 1, end - at - 1));
    at = end + 1;
  }
  return strings;
}

class TheDaemonOnTheBus : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* binary = std::getenv("TRANSPORTCERTD_DAEMON");
    if (binary == nullptr || *binary == '\0' || access(binary, X_OK) != 0) {
      GTEST_SKIP() << "TRANSPORTCERTD_DAEMON does not name the daemon binary (ctest sets it)";
    }
    daemon_binary_ = binary;
    ASSERT_FALSE(bus_.address().empty());
    for (const char* dir : {"store", "state", "published"}) {
      ASSERT_EQ(mkdir((dir_ / dir).c_str(), 0700), 0);
    }
  }

  void TearDown() override { StopDaemon(); }

  // Writes the configuration (docs/configuration.md) with `extra` appended to [daemon] and
  // `monitor` as the [monitor] section (the test runner's group as admin_group unless it is root),
  // and starts the daemon on the private bus as the system bus. Returns when the daemon owns its
  // name and has an internal transport certificate.
  void StartDaemon(std::string extra = "", const std::string& monitor = "") {
    // Root may always change things; anyone else running the tests does so as admin_group.
    if (geteuid() != 0 && extra.find("admin_group") == std::string::npos) {
      const group* own = getgrgid(getegid());
      ASSERT_NE(own, nullptr) << "the test runner's group has no name";
      extra += std::string("admin_group = ") + own->gr_name + "\n";
    }
    const std::string config = dir_.Write(
        "transportcertd.conf",
        "[daemon]\nfqdn = mail.example.com\nstore = " + (dir_ / "store") +
            "\nstate = " + (dir_ / "state") + "\n" + extra + "\n[monitor]\n" + monitor +
            "\n[selfsigned]\nkey = ec:P-256\n\n[publish]\ndir = " + (dir_ / "published") + "\n");
    std::vector<std::string> argv = {daemon_binary_, "--config",     config,   "--bus",
                                     "system",       "--log-target", "console"};
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    const std::string log = dir_ / "daemon.log";
    const std::string address = "DBUS_SYSTEM_BUS_ADDRESS=" + bus_.address();
    const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(log_fd, 0);
    daemon_pid_ = fork();
    if (daemon_pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
      putenv(const_cast<char*>(address.c_str()));
      unsetenv("NOTIFY_SOCKET");
      execv(args[0], args.data());
      _exit(127);
    }
    close(log_fd);

    client_ = ConnectClient(bus_.address());
    ASSERT_TRUE(client_);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(daemon_pid_, &status, WNOHANG) == daemon_pid_) {
        daemon_pid_ = -1;
        FAIL() << "the daemon exited at start:\n" << ReadWholeFile(log);
      }
      if (NameHasOwner() && !InternalTransport().empty()) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the daemon did not come up on the bus:\n" << ReadWholeFile(log);
  }

  void StopDaemon() {
    client_.reset();
    if (daemon_pid_ <= 0) return;
    kill(daemon_pid_, SIGTERM);
    int status = 0;
    waitpid(daemon_pid_, &status, 0);
    daemon_pid_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "the daemon did not stop cleanly:\n"
        << ReadWholeFile(dir_ / "daemon.log");
  }

  bool NameHasOwner() {
    SdBusError error;
    sd_bus_message* raw = nullptr;
    if (sd_bus_call_method(client_.get(), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "NameHasOwner", error.get(), &raw, "s",
                           kBusName) < 0) {
      return false;
    }
    const SdBusMessagePtr reply(raw);
    int has_owner = 0;
    return sd_bus_message_read(raw, "b", &has_owner) > 0 && has_owner != 0;
  }

  std::string InternalTransport() {
    SdBusError error;
    char* value = nullptr;
    if (sd_bus_get_property_string(client_.get(), kBusName, kManagerPath, kManager,
                                   "InternalTransportCertificate", error.get(), &value) < 0) {
      return {};
    }
    std::string thumbprint = value;
    free(value);
    return thumbprint;
  }

  // Puts a certificate (and its key unless `with_key` is false) into the store.
  std::string Put(const CertSpec& spec, bool with_key = true) {
    const testing::TestCert made = testing::MakeCertificate(spec);
    dir_.Write("store/" + made.thumbprint + ".crt", made.cert_pem);
    if (with_key) dir_.Write("store/" + made.thumbprint + ".key", made.key_pem, 0600);
    return made.thumbprint;
  }

  CommandResult Busctl(std::vector<std::string> args) {
    return RunCommand(testing::Busctl(bus_.address(), std::move(args)));
  }

  // busctl call org.transportcertd1 /org/transportcertd1 org.transportcertd1.Manager METHOD ...
  CommandResult BusctlCall(const std::string& method, std::vector<std::string> args = {}) {
    std::vector<std::string> call = {"call", kBusName, kManagerPath, kManager, method};
    call.insert(call.end(), args.begin(), args.end());
    return Busctl(std::move(call));
  }

  CommandResult BusctlGet(const std::string& path, const char* interface, const char* property) {
    return Busctl({"get-property", kBusName, path, interface, property});
  }

  // dbus-send with its typed arguments: prints "Error NAME: MESSAGE" when refused.
  std::vector<std::string> DbusSend(const std::string& method, std::vector<std::string> args) {
    std::vector<std::string> argv = {"dbus-send",     "--bus=" + bus_.address(),
                                     "--print-reply", std::string("--dest=") + kBusName,
                                     kManagerPath,    std::string(kManager) + "." + method};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // Signals from org.transportcertd1 seen by `client_` since Subscribe(), one line each.
  void Subscribe() {
    sd_bus_slot* raw = nullptr;
    ASSERT_GE(sd_bus_add_match(client_.get(), &raw, "type='signal',sender='org.transportcertd1'",
                               &OnSignal, &signals_),
              0);
    match_.reset(raw);
  }

  // Processes the client connection until every line in `expected` starts one of the signals
  // seen, or `timeout` passed; returns what was seen.
  std::vector<std::string> SignalsUntilSeen(const std::vector<std::string>& expected,
                                            std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto all_seen = [&] {
      return std::all_of(expected.begin(), expected.end(), [&](const std::string& prefix) {
        return AnyStartsWith(signals_, prefix);
      });
    };
    while (!all_seen() && std::chrono::steady_clock::now() < deadline) {
      if (sd_bus_process(client_.get(), nullptr) > 0) continue;
      sd_bus_wait(client_.get(), 100'000);
    }
    EXPECT_TRUE(all_seen()) << "expected " << ::testing::PrintToString(expected) << ", saw "
                            << ::testing::PrintToString(signals_);
    return signals_;
  }

  static int OnSignal(sd_bus_message* m, void* userdata, sd_bus_error* /*error*/) {
    std::string line = std::string(sd_bus_message_get_member(m)) + " " + sd_bus_message_get_path(m);
    const char* first = nullptr;
    if (sd_bus_message_peek_type(m, nullptr, nullptr) > 0) {
      char type = 0;
      sd_bus_message_peek_type(m, &type, nullptr);
      if ((type == SD_BUS_TYPE_STRING || type == SD_BUS_TYPE_OBJECT_PATH) &&
          sd_bus_message_read_basic(m, type, &first) > 0) {
        line += std::string(" ") + first;
      }
    }
    if (std::string(sd_bus_message_get_member(m)) == "CertificateExpiring") {
      const char* subject = nullptr;
      std::uint64_t not_after = 0;
      const char* threshold = nullptr;
      sd_bus_message_read(m, "sts", &subject, &not_after, &threshold);
      line += std::string(" ") + threshold;
    } else if (std::string(sd_bus_message_get_member(m)) == "InternalTransportCertificateChanged") {
      line += " " + ReadString(m);
    } else if (std::string(sd_bus_message_get_member(m)) == "PropertiesChanged") {
      sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
      while (sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv") > 0) {
        line += " " + ReadString(m);
        sd_bus_message_skip(m, "v");
        sd_bus_message_exit_container(m);
      }
    }
    static_cast<std::vector<std::string>*>(userdata)->push_back(line);
    return 0;
  }

  static bool AnyStartsWith(const std::vector<std::string>& lines, const std::string& prefix) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& line) { return line.rfind(prefix, 0) == 0; });
  }

  PrivateBus bus_;
  TempDir dir_;
  std::string daemon_binary_;
  pid_t daemon_pid_ = -1;
  SdBusPtr client_;
  SdBusSlotPtr match_;
  std::vector<std::string> signals_;
};

TEST_F(TheDaemonOnTheBus, AnswersEveryMethodAndPropertyFromBusctl) {
  const std::string mine = Put(CertSpec{});
  StartDaemon();
  const std::string generated = InternalTransport();
  const std::string mine_path = CertificateObjectPath(mine);

  // Reading.
  CommandResult r = BusctlCall("ListCertificates");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "a(sssasttassbbbo) 2 "));
  EXPECT_TRUE(Contains(r.out, "\"" + mine +
                                  "\" \"CN=mail.example.com\" \"CN=mail.example.com\" 1 "
                                  "\"mail.example.com\""));
  EXPECT_TRUE(Contains(r.out, "1 \"SMTP\" \"Valid\" true true false \"" + mine_path + "\""));
  EXPECT_TRUE(Contains(r.out, "true true true \"" + CertificateObjectPath(generated) + "\""));

  r = BusctlCall("GetCertificate", {"s", Lowercase(mine)});
  EXPECT_EQ(r.out, "o \"" + mine_path + "\"\n") << r.err;

  r = BusctlCall("SelectCertificate", {"ss", "mail.example.com", "SMTP"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> selected = QuotedStrings(r.out);
  ASSERT_EQ(selected.size(), 2U) << r.out;
  EXPECT_TRUE(selected[0] == mine || selected[0] == generated) << r.out;
  EXPECT_TRUE(Contains(selected[1], "exact name match, valid until"));

  r = BusctlCall("ExplainSelection", {"ss", "mail.example.com", "SMTP"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "a(sss) 2 "));
  EXPECT_TRUE(Contains(r.out, "\"selected\""));
  EXPECT_TRUE(Contains(r.out, "\"eligible\""));

  r = BusctlCall("ExplainSelection", {"ss", "mail.example.com", "IMAP"});
  EXPECT_TRUE(Contains(r.out, "\"ineligible\" \"not enabled for IMAP\"")) << r.out;

  // Properties.
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "Fqdn").out, "s \"mail.example.com\"\n");
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "StorePath").out, "s \"" + (dir_ / "store") + "\"\n");
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "CertificateCount").out, "u 2\n");
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "InternalTransportCertificate").out,
            "s \"" + generated + "\"\n");
  EXPECT_TRUE(Contains(BusctlGet(kManagerPath, kManager, "NextExpiry").out, "t "));
  EXPECT_TRUE(Contains(BusctlGet(kManagerPath, kManager, "Version").out, "s \"0."));
  r = Busctl({"introspect", kBusName, mine_path, kCertificateInterface});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* property :
       {".Domains", ".Files", ".HasPrivateKey", ".IsInternalTransport", ".IsSelfSigned", ".Issuer",
        ".KeyAlgorithm", ".KeyBits", ".NotAfter", ".NotBefore", ".SerialNumber", ".Services",
        ".Sha256Fingerprint", ".Status", ".Subject", ".Thumbprint"}) {
    EXPECT_TRUE(Contains(r.out, property));
  }
  EXPECT_EQ(BusctlGet(mine_path, kCertificateInterface, "Status").out, "s \"Valid\"\n");
  EXPECT_EQ(BusctlGet(mine_path, kCertificateInterface, "KeyBits").out, "u 256\n");

  r = Busctl({"tree", "--list", kBusName});
  EXPECT_TRUE(Contains(r.out, mine_path));
  EXPECT_TRUE(Contains(r.out, CertificateObjectPath(generated)));

  // Changing.
  r = BusctlCall("EnableCertificate", {"sasb", mine, "2", "IMAP", "POP", "false"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(BusctlGet(mine_path, kCertificateInterface, "Services").out,
            "as 3 \"SMTP\" \"IMAP\" \"POP\"\n");
  r = BusctlCall("DisableCertificate", {"sas", mine, "2", "SMTP", "POP"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(BusctlGet(mine_path, kCertificateInterface, "Services").out, "as 1 \"IMAP\"\n");

  const testing::TestCert imported = testing::MakeCertificate(CertSpec{});
  r = BusctlCall("ImportCertificate",
                 {"--", "sas", imported.cert_pem + imported.key_pem, "1", "HTTP"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "s \"" + imported.thumbprint + "\"\n");
  EXPECT_EQ(
      BusctlGet(CertificateObjectPath(imported.thumbprint), kCertificateInterface, "Services").out,
      "as 1 \"HTTP\"\n");

  r = BusctlCall("NewSelfSignedCertificate", {"as", "1", "relay.example.com"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> created = QuotedStrings(r.out);
  ASSERT_EQ(created.size(), 1U) << r.out;
  EXPECT_EQ(InternalTransport(), created[0]);
  EXPECT_TRUE(
      Contains(BusctlGet(CertificateObjectPath(created[0]), kCertificateInterface, "Domains").out,
               "\"relay.example.com\""));

  r = BusctlCall("RenewInternalTransportCertificate");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> renewed = QuotedStrings(r.out);
  ASSERT_EQ(renewed.size(), 1U) << r.out;
  EXPECT_NE(renewed[0], created[0]);
  EXPECT_EQ(InternalTransport(), renewed[0]);

  r = BusctlCall("RemoveCertificate", {"s", generated});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = BusctlCall("Reload");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "CertificateCount").out, "u 4\n");
}

TEST_F(TheDaemonOnTheBus, RejectsMalformedArgumentsWithInvalidArgs) {
  StartDaemon();
  for (const std::vector<std::string>& call : std::vector<std::vector<std::string>>{
           {"GetCertificate", "string:../../../../etc/passwd"},
           {"RemoveCertificate", "string:3BA4"},
           {"SelectCertificate", "string:mail.example.com", "string:FTP"},
           {"ExplainSelection", "string:*.example.com", "string:SMTP"},
           {"EnableCertificate", "string:" + std::string(40, 'A'), "array:string:SMTP,XMPP",
            "boolean:false"},
           {"NewSelfSignedCertificate", "array:string:bad name"},
           {"ImportCertificate", "string:-----BEGIN CERTIFICATE-----", "array:string:SMTP"}}) {
    const CommandResult r = RunCommand(DbusSend(call[0], {call.begin() + 1, call.end()}));
    EXPECT_TRUE(Contains(r.err, "Error org.freedesktop.DBus.Error.InvalidArgs: ")) << call[0];
  }
  const CommandResult unknown =
      RunCommand(DbusSend("GetCertificate", {"string:" + std::string(40, 'A')}));
  EXPECT_TRUE(Contains(unknown.err, "Error org.transportcertd1.Error.NoSuchCertificate: "));
}

namespace {

// Strings a careless or hostile caller might send for a thumbprint, a host name or a service:
// empty, 64 KiB, path traversal, and NUL-free Unicode that looks like a name (bidi and
// zero-width marks, emoji, combining characters, punycode-looking labels, fullwidth dots).
std::vector<std::string> OddStrings() {
  return {"",
          std::string(kMaxStringArgumentBytes, 'A'),
          std::string(kMaxStringArgumentBytes + 1, 'a'),
          "../" + std::string(37, 'A'),
          "../../../../etc/passwd",
          "..%2F..%2Fetc%2Fpasswd",
          std::string(39, 'A') + "\u200F",  // right-to-left mark
          "\u202Emoc.elpmaxe.liam",         // right-to-left override
          "ma\u200Dil.example.com",         // zero-width joiner
          "\U0001F61C.example.com",         // emoji
          "e\u0301xample.com",              // combining acute accent
          "xn--.example.com",               // punycode-looking, empty
          "xn--\U0001F61C.example.com",     // punycode prefix + emoji
          "xn--mail-.example.com",          // ends with a hyphen
          "mail\uFF0Eexample\uFF0Ecom",     // fullwidth full stops
          "mail\u3002example\u3002com",     // ideographic full stops
          "\uFF33\uFF2D\uFF34\uFF30",       // fullwidth SMTP
          "SMTP\u200D",                     // SMTP + zero-width joiner
          "\uFEFFSMTP",                     // byte order mark + SMTP
          "S\u0301MTP",                     // combining accent
          "SMTP ",
          "SMTP,IMAP",
          "FTP",
          "*.example.com"};
}

// True when `text` has only letters, digits, dots and hyphens: a name somebody may mean.
bool IsPlainLdh(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-';
  });
}

// An error the contract allows for malformed input: InvalidArgs or one of our named errors.
bool IsContractError(const std::string& name) {
  return name == "org.freedesktop.DBus.Error.InvalidArgs" ||
         name.rfind("org.transportcertd1.Error.", 0) == 0;
}

}  // namespace

class TheDaemonGivenBadArguments : public TheDaemonOnTheBus {
 protected:
  // An `as` argument.
  struct Strings {
    std::vector<std::string> values;
  };
  using Argument = std::variant<std::string, Strings, bool, std::uint32_t>;

  // Calls `method` with `args` (built by hand, so any size and type goes), waiting up to 60 s.
  CallResult Call(const std::string& method, const std::vector<Argument>& args) {
    sd_bus_message* raw = nullptr;
    CallResult result;
    if (sd_bus_message_new_method_call(client_.get(), &raw, kBusName, kManagerPath, kManager,
                                       method.c_str()) < 0) {
      result.error_name = "cannot build the call";
      return result;
    }
    const SdBusMessagePtr call(raw);
    for (const Argument& arg : args) {
      int r = 0;
      if (const auto* text = std::get_if<std::string>(&arg)) {
        r = sd_bus_message_append_basic(call.get(), SD_BUS_TYPE_STRING, text->c_str());
      } else if (const auto* list = std::get_if<Strings>(&arg)) {
        r = sd_bus_message_open_container(call.get(), SD_BUS_TYPE_ARRAY, "s");
        for (const std::string& entry : list->values) {
          if (r >= 0) {
            r = sd_bus_message_append_basic(call.get(), SD_BUS_TYPE_STRING, entry.c_str());
          }
        }
        if (r >= 0) r = sd_bus_message_close_container(call.get());
      } else if (const auto* flag = std::get_if<bool>(&arg)) {
        const int value = *flag ? 1 : 0;
        r = sd_bus_message_append_basic(call.get(), SD_BUS_TYPE_BOOLEAN, &value);
      } else {
        r = sd_bus_message_append_basic(call.get(), SD_BUS_TYPE_UINT32,
                                        &std::get<std::uint32_t>(arg));
      }
      if (r < 0) {
        result.error_name = "cannot build the call";
        return result;
      }
    }
    SdBusError error;
    sd_bus_message* reply = nullptr;
    constexpr std::uint64_t kTimeoutUsec = 60'000'000;
    if (sd_bus_call(client_.get(), call.get(), kTimeoutUsec, error.get(), &reply) >= 0) {
      result.reply.reset(reply);
    } else {
      result.error_name = error.name();
      result.error_message = error.message();
    }
    return result;
  }

  // `method(args)` is refused with InvalidArgs or a named org.transportcertd1.Error.
  void ExpectRefused(const std::string& method, const std::vector<Argument>& args,
                     const std::string& what) {
    const CallResult r = Call(method, args);
    EXPECT_FALSE(r.ok()) << method << " accepted " << what;
    EXPECT_TRUE(IsContractError(r.error_name))
        << method << " with " << what << ": " << r.error_name << ": " << r.error_message;
    ++calls_;
  }

  // The daemon is still there and answers.
  void ExpectStillAnswering() {
    int status = 0;
    ASSERT_EQ(waitpid(daemon_pid_, &status, WNOHANG), 0) << "the daemon died:\n"
                                                         << ReadWholeFile(dir_ / "daemon.log");
    const CallResult list = Call("ListCertificates", {});
    EXPECT_TRUE(list.ok()) << list.error_name << ": " << list.error_message;
  }

  static std::string Describe(const std::string& text) {
    if (text.size() > 80) return std::to_string(text.size()) + " bytes";
    return "\"" + text + "\"";
  }

  int calls_ = 0;
};

TEST_F(TheDaemonGivenBadArguments, RefusesEveryOddStringInEveryArgumentByName) {
  const std::string mine = Put(CertSpec{});
  StartDaemon();
  const testing::TestCert importable = testing::MakeCertificate(CertSpec{});
  const std::string pem = importable.cert_pem + importable.key_pem;
  const Strings smtp{{"SMTP"}};

  for (const std::string& odd : OddStrings()) {
    const std::string what = Describe(odd);
    for (const char* method : {"GetCertificate", "RemoveCertificate"}) {
      ExpectRefused(method, {odd}, "thumbprint " + what);
    }
    ExpectRefused("EnableCertificate", {odd, smtp, false}, "thumbprint " + what);
    ExpectRefused("EnableCertificate", {odd, smtp, true}, "thumbprint " + what);
    ExpectRefused("EnableCertificate", {mine, Strings{{odd}}, false}, "service " + what);
    ExpectRefused("EnableCertificate", {mine, Strings{{"SMTP", odd}}, true}, "service " + what);
    ExpectRefused("DisableCertificate", {odd, smtp}, "thumbprint " + what);
    ExpectRefused("DisableCertificate", {mine, Strings{{odd}}}, "service " + what);
    for (const char* method : {"SelectCertificate", "ExplainSelection"}) {
      ExpectRefused(method, {std::string("mail.example.com"), odd}, "service " + what);
      // A plain LDH name is a valid host name (answered below); anything else is refused.
      if (!IsPlainLdh(odd)) ExpectRefused(method, {odd, std::string("SMTP")}, "host name " + what);
    }
    ExpectRefused("ImportCertificate", {odd, smtp}, "PEM " + what);
    ExpectRefused("ImportCertificate", {pem, Strings{{odd}}}, "service " + what);
    if (!IsPlainLdh(odd)) {
      ExpectRefused("NewSelfSignedCertificate", {Strings{{odd}}}, "name " + what);
      ExpectRefused("NewSelfSignedCertificate", {Strings{{"relay.example.com", odd}}},
                    "name " + what);
    }
  }
  // Valid LDH names (punycode-looking ones too) that match no certificate are answered: with
  // the named error by SelectCertificate, with every certificate ineligible by ExplainSelection.
  for (const char* name : {"xn--ls8h.example.com", "FTP", "xn--mail.example.com"}) {
    const CallResult r = Call("SelectCertificate", {std::string(name), std::string("SMTP")});
    EXPECT_EQ(r.error_name, kErrorNoCertificate) << name << ": " << r.error_message;
    const CallResult explained = Call("ExplainSelection", {std::string(name), std::string("SMTP")});
    EXPECT_TRUE(explained.ok()) << name << ": " << explained.error_message;
  }
  ExpectStillAnswering();
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "CertificateCount").out, "u 2\n")
      << "nothing was imported, created or removed after " << calls_ << " calls";
}

TEST_F(TheDaemonGivenBadArguments, RefusesEmptyAndHugeListsAndWrongTypes) {
  const std::string mine = Put(CertSpec{});
  StartDaemon();
  const testing::TestCert importable = testing::MakeCertificate(CertSpec{});
  const std::string pem = importable.cert_pem + importable.key_pem;
  const Strings none{};
  const Strings many_services{std::vector<std::string>(10'000, "SMTP")};
  const Strings many_names{std::vector<std::string>(10'000, "relay.example.com")};

  ExpectRefused("EnableCertificate", {mine, none, false}, "no services");
  ExpectRefused("DisableCertificate", {mine, none}, "no services");
  ExpectRefused("ImportCertificate", {std::string("garbage"), none}, "garbage and no services");
  ExpectRefused("EnableCertificate", {mine, many_services, false}, "10,000 services");
  ExpectRefused("DisableCertificate", {mine, many_services}, "10,000 services");
  ExpectRefused("ImportCertificate", {pem, many_services}, "10,000 services");
  ExpectRefused("NewSelfSignedCertificate", {many_names}, "10,000 names");
  ExpectRefused("ImportCertificate", {std::string(kMaxPemArgumentBytes + 1, 'A'), none},
                "a PEM over 1 MiB");
  ExpectRefused("ImportCertificate", {std::string(kMaxStringArgumentBytes, '-'), none},
                "64 KiB of dashes");

  // Wrong or missing types are refused by the vtable's signature check.
  ExpectRefused("GetCertificate", {std::uint32_t{7}}, "a number");
  ExpectRefused("GetCertificate", {}, "no argument");
  ExpectRefused("EnableCertificate", {mine, Strings{{"SMTP"}}}, "no flag");
  ExpectRefused("SelectCertificate", {std::string("mail.example.com")}, "no service");
  ExpectRefused("Reload", {std::string("now")}, "an argument to a method that takes none");
  ExpectRefused("RenewInternalTransportCertificate", {Strings{{"x"}}}, "an argument");
  ExpectRefused("ListCertificates", {false}, "an argument");

  ExpectStillAnswering();
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "CertificateCount").out, "u 2\n");
}

TEST_F(TheDaemonGivenBadArguments, AcceptsThumbprintsAndServicesInAnyCase) {
  const std::string mine = Put(CertSpec{});
  const std::string removable = Put(CertSpec{});
  StartDaemon();
  std::string mixed = mine;
  for (std::size_t i = 0; i < mixed.size(); i += 2) {
    mixed[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(mixed[i])));
  }

  CallResult r = Call("GetCertificate", {Lowercase(mine)});
  ASSERT_TRUE(r.ok()) << r.error_name << ": " << r.error_message;
  r = Call("GetCertificate", {mixed});
  ASSERT_TRUE(r.ok()) << r.error_name << ": " << r.error_message;
  r = Call("EnableCertificate", {Lowercase(mine), Strings{{"imap", "Pop"}}, false});
  EXPECT_TRUE(r.ok()) << r.error_name << ": " << r.error_message;
  r = Call("DisableCertificate", {mixed, Strings{{"pOP"}}});
  EXPECT_TRUE(r.ok()) << r.error_name << ": " << r.error_message;
  EXPECT_EQ(BusctlGet(CertificateObjectPath(mine), kCertificateInterface, "Services").out,
            "as 2 \"SMTP\" \"IMAP\"\n");
  r = Call("SelectCertificate", {std::string("MAIL.Example.COM."), std::string("smtp")});
  EXPECT_TRUE(r.ok()) << r.error_name << ": " << r.error_message;
  r = Call("ExplainSelection", {std::string("mail.example.com"), std::string("Imap")});
  EXPECT_TRUE(r.ok()) << r.error_name << ": " << r.error_message;
  r = Call("RemoveCertificate", {Lowercase(removable)});
  EXPECT_TRUE(r.ok()) << r.error_name << ": " << r.error_message;
  // A thumbprint of a certificate that is not there, in any case: the named error.
  r = Call("GetCertificate", {Lowercase(removable)});
  EXPECT_EQ(r.error_name, kErrorNoSuchCertificate) << r.error_message;
  // An empty list of names means the defaults (docs/dbus-api.md, NewSelfSignedCertificate).
  r = Call("NewSelfSignedCertificate", {Strings{}});
  EXPECT_TRUE(r.ok()) << r.error_name << ": " << r.error_message;
  ExpectStillAnswering();
}

TEST_F(TheDaemonOnTheBus, TellsTheExchangeStoryOfTheInternalTransportCertificate) {
  StartDaemon();
  const std::string old_one = InternalTransport();

  // Removing the internal transport certificate is refused, with what to do instead.
  CommandResult r = BusctlCall("RemoveCertificate", {"s", old_one});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "internal transport certificate")) << r.err;
  CallResult refused = CallManager(client_.get(), "RemoveCertificate", "s", old_one.c_str());
  EXPECT_EQ(refused.error_name, kErrorInternalTransportCertificate) << refused.error_message;

  // A new certificate becomes the internal transport certificate by itself...
  r = BusctlCall("NewSelfSignedCertificate", {"as", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string new_one = QuotedStrings(r.out).at(0);
  EXPECT_NE(new_one, old_one);
  EXPECT_EQ(InternalTransport(), new_one);
  EXPECT_EQ(
      BusctlGet(CertificateObjectPath(old_one), kCertificateInterface, "IsInternalTransport").out,
      "b false\n");

  // ...and then the old one can be removed.
  r = BusctlCall("RemoveCertificate", {"s", old_one});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = BusctlCall("GetCertificate", {"s", old_one});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(Contains(Busctl({"tree", "--list", kBusName}).out, old_one));
}

TEST_F(TheDaemonOnTheBus, SelectsAValidSelfSignedCertificateOverAnExpiredCaIssuedOne) {
  const testing::TestCert ca = testing::MakeCa("Example Issuing CA");
  CertSpec expired;
  expired.issuer = &ca;
  expired.not_before_offset = -400 * kDay;
  expired.not_after_offset = -20 * kDay;
  const std::string ca_issued = Put(expired);
  StartDaemon();
  const std::string self_signed = InternalTransport();

  CommandResult r = BusctlCall("SelectCertificate", {"ss", "mail.example.com", "SMTP"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> selected = QuotedStrings(r.out);
  ASSERT_EQ(selected.size(), 2U);
  EXPECT_EQ(selected[0], self_signed);
  EXPECT_TRUE(Contains(selected[1], "self-signed"));

  r = BusctlCall("ExplainSelection", {"ss", "mail.example.com", "SMTP"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // busctl shows the "…" after the abbreviated thumbprint as octal escapes.
  EXPECT_TRUE(Contains(
      r.out, "\"" + ca_issued + "\" \"eligible\" \"outranked by " + self_signed.substr(0, 8)));
  EXPECT_TRUE(Contains(r.out, ": valid beats expired (expired ")) << r.out;
  EXPECT_EQ(BusctlGet(CertificateObjectPath(ca_issued), kCertificateInterface, "Status").out,
            "s \"Expired\"\n");
}

TEST_F(TheDaemonOnTheBus, RefusesEveryChangeToAnUnprivilegedCallerWhoCanStillRead) {
  if (geteuid() != 0) GTEST_SKIP() << "calling as nobody needs root";
  const std::string mine = Put(CertSpec{});
  StartDaemon();
  const std::string internal = InternalTransport();

  const std::vector<std::vector<std::string>> changes = {
      {"EnableCertificate", "string:" + mine, "array:string:IMAP", "boolean:false"},
      {"DisableCertificate", "string:" + mine, "array:string:SMTP"},
      {"NewSelfSignedCertificate", "array:string:relay.example.com"},
      {"ImportCertificate", "string:" + testing::MakeCertificate(CertSpec{}).cert_pem,
       "array:string:SMTP"},
      {"RemoveCertificate", "string:" + mine},
      {"RenewInternalTransportCertificate"},
      {"Reload"}};
  for (const std::vector<std::string>& change : changes) {
    const CommandResult r =
        RunCommand(AsNobody(DbusSend(change[0], {change.begin() + 1, change.end()})));
    EXPECT_EQ(r.err, "Error org.freedesktop.DBus.Error.AccessDenied: only root may call " +
                         change[0] + " (no admin_group is configured); the caller is uid 65534\n");
  }
  const CommandResult busctl = RunCommand(AsNobody(
      testing::Busctl(bus_.address(), {"call", kBusName, kManagerPath, kManager, "Reload"})));
  EXPECT_EQ(busctl.exit_code, 1);
  EXPECT_EQ(busctl.err, "Call failed: Access denied\n");

  // Nothing changed, and reading is open.
  EXPECT_EQ(InternalTransport(), internal);
  const CommandResult list = RunCommand(AsNobody(testing::Busctl(
      bus_.address(), {"call", kBusName, kManagerPath, kManager, "ListCertificates"})));
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(Contains(list.out, "a(sssasttassbbbo) 2 "));
  const CommandResult select = RunCommand(AsNobody(
      testing::Busctl(bus_.address(), {"call", kBusName, kManagerPath, kManager,
                                       "SelectCertificate", "ss", "mail.example.com", "SMTP"})));
  EXPECT_EQ(select.exit_code, 0) << select.err;
  const CommandResult services = RunCommand(AsNobody(testing::Busctl(
      bus_.address(),
      {"get-property", kBusName, CertificateObjectPath(mine), kCertificateInterface, "Services"})));
  EXPECT_EQ(services.out, "as 1 \"SMTP\"\n") << services.err;
  const CommandResult tree =
      RunCommand(AsNobody(testing::Busctl(bus_.address(), {"tree", "--list", kBusName})));
  EXPECT_TRUE(Contains(tree.out, CertificateObjectPath(mine))) << tree.err;
}

TEST_F(TheDaemonOnTheBus, LetsTheAdminGroupChangeThings) {
  if (geteuid() != 0) GTEST_SKIP() << "calling as nobody needs root";
  StartDaemon("admin_group = nogroup\n");
  const CommandResult r = RunCommand(AsNobody(
      testing::Busctl(bus_.address(), {"call", kBusName, kManagerPath, kManager, "Reload"})));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(TheDaemonOnTheBus, AnnouncesANewInternalTransportCertificate) {
  StartDaemon();
  const std::string old_one = InternalTransport();
  Subscribe();
  const CommandResult r = BusctlCall("NewSelfSignedCertificate", {"as", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string new_one = QuotedStrings(r.out).at(0);

  SignalsUntilSeen(
      {"InterfacesAdded /org/transportcertd1 " + CertificateObjectPath(new_one),
       "InternalTransportCertificateChanged /org/transportcertd1 " + old_one + " " + new_one,
       "PropertiesChanged /org/transportcertd1 " + std::string(kManager) +
           " InternalTransportCertificate"});
}

TEST_F(TheDaemonOnTheBus, ListsPublishedNamesAndVerifyEndpointsAndFollowsReload) {
  StartDaemon();
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "PublishedNames").out, "as 0\n");
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "MetricsTextfile").out, "s \"\"\n");
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "VerifyEndpoints").out,
            "as 7 \"25/smtp\" \"587/smtp\" \"465/smtps\" \"143/imap\" \"993/imaps\" "
            "\"110/pop3\" \"995/pop3s\"\n");

  std::ifstream in(dir_ / "transportcertd.conf");
  std::stringstream text;
  text << in.rdbuf();
  dir_.Write("transportcertd.conf", text.str() +
                                        "names = smtp.example.com imap.example.com\n\n"
                                        "[verify]\nendpoints = 25/smtp 993/imaps\n\n"
                                        "[metrics]\ntextfile = " +
                                        (dir_ / "transportcertd.prom") + "\n");
  Subscribe();
  const CommandResult r = BusctlCall("Reload");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  SignalsUntilSeen({"PropertiesChanged /org/transportcertd1 " + std::string(kManager) +
                    " PublishedNames VerifyEndpoints MetricsTextfile"});
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "PublishedNames").out,
            "as 2 \"smtp.example.com\" \"imap.example.com\"\n");
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "VerifyEndpoints").out,
            "as 2 \"25/smtp\" \"993/imaps\"\n");
  EXPECT_EQ(BusctlGet(kManagerPath, kManager, "MetricsTextfile").out,
            "s \"" + (dir_ / "transportcertd.prom") + "\"\n");
}

TEST_F(TheDaemonOnTheBus, SignalsACertificateExpiringAndThenExpired) {
  CertSpec short_lived;
  short_lived.cn = "short.example.com";
  short_lived.dns_names = {"short.example.com"};
  short_lived.not_after_offset = 12;  // seconds from now
  const std::string thumbprint = Put(short_lived);
  StartDaemon("", "warn_before = 6s\n");  // crossed about 6 s from now, after the start
  Subscribe();

  SignalsUntilSeen({"CertificateExpiring /org/transportcertd1 " + thumbprint + " 6s",
                    "CertificateExpired /org/transportcertd1 " + thumbprint},
                   25s);
}

}  // namespace
}  // namespace transportcertd
