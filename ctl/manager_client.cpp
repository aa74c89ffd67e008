#include "ctl/manager_client.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "ipc/bus_names.h"

namespace transportcertctl {

using transportcertd::SdBusError;
using transportcertd::SdBusMessagePtr;
using transportcertd::SdBusPtr;

namespace {

// Key generation may take a while on a slow machine; everything else answers at once.
constexpr std::uint64_t kGenerationTimeoutUsec = std::uint64_t{120} * 1000000;

[[noreturn]] void Fail(int r, const std::string& what) {
  throw BusCallError("", what + ": " + std::strerror(-r));
}

void Check(int r, const char* what) {
  if (r < 0) Fail(r, std::string("cannot ") + what);
}

std::string ReadString(sd_bus_message* m, char type = 's') {
  const char* text = nullptr;
  Check(sd_bus_message_read_basic(m, type, &text), "read the reply");
  return text != nullptr ? text : "";
}

std::vector<std::string> ReadStrings(sd_bus_message* m) {
  std::vector<std::string> texts;
  Check(sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s"), "read the reply");
  for (;;) {
    const char* text = nullptr;
    const int r = sd_bus_message_read_basic(m, 's', &text);
    Check(r, "read the reply");
    if (r == 0) break;
    texts.emplace_back(text);
  }
  Check(sd_bus_message_exit_container(m), "read the reply");
  return texts;
}

bool ReadBool(sd_bus_message* m) {
  int value = 0;
  Check(sd_bus_message_read_basic(m, 'b', &value), "read the reply");
  return value != 0;
}

std::uint64_t ReadU64(sd_bus_message* m) {
  std::uint64_t value = 0;
  Check(sd_bus_message_read_basic(m, 't', &value), "read the reply");
  return value;
}

// A new method call on the manager object.
SdBusMessagePtr NewCall(sd_bus* bus, const char* path, const char* interface, const char* method) {
  sd_bus_message* raw = nullptr;
  Check(
      sd_bus_message_new_method_call(bus, &raw, transportcertd::kBusName, path, interface, method),
      "create a D-Bus call");
  return SdBusMessagePtr(raw);
}

SdBusMessagePtr NewManagerCall(sd_bus* bus, const char* method) {
  return NewCall(bus, transportcertd::kManagerPath, transportcertd::kManagerInterface, method);
}

void AppendString(sd_bus_message* m, const std::string& text) {
  Check(sd_bus_message_append_basic(m, 's', text.c_str()), "build the call");
}

void AppendStrings(sd_bus_message* m, const std::vector<std::string>& texts) {
  Check(sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "s"), "build the call");
  for (const std::string& text : texts) AppendString(m, text);
  Check(sd_bus_message_close_container(m), "build the call");
}

// Sends `call` and waits for the reply; an error reply throws BusCallError.
SdBusMessagePtr Call(sd_bus* bus, const SdBusMessagePtr& call, std::uint64_t timeout_usec = 0) {
  SdBusError error;
  sd_bus_message* reply = nullptr;
  const int r = sd_bus_call(bus, call.get(), timeout_usec, error.get(), &reply);
  if (r < 0) {
    if (error.is_set()) throw BusCallError(error.name(), error.message());
    Fail(r, "the call failed");
  }
  return SdBusMessagePtr(reply);
}

Properties ReadProperties(sd_bus_message* m) {
  Properties properties;
  Check(sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}"), "read the properties");
  for (;;) {
    const int entered = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
    Check(entered, "read the properties");
    if (entered == 0) break;
    const std::string name = ReadString(m);
    const char* contents = nullptr;
    Check(sd_bus_message_peek_type(m, nullptr, &contents), "read the properties");
    const std::string signature = contents != nullptr ? contents : "";
    Check(sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, signature.c_str()),
          "read the properties");
    PropertyValue value;
    bool known = true;
    if (signature == "s" || signature == "o") {
      value = PropertyValue{signature[0], ReadString(m, signature[0])};
    } else if (signature == "b") {
      value = PropertyValue{'b', ReadBool(m)};
    } else if (signature == "t") {
      value = PropertyValue{'t', ReadU64(m)};
    } else if (signature == "u") {
      std::uint32_t number = 0;
      Check(sd_bus_message_read_basic(m, 'u', &number), "read the properties");
      value = PropertyValue{'u', std::uint64_t{number}};
    } else if (signature == "as") {
      value = PropertyValue{'a', ReadStrings(m)};
    } else {
      known = false;  // a property of a kind this version does not show
      Check(sd_bus_message_skip(m, signature.c_str()), "read the properties");
    }
    if (known) properties[name] = std::move(value);
    Check(sd_bus_message_exit_container(m), "read the properties");
    Check(sd_bus_message_exit_container(m), "read the properties");
  }
  Check(sd_bus_message_exit_container(m), "read the properties");
  return properties;
}

}  // namespace

