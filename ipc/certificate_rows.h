// The rows of a ListCertificates reply, kept between inventory changes (docs/benchmarks.md,
// "Under load"). At thousands of certificates the reply is megabytes; built from the
// certificates each time, it touched every string of every certificate, scattered over the heap,
// and checked each as UTF-8. Here each row's strings are checked (and made valid) once and kept
// in one buffer in the reply's order, with the row's other fields, and a reply is copied from
// there. Status is the one field that depends on the clock: it is asked of the daemon for every
// reply.
//
// The owner clears the rows whenever what they are built from may have changed (the inventory,
// the bindings, the configuration: BusService::InventoryChanged) and when no ListCertificates
// call came for a while, so that an idle daemon does not keep them. As a safety net, a reply
// rebuilds them when the inventory does not hold the same certificates, in the same order, as
// when they were built. Loop thread only.
#pragma once

#include <systemd/sd-bus.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ipc/backend.h"

namespace transportcertd {

class CertificateRows {
 public:
  // Appends the ListCertificates array (docs/dbus-api.md) of `backend`'s inventory to `reply`,
  // building the rows first when there are none or they are not this inventory's. Returns 0 or
  // the first negative sd-bus result.
  int Append(sd_bus_message* reply, ManagerBackend& backend);
  // Forgets the rows and gives their memory back.
  void Clear();
  bool built() const { return built_; }
  // How many times the rows were built (for tests).
  std::uint64_t builds() const { return builds_; }

 private:
  struct Row {
    const Certificate* certificate = nullptr;  // which certificate it was built from
    // Offset in text_ of its NUL-terminated strings: thumbprint, subject, issuer, the `names`
    // names, the object path.
    std::uint32_t offset = 0;
    std::uint32_t names = 0;
    std::uint64_t not_before = 0;
    std::uint64_t not_after = 0;
    ServiceSet services = 0;
    bool self_signed = false;
    bool has_private_key = false;
    bool internal_transport = false;
  };

  void Build(const ManagerBackend& backend);
  // Whether the rows were built from exactly `certificates`, in this order.
  bool Matches(const std::vector<StoredCertificate>& certificates) const;

  std::string text_;
  std::vector<Row> rows_;
  bool built_ = false;
  std::uint64_t builds_ = 0;
};

}  // namespace transportcertd
