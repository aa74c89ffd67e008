// org.transportcertd1.Manager on /org/transportcertd1 (docs/dbus-api.md): the table, then the
// handlers. Every handler reads its arguments, validates them, authorizes the caller when it
// changes something, calls the daemon (ManagerBackend) and replies; domain errors are named at
// the end.
#include <grp.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ipc/bus_arguments.h"
#include "ipc/bus_errors.h"
#include "ipc/bus_messages.h"
#include "ipc/bus_names.h"
#include "ipc/bus_service_impl.h"
#include "transportcertd_version.h"

namespace transportcertd {
namespace {

// Reading is open to every local user, so every method is UNPRIVILEGED for sd-bus (which would
// otherwise demand CAP_SYS_ADMIN); the methods that change something check the caller
// themselves (BusServiceImpl::Authorize). sd-bus refuses the flag on read-only properties and
// on signals, which need none.
constexpr std::uint64_t kOpen = SD_BUS_VTABLE_UNPRIVILEGED;
constexpr std::uint64_t kChanges = SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE;
constexpr std::uint64_t kConst = SD_BUS_VTABLE_PROPERTY_CONST;

using Impl = BusServiceImpl;

}  // namespace

// clang-format off
const sd_bus_vtable BusServiceImpl::kManagerVtable[] = {
    SD_BUS_VTABLE_START(0),

    SD_BUS_PROPERTY(kPropertyFqdn, "s", PropertyCallback<&Impl::GetFqdn>, 0, kChanges),
    SD_BUS_PROPERTY(kPropertyStorePath, "s", PropertyCallback<&Impl::GetStorePath>, 0, kChanges),
    SD_BUS_PROPERTY(kPropertyInternalTransportCertificate, "s",
                    PropertyCallback<&Impl::GetInternalTransportCertificate>, 0, kChanges),
    SD_BUS_PROPERTY("CertificateCount", "u", PropertyCallback<&Impl::GetCertificateCount>, 0,
                    kChanges),
    SD_BUS_PROPERTY("NextExpiry", "t", PropertyCallback<&Impl::GetNextExpiry>, 0, kChanges),
    SD_BUS_PROPERTY(kPropertyVersion, "s", PropertyCallback<&Impl::GetVersion>, 0, kConst),
    SD_BUS_PROPERTY(kPropertyPublishedNames, "as", PropertyCallback<&Impl::GetPublishedNames>, 0,
                    kChanges),
    SD_BUS_PROPERTY(kPropertyVerifyEndpoints, "as", PropertyCallback<&Impl::GetVerifyEndpoints>, 0,
                    kChanges),
    SD_BUS_PROPERTY(kPropertyMetricsTextfile, "s", PropertyCallback<&Impl::GetMetricsTextfile>, 0,
                    kChanges),

    // Reading.
    SD_BUS_METHOD_WITH_ARGS(kMethodListCertificates,
                            SD_BUS_NO_ARGS,
                            SD_BUS_RESULT(kListCertificatesSignature, certificates),
                            MethodCallback<&Impl::ListCertificates>, kOpen),
    SD_BUS_METHOD_WITH_ARGS(kMethodGetCertificate,
                            SD_BUS_ARGS("s", thumbprint),
                            SD_BUS_RESULT("o", object_path),
                            MethodCallback<&Impl::GetCertificate>, kOpen),
    SD_BUS_METHOD_WITH_ARGS(kMethodSelectCertificate,
                            SD_BUS_ARGS("s", fqdn, "s", service),
                            SD_BUS_RESULT("s", thumbprint, "s", reason),
                            MethodCallback<&Impl::SelectCertificate>, kOpen),
    SD_BUS_METHOD_WITH_ARGS(kMethodExplainSelection,
                            SD_BUS_ARGS("s", fqdn, "s", service),
                            SD_BUS_RESULT(kExplainSelectionSignature, verdicts),
                            MethodCallback<&Impl::ExplainSelection>, kOpen),
    SD_BUS_METHOD_WITH_ARGS("GetTlsaRecords",
                            SD_BUS_ARGS("s", name),
                            SD_BUS_RESULT("as", records),
                            MethodCallback<&Impl::GetTlsaRecords>, kOpen),

    // Changing: root or admin_group only.
    SD_BUS_METHOD_WITH_ARGS(kMethodEnableCertificate,
                            SD_BUS_ARGS("s", thumbprint, "as", services,
                                        "b", make_internal_transport),
                            SD_BUS_NO_RESULT,
                            MethodCallback<&Impl::EnableCertificate>, kOpen),
    SD_BUS_METHOD_WITH_ARGS(kMethodDisableCertificate,
                            SD_BUS_ARGS("s", thumbprint, "as", services),
                            SD_BUS_NO_RESULT,
                            MethodCallback<&Impl::DisableCertificate>, kOpen),
    SD_BUS_METHOD_WITH_ARGS(kMethodNewSelfSignedCertificate,
                            SD_BUS_ARGS("as", names),
                            SD_BUS_RESULT("s", thumbprint),
                            MethodCallback<&Impl::NewSelfSignedCertificate>, kOpen),
    SD_BUS_METHOD_WITH_ARGS(kMethodImportCertificate,
                            SD_BUS_ARGS("s", pem, "as", services),
                            SD_BUS_RESULT("s", thumbprint),
                            MethodCallback<&Impl::ImportCertificate>, kOpen),
    SD_BUS_METHOD_WITH_ARGS(kMethodRemoveCertificate,
                            SD_BUS_ARGS("s", thumbprint),
                            SD_BUS_NO_RESULT,
                            MethodCallback<&Impl::RemoveCertificate>, kOpen),
    SD_BUS_METHOD_WITH_ARGS(kMethodRenewInternalTransportCertificate,
                            SD_BUS_NO_ARGS,
                            SD_BUS_RESULT("s", thumbprint),
                            MethodCallback<&Impl::RenewInternalTransportCertificate>, kOpen),
    SD_BUS_METHOD_WITH_ARGS(kMethodReload,
                            SD_BUS_NO_ARGS,
                            SD_BUS_NO_RESULT,
                            MethodCallback<&Impl::Reload>, kOpen),

    SD_BUS_SIGNAL_WITH_ARGS("CertificateExpiring",
                            SD_BUS_ARGS("s", thumbprint, "s", subject, "t", not_after,
                                        "s", threshold), 0),
    SD_BUS_SIGNAL_WITH_ARGS("CertificateExpired",
                            SD_BUS_ARGS("s", thumbprint, "s", subject, "t", not_after), 0),
    SD_BUS_SIGNAL_WITH_ARGS("InternalTransportCertificateChanged",
                            SD_BUS_ARGS("s", old_thumbprint, "s", new_thumbprint), 0),

    SD_BUS_VTABLE_END};
// clang-format on

namespace {

// Sends `reply` (a method return being built) after `writer` filled it.
int SendReply(const SdBusMessagePtr& reply, const MessageWriter& writer) {
  if (writer.result() < 0) return writer.result();
  return sd_bus_send(nullptr, reply.get(), nullptr);
}

Result<SdBusMessagePtr> NewReply(sd_bus_message* call) {
  sd_bus_message* raw = nullptr;
  if (const int r = sd_bus_message_new_method_return(call, &raw); r < 0) {
    return Error{"cannot create a reply"};
  }
  return SdBusMessagePtr(raw);
}

// Answers `call` with the thumbprint `result` names, or its error.
void AnswerGeneration(sd_bus_message* call, const Result<std::string>& result) noexcept {
  try {
    if (result.ok()) {
      const std::string thumbprint = ValidUtf8(*result);
      sd_bus_reply_method_return(call, "s", thumbprint.c_str());
    } else {
      SdBusError error;
      SetBusError(error.get(), result.error());
      sd_bus_reply_method_error(call, error.get());
    }
  } catch (...) {
    sd_bus_reply_method_errorf(call, SD_BUS_ERROR_NO_MEMORY, "out of memory");
  }
  // A caller that went away or a closed connection cannot be answered: nothing to do.
}

// The reply for a method whose backend call completes later (generation): keeps a reference to
// the call and answers it exactly once, from the loop thread, whenever the daemon is done:
// after the signals of the change it reports (the daemon announces the new certificate first),
// also when those wait behind a big reply under way (`deferred`, while the service lives).
ManagerBackend::GenerationDone ReplyWhenDone(sd_bus_message* call,
                                             const std::weak_ptr<DeferredReplies>& deferred) {
  auto pending = std::make_shared<SdBusMessagePtr>(sd_bus_message_ref(call));
  return [pending, deferred](const Result<std::string>& result) noexcept {
    if (!*pending) return;  // already answered
    try {
      if (const auto replies = deferred.lock()) {
        auto queued = std::make_shared<SdBusMessagePtr>(std::move(*pending));
        replies->AfterUnderWay([queued, result] { AnswerGeneration(queued->get(), result); });
        return;
      }
    } catch (...) {
      // Out of memory for the queue: answered at once below, if the call was not taken yet.
    }
    if (!*pending) return;
    const SdBusMessagePtr call_message = std::move(*pending);
    AnswerGeneration(call_message.get(), result);
  };
}

std::string GroupName(long gid) {
  group entry{};
  group* found = nullptr;
  std::vector<char> buffer(4096);
  if (getgrgid_r(static_cast<gid_t>(gid), &entry, buffer.data(), buffer.size(), &found) == 0 &&
      found != nullptr) {
    return found->gr_name;
  }
  return "gid " + std::to_string(gid);
}

Error NoCertificateError(std::size_t count, const std::string& fqdn, Service service) {
  std::string message =
      "no certificate can be presented for " + ServiceName(service) + " on " + fqdn + ": ";
  if (count == 0) {
    message += "the store holds no certificates";
  } else {
    message += count == 1 ? "the one certificate in the store is not eligible"
                          : "none of the " + std::to_string(count) +
                                " certificates in the store is eligible";
    message += " (ExplainSelection says why)";
  }
  return Error{message, ErrorCode::kNoCertificate};
}

}  // namespace

int BusServiceImpl::Authorize(sd_bus_message* call, sd_bus_error* error) {
  const char* member = sd_bus_message_get_member(call);
  const std::string method = member != nullptr ? member : "this method";

  sd_bus_creds* raw = nullptr;
  const int r = sd_bus_query_sender_creds(
      call,
      SD_BUS_CREDS_EUID | SD_BUS_CREDS_GID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS | SD_BUS_CREDS_AUGMENT,
      &raw);
  if (r < 0) {
    return SetAccessDenied(error,
                           "cannot verify who is calling " + method + ": " + std::strerror(-r));
  }
  const SdBusCredsPtr creds(raw);
  uid_t euid = 0;
  if (sd_bus_creds_get_euid(creds.get(), &euid) < 0) {
    return SetAccessDenied(error, "cannot verify who is calling " + method);
  }
  if (euid == 0) return 0;

  const long admin_gid = backend_.AdminGroupId();
  if (admin_gid >= 0) {
    gid_t gid = 0;
    if (sd_bus_creds_get_gid(creds.get(), &gid) >= 0 && static_cast<long>(gid) == admin_gid) {
      return 0;
    }
    const gid_t* groups = nullptr;
    const int count = sd_bus_creds_get_supplementary_gids(creds.get(), &groups);
    for (int i = 0; i < count; ++i) {
      if (static_cast<long>(groups[i]) == admin_gid) return 0;
    }
  }
  const std::string who = "uid " + std::to_string(euid);
  if (admin_gid < 0) {
    return SetAccessDenied(error, "only root may call " + method +
                                      " (no admin_group is configured); the caller is " + who);
  }
  return SetAccessDenied(error, "only root and members of group " + GroupName(admin_gid) +
                                    " may call " + method + "; the caller is " + who);
}

// ---- reading ----

int BusServiceImpl::ListCertificates(sd_bus_message* call, sd_bus_error* /*error*/) {
  // Megabytes at thousands of certificates: written when its turn comes, a part at a time
  // (ipc/deferred_replies.h).
  deferred_->Add(call,
                 [this, reply = std::make_shared<std::optional<CertificateRows::Reply>>()](
                     sd_bus_message* waiting) { return WriteCertificateList(waiting, *reply); });
  return 1;
}

int BusServiceImpl::WriteCertificateList(sd_bus_message* call,
                                         std::optional<CertificateRows::Reply>& reply) {
  if (!reply) {
    Result<CertificateRows::Reply> started = rows_.StartReply(call, backend_);
    if (!started.ok()) return -ENOMEM;
    reply = std::move(started).value();
  }
  if (const int r = reply->AppendPart(kRowsPerPart); r != 0) return r;
  // The rows are kept for the next calls; given back once none came for a while.
  if (rows_timer_ != nullptr) {
    uv_timer_start(
        rows_timer_,
        [](uv_timer_t* timer) {
          auto* self = static_cast<BusServiceImpl*>(timer->data);
          if (self != nullptr) self->rows_.Clear();
        },
        kRowsKeptMs, 0);
  }
  const int sent = sd_bus_send(nullptr, reply->message(), nullptr);
  return sent < 0 ? sent : 0;
}

int BusServiceImpl::GetCertificate(sd_bus_message* call, sd_bus_error* error) {
  Result<std::string> thumbprint = ReadStringArgument(call, "thumbprint");
  if (thumbprint.ok()) thumbprint = ParseThumbprintArgument(*thumbprint);
  if (!thumbprint.ok()) return SetBusError(error, thumbprint.error());

  if (backend_.CurrentInventory().Find(*thumbprint) == nullptr) {
    return SetBusError(error,
                       Error{"no certificate with thumbprint " + *thumbprint + " in the store",
                             ErrorCode::kNoSuchCertificate});
  }
  const std::string path = CertificateObjectPath(*thumbprint);
  return sd_bus_reply_method_return(call, "o", path.c_str());
}

namespace {

// The (fqdn, service) arguments of SelectCertificate and ExplainSelection, validated.
struct SelectionArguments {
  std::string fqdn;
  Service service = Service::kSmtp;
};

Result<SelectionArguments> ReadSelectionArguments(sd_bus_message* call) {
  Result<std::string> fqdn = ReadStringArgument(call, "fqdn");
  if (!fqdn.ok()) return fqdn.error();
  Result<std::string> service_name = ReadStringArgument(call, "service");
  if (!service_name.ok()) return service_name.error();

  Result<std::string> hostname = ParseHostnameArgument(*fqdn);
  if (!hostname.ok()) return hostname.error();
  Result<Service> service = ParseServiceArgument(*service_name);
  if (!service.ok()) return service.error();
  return SelectionArguments{std::move(hostname).value(), *service};
}

}  // namespace

int BusServiceImpl::SelectCertificate(sd_bus_message* call, sd_bus_error* error) {
  Result<SelectionArguments> args = ReadSelectionArguments(call);
  if (!args.ok()) return SetBusError(error, args.error());

  const Selection selection = backend_.Select(args->fqdn, args->service);
  if (selection.winner == nullptr) {
    const std::size_t count = backend_.CurrentInventory().certificates.size();
    return SetBusError(error, NoCertificateError(count, args->fqdn, args->service));
  }
  const std::string thumbprint = ValidUtf8(selection.winner->cert().thumbprint());
  const std::string reason = ValidUtf8(selection.reason);
  return sd_bus_reply_method_return(call, "ss", thumbprint.c_str(), reason.c_str());
}

int BusServiceImpl::ExplainSelection(sd_bus_message* call, sd_bus_error* error) {
  Result<SelectionArguments> args = ReadSelectionArguments(call);
  if (!args.ok()) return SetBusError(error, args.error());
  // About a megabyte at thousands of certificates: written when its turn comes, a part at a
  // time.
  deferred_->Add(call,
                 [this, fqdn = args->fqdn, service = args->service,
                  reply = std::make_shared<std::optional<Explanation>>()](sd_bus_message* waiting) {
                   return WriteExplanation(waiting, fqdn, service, *reply);
                 });
  return 1;
}

int BusServiceImpl::WriteExplanation(sd_bus_message* call, const std::string& fqdn, Service service,
                                     std::optional<Explanation>& reply) {
  if (!reply) {
    Selection selection = backend_.Explain(fqdn, service);
    Result<SdBusMessagePtr> message = NewReply(call);
    if (!message.ok()) return -ENOMEM;
    reply = Explanation{std::move(selection.judgements), std::move(message).value(), 0};
  }
  const std::vector<Judgement>& judgements = reply->judgements;
  const auto write_row = [&judgements](MessageWriter& out, std::size_t i) {
    const Judgement& judgement = judgements[i];
    out.Open(SD_BUS_TYPE_STRUCT, kVerdictRowContents)
        .String(judgement.thumbprint)
        .String(VerdictName(judgement.verdict))
        .String(judgement.reason)
        .Close();
  };
  const int r = AppendArrayPart(reply->message.get(), kVerdictRowSignature, judgements.size(),
                                reply->next, kRowsPerPart, write_row);
  if (r != 0) return r;
  const int sent = sd_bus_send(nullptr, reply->message.get(), nullptr);
  return sent < 0 ? sent : 0;
}

int BusServiceImpl::GetTlsaRecords(sd_bus_message* call, sd_bus_error* error) {
  Result<std::string> name = ReadStringArgument(call, "name");
  if (!name.ok()) return SetBusError(error, name.error());
  if (!name->empty()) {
    name = ParseHostnameArgument(*name);
    if (!name.ok()) return SetBusError(error, name.error());
  }

  Result<std::vector<std::string>> records = backend_.GetTlsaRecords(*name);
  if (!records.ok()) return SetBusError(error, records.error());
  Result<SdBusMessagePtr> reply = NewReply(call);
  if (!reply.ok()) return SetBusError(error, reply.error());
  MessageWriter writer(reply->get());
  writer.Open(SD_BUS_TYPE_ARRAY, "s");
  for (const std::string& record : *records) writer.String(record);
  writer.Close();
  return SendReply(*reply, writer);
}

// ---- changing ----

int BusServiceImpl::EnableCertificate(sd_bus_message* call, sd_bus_error* error) {
  Result<std::string> thumbprint = ReadStringArgument(call, "thumbprint");
  if (!thumbprint.ok()) return SetBusError(error, thumbprint.error());
  Result<std::vector<std::string>> service_names = ReadStringListArgument(call, "services");
  if (!service_names.ok()) return SetBusError(error, service_names.error());
  Result<bool> make_internal = ReadBoolArgument(call, "make_internal_transport");
  if (!make_internal.ok()) return SetBusError(error, make_internal.error());

  thumbprint = ParseThumbprintArgument(*thumbprint);
  if (!thumbprint.ok()) return SetBusError(error, thumbprint.error());
  Result<ServiceSet> services = ParseServiceListArgument(*service_names);
  if (!services.ok()) return SetBusError(error, services.error());
  if (*services == 0 && !*make_internal) {
    return SetBusError(error, Error{"nothing to do: name at least one service to enable (SMTP, "
                                    "IMAP, POP, HTTP) or set make_internal_transport",
                                    ErrorCode::kInvalidArgument});
  }
  if (const int denied = Authorize(call, error); denied < 0) return denied;

  FlushBeforeChange();
  if (Status done = backend_.EnableCertificate(*thumbprint, *services, *make_internal);
      !done.ok()) {
    return SetBusError(error, done.error());
  }
  return sd_bus_reply_method_return(call, nullptr);
}

int BusServiceImpl::DisableCertificate(sd_bus_message* call, sd_bus_error* error) {
  Result<std::string> thumbprint = ReadStringArgument(call, "thumbprint");
  if (!thumbprint.ok()) return SetBusError(error, thumbprint.error());
  Result<std::vector<std::string>> service_names = ReadStringListArgument(call, "services");
  if (!service_names.ok()) return SetBusError(error, service_names.error());

  thumbprint = ParseThumbprintArgument(*thumbprint);
  if (!thumbprint.ok()) return SetBusError(error, thumbprint.error());
  Result<ServiceSet> services = ParseServiceListArgument(*service_names);
  if (!services.ok()) return SetBusError(error, services.error());
  if (*services == 0) {
    return SetBusError(error, Error{"nothing to do: name at least one service to disable (SMTP, "
                                    "IMAP, POP, HTTP)",
                                    ErrorCode::kInvalidArgument});
  }
  if (const int denied = Authorize(call, error); denied < 0) return denied;

  FlushBeforeChange();
  if (Status done = backend_.DisableCertificate(*thumbprint, *services); !done.ok()) {
    return SetBusError(error, done.error());
  }
  return sd_bus_reply_method_return(call, nullptr);
}

int BusServiceImpl::NewSelfSignedCertificate(sd_bus_message* call, sd_bus_error* error) {
  Result<std::vector<std::string>> name_list = ReadStringListArgument(call, "names");
  if (!name_list.ok()) return SetBusError(error, name_list.error());
  Result<std::vector<std::string>> names = ParseNameListArgument(*name_list);
  if (!names.ok()) return SetBusError(error, names.error());
  if (const int denied = Authorize(call, error); denied < 0) return denied;

  // Generation runs off the loop; the reply goes out when it is done, and the loop keeps
  // serving other callers meanwhile.
  backend_.NewSelfSignedCertificate(*names, ReplyWhenDone(call, deferred_));
  return 1;
}

int BusServiceImpl::ImportCertificate(sd_bus_message* call, sd_bus_error* error) {
  Result<std::string> pem = ReadStringArgument(call, "pem", kMaxPemArgumentBytes);
  if (!pem.ok()) return SetBusError(error, pem.error());
  Result<std::vector<std::string>> service_names = ReadStringListArgument(call, "services");
  if (!service_names.ok()) return SetBusError(error, service_names.error());

  Result<ServiceSet> services = ParseServiceListArgument(*service_names);
  if (!services.ok()) return SetBusError(error, services.error());
  if (const int denied = Authorize(call, error); denied < 0) return denied;

  FlushBeforeChange();
  Result<std::string> thumbprint = backend_.ImportCertificate(*pem, *services);
  if (!thumbprint.ok()) return SetBusError(error, thumbprint.error());
  const std::string reply = ValidUtf8(*thumbprint);
  return sd_bus_reply_method_return(call, "s", reply.c_str());
}

int BusServiceImpl::RemoveCertificate(sd_bus_message* call, sd_bus_error* error) {
  Result<std::string> thumbprint = ReadStringArgument(call, "thumbprint");
  if (thumbprint.ok()) thumbprint = ParseThumbprintArgument(*thumbprint);
  if (!thumbprint.ok()) return SetBusError(error, thumbprint.error());
  if (const int denied = Authorize(call, error); denied < 0) return denied;

  FlushBeforeChange();
  if (Status done = backend_.RemoveCertificate(*thumbprint); !done.ok()) {
    return SetBusError(error, done.error());
  }
  return sd_bus_reply_method_return(call, nullptr);
}

int BusServiceImpl::RenewInternalTransportCertificate(sd_bus_message* call, sd_bus_error* error) {
  if (const int denied = Authorize(call, error); denied < 0) return denied;
  backend_.RenewInternalTransportCertificate(ReplyWhenDone(call, deferred_));
  return 1;
}

int BusServiceImpl::Reload(sd_bus_message* call, sd_bus_error* error) {
  if (const int denied = Authorize(call, error); denied < 0) return denied;
  FlushBeforeChange();
  if (Status done = backend_.Reload(); !done.ok()) return SetBusError(error, done.error());
  return sd_bus_reply_method_return(call, nullptr);
}

// ---- properties ----

int BusServiceImpl::GetFqdn(sd_bus_message* reply, sd_bus_error* /*error*/) {
  return MessageWriter(reply).String(backend_.Fqdn()).result();
}

int BusServiceImpl::GetPublishedNames(sd_bus_message* reply, sd_bus_error* /*error*/) {
  return MessageWriter(reply).Strings(backend_.PublishedNames()).result();
}

int BusServiceImpl::GetVerifyEndpoints(sd_bus_message* reply, sd_bus_error* /*error*/) {
  return MessageWriter(reply).Strings(backend_.VerifyEndpoints()).result();
}

int BusServiceImpl::GetMetricsTextfile(sd_bus_message* reply, sd_bus_error* /*error*/) {
  return MessageWriter(reply).String(backend_.MetricsTextfile()).result();
}

int BusServiceImpl::GetStorePath(sd_bus_message* reply, sd_bus_error* /*error*/) {
  return MessageWriter(reply).String(backend_.StorePath()).result();
}

int BusServiceImpl::GetInternalTransportCertificate(sd_bus_message* reply,
                                                    sd_bus_error* /*error*/) {
  return MessageWriter(reply).String(backend_.CurrentBindings().internal_transport).result();
}

int BusServiceImpl::GetCertificateCount(sd_bus_message* reply, sd_bus_error* /*error*/) {
  const auto count = static_cast<std::uint32_t>(backend_.CurrentInventory().certificates.size());
  return MessageWriter(reply).U32(count).result();
}

int BusServiceImpl::GetNextExpiry(sd_bus_message* reply, sd_bus_error* /*error*/) {
  return MessageWriter(reply).U64(backend_.NextExpiryUsec()).result();
}

int BusServiceImpl::GetVersion(sd_bus_message* reply, sd_bus_error* /*error*/) {
  return MessageWriter(reply).String(kVersion).result();
}

}  // namespace transportcertd
