// BusService against a real (private) dbus-daemon: the service runs in a libuv loop on the test
// thread, clients call it from their own threads (sd-bus) or processes (busctl, as root or as
// nobody), exactly as docs/dbus-api.md says they may.
#include "ipc/bus_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ipc/bus_names.h"
#include "ipc/certificate_rows.h"
#include "tests/ipc/bus_test_support.h"
#include "tests/ipc/test_backend.h"
#include "tests/support/assertions.h"
#include "transportcertd_version.h"

namespace transportcertd {
namespace {

using namespace std::chrono_literals;
using testing::AsNobody;
using testing::Busctl;
using testing::CallManager;
using testing::CallMethod;
using testing::CallResult;
using testing::CertSpec;
using testing::ClientThread;
using testing::CommandResult;
using testing::ConnectClient;
using testing::PrivateBus;
using testing::ProcessUntil;
using testing::PumpUntil;
using testing::ReadString;
using testing::ReadStrings;
using testing::RunClient;
using testing::RunCommand;
using testing::TestBackend;

constexpr std::int64_t kDay = 86400;
constexpr const char* kInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";
constexpr const char* kAccessDenied = "org.freedesktop.DBus.Error.AccessDenied";
constexpr const char* kFailed = "org.freedesktop.DBus.Error.Failed";

using testing::Contains;

::testing::AssertionResult FailedWith(const CallResult& result, const std::string& name,
                                      const std::string& message_part = "") {
  if (result.ok()) return ::testing::AssertionFailure() << "succeeded, expected " << name;
  if (result.error_name != name || !Contains(result.error_message, message_part)) {
    return ::testing::AssertionFailure() << result.error_name << ": " << result.error_message;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Succeeded(const CallResult& result) {
  if (result.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << result.error_name << ": " << result.error_message;
}

// One row of ListCertificates' a(sssasttassbbbo).
struct Listed {
  std::string thumbprint, subject, issuer;
  std::vector<std::string> domains;
  std::uint64_t not_before = 0, not_after = 0;
  std::vector<std::string> services;
  std::string status;
  bool self_signed = false, has_private_key = false, internal_transport = false;
  std::string path;
};

std::vector<Listed> ReadListing(sd_bus_message* reply) {
  std::vector<Listed> rows;
  EXPECT_GT(sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(sssasttassbbbo)"), 0);
  while (sd_bus_message_enter_container(reply, SD_BUS_TYPE_STRUCT, "sssasttassbbbo") > 0) {
    Listed row;
    row.thumbprint = ReadString(reply);
    row.subject = ReadString(reply);
    row.issuer = ReadString(reply);
    row.domains = ReadStrings(reply);
    EXPECT_GT(sd_bus_message_read(reply, "tt", &row.not_before, &row.not_after), 0);
    row.services = ReadStrings(reply);
    row.status = ReadString(reply);
    int self_signed = 0, has_key = 0, internal = 0;
    const char* path = nullptr;
    EXPECT_GT(sd_bus_message_read(reply, "bbbo", &self_signed, &has_key, &internal, &path), 0);
    row.self_signed = self_signed != 0;
    row.has_private_key = has_key != 0;
    row.internal_transport = internal != 0;
    row.path = path != nullptr ? path : "";
    EXPECT_GE(sd_bus_message_exit_container(reply), 0);
    rows.push_back(std::move(row));
  }
  EXPECT_GE(sd_bus_message_exit_container(reply), 0);
  return rows;
}

struct Judged {
  std::string thumbprint, verdict, reason;
};

std::vector<Judged> ReadVerdicts(sd_bus_message* reply) {
  std::vector<Judged> verdicts;
  EXPECT_GT(sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(sss)"), 0);
  const char *thumbprint = nullptr, *verdict = nullptr, *reason = nullptr;
  while (sd_bus_message_read(reply, "(sss)", &thumbprint, &verdict, &reason) > 0) {
    verdicts.push_back(Judged{thumbprint, verdict, reason});
  }
  EXPECT_GE(sd_bus_message_exit_container(reply), 0);
  return verdicts;
}

// A signal as one line: "Member path args..." (PropertiesChanged lists the changed names,
// InterfacesAdded/Removed the interfaces).
std::string DescribeSignal(sd_bus_message* m) {
  const std::string member = sd_bus_message_get_member(m);
  std::string line = member + " " + sd_bus_message_get_path(m);
  if (member == "InterfacesAdded" || member == "InterfacesRemoved") {
    const char* object = nullptr;
    sd_bus_message_read_basic(m, SD_BUS_TYPE_OBJECT_PATH, &object);
    line += std::string(" ") + object;
    if (member == "InterfacesRemoved") {
      for (const std::string& interface : ReadStrings(m)) line += " " + interface;
    } else {
      sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sa{sv}}");
      while (sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sa{sv}") > 0) {
        line += " " + ReadString(m);
        sd_bus_message_skip(m, "a{sv}");
        sd_bus_message_exit_container(m);
      }
    }
  } else if (member == "PropertiesChanged") {
    line += " " + ReadString(m);
    sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
    while (sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv") > 0) {
      line += " " + ReadString(m);
      sd_bus_message_skip(m, "v");
      sd_bus_message_exit_container(m);
    }
  } else if (member == "CertificateExpiring") {
    const char *thumbprint = nullptr, *subject = nullptr, *threshold = nullptr;
    std::uint64_t not_after = 0;
    sd_bus_message_read(m, "ssts", &thumbprint, &subject, &not_after, &threshold);
    line += std::string(" ") + thumbprint + " " + subject + " " + std::to_string(not_after) + " " +
            threshold;
  } else if (member == "CertificateExpired") {
    const char *thumbprint = nullptr, *subject = nullptr;
    std::uint64_t not_after = 0;
    sd_bus_message_read(m, "sst", &thumbprint, &subject, &not_after);
    line += std::string(" ") + thumbprint + " " + subject + " " + std::to_string(not_after);
  } else if (member == "InternalTransportCertificateChanged") {
    const char *old_thumbprint = nullptr, *new_thumbprint = nullptr;
    sd_bus_message_read(m, "ss", &old_thumbprint, &new_thumbprint);
    line += std::string(" '") + old_thumbprint + "' '" + new_thumbprint + "'";
  }
  return line;
}

class ABusService : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(bus_.address().empty());
    setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_.address().c_str(), 1);
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    // Root may always change things; anyone else running the tests does so as the admin group.
    if (geteuid() != 0) backend_.SetAdminGroup(static_cast<long>(getegid()));
    StartService();
  }

  void TearDown() override {
    StopService();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a libuv handle was left open";
  }

  void StartService(BusKind kind = BusKind::kSystem) {
    Result<std::unique_ptr<BusService>> started = BusService::Start(
        &loop_, kind, backend_, [this](std::string reason) { lost_reason_ = std::move(reason); });
    ASSERT_TRUE(started.ok()) << started.error().message;
    service_ = std::move(started).value();
    backend_.AttachService(service_.get());
  }

  void StopService() {
    backend_.AttachService(nullptr);
    if (service_) service_->Stop();
    service_.reset();
  }

  // ---- helper verbs ----

  // Calls a Manager method from a client thread while the loop runs.
  template <typename... Args>
  CallResult Call(const char* method, const char* types = nullptr, Args... args) {
    CallResult result;
    RunClient(&loop_, [&] {
      SdBusPtr client = ConnectClient(bus_.address());
      if (client) result = CallManager(client.get(), method, types, args...);
    });
    return result;
  }

  // Runs `body` with a client connection on a client thread while the loop runs.
  void WithClient(const std::function<void(sd_bus*)>& body) {
    RunClient(&loop_, [&] {
      SdBusPtr client = ConnectClient(bus_.address());
      if (client) body(client.get());
    });
  }

  // As WithClient, and runs `change` on the loop in the turn after the first part of the first
  // big reply written meanwhile (its first StatusOf): after that part, before the next.
  void WithChangeAfterFirstPart(std::function<void()> change,
                                const std::function<void(sd_bus*)>& body) {
    uv_timer_t timer{};
    uv_timer_init(&loop_, &timer);
    timer.data = &change;
    bool started = false;
    backend_.SetOnStatusOf([&] {
      if (started) return;
      started = true;
      uv_timer_start(
          &timer, [](uv_timer_t* t) { (*static_cast<std::function<void()>*>(t->data))(); }, 0, 0);
    });
    WithClient(body);
    backend_.SetOnStatusOf(nullptr);
    bool closed = false;
    timer.data = &closed;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer),
             [](uv_handle_t* handle) { *static_cast<bool*>(handle->data) = true; });
    EXPECT_TRUE(PumpUntil(&loop_, [&] { return closed; }));
  }

