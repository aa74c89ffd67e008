// org.transportcertd1.Certificate: one object per certificate in the store, at
// /org/transportcertd1/certificate/<THUMBPRINT>. The objects are not registered one by one: a
// fallback vtable on the prefix finds the certificate a path names in the daemon's current
// inventory, and a node enumerator lists them, so the tree always matches the store.
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "ipc/bus_messages.h"
#include "ipc/bus_names.h"
#include "ipc/bus_service_impl.h"

namespace transportcertd {
namespace {

// Appends one property of `stored` to `reply`; `backend` has the daemon's view of it.
using AppendProperty = void (*)(MessageWriter& reply, const StoredCertificate& stored,
                                ManagerBackend& backend);

template <AppendProperty Append>
int CertificateProperty(sd_bus* /*bus*/, const char* path, const char* /*interface*/,
                        const char* /*property*/, sd_bus_message* reply, void* userdata,
                        sd_bus_error* error) noexcept {
  return GuardCallback(error, [&] {
    auto* service = static_cast<BusServiceImpl*>(userdata);
    const StoredCertificate* stored = service->CertificateAt(path);
    if (stored == nullptr) {
      return sd_bus_error_setf(error, SD_BUS_ERROR_UNKNOWN_OBJECT, "no certificate at %s", path);
    }
    MessageWriter writer(reply);
    Append(writer, *stored, service->backend());
    return writer.result();
  });
}

void AppendThumbprint(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.String(s.cert().thumbprint());
}
void AppendSha256Fingerprint(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.String(s.cert().Sha256Hex());
}
void AppendSubject(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.String(s.cert().subject());
}
void AppendIssuer(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.String(s.cert().issuer());
}
void AppendSerialNumber(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.String(s.cert().serial());
}
void AppendDomains(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.Strings(s.cert().Names().ToVector());
}
void AppendNotBefore(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.U64(ToUsec(s.cert().not_before));
}
void AppendNotAfter(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.U64(ToUsec(s.cert().not_after));
}
void AppendIsSelfSigned(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.Bool(s.cert().self_signed);
}
void AppendHasPrivateKey(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.Bool(s.HasPrivateKey());
}
void AppendKeyAlgorithm(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.String(s.cert().key_algorithm());
}
void AppendKeyBits(MessageWriter& w, const StoredCertificate& s, ManagerBackend&) {
  w.U32(s.cert().key_bits > 0 ? static_cast<std::uint32_t>(s.cert().key_bits) : 0);
}
void AppendFiles(MessageWriter& w, const StoredCertificate& s, ManagerBackend& b) {
  const Inventory& inventory = b.CurrentInventory();  // the one `s` is from
  std::vector<std::string> paths;
  paths.reserve(s.file_names.size());
  for (const std::string& name : s.file_names) paths.push_back(inventory.Path(name));
  w.Strings(paths);
}
void AppendServices(MessageWriter& w, const StoredCertificate& s, ManagerBackend& b) {
  w.Strings(ServiceNames(b.ServicesOf(s.cert().thumbprint())));
}
void AppendStatus(MessageWriter& w, const StoredCertificate& s, ManagerBackend& b) {
  w.String(b.StatusOf(s));
}
void AppendIsInternalTransport(MessageWriter& w, const StoredCertificate& s, ManagerBackend& b) {
  w.Bool(b.CurrentBindings().internal_transport == s.cert().thumbprint());
}

// What a certificate is never changes (the thumbprint is a hash of it); how the daemon uses it
// does, and is announced with PropertiesChanged.
constexpr std::uint64_t kConst = SD_BUS_VTABLE_PROPERTY_CONST;
constexpr std::uint64_t kChanges = SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE;

}  // namespace

// clang-format off
const sd_bus_vtable BusServiceImpl::kCertificateVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Thumbprint", "s", CertificateProperty<AppendThumbprint>, 0, kConst),
    SD_BUS_PROPERTY("Sha256Fingerprint", "s", CertificateProperty<AppendSha256Fingerprint>, 0, kConst),
    SD_BUS_PROPERTY("Subject", "s", CertificateProperty<AppendSubject>, 0, kConst),
    SD_BUS_PROPERTY("Issuer", "s", CertificateProperty<AppendIssuer>, 0, kConst),
    SD_BUS_PROPERTY("SerialNumber", "s", CertificateProperty<AppendSerialNumber>, 0, kConst),
    SD_BUS_PROPERTY("Domains", "as", CertificateProperty<AppendDomains>, 0, kConst),
    SD_BUS_PROPERTY("NotBefore", "t", CertificateProperty<AppendNotBefore>, 0, kConst),
    SD_BUS_PROPERTY("NotAfter", "t", CertificateProperty<AppendNotAfter>, 0, kConst),
    SD_BUS_PROPERTY("Services", "as", CertificateProperty<AppendServices>, 0, kChanges),
    SD_BUS_PROPERTY("Status", "s", CertificateProperty<AppendStatus>, 0, kChanges),
    SD_BUS_PROPERTY("IsSelfSigned", "b", CertificateProperty<AppendIsSelfSigned>, 0, kConst),
    SD_BUS_PROPERTY("HasPrivateKey", "b", CertificateProperty<AppendHasPrivateKey>, 0, kChanges),
    SD_BUS_PROPERTY("IsInternalTransport", "b", CertificateProperty<AppendIsInternalTransport>, 0, kChanges),
    SD_BUS_PROPERTY("KeyAlgorithm", "s", CertificateProperty<AppendKeyAlgorithm>, 0, kConst),
    SD_BUS_PROPERTY("KeyBits", "u", CertificateProperty<AppendKeyBits>, 0, kConst),
    SD_BUS_PROPERTY("Files", "as", CertificateProperty<AppendFiles>, 0, kChanges),
    SD_BUS_VTABLE_END};