ManagerClient::ManagerClient(const Options& options) {
  sd_bus* raw = nullptr;
  int r = 0;
  std::string where;
  if (!options.host.empty()) {
    r = sd_bus_open_system_remote(&raw, options.host.c_str());
    where = "the system bus of " + options.host;
  } else if (options.bus == BusKind::kSession) {
    r = sd_bus_open_user(&raw);
    where = "the session bus";
  } else {
    r = sd_bus_open_system(&raw);
    where = "the system bus";
  }
  if (r < 0) Fail(r, "cannot connect to " + where);
  bus_.reset(raw);
}

Properties ManagerClient::ManagerProperties() {
  return CertificateProperties(transportcertd::kManagerPath);
}

Properties ManagerClient::CertificateProperties(const std::string& object_path) {
  const char* interface = object_path == transportcertd::kManagerPath
                              ? transportcertd::kManagerInterface
                              : transportcertd::kCertificateInterface;
  const SdBusMessagePtr call =
      NewCall(bus_.get(), object_path.c_str(), "org.freedesktop.DBus.Properties", "GetAll");
  AppendString(call.get(), interface);
  const SdBusMessagePtr reply = Call(bus_.get(), call);
  return ReadProperties(reply.get());
}

std::vector<CertificateRow> ManagerClient::ListCertificates() {
  const SdBusMessagePtr call = NewManagerCall(bus_.get(), transportcertd::kMethodListCertificates);
  const SdBusMessagePtr reply = Call(bus_.get(), call);
  sd_bus_message* m = reply.get();
  std::vector<CertificateRow> rows;
  Check(sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY,
                                       transportcertd::kCertificateRowSignature),
        "read the certificate list");
  for (;;) {
    const int entered = sd_bus_message_enter_container(m, SD_BUS_TYPE_STRUCT,
                                                       transportcertd::kCertificateRowContents);
    Check(entered, "read the certificate list");
    if (entered == 0) break;
    CertificateRow row;
    row.thumbprint = ReadString(m);
    row.subject = ReadString(m);
    row.issuer = ReadString(m);
    row.domains = ReadStrings(m);
    row.not_before = ReadU64(m);
    row.not_after = ReadU64(m);
    row.services = ReadStrings(m);
    row.status = ReadString(m);
    row.self_signed = ReadBool(m);
    row.has_private_key = ReadBool(m);
    row.internal_transport = ReadBool(m);
    row.object_path = ReadString(m, 'o');
    Check(sd_bus_message_exit_container(m), "read the certificate list");
    rows.push_back(std::move(row));
  }
  Check(sd_bus_message_exit_container(m), "read the certificate list");
  return rows;
}

std::string ManagerClient::GetCertificate(const std::string& thumbprint) {
  const SdBusMessagePtr call = NewManagerCall(bus_.get(), transportcertd::kMethodGetCertificate);
  AppendString(call.get(), thumbprint);
  const SdBusMessagePtr reply = Call(bus_.get(), call);
  return ReadString(reply.get(), 'o');
}

Selected ManagerClient::SelectCertificate(const std::string& fqdn, const std::string& service) {
  const SdBusMessagePtr call = NewManagerCall(bus_.get(), transportcertd::kMethodSelectCertificate);
  AppendString(call.get(), fqdn);
  AppendString(call.get(), service);
  const SdBusMessagePtr reply = Call(bus_.get(), call);
  Selected selected;
  selected.thumbprint = ReadString(reply.get());
  selected.reason = ReadString(reply.get());
  return selected;
}