  // Runs a command (busctl, ...) from a client thread while the loop runs.
  CommandResult Run(const std::vector<std::string>& argv) {
    CommandResult result;
    RunClient(&loop_, [&] { result = RunCommand(argv); });
    return result;
  }

  CommandResult RunBusctl(std::vector<std::string> args) {
    return Run(Busctl(bus_.address(), std::move(args)));
  }

  std::vector<Listed> List() {
    CallResult result = Call("ListCertificates");
    EXPECT_TRUE(Succeeded(result));
    return result.ok() ? ReadListing(result.reply.get()) : std::vector<Listed>{};
  }

  // Subscribes a client to everything org.transportcertd1 emits, runs `trigger` on the loop
  // thread, and returns the first `count` signals seen (as DescribeSignal lines).
  std::vector<std::string> SignalsWhile(const std::function<void()>& trigger, std::size_t count) {
    std::atomic<bool> subscribed{false};
    std::vector<std::string> seen;
    ClientThread listener(&loop_, [&] {
      SdBusPtr client = ConnectClient(bus_.address());
      if (!client) return;
      sd_bus_slot* raw = nullptr;
      const int r = sd_bus_match_signal(
          client.get(), &raw, nullptr, nullptr, nullptr, nullptr,
          [](sd_bus_message* m, void* userdata, sd_bus_error*) {
            const char* sender = sd_bus_message_get_sender(m);
            if (sender != nullptr && std::string(sender) == "org.freedesktop.DBus") return 0;
            static_cast<std::vector<std::string>*>(userdata)->push_back(DescribeSignal(m));
            return 0;
          },
          &seen);
      const SdBusSlotPtr match(raw);
      subscribed = true;
      if (r < 0) return;
      ProcessUntil(
          client.get(), [&] { return seen.size() >= count; }, 10s);
    });
    EXPECT_TRUE(PumpUntil(&loop_, [&] { return subscribed.load(); }));
    trigger();
    EXPECT_TRUE(listener.Finish());
    return seen;
  }

  static CertSpec Named(std::vector<std::string> names) {
    CertSpec spec;
    spec.cn = names.front();
    spec.dns_names = std::move(names);
    return spec;
  }

  static CertSpec Expired(CertSpec spec = {}) {
    spec.not_before_offset = -400 * kDay;
    spec.not_after_offset = -10 * kDay;
    return spec;
  }

  PrivateBus bus_;
  uv_loop_t loop_{};
  TestBackend backend_;
  std::unique_ptr<BusService> service_;
  std::string lost_reason_;
};

// ---------------------------------------------------------------------------------------------
// Reading

TEST_F(ABusService, ListsEveryCertificateWithItsDocumentedFields) {
  CertSpec spec = Named({"mail.example.com", "smtp.example.com"});
  spec.now = std::time(nullptr);
  const std::string internal = backend_.AddCertificate(spec);
  const std::string keyless = backend_.AddCertificate(Named({"imap.example.com"}), false);
  backend_.SetInternalTransport(internal);

  const std::vector<Listed> rows = List();
  ASSERT_EQ(rows.size(), 2U);
  const Listed& first = rows[0].thumbprint == internal ? rows[0] : rows[1];
  const Listed& second = rows[0].thumbprint == internal ? rows[1] : rows[0];

  EXPECT_EQ(first.thumbprint, internal);
  EXPECT_EQ(first.subject, "CN=mail.example.com");
  EXPECT_EQ(first.issuer, "CN=mail.example.com");
  EXPECT_EQ(first.domains, (std::vector<std::string>{"mail.example.com", "smtp.example.com"}));
  EXPECT_EQ(first.not_before, static_cast<std::uint64_t>(spec.now - kDay) * 1'000'000U);
  EXPECT_EQ(first.not_after, static_cast<std::uint64_t>(spec.now + 365 * kDay) * 1'000'000U);
  EXPECT_EQ(first.services, (std::vector<std::string>{"SMTP"}));
  EXPECT_EQ(first.status, "Valid");
  EXPECT_TRUE(first.self_signed);
  EXPECT_TRUE(first.has_private_key);
  EXPECT_TRUE(first.internal_transport);
  EXPECT_EQ(first.path, "/org/transportcertd1/certificate/" + internal);

  EXPECT_EQ(second.thumbprint, keyless);
  EXPECT_EQ(second.status, "NoPrivateKey");
  EXPECT_FALSE(second.has_private_key);
  EXPECT_FALSE(second.internal_transport);
}

TEST_F(ABusService, ListsNothingForAnEmptyStore) { EXPECT_TRUE(List().empty()); }

// The rows of ListCertificates are kept from one call to the next (ipc/certificate_rows.h):
// every change shows in the next listing all the same.
TEST_F(ABusService, ListsEveryChangeInTheNextListing) {
  const std::string first = backend_.AddCertificate(Named({"mail.example.com"}));
  std::vector<Listed> rows = List();
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_EQ(rows[0].services, (std::vector<std::string>{"SMTP"}));
  EXPECT_FALSE(rows[0].internal_transport);

  // The bindings change, the inventory does not.
  ASSERT_TRUE(Succeeded(Call("EnableCertificate", "sasb", first.c_str(), 1, "HTTP", 0)));
  rows = List();
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_EQ(rows[0].services, (std::vector<std::string>{"SMTP", "HTTP"}));
  backend_.SetInternalTransport(first);
  rows = List();
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_TRUE(rows[0].internal_transport);

  const std::string second = backend_.AddCertificate(Named({"imap.example.com"}), false);
  rows = List();
  ASSERT_EQ(rows.size(), 2U);
  const Listed& added = rows[0].thumbprint == second ? rows[0] : rows[1];
  EXPECT_EQ(added.thumbprint, second);
  EXPECT_EQ(added.status, "NoPrivateKey");

  ASSERT_TRUE(Succeeded(Call("RemoveCertificate", "s", second.c_str())));
  rows = List();
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_EQ(rows[0].thumbprint, first);

  // Even an inventory the bus service was not told about is listed as it is.
  const testing::TestCert quiet = testing::MakeCertificate(Named({"pop.example.com"}));
  backend_.WriteStoreFile("quiet.pem", quiet.cert_pem + quiet.key_pem, /*announce=*/false);
  rows = List();
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_TRUE(rows[0].thumbprint == quiet.thumbprint || rows[1].thumbprint == quiet.thumbprint);
}

TEST_F(ABusService, GetCertificateAcceptsTheThumbprintInAnyCase) {
  const std::string thumbprint = backend_.AddCertificate({});
  std::string lower = thumbprint;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));

  CallResult result = Call("GetCertificate", "s", lower.c_str());
  ASSERT_TRUE(Succeeded(result));
  const char* path = nullptr;
  ASSERT_GT(sd_bus_message_read(result.reply.get(), "o", &path), 0);
  EXPECT_EQ(std::string(path), CertificateObjectPath(thumbprint));
}

TEST_F(ABusService, GetCertificateOfAnUnknownThumbprintIsNoSuchCertificate) {
  EXPECT_TRUE(
      FailedWith(Call("GetCertificate", "s", "0123456789012345678901234567890123456789"),
                 kErrorNoSuchCertificate,
                 "no certificate with thumbprint 0123456789012345678901234567890123456789"));
}

TEST_F(ABusService, RejectsMalformedThumbprintsWithoutEchoingThem) {
  const std::string dots = "../../../../etc/passwd/../../../../../..";  // 40 characters
  const std::string long_text(std::size_t{70} * 1024, 'A');
  for (const std::string& bad : {std::string("3BA4"), dots, std::string(40, 'G'), long_text}) {
    CallResult result = Call("GetCertificate", "s", bad.c_str());
    EXPECT_TRUE(FailedWith(result, kInvalidArgs)) << bad.substr(0, 50);
    EXPECT_LT(result.error_message.size(), 200U) << "echoed too much";
  }
  EXPECT_TRUE(FailedWith(Call("GetCertificate", "s", dots.c_str()), kInvalidArgs,
                         "not a thumbprint: \"../../../../etc/passwd"));
  EXPECT_TRUE(
      FailedWith(Call("RemoveCertificate", "s", dots.c_str()), kInvalidArgs, "not a thumbprint"));
  EXPECT_TRUE(FailedWith(Call("EnableCertificate", "sasb", "nope", 1, "SMTP", 0), kInvalidArgs,
                         "not a thumbprint"));
  EXPECT_TRUE(FailedWith(Call("DisableCertificate", "sas", "nope", 1, "SMTP"), kInvalidArgs,
                         "not a thumbprint"));
  EXPECT_TRUE(FailedWith(Call("GetCertificate", "s", long_text.c_str()), kInvalidArgs,
                         "thumbprint is too long: 71680 bytes"));
}

