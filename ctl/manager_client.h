// transportcertctl's side of org.transportcertd1: one connection (local system or session bus,
// or a remote host's system bus over ssh) and one function per method it calls, each returning
// the reply as plain data. A D-Bus error reply throws BusCallError with the error's name and
// message. The names and signatures are ipc/bus_names.h's, the daemon's own.
// Single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "ctl/options.h"
#include "ipc/sd_bus_handles.h"

namespace transportcertctl {

// The daemon (or the bus) answered with an error, or the call could not be made.
class BusCallError : public std::runtime_error {
 public:
  BusCallError(std::string name, const std::string& message)
      : std::runtime_error(message), name_(std::move(name)) {}
  // The D-Bus error name, e.g. org.transportcertd1.Error.NoSuchCertificate; empty when the
  // failure was local (no bus, no connection).
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// One row of ListCertificates.
struct CertificateRow {
  std::string thumbprint;
  std::string subject;
  std::string issuer;
  std::vector<std::string> domains;
  std::uint64_t not_before = 0;  // microseconds since the epoch
  std::uint64_t not_after = 0;
  std::vector<std::string> services;
  std::string status;
  bool self_signed = false;
  bool has_private_key = false;
  bool internal_transport = false;
  std::string object_path;
};

// One row of ExplainSelection.
struct VerdictRow {
  std::string thumbprint;
  std::string verdict;  // selected | eligible | ineligible
  std::string reason;
};

struct Selected {
  std::string thumbprint;
  std::string reason;
};

// A property value, as far as the daemon's properties go: s/o (string), b, u/t (number), as.
struct PropertyValue {
  char type = 's';  // the D-Bus type: 's', 'o', 'b', 'u', 't', 'a' (array of strings)
  std::variant<std::string, bool, std::uint64_t, std::vector<std::string>> value;
};
using Properties = std::map<std::string, PropertyValue>;

class ManagerClient {
 public:
  // Connects as `options` says (--bus, -H). Throws BusCallError.
  explicit ManagerClient(const Options& options);

  Properties ManagerProperties();
  Properties CertificateProperties(const std::string& object_path);

  std::vector<CertificateRow> ListCertificates();
  std::string GetCertificate(const std::string& thumbprint);  // → object path
  Selected SelectCertificate(const std::string& fqdn, const std::string& service);
  std::vector<VerdictRow> ExplainSelection(const std::string& fqdn, const std::string& service);
  void EnableCertificate(const std::string& thumbprint, const std::vector<std::string>& services,
                         bool make_internal_transport);
  void DisableCertificate(const std::string& thumbprint, const std::vector<std::string>& services);
  std::string NewSelfSignedCertificate(const std::vector<std::string>& names);
  std::string ImportCertificate(const std::string& pem, const std::vector<std::string>& services);
  void RemoveCertificate(const std::string& thumbprint);
  std::string RenewInternalTransportCertificate();
  void Reload();
  std::vector<std::string> GetTlsaRecords(const std::string& name);

 private:
  transportcertd::SdBusPtr bus_;
};

}  // namespace transportcertctl
