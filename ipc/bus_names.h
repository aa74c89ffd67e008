// The names the daemon has on D-Bus (docs/dbus-api.md): bus name, object paths, interfaces,
// error names, and the members and signatures that both the daemon (ipc/) and its clients
// (transportcertctl in ctl/) use. Constants only.
#pragma once

#include <string>

namespace transportcertd {

inline constexpr const char* kBusName = "org.transportcertd1";
inline constexpr const char* kManagerPath = "/org/transportcertd1";
inline constexpr const char* kManagerInterface = "org.transportcertd1.Manager";
inline constexpr const char* kCertificateInterface = "org.transportcertd1.Certificate";
// Certificate objects are kCertificatePathPrefix + "/" + THUMBPRINT (uppercase hex, unescaped:
// hex digits are valid object path characters).
inline constexpr const char* kCertificatePathPrefix = "/org/transportcertd1/certificate";

inline constexpr const char* kErrorNoSuchCertificate =
    "org.transportcertd1.Error.NoSuchCertificate";
inline constexpr const char* kErrorInternalTransportCertificate =
    "org.transportcertd1.Error.InternalTransportCertificate";
inline constexpr const char* kErrorNoCertificate = "org.transportcertd1.Error.NoCertificate";
inline constexpr const char* kErrorStore = "org.transportcertd1.Error.StoreError";

// Manager methods.
inline constexpr const char* kMethodListCertificates = "ListCertificates";
inline constexpr const char* kMethodGetCertificate = "GetCertificate";
inline constexpr const char* kMethodSelectCertificate = "SelectCertificate";
inline constexpr const char* kMethodExplainSelection = "ExplainSelection";
inline constexpr const char* kMethodEnableCertificate = "EnableCertificate";
inline constexpr const char* kMethodDisableCertificate = "DisableCertificate";
inline constexpr const char* kMethodNewSelfSignedCertificate = "NewSelfSignedCertificate";
inline constexpr const char* kMethodImportCertificate = "ImportCertificate";
inline constexpr const char* kMethodRemoveCertificate = "RemoveCertificate";
inline constexpr const char* kMethodRenewInternalTransportCertificate =
    "RenewInternalTransportCertificate";
inline constexpr const char* kMethodReload = "Reload";
inline constexpr const char* kMethodGetTlsaRecords = "GetTlsaRecords";

// Manager properties a client reads. PublishedNames is optional: a daemon that does not have it
// publishes the FQDN only.
inline constexpr const char* kPropertyFqdn = "Fqdn";
inline constexpr const char* kPropertyStorePath = "StorePath";
inline constexpr const char* kPropertyInternalTransportCertificate = "InternalTransportCertificate";
inline constexpr const char* kPropertyVersion = "Version";
inline constexpr const char* kPropertyPublishedNames = "PublishedNames";
// The endpoints (port/protocol) `transportcertctl verify` checks; optional like PublishedNames.
inline constexpr const char* kPropertyVerifyEndpoints = "VerifyEndpoints";
// The [metrics] textfile path ("" when off): verify writes its series next to it.
inline constexpr const char* kPropertyMetricsTextfile = "MetricsTextfile";

// One ListCertificates row: thumbprint, subject, issuer, domains, not_before, not_after,
// services, status, self_signed, has_private_key, internal_transport, object path.
inline constexpr char kCertificateRowSignature[] = "(sssasttassbbbo)";
inline constexpr char kCertificateRowContents[] = "sssasttassbbbo";
inline constexpr char kListCertificatesSignature[] = "a(sssasttassbbbo)";
// One ExplainSelection row: thumbprint, verdict, reason.
inline constexpr char kVerdictRowSignature[] = "(sss)";
inline constexpr char kVerdictRowContents[] = "sss";
inline constexpr char kExplainSelectionSignature[] = "a(sss)";

inline std::string CertificateObjectPath(const std::string& thumbprint) {
  return std::string(kCertificatePathPrefix) + "/" + thumbprint;
}

}  // namespace transportcertd