TEST_F(ABusService, SelectCertificateNamesTheWinnerAndWhy) {
  const std::string thumbprint = backend_.AddCertificate({});
  CallResult result = Call("SelectCertificate", "ss", "Mail.Example.com.", "smtp");
  ASSERT_TRUE(Succeeded(result));
  EXPECT_EQ(ReadString(result.reply.get()), thumbprint);
  EXPECT_TRUE(Contains(ReadString(result.reply.get()), "exact name match"));
}

TEST_F(ABusService, SelectCertificateWithoutAnEligibleOneIsNoCertificateAndSaysWhy) {
  backend_.AddCertificate(Named({"other.example.com"}));
  backend_.AddCertificate({}, /*with_key=*/false);
  EXPECT_TRUE(
      FailedWith(Call("SelectCertificate", "ss", "mail.example.com", "SMTP"), kErrorNoCertificate,
                 "no certificate can be presented for SMTP on mail.example.com: none of "
                 "the 2 certificates in the store is eligible (ExplainSelection says why)"));
}

TEST_F(ABusService, SelectCertificateOnAnEmptyStoreSaysTheStoreIsEmpty) {
  EXPECT_TRUE(FailedWith(Call("SelectCertificate", "ss", "mail.example.com", "IMAP"),
                         kErrorNoCertificate, "the store holds no certificates"));
}

TEST_F(ABusService, ExplainSelectionPrefersAValidSelfSignedCertificateOverAnExpiredCaOne) {
  const testing::TestCert ca = testing::MakeCa("Example CA");
  CertSpec ca_issued = Expired();
  ca_issued.issuer = &ca;
  const std::string expired = backend_.AddCertificate(ca_issued);
  const std::string self_signed = backend_.AddCertificate({});

  CallResult result = Call("ExplainSelection", "ss", "mail.example.com", "SMTP");
  ASSERT_TRUE(Succeeded(result));
  const std::vector<Judged> verdicts = ReadVerdicts(result.reply.get());
  ASSERT_EQ(verdicts.size(), 2U);
  for (const Judged& judged : verdicts) {
    if (judged.thumbprint == self_signed) {
      EXPECT_EQ(judged.verdict, "selected");
      EXPECT_TRUE(Contains(judged.reason, "self-signed"));
    } else {
      EXPECT_EQ(judged.thumbprint, expired);
      EXPECT_EQ(judged.verdict, "eligible");
      EXPECT_TRUE(Contains(judged.reason, "valid beats expired"));
      EXPECT_TRUE(Contains(judged.reason, "outranked by " + self_signed.substr(0, 8)));
    }
  }
  // And SelectCertificate says the same: it comes from the same selection.
  CallResult selected = Call("SelectCertificate", "ss", "mail.example.com", "SMTP");
  ASSERT_TRUE(Succeeded(selected));
  EXPECT_EQ(ReadString(selected.reply.get()), self_signed);
}

// ListCertificates and ExplainSelection replies are built after the small calls read with them
// (ipc/deferred_replies.h); a change asked for after them must still not show in them.
TEST_F(ABusService, AnswersWhatWasAskedBeforeAChangeWithoutTheChange) {
  const std::string thumbprint = backend_.AddCertificate(Named({"mail.example.com"}));
  struct Replies {
    SdBusMessagePtr list, explain, enable;
    int count = 0;
  } replies;
  auto keep = [](sd_bus_message* reply, void* userdata, sd_bus_error*) -> int {
    auto* slot = static_cast<std::pair<SdBusMessagePtr*, int*>*>(userdata);
    slot->first->reset(sd_bus_message_ref(reply));
    ++*slot->second;
    return 0;
  };
  std::pair<SdBusMessagePtr*, int*> list_slot{&replies.list, &replies.count};
  std::pair<SdBusMessagePtr*, int*> explain_slot{&replies.explain, &replies.count};
  std::pair<SdBusMessagePtr*, int*> enable_slot{&replies.enable, &replies.count};

  // The three calls go out one after the other on one connection while the loop is not
  // running, so that the service reads them together: List, Explain, then the change.
  std::atomic<bool> sent{false};
  ClientThread client(&loop_, [&] {
    SdBusPtr bus = ConnectClient(bus_.address());
    if (!bus) return;
    sd_bus_call_method_async(bus.get(), nullptr, kBusName, kManagerPath, kManagerInterface,
                             "ListCertificates", keep, &list_slot, "");
    sd_bus_call_method_async(bus.get(), nullptr, kBusName, kManagerPath, kManagerInterface,
                             "ExplainSelection", keep, &explain_slot, "ss", "mail.example.com",
                             "SMTP");
    sd_bus_call_method_async(bus.get(), nullptr, kBusName, kManagerPath, kManagerInterface,
                             "DisableCertificate", keep, &enable_slot, "sas", thumbprint.c_str(), 1,
                             "SMTP");
    sd_bus_flush(bus.get());
    sent = true;
    ProcessUntil(
        bus.get(), [&] { return replies.count >= 3; }, 20s);
  });
  while (!sent) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(200ms);  // the bus daemon passes them on meanwhile
  ASSERT_TRUE(client.Finish());
  ASSERT_EQ(replies.count, 3);
  ASSERT_TRUE(replies.list && replies.explain && replies.enable);
  ASSERT_EQ(sd_bus_message_get_error(replies.enable.get()), nullptr);

  // Asked before SMTP was taken off: the answers still have it.
  const std::vector<Listed> listed = ReadListing(replies.list.get());
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0].services, (std::vector<std::string>{"SMTP"}));
  ASSERT_EQ(sd_bus_message_get_error(replies.explain.get()), nullptr);
  ASSERT_GT(sd_bus_message_enter_container(replies.explain.get(), SD_BUS_TYPE_ARRAY, "(sss)"), 0);
  ASSERT_GT(sd_bus_message_enter_container(replies.explain.get(), SD_BUS_TYPE_STRUCT, "sss"), 0);
  EXPECT_EQ(ReadString(replies.explain.get()), thumbprint);
  EXPECT_EQ(ReadString(replies.explain.get()), "selected");
  // Asked after: without.
  EXPECT_EQ(List()[0].services, std::vector<std::string>{});
}

