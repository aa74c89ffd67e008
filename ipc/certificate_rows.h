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
// when they were built. A reply under way holds the rows it started with, so that clearing
// (or rebuilding) them meanwhile does not change it. Loop thread only.
#pragma once

#include <systemd/sd-bus.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ipc/backend.h"
#include "ipc/sd_bus_handles.h"
#include "monitor/result.h"

namespace transportcertd {

// Rows per part of a ListCertificates or ExplainSelection reply (ipc/deferred_replies.h): a
// thousand ListCertificates rows take about a millisecond to write, and a loop turn between
// two parts (a poll, a look for calls) costs no more than a few percent of that.
inline constexpr std::size_t kRowsPerPart = 1000;

class CertificateRows {
 private:
  struct Table;

 public:
  // A ListCertificates reply being written a part at a time (ipc/deferred_replies.h), from the
  // rows and the certificates' Status as they were when it started, whatever changes meanwhile.
  class Reply {
   public:
    // Appends the next (at most `max_rows`) rows; the array is opened before the first and
    // closed after the last. Returns 1 while rows remain, 0 once the reply is complete (to be
    // sent), or the first negative sd-bus result.
    int AppendPart(std::size_t max_rows);
    sd_bus_message* message() const { return message_.get(); }

   private:
    friend class CertificateRows;
    std::shared_ptr<const Table> table_;
    std::vector<std::string> statuses_;  // of each row, taken when the reply started
    SdBusMessagePtr message_;
    std::size_t next_ = 0;  // the next row to append
  };

  // Starts the reply to `call` (docs/dbus-api.md, ListCertificates) with the rows of `backend`'s
  // inventory, built first when there are none or they are not this inventory's.
  Result<Reply> StartReply(sd_bus_message* call, ManagerBackend& backend);
  // Forgets the rows and gives their memory back (a reply under way keeps its own).
  void Clear() { table_.reset(); }
  bool built() const { return table_ != nullptr; }

 private:
  struct Row {
    const Certificate* certificate = nullptr;  // which certificate it was built from
    // Offset in text of its NUL-terminated strings: thumbprint, subject, issuer, the `names`
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
  struct Table {
    std::string text;
    std::vector<Row> rows;
  };

  static std::shared_ptr<const Table> Build(const ManagerBackend& backend);
  // Whether the rows were built from exactly `certificates`, in this order.
  bool Matches(const std::vector<StoredCertificate>& certificates) const;

  std::shared_ptr<const Table> table_;
};

}  // namespace transportcertd