std::vector<VerdictRow> ManagerClient::ExplainSelection(const std::string& fqdn,
                                                        const std::string& service) {
  const SdBusMessagePtr call = NewManagerCall(bus_.get(), transportcertd::kMethodExplainSelection);
  AppendString(call.get(), fqdn);
  AppendString(call.get(), service);
  const SdBusMessagePtr reply = Call(bus_.get(), call);
  sd_bus_message* m = reply.get();
  std::vector<VerdictRow> rows;
  Check(sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, transportcertd::kVerdictRowSignature),
        "read the verdicts");
  for (;;) {
    const int entered =
        sd_bus_message_enter_container(m, SD_BUS_TYPE_STRUCT, transportcertd::kVerdictRowContents);
    Check(entered, "read the verdicts");
    if (entered == 0) break;
    VerdictRow row;
    row.thumbprint = ReadString(m);
    row.verdict = ReadString(m);
    row.reason = ReadString(m);
    Check(sd_bus_message_exit_container(m), "read the verdicts");
    rows.push_back(std::move(row));
  }
  Check(sd_bus_message_exit_container(m), "read the verdicts");
  return rows;
}

void ManagerClient::EnableCertificate(const std::string& thumbprint,
                                      const std::vector<std::string>& services,
                                      bool make_internal_transport) {
  const SdBusMessagePtr call = NewManagerCall(bus_.get(), transportcertd::kMethodEnableCertificate);
  AppendString(call.get(), thumbprint);
  AppendStrings(call.get(), services);
  const int flag = make_internal_transport ? 1 : 0;
  Check(sd_bus_message_append_basic(call.get(), 'b', &flag), "build the call");
  Call(bus_.get(), call);
}

void ManagerClient::DisableCertificate(const std::string& thumbprint,
                                       const std::vector<std::string>& services) {
  const SdBusMessagePtr call =
      NewManagerCall(bus_.get(), transportcertd::kMethodDisableCertificate);
  AppendString(call.get(), thumbprint);
  AppendStrings(call.get(), services);
  Call(bus_.get(), call);
}

std::string ManagerClient::NewSelfSignedCertificate(const std::vector<std::string>& names) {
  const SdBusMessagePtr call =
      NewManagerCall(bus_.get(), transportcertd::kMethodNewSelfSignedCertificate);
  AppendStrings(call.get(), names);
  const SdBusMessagePtr reply = Call(bus_.get(), call, kGenerationTimeoutUsec);
  return ReadString(reply.get());
}

std::string ManagerClient::ImportCertificate(const std::string& pem,
                                             const std::vector<std::string>& services) {
  const SdBusMessagePtr call = NewManagerCall(bus_.get(), transportcertd::kMethodImportCertificate);
  AppendString(call.get(), pem);
  AppendStrings(call.get(), services);
  const SdBusMessagePtr reply = Call(bus_.get(), call);
  return ReadString(reply.get());
}

void ManagerClient::RemoveCertificate(const std::string& thumbprint) {
  const SdBusMessagePtr call = NewManagerCall(bus_.get(), transportcertd::kMethodRemoveCertificate);
  AppendString(call.get(), thumbprint);
  Call(bus_.get(), call);
}

std::string ManagerClient::RenewInternalTransportCertificate() {
  const SdBusMessagePtr call =
      NewManagerCall(bus_.get(), transportcertd::kMethodRenewInternalTransportCertificate);
  const SdBusMessagePtr reply = Call(bus_.get(), call, kGenerationTimeoutUsec);
  return ReadString(reply.get());
}

void ManagerClient::Reload() {
  const SdBusMessagePtr call = NewManagerCall(bus_.get(), transportcertd::kMethodReload);
  Call(bus_.get(), call);
}

std::vector<std::string> ManagerClient::GetTlsaRecords(const std::string& name) {
  const SdBusMessagePtr call = NewManagerCall(bus_.get(), transportcertd::kMethodGetTlsaRecords);
  AppendString(call.get(), name);
  const SdBusMessagePtr reply = Call(bus_.get(), call);
  return ReadStrings(reply.get());
}

}  // namespace transportcertctl