// The order a client gets its replies in when it sends `big` (ListCertificates or
// ExplainSelection) and then, while the service writes that reply, SelectCertificate: `hook`
// (the test backend's StatusOf or Explain hook) runs when the service starts the big reply and
// holds the loop until the SelectCertificate has reached the service.
std::vector<std::string> ReplyOrder(const std::string& address, const char* big,
                                    const std::function<void(std::function<void()>)>& set_hook,
                                    uv_loop_t* loop, SdBusMessagePtr& big_reply) {
  std::atomic<bool> started{false};
  std::atomic<bool> select_sent{false};
  set_hook([&] {
    if (started.exchange(true)) return;
    for (int i = 0; i < 10'000 && !select_sent; ++i) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(300ms);  // the bus daemon passes it on meanwhile
  });
  std::vector<std::string> order;  // the client thread's until it has finished
  struct Slot {
    std::vector<std::string>* order;
    std::string name;
    SdBusMessagePtr* keep;
  };
  auto note = [](sd_bus_message* reply, void* userdata, sd_bus_error*) -> int {
    auto* slot = static_cast<Slot*>(userdata);
    slot->order->push_back(slot->name);
    if (slot->keep != nullptr) slot->keep->reset(sd_bus_message_ref(reply));
    return 0;
  };
  Slot big_slot{&order, big, &big_reply};
  Slot select_slot{&order, "SelectCertificate", nullptr};
  ClientThread client(loop, [&] {
    SdBusPtr bus = ConnectClient(address);
    if (!bus) return;
    if (std::string(big) == "ListCertificates") {
      sd_bus_call_method_async(bus.get(), nullptr, kBusName, kManagerPath, kManagerInterface, big,
                               note, &big_slot, "");
    } else {
      sd_bus_call_method_async(bus.get(), nullptr, kBusName, kManagerPath, kManagerInterface, big,
                               note, &big_slot, "ss", "host-7.example.net", "SMTP");
    }
    sd_bus_flush(bus.get());
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!started && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    sd_bus_call_method_async(bus.get(), nullptr, kBusName, kManagerPath, kManagerInterface,
                             "SelectCertificate", note, &select_slot, "ss", "host-7.example.net",
                             "SMTP");
    sd_bus_flush(bus.get());
    select_sent = true;
    while (order.size() < 2 && std::chrono::steady_clock::now() < deadline) {
      if (sd_bus_process(bus.get(), nullptr) > 0) continue;
      sd_bus_wait(bus.get(), 100'000);
    }
  });
  EXPECT_TRUE(client.Finish());
  set_hook(nullptr);
  return order;
}

// Big replies are written a part at a time (ipc/deferred_replies.h), so a small call that
// comes while one is written waits for one part, not for all of it.
TEST_F(ABusService, AnswersASmallCallThatComesWhileABigReplyIsWritten) {
  const std::size_t count = 2 * kRowsPerPart + 1;  // three parts
  backend_.AddCertificates(count);
  // The reply to `method`, which must come after the SelectCertificate; `set_hook` sets the
  // test backend's hook that runs when the service starts the reply.
  const auto big_reply = [this](const char* method,
                                void (TestBackend::*set_hook)(std::function<void()>)) {
    SdBusMessagePtr reply;
    EXPECT_EQ(ReplyOrder(
                  bus_.address(), method,
                  [&](std::function<void()> hook) { (backend_.*set_hook)(std::move(hook)); },
                  &loop_, reply),
              (std::vector<std::string>{"SelectCertificate", method}));
    return reply;
  };

  const SdBusMessagePtr list = big_reply("ListCertificates", &TestBackend::SetOnStatusOf);
  ASSERT_TRUE(list);
  const std::vector<Listed> listed = ReadListing(list.get());
  ASSERT_EQ(listed.size(), count);
  EXPECT_EQ(listed.back().status, "Valid");

  const SdBusMessagePtr explained = big_reply("ExplainSelection", &TestBackend::SetOnExplain);
  ASSERT_TRUE(explained);
  const std::vector<Judged> verdicts = ReadVerdicts(explained.get());
  ASSERT_EQ(verdicts.size(), count);
  EXPECT_EQ(std::count_if(verdicts.begin(), verdicts.end(),
                          [](const Judged& judged) { return judged.verdict == "selected"; }),
            1);
}

// A reply under way is sent before the signals of a change made while it is written, so that a
// client that lists and then follows the signals misses nothing.
TEST_F(ABusService, SendsTheReplyUnderWayBeforeTheSignalsOfALaterChange) {
  const std::size_t count = 2 * kRowsPerPart + 1;  // three parts
  backend_.AddCertificates(count);
  // A call answered after the InterfacesAdded of these has let them all out before the client
  // below subscribes.
  ASSERT_EQ(List().size(), count);
  struct Seen {
    std::vector<std::string> order;
    SdBusMessagePtr list;
  } seen;
  // A store change after the reply's first part, before its second.
  WithChangeAfterFirstPart(
      [&] { backend_.AddCertificate(Named({"late.example.com"})); },
      [&](sd_bus* client) {
        sd_bus_slot* raw = nullptr;
        ASSERT_GE(sd_bus_match_signal(
                      client, &raw, kBusName, nullptr, "org.freedesktop.DBus.ObjectManager",
                      "InterfacesAdded",
                      [](sd_bus_message* m, void* userdata, sd_bus_error*) {
                        static_cast<Seen*>(userdata)->order.emplace_back(DescribeSignal(m));
                        return 0;
                      },
                      &seen),
                  0);
        const SdBusSlotPtr match(raw);
        sd_bus_call_method_async(
            client, nullptr, kBusName, kManagerPath, kManagerInterface, "ListCertificates",
            [](sd_bus_message* reply, void* userdata, sd_bus_error*) {
              auto* into = static_cast<Seen*>(userdata);
              into->order.emplace_back("ListCertificates");
              into->list.reset(sd_bus_message_ref(reply));
              return 0;
            },
            &seen, "");
        ProcessUntil(
            client, [&] { return seen.order.size() >= 2; }, 20s);
      });
  ASSERT_EQ(seen.order.size(), 2U);
  EXPECT_EQ(seen.order[0], "ListCertificates");
  EXPECT_TRUE(Contains(seen.order[1], "InterfacesAdded")) << seen.order[1];
  ASSERT_TRUE(seen.list);
  EXPECT_EQ(ReadListing(seen.list.get()).size(), count);  // as it was when the reply started
  EXPECT_EQ(List().size(), count + 1);
}

// A generation that ends while a big reply is under way answers after the signals of its own
// certificate, which wait for that reply: its caller can look the new certificate up at once.
TEST_F(ABusService, RepliesToAGenerationAfterTheSignalsOfItsCertificateWhenABigReplyIsUnderWay) {
  const std::size_t count = 2 * kRowsPerPart + 1;  // three parts
  backend_.AddCertificates(count);
  ASSERT_EQ(List().size(), count);
  struct Seen {
    std::vector<std::string> order;
  } seen;
  // The generation ends after the reply's first part, before its second.
  WithChangeAfterFirstPart(
      [&] { backend_.FinishGeneration(); },
      [&](sd_bus* client) {
        sd_bus_slot* raw = nullptr;
        ASSERT_GE(sd_bus_match_signal(
                      client, &raw, kBusName, nullptr, "org.freedesktop.DBus.ObjectManager",
                      "InterfacesAdded",
                      [](sd_bus_message*, void* userdata, sd_bus_error*) {
                        static_cast<Seen*>(userdata)->order.emplace_back("InterfacesAdded");
                        return 0;
                      },
                      &seen),
                  0);
        const SdBusSlotPtr match(raw);
        // Read in this order: the generation is pending when the listing starts.
        ASSERT_GE(sd_bus_call_method_async(
                      client, nullptr, kBusName, kManagerPath, kManagerInterface,
                      "NewSelfSignedCertificate",
                      [](sd_bus_message* reply, void* userdata, sd_bus_error*) {
                        static_cast<Seen*>(userdata)->order.emplace_back(
                            sd_bus_message_is_method_error(reply, nullptr)
                                ? "error"
                                : "NewSelfSignedCertificate");
                        return 0;
                      },
                      &seen, "as", 1, "relay.example.com"),
                  0);
        ASSERT_GE(
            sd_bus_call_method_async(
                client, nullptr, kBusName, kManagerPath, kManagerInterface, "ListCertificates",
                [](sd_bus_message*, void* userdata, sd_bus_error*) {
                  static_cast<Seen*>(userdata)->order.emplace_back("ListCertificates");
                  return 0;
                },
                &seen, ""),
            0);
        ProcessUntil(
            client, [&] { return seen.order.size() >= 3; }, 20s);
      });
  EXPECT_EQ(seen.order, (std::vector<std::string>{"ListCertificates", "InterfacesAdded",
                                                  "NewSelfSignedCertificate"}));
  EXPECT_EQ(List().size(), count + 1);
}

TEST_F(ABusService, GetTlsaRecordsAnswersForTheFqdnOrEveryPublishedName) {
  const std::string thumbprint = backend_.AddCertificate({});
  CallResult all = Call("GetTlsaRecords", "s", "");
  ASSERT_TRUE(Succeeded(all));
  const std::vector<std::string> records = ReadStrings(all.reply.get());
  ASSERT_EQ(records.size(), 1U);
  EXPECT_TRUE(records[0].starts_with("_25._tcp.mail.example.com. IN TLSA 3 1 1 ")) << records[0];
  EXPECT_EQ(backend_.last_tlsa_name(), "");

  CallResult one = Call("GetTlsaRecords", "s", "MAIL.Example.COM.");
  ASSERT_TRUE(Succeeded(one));
  EXPECT_EQ(ReadStrings(one.reply.get()), records);
  EXPECT_EQ(backend_.last_tlsa_name(), "mail.example.com") << "normalized before the daemon";
}

TEST_F(ABusService, GetTlsaRecordsRefusesAnInvalidHostName) {
  for (const char* bad : {"-bad-.example.com", "a..b", "bang!.example.com", " "}) {
    EXPECT_TRUE(FailedWith(Call("GetTlsaRecords", "s", bad), kInvalidArgs)) << bad;
  }
  EXPECT_EQ(backend_.last_tlsa_name(), "(none)") << "the daemon is not asked";
}

TEST_F(ABusService, ExplainSelectionSaysWhyACertificateIsIneligible) {
  const std::string thumbprint = backend_.AddCertificate({});
  CallResult result = Call("ExplainSelection", "ss", "mail.example.com", "IMAP");
  ASSERT_TRUE(Succeeded(result));
  const std::vector<Judged> verdicts = ReadVerdicts(result.reply.get());
  ASSERT_EQ(verdicts.size(), 1U);
  EXPECT_EQ(verdicts[0].thumbprint, thumbprint);
  EXPECT_EQ(verdicts[0].verdict, "ineligible");
  EXPECT_EQ(verdicts[0].reason, "not enabled for IMAP");
}

TEST_F(ABusService, RejectsUnknownServicesAndInvalidHostNames) {
  std::string long_name;
  while (long_name.size() < 260) long_name += "abcdefghi.";
  const std::string huge(std::size_t{65} * 1024, 'a');
  EXPECT_TRUE(FailedWith(Call("SelectCertificate", "ss", "mail.example.com", "FTP"), kInvalidArgs,
                         "unknown service \"FTP\""));
  EXPECT_TRUE(FailedWith(Call("ExplainSelection", "ss", "mail.example.com", ""), kInvalidArgs,
                         "unknown service"));
  for (const std::string& bad : {std::string("*.example.com"), std::string("mail..example.com"),
                                 std::string("-x.example.com"), std::string("a b"), long_name}) {
    EXPECT_TRUE(FailedWith(Call("SelectCertificate", "ss", bad.c_str(), "SMTP"), kInvalidArgs,
                           "not a valid host name"))
        << bad;
    EXPECT_TRUE(FailedWith(Call("ExplainSelection", "ss", bad.c_str(), "SMTP"), kInvalidArgs,
                           "not a valid host name"))
        << bad;
  }
  EXPECT_TRUE(FailedWith(Call("SelectCertificate", "ss", huge.c_str(), "SMTP"), kInvalidArgs,
                         "fqdn is too long"));
  EXPECT_TRUE(FailedWith(Call("SelectCertificate", "ss", "mail.example.com", huge.c_str()),
                         kInvalidArgs, "service is too long"));
}

TEST_F(ABusService, ManagerPropertiesDescribeTheDaemon) {
  const std::string internal = backend_.AddCertificate({});
  CertSpec soon;
  soon.not_after_offset = 10 * kDay;
  soon.now = std::time(nullptr);
  backend_.AddCertificate(soon);
  backend_.SetInternalTransport(internal);

  WithClient([&](sd_bus* client) {
    const std::string path = kManagerPath;
    EXPECT_EQ(testing::GetStringProperty(client, path, kManagerInterface, "Fqdn"),
              "mail.example.com");
    EXPECT_EQ(testing::GetStringProperty(client, path, kManagerInterface, "StorePath"),
              backend_.StorePath());
    EXPECT_EQ(
        testing::GetStringProperty(client, path, kManagerInterface, "InternalTransportCertificate"),
        internal);
    EXPECT_EQ(testing::GetU32Property(client, path, kManagerInterface, "CertificateCount"), 2U);
    EXPECT_EQ(testing::GetU64Property(client, path, kManagerInterface, "NextExpiry"),
              static_cast<std::uint64_t>(soon.now + 10 * kDay) * 1'000'000U);
    EXPECT_EQ(testing::GetStringProperty(client, path, kManagerInterface, "Version"), kVersion);
  });
}

TEST_F(ABusService, CertificateObjectsCarryEveryDocumentedProperty) {
  CertSpec spec = Named({"mail.example.com", "mx.example.com"});
  spec.key = "rsa:2048";
  spec.now = std::time(nullptr);
  const std::string thumbprint = backend_.AddCertificate(spec);
  backend_.SetInternalTransport(thumbprint);
  const std::string path = CertificateObjectPath(thumbprint);
  const Inventory& inventory = backend_.CurrentInventory();
  const StoredCertificate& stored = *inventory.Find(thumbprint);

  WithClient([&](sd_bus* client) {
    auto text = [&](const char* name) {
      return testing::GetStringProperty(client, path, kCertificateInterface, name);
    };
    EXPECT_EQ(text("Thumbprint"), thumbprint);
    EXPECT_EQ(text("Sha256Fingerprint"), stored.cert().Sha256Hex());
    EXPECT_EQ(text("Sha256Fingerprint").size(), 64U);
    EXPECT_EQ(text("Subject"), "CN=mail.example.com");
    EXPECT_EQ(text("Issuer"), "CN=mail.example.com");
    EXPECT_EQ(text("SerialNumber"), stored.cert().serial());
    EXPECT_EQ(text("Status"), "Valid");
    EXPECT_EQ(text("KeyAlgorithm"), "RSA");
    EXPECT_EQ(testing::GetStringsProperty(client, path, kCertificateInterface, "Domains"),
              (std::vector<std::string>{"mail.example.com", "mx.example.com"}));
    EXPECT_EQ(testing::GetStringsProperty(client, path, kCertificateInterface, "Services"),
              (std::vector<std::string>{"SMTP"}));
    EXPECT_EQ(testing::GetStringsProperty(client, path, kCertificateInterface, "Files"),
              (std::vector<std::string>{backend_.Path(thumbprint + ".crt")}));
    EXPECT_EQ(testing::GetU64Property(client, path, kCertificateInterface, "NotBefore"),
              static_cast<std::uint64_t>(spec.now - kDay) * 1'000'000U);
    EXPECT_EQ(testing::GetU64Property(client, path, kCertificateInterface, "NotAfter"),
              static_cast<std::uint64_t>(spec.now + 365 * kDay) * 1'000'000U);
    EXPECT_EQ(testing::GetU32Property(client, path, kCertificateInterface, "KeyBits"), 2048U);
    EXPECT_TRUE(testing::GetBoolProperty(client, path, kCertificateInterface, "IsSelfSigned"));
    EXPECT_TRUE(testing::GetBoolProperty(client, path, kCertificateInterface, "HasPrivateKey"));
    EXPECT_TRUE(
        testing::GetBoolProperty(client, path, kCertificateInterface, "IsInternalTransport"));
  });
}

TEST_F(ABusService, HasNoObjectForACertificateThatIsNotInTheStore) {
  CallResult result;
  WithClient([&](sd_bus* client) {
    result = CallMethod(client, CertificateObjectPath(std::string(40, 'A')).c_str(),
                        "org.freedesktop.DBus.Properties", "Get", "ss", kCertificateInterface,
                        "Subject");
  });
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(Contains(result.error_name, "Unknown")) << result.error_name;
}

TEST_F(ABusService, ShowsEveryCertificateInTheTreeAndInGetManagedObjects) {
  const std::string one = backend_.AddCertificate({});
  const std::string two = backend_.AddCertificate(Named({"imap.example.com"}));

  const CommandResult tree = RunBusctl({"tree", "--list", kBusName});
  EXPECT_EQ(tree.exit_code, 0) << tree.err;
  EXPECT_TRUE(Contains(tree.out, "/org/transportcertd1\n"));
  EXPECT_TRUE(Contains(tree.out, CertificateObjectPath(one)));
  EXPECT_TRUE(Contains(tree.out, CertificateObjectPath(two)));

  CallResult managed;
  WithClient([&](sd_bus* client) {
    managed = CallMethod(client, kManagerPath, "org.freedesktop.DBus.ObjectManager",
                         "GetManagedObjects", nullptr);
  });
  ASSERT_TRUE(Succeeded(managed));
  sd_bus_message* m = managed.reply.get();
  std::vector<std::string> certificate_objects;
  ASSERT_GT(sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{oa{sa{sv}}}"), 0);
  while (sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "oa{sa{sv}}") > 0) {
    const char* object = nullptr;
    ASSERT_GT(sd_bus_message_read_basic(m, SD_BUS_TYPE_OBJECT_PATH, &object), 0);
    const std::string object_path = object;
    ASSERT_GT(sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sa{sv}}"), 0);
    while (sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sa{sv}") > 0) {
      if (ReadString(m) == kCertificateInterface) certificate_objects.push_back(object_path);
      sd_bus_message_skip(m, "a{sv}");
      sd_bus_message_exit_container(m);
    }
    sd_bus_message_exit_container(m);
    sd_bus_message_exit_container(m);
  }
  std::sort(certificate_objects.begin(), certificate_objects.end());
  std::vector<std::string> expected = {CertificateObjectPath(one), CertificateObjectPath(two)};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(certificate_objects, expected);
}

TEST_F(ABusService, IntrospectionNamesEveryArgument) {
  const CommandResult xml = RunBusctl({"introspect", "--xml-interface", kBusName, kManagerPath});
  ASSERT_EQ(xml.exit_code, 0) << xml.err;
  for (const char* expected :
       {"<method name=\"ListCertificates\">",
        "<arg type=\"a(sssasttassbbbo)\" name=\"certificates\" direction=\"out\"/>",
        "<arg type=\"s\" name=\"thumbprint\" direction=\"in\"/>",
        "<arg type=\"b\" name=\"make_internal_transport\" direction=\"in\"/>",
        "<arg type=\"a(sss)\" name=\"verdicts\" direction=\"out\"/>",
        "<signal name=\"CertificateExpiring\">", "<arg type=\"s\" name=\"threshold\"/>",
        "<signal name=\"InternalTransportCertificateChanged\">",
        "<property name=\"Version\" type=\"s\" access=\"read\">",
        "<interface name=\"org.freedesktop.DBus.ObjectManager\">"}) {
    EXPECT_TRUE(Contains(xml.out, expected));
  }
}

// ---------------------------------------------------------------------------------------------
// Changing

TEST_F(ABusService, EnablesAndDisablesServices) {
  const std::string thumbprint = backend_.AddCertificate({});
  ASSERT_TRUE(
      Succeeded(Call("EnableCertificate", "sasb", thumbprint.c_str(), 2, "imap", "POP", 0)));
  EXPECT_EQ(backend_.ServicesOf(thumbprint),
            Bit(Service::kSmtp) | Bit(Service::kImap) | Bit(Service::kPop));
  EXPECT_TRUE(backend_.CurrentBindings().internal_transport.empty());

  ASSERT_TRUE(Succeeded(Call("DisableCertificate", "sas", thumbprint.c_str(), 2, "SMTP", "POP")));
  EXPECT_EQ(backend_.ServicesOf(thumbprint), Bit(Service::kImap));
}

TEST_F(ABusService, EnableWithMakeInternalTransportMovesTheDesignation) {
  const std::string old_one = backend_.AddCertificate({});
  const std::string new_one =
      backend_.AddCertificate(Named({"mail.example.com", "mx.example.com"}));
  backend_.SetInternalTransport(old_one);

  ASSERT_TRUE(Succeeded(Call("EnableCertificate", "sasb", new_one.c_str(), 0, 1)));
  EXPECT_EQ(backend_.CurrentBindings().internal_transport, new_one);
}

TEST_F(ABusService, RejectsMalformedServiceListsBeforeTheDaemonSeesThem) {
  const std::string thumbprint = backend_.AddCertificate({});
  EXPECT_TRUE(
      FailedWith(Call("EnableCertificate", "sasb", thumbprint.c_str(), 2, "SMTP", "XMPP", 0),
                 kInvalidArgs, "unknown service \"XMPP\""));
  EXPECT_TRUE(FailedWith(Call("EnableCertificate", "sasb", thumbprint.c_str(), 0, 0), kInvalidArgs,
                         "nothing to do"));
  EXPECT_TRUE(FailedWith(Call("DisableCertificate", "sas", thumbprint.c_str(), 0), kInvalidArgs,
                         "nothing to do"));
  EXPECT_EQ(backend_.ServicesOf(thumbprint), Bit(Service::kSmtp));  // untouched

  CallResult too_many;
  WithClient([&](sd_bus* client) {
    sd_bus_message* raw = nullptr;
    ASSERT_GE(sd_bus_message_new_method_call(client, &raw, kBusName, kManagerPath,
                                             kManagerInterface, "DisableCertificate"),
              0);
    SdBusMessagePtr call(raw);
    sd_bus_message_append(raw, "s", thumbprint.c_str());
    sd_bus_message_open_container(raw, SD_BUS_TYPE_ARRAY, "s");
    for (int i = 0; i < 101; ++i) sd_bus_message_append(raw, "s", "SMTP");
    sd_bus_message_close_container(raw);
    SdBusError error;
    sd_bus_message* reply = nullptr;
    if (sd_bus_call(client, raw, 0, error.get(), &reply) < 0) {
      too_many.error_name = error.name();
      too_many.error_message = error.message();
    } else {
      too_many.reply.reset(reply);
    }
  });
  EXPECT_TRUE(FailedWith(too_many, kInvalidArgs, "services has too many entries (at most 100)"));
}

TEST_F(ABusService, EnableOfAnUnknownCertificateIsNoSuchCertificate) {
  EXPECT_TRUE(FailedWith(
      Call("EnableCertificate", "sasb", "0123456789012345678901234567890123456789", 1, "SMTP", 0),
      kErrorNoSuchCertificate));
}

TEST_F(ABusService, ImportsACertificateWithItsKey) {
  const testing::TestCert made = testing::MakeCertificate({});
  const std::string pem = made.cert_pem + made.key_pem;
  CallResult result = Call("ImportCertificate", "sas", pem.c_str(), 1, "IMAP");
  ASSERT_TRUE(Succeeded(result));
  EXPECT_EQ(ReadString(result.reply.get()), made.thumbprint);
  EXPECT_EQ(backend_.last_import_services(), Bit(Service::kImap));
  EXPECT_NE(backend_.CurrentInventory().Find(made.thumbprint), nullptr);
}

TEST_F(ABusService, RejectsBadAndOversizedPem) {
  EXPECT_TRUE(FailedWith(Call("ImportCertificate", "sas", "-----BEGIN CERTIFICATE-----\nAAAA\n", 0),
                         kInvalidArgs, "not a certificate with its private key"));
  const std::string cert_only = testing::MakeCertificate({}).cert_pem;
  EXPECT_TRUE(FailedWith(Call("ImportCertificate", "sas", cert_only.c_str(), 0), kInvalidArgs));
  const std::string huge(std::size_t{1024} * 1024 + 1, 'A');
  EXPECT_TRUE(FailedWith(Call("ImportCertificate", "sas", huge.c_str(), 0), kInvalidArgs,
                         "pem is too long: 1048577 bytes"));
  EXPECT_TRUE(FailedWith(Call("ImportCertificate", "sas", cert_only.c_str(), 1, "FTP"),
                         kInvalidArgs, "unknown service"));
}

TEST_F(ABusService, RefusesToRemoveTheInternalTransportCertificateAndSaysWhatToDo) {
  const std::string thumbprint = backend_.AddCertificate({});
  backend_.SetInternalTransport(thumbprint);
  EXPECT_TRUE(FailedWith(Call("RemoveCertificate", "s", thumbprint.c_str()),
                         kErrorInternalTransportCertificate,
                         "create or enable a replacement first"));
  EXPECT_NE(backend_.CurrentInventory().Find(thumbprint), nullptr);
}

TEST_F(ABusService, RemovesACertificateAndAnnouncesThatItIsGone) {
  const std::string thumbprint = backend_.AddCertificate({});
  std::vector<std::string> seen = SignalsWhile(
      [&] { EXPECT_TRUE(Succeeded(Call("RemoveCertificate", "s", thumbprint.c_str()))); }, 2);
  EXPECT_EQ(backend_.CurrentInventory().Find(thumbprint), nullptr);
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0], "InterfacesRemoved /org/transportcertd1 " + CertificateObjectPath(thumbprint) +
                         " org.transportcertd1.Certificate");
  EXPECT_EQ(seen[1],
            "PropertiesChanged /org/transportcertd1 org.transportcertd1.Manager CertificateCount "
            "NextExpiry");
  EXPECT_TRUE(
      FailedWith(Call("RemoveCertificate", "s", thumbprint.c_str()), kErrorNoSuchCertificate));
}