// clang-format on

const StoredCertificate* BusServiceImpl::CertificateAt(const char* path) const {
  const std::string_view full(path);
  const std::string_view prefix(kCertificatePathPrefix);
  if (full.size() != prefix.size() + 1 + kThumbprintLength ||
      full.substr(0, prefix.size()) != prefix || full[prefix.size()] != '/') {
    return nullptr;
  }
  return backend_.CurrentInventory().Find(std::string(full.substr(prefix.size() + 1)));
}

int BusServiceImpl::FindCertificateObject(sd_bus* /*bus*/, const char* path,
                                          const char* /*interface*/, void* userdata, void** found,
                                          sd_bus_error* error) {
  return GuardCallback(error, [&] {
    auto* service = static_cast<BusServiceImpl*>(userdata);
    if (service->CertificateAt(path) == nullptr) return 0;
    *found = service;  // the getters look the certificate up by path again
    return 1;
  });
}

int BusServiceImpl::EnumerateCertificateObjects(sd_bus* /*bus*/, const char* /*prefix*/,
                                                void* userdata, char*** nodes,
                                                sd_bus_error* error) {
  return GuardCallback(error, [&] {
    auto* service = static_cast<BusServiceImpl*>(userdata);
    const auto& certificates = service->backend_.CurrentInventory().certificates;
    // sd-bus frees the list with free(): allocate it with malloc().
    auto* list = static_cast<char**>(std::calloc(certificates.size() + 1, sizeof(char*)));
    if (list == nullptr) return -ENOMEM;
    for (std::size_t i = 0; i < certificates.size(); ++i) {
      list[i] =
          strdup(CertificateObjectPath(std::string(certificates[i].cert().thumbprint())).c_str());
      if (list[i] == nullptr) {
        for (std::size_t j = 0; j < i; ++j) std::free(list[j]);
        std::free(list);
        return -ENOMEM;
      }
    }
    *nodes = list;
    return 0;
  });
}

}  // namespace transportcertd
