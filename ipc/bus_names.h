// The names the daemon has on D-Bus (docs/dbus-api.md): bus name, object paths, interfaces and
// error names. Constants only.
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

inline std::string CertificateObjectPath(const std::string& thumbprint) {
  return std::string(kCertificatePathPrefix) + "/" + thumbprint;
}

}  // namespace transportcertd