TEST_F(ABusService, RepliesToNewSelfSignedCertificateWhenGenerationIsDoneAndServesOthersMeanwhile) {
  const std::string old_one = backend_.AddCertificate({});
  backend_.SetInternalTransport(old_one);

  CallResult generated;
  ClientThread generating(&loop_, [&] {
    SdBusPtr client = ConnectClient(bus_.address());
    generated = CallManager(client.get(), "NewSelfSignedCertificate", "as", 2, "Relay.Example.com",
                            "relay.example.com.");
  });
  ASSERT_TRUE(PumpUntil(&loop_, [&] { return backend_.PendingGenerations() == 1; }));
  EXPECT_EQ(backend_.last_names(), (std::vector<std::string>{"relay.example.com"}));

  // The generation is still running: other callers are answered meanwhile.
  EXPECT_EQ(List().size(), 1U);
  EXPECT_FALSE(generating.finished());

  const std::string new_one = backend_.FinishGeneration();
  ASSERT_TRUE(generating.Finish());
  ASSERT_TRUE(Succeeded(generated));
  EXPECT_EQ(ReadString(generated.reply.get()), new_one);
  EXPECT_EQ(backend_.CurrentBindings().internal_transport, new_one);

  // The Exchange story: the old certificate is no longer internal transport and may go.
  EXPECT_TRUE(Succeeded(Call("RemoveCertificate", "s", old_one.c_str())));
}

TEST_F(ABusService, RejectsInvalidNamesForANewSelfSignedCertificate) {
  EXPECT_TRUE(FailedWith(Call("NewSelfSignedCertificate", "as", 1, "*.example.com"), kInvalidArgs,
                         "not a valid host name: \"*.example.com\""));
  EXPECT_TRUE(FailedWith(Call("NewSelfSignedCertificate", "as", 2, "ok.example.com", "../x"),
                         kInvalidArgs, "not a valid host name"));
  EXPECT_EQ(backend_.PendingGenerations(), 0U);
}

TEST_F(ABusService, RenewsTheInternalTransportCertificateAndNamesAFailure) {
  CallResult renewed;
  ClientThread renewing(&loop_, [&] {
    SdBusPtr client = ConnectClient(bus_.address());
    renewed = CallManager(client.get(), "RenewInternalTransportCertificate");
  });
  ASSERT_TRUE(PumpUntil(&loop_, [&] { return backend_.PendingGenerations() == 1; }));
  const std::string thumbprint = backend_.FinishGeneration();
  ASSERT_TRUE(renewing.Finish());
  ASSERT_TRUE(Succeeded(renewed));
  EXPECT_EQ(ReadString(renewed.reply.get()), thumbprint);

  CallResult failed;
  ClientThread failing(&loop_, [&] {
    SdBusPtr client = ConnectClient(bus_.address());
    failed = CallManager(client.get(), "RenewInternalTransportCertificate");
  });
  ASSERT_TRUE(PumpUntil(&loop_, [&] { return backend_.PendingGenerations() == 1; }));
  backend_.FailGeneration(
      Error{"cannot write /store/x.pem: No space left on device", ErrorCode::kStore});
  ASSERT_TRUE(failing.Finish());
  EXPECT_TRUE(FailedWith(failed, kErrorStore, "No space left on device"));
}

TEST_F(ABusService, ReloadAsksTheDaemonToReload) {
  ASSERT_TRUE(Succeeded(Call("Reload")));
  EXPECT_EQ(backend_.reloads(), 1);
}

// ---------------------------------------------------------------------------------------------
// Signals

TEST_F(ABusService, AnnouncesCertificatesThatComeAndTheChangedProperties) {
  std::string thumbprint;
  const std::vector<std::string> seen = SignalsWhile(
      [&] {
        thumbprint = backend_.AddCertificate({});
        backend_.SetInternalTransport(thumbprint);
      },
      4);
  ASSERT_EQ(seen.size(), 4U);
  const std::string path = CertificateObjectPath(thumbprint);
  EXPECT_EQ(seen[0],
            "InterfacesAdded /org/transportcertd1 " + path + " org.transportcertd1.Certificate");
  EXPECT_EQ(seen[1],
            "PropertiesChanged /org/transportcertd1 org.transportcertd1.Manager CertificateCount "
            "NextExpiry");
  EXPECT_EQ(seen[2],
            "PropertiesChanged " + path + " org.transportcertd1.Certificate IsInternalTransport");
  EXPECT_EQ(seen[3],
            "PropertiesChanged /org/transportcertd1 org.transportcertd1.Manager "
            "InternalTransportCertificate");
}

TEST_F(ABusService, AnnouncesChangedServicesOnTheCertificateObject) {
  const std::string thumbprint = backend_.AddCertificate({});
  const std::vector<std::string> seen = SignalsWhile(
      [&] {
        EXPECT_TRUE(Succeeded(Call("EnableCertificate", "sasb", thumbprint.c_str(), 1, "HTTP", 0)));
      },
      1);
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0], "PropertiesChanged " + CertificateObjectPath(thumbprint) +
                         " org.transportcertd1.Certificate Services");
}

TEST_F(ABusService, AnnouncesAKeyThatArrivesAndAFileThatHoldsTheCertificateToo) {
  const testing::TestCert made = testing::MakeCertificate(Named({"keyless.example.com"}));
  const std::string path = CertificateObjectPath(made.thumbprint);
  std::vector<std::string> seen =
      SignalsWhile([&] { backend_.WriteStoreFile("keyless.crt", made.cert_pem); }, 2);
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0],
            "InterfacesAdded /org/transportcertd1 " + path + " org.transportcertd1.Certificate");

  // Its key arrives: NoPrivateKey becomes Valid.
  seen = SignalsWhile([&] { backend_.WriteStoreFile("keyless.key", made.key_pem); }, 1);
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0],
            "PropertiesChanged " + path + " org.transportcertd1.Certificate Status HasPrivateKey");

  // A second file with the same certificate: only its file list changes, and nothing else is
  // announced for it (the Manager's count and next expiry stay).
  seen = SignalsWhile(
      [&] {
        backend_.WriteStoreFile("copy.crt", made.cert_pem);
        backend_.SetFqdn("relay.example.com");  // a last, unrelated change ends the wait
        service_->InventoryChanged();
      },
      2);
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0], "PropertiesChanged " + path + " org.transportcertd1.Certificate Files");
  EXPECT_EQ(seen[1], "PropertiesChanged /org/transportcertd1 org.transportcertd1.Manager Fqdn");

  // The same files again, renamed: the list changes though its length does not.
  seen = SignalsWhile(
      [&] {
        ASSERT_EQ(
            std::rename(backend_.Path("copy.crt").c_str(), backend_.Path("copy2.crt").c_str()), 0);
        EXPECT_TRUE(backend_.Reload().ok());
      },
      1);
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0], "PropertiesChanged " + path + " org.transportcertd1.Certificate Files");
  WithClient([&](sd_bus* client) {
    EXPECT_EQ(testing::GetStringsProperty(client, path, kCertificateInterface, "Files"),
              (std::vector<std::string>{backend_.Path("copy2.crt"), backend_.Path("keyless.crt")}));
  });
}

TEST_F(ABusService, EmitsTheThreeDocumentedSignals) {
  const std::vector<std::string> seen = SignalsWhile(
      [&] {
        service_->EmitCertificateExpiring(std::string(40, 'A'), "CN=mail.example.com",
                                          1'700'000'000'000'000, "7d");
        service_->EmitCertificateExpired(std::string(40, 'B'), "CN=old.example.com",
                                         1'600'000'000'000'000);
        service_->EmitInternalTransportCertificateChanged("", std::string(40, 'C'));
      },
      3);
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[0], "CertificateExpiring /org/transportcertd1 " + std::string(40, 'A') +
                         " CN=mail.example.com 1700000000000000 7d");
  EXPECT_EQ(seen[1], "CertificateExpired /org/transportcertd1 " + std::string(40, 'B') +
                         " CN=old.example.com 1600000000000000");
  EXPECT_EQ(seen[2], "InternalTransportCertificateChanged /org/transportcertd1 '' '" +
                         std::string(40, 'C') + "'");
}

// ---------------------------------------------------------------------------------------------
// Authorization

TEST_F(ABusService, RefusesEveryChangeToAnUnprivilegedCallerWhoCanStillRead) {
  if (geteuid() != 0) GTEST_SKIP() << "calling as nobody needs root";
  const std::string thumbprint = backend_.AddCertificate({});
  backend_.SetAdminGroup(4242);
  const std::string pem = testing::MakeCertificate({}).cert_pem;

  struct Change {
    std::string method;
    std::vector<std::string> busctl_args, dbus_send_args;
  };
  const std::vector<Change> changes = {
      {"EnableCertificate",
       {"sasb", thumbprint, "1", "IMAP", "false"},
       {"string:" + thumbprint, "array:string:IMAP", "boolean:false"}},
      {"DisableCertificate",
       {"sas", thumbprint, "1", "SMTP"},
       {"string:" + thumbprint, "array:string:SMTP"}},
      {"NewSelfSignedCertificate", {"as", "0"}, {"array:string:relay.example.com"}},
      // "--": a PEM starts with a dash, which busctl would take for an option.
      {"ImportCertificate", {"--", "sas", pem, "0"}, {"string:" + pem, "array:string:SMTP"}},
      {"RemoveCertificate", {"s", thumbprint}, {"string:" + thumbprint}},
      {"RenewInternalTransportCertificate", {}, {}},
      {"Reload", {}, {}}};
  for (const Change& change : changes) {
    // busctl shows every AccessDenied as "Access denied"; dbus-send shows the name and message.
    std::vector<std::string> busctl_args = {"call", kBusName, kManagerPath, kManagerInterface,
                                            change.method};
    busctl_args.insert(busctl_args.end(), change.busctl_args.begin(), change.busctl_args.end());
    const CommandResult busctl = Run(AsNobody(Busctl(bus_.address(), busctl_args)));
    EXPECT_EQ(busctl.exit_code, 1) << change.method;
    EXPECT_EQ(busctl.err, "Call failed: Access denied\n") << change.method;

    std::vector<std::string> dbus_send = {
        "dbus-send",     "--bus=" + bus_.address(),
        "--print-reply", std::string("--dest=") + kBusName,
        kManagerPath,    std::string(kManagerInterface) + "." + change.method};
    dbus_send.insert(dbus_send.end(), change.dbus_send_args.begin(), change.dbus_send_args.end());
    const CommandResult refused = Run(AsNobody(dbus_send));
    EXPECT_NE(refused.exit_code, 0) << change.method;
    EXPECT_EQ(refused.err, std::string("Error ") + kAccessDenied +
                               ": only root and members of group gid 4242 may call " +
                               change.method + "; the caller is uid 65534\n");
  }
  EXPECT_EQ(backend_.ServicesOf(thumbprint), Bit(Service::kSmtp));
  EXPECT_NE(backend_.CurrentInventory().Find(thumbprint), nullptr);
  EXPECT_EQ(backend_.PendingGenerations(), 0U);
  EXPECT_EQ(backend_.reloads(), 0);

  // Reading stays open.
  const CommandResult list = Run(AsNobody(Busctl(
      bus_.address(), {"call", kBusName, kManagerPath, kManagerInterface, "ListCertificates"})));
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(Contains(list.out, thumbprint));
  const CommandResult property = Run(
      AsNobody(Busctl(bus_.address(), {"get-property", kBusName, CertificateObjectPath(thumbprint),
                                       kCertificateInterface, "Status"})));
  EXPECT_EQ(property.exit_code, 0) << property.err;
  EXPECT_EQ(property.out, "s \"Valid\"\n");
  const CommandResult explain =
      Run(AsNobody(Busctl(bus_.address(), {"call", kBusName, kManagerPath, kManagerInterface,
                                           "ExplainSelection", "ss", "mail.example.com", "SMTP"})));
  EXPECT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_TRUE(Contains(explain.out, "\"selected\""));
}

TEST_F(ABusService, LetsMembersOfTheAdminGroupChangeThings) {
  if (geteuid() != 0) GTEST_SKIP() << "calling as nobody needs root";
  backend_.SetAdminGroup(4242);
  const std::vector<std::string> reload =
      Busctl(bus_.address(), {"call", kBusName, kManagerPath, kManagerInterface, "Reload"});

  std::vector<std::string> supplementary = {"setpriv", "--reuid=nobody", "--regid=nogroup",
                                            "--groups=4242"};
  supplementary.insert(supplementary.end(), reload.begin(), reload.end());
  const CommandResult as_member = Run(supplementary);
  EXPECT_EQ(as_member.exit_code, 0) << as_member.err;

  std::vector<std::string> primary = {"setpriv", "--reuid=nobody", "--regid=4242",
                                      "--clear-groups"};
  primary.insert(primary.end(), reload.begin(), reload.end());
  const CommandResult as_primary = Run(primary);
  EXPECT_EQ(as_primary.exit_code, 0) << as_primary.err;
  EXPECT_EQ(backend_.reloads(), 2);
}

TEST_F(ABusService, OnlyRootMayChangeThingsWithoutAnAdminGroup) {
  backend_.SetAdminGroup(-1);
  if (geteuid() == 0) {
    EXPECT_TRUE(Succeeded(Call("Reload")));
    const CommandResult refused = Run(AsNobody(
        {"dbus-send", "--bus=" + bus_.address(), "--print-reply", std::string("--dest=") + kBusName,
         kManagerPath, std::string(kManagerInterface) + ".Reload"}));
    EXPECT_TRUE(Contains(refused.err, "only root may call Reload (no admin_group is configured)"));
    EXPECT_EQ(backend_.reloads(), 1);
  } else {
    EXPECT_TRUE(FailedWith(Call("Reload"), kAccessDenied,
                           "only root may call Reload (no admin_group is configured)"));
    EXPECT_EQ(backend_.reloads(), 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Robustness and lifecycle

TEST_F(ABusService, TurnsAnExceptionInTheDaemonIntoAnErrorAndKeepsServing) {
  backend_.AddCertificate({});
  backend_.SetThrowOnSelect(true);
  EXPECT_TRUE(FailedWith(Call("SelectCertificate", "ss", "mail.example.com", "SMTP"), kFailed,
                         "internal error: selection exploded"));
  // ExplainSelection's reply is built later (ipc/deferred_replies.h): the same error.
  EXPECT_TRUE(FailedWith(Call("ExplainSelection", "ss", "mail.example.com", "SMTP"), kFailed,
                         "internal error: selection exploded"));
  backend_.SetThrowOnSelect(false);
  EXPECT_TRUE(Succeeded(Call("SelectCertificate", "ss", "mail.example.com", "SMTP")));
  EXPECT_TRUE(Succeeded(Call("ExplainSelection", "ss", "mail.example.com", "SMTP")));
}

TEST_F(ABusService, RefusesToStartWhenTheNameIsAlreadyOwned) {
  Result<std::unique_ptr<BusService>> second =
      BusService::Start(&loop_, BusKind::kSystem, backend_, [](const std::string&) {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message, "org.transportcertd1 is already owned by another process");
}

TEST_F(ABusService, SaysWhyItCannotConnect) {
  setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus", 1);
  Result<std::unique_ptr<BusService>> failed =
      BusService::Start(&loop_, BusKind::kSystem, backend_, [](const std::string&) {});
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(Contains(failed.error().message, "cannot connect to the system bus: "));
}

TEST_F(ABusService, ReportsALostConnectionToTheBus) {
  bus_.Kill();
  ASSERT_TRUE(PumpUntil(
      &loop_, [&] { return !lost_reason_.empty(); }, 10s));
  EXPECT_TRUE(Contains(lost_reason_, "connection to the bus lost"));
  // Emitting after the loss is harmless.
  service_->InventoryChanged();
  service_->EmitCertificateExpired(std::string(40, 'A'), "CN=x", 0);
}

TEST_F(ABusService, ReleasesTheNameWhenStopped) {
  StopService();
  const CommandResult list = RunBusctl({"list", "--acquired"});
  EXPECT_FALSE(Contains(list.out, kBusName)) << list.out;
  StartService();  // and it can be owned again
  EXPECT_TRUE(Succeeded(Call("Reload")));
}

TEST_F(ABusService, RunsOnASessionBusToo) {
  StopService();
  setenv("DBUS_SESSION_BUS_ADDRESS", bus_.address().c_str(), 1);
  StartService(BusKind::kSession);
  EXPECT_TRUE(List().empty());
}

}  // namespace
}  // namespace transportcertd
