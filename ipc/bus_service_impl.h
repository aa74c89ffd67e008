// Inside of the D-Bus service (ipc/ only): the BusService implementation, split over
//   bus_service.cpp          connection, name, lifecycle, signals, InventoryChanged announcements
//   manager_object.cpp       org.transportcertd1.Manager on /org/transportcertd1
//   deferred_replies.cpp     the big replies (List, Explain) built after the small ones
//   certificate_rows.cpp     the ListCertificates rows, kept between inventory changes
//   certificate_objects.cpp  org.transportcertd1.Certificate on /org/transportcertd1/certificate/*
// Loop thread only.
#pragma once

#include <systemd/sd-bus.h>
#include <uv.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/backend.h"
#include "ipc/bus_errors.h"
#include "ipc/bus_service.h"
#include "ipc/certificate_rows.h"
#include "ipc/deferred_replies.h"
#include "ipc/sd_bus_handles.h"
#include "ipc/sd_bus_uv.h"

namespace transportcertd {

// A thumbprint is the uppercase hex of a SHA-1: the last element of a certificate's object path.
inline constexpr std::size_t kThumbprintLength = 40;

class BusServiceImpl final : public BusService {
 public:
  BusServiceImpl(uv_loop_t* loop, SdBusPtr bus, ManagerBackend& backend,
                 std::function<void(std::string)> on_lost);
  ~BusServiceImpl() override;
  BusServiceImpl(const BusServiceImpl&) = delete;
  BusServiceImpl& operator=(const BusServiceImpl&) = delete;

  // Registers the objects, requests the bus name and attaches the connection to the loop.
  Status Register();

  void InventoryChanged() override;
  void EmitCertificateExpiring(const std::string& thumbprint, const std::string& subject,
                               std::uint64_t not_after_usec, const std::string& threshold) override;
  void EmitCertificateExpired(const std::string& thumbprint, const std::string& subject,
                              std::uint64_t not_after_usec) override;
  void EmitInternalTransportCertificateChanged(const std::string& old_thumbprint,
                                               const std::string& new_thumbprint) override;
  void StartUnit(const std::string& unit, std::function<void(std::string)> done) override;
  void Stop() override;

  ManagerBackend& backend() { return backend_; }

  // ---- org.transportcertd1.Manager (manager_object.cpp); public for the vtable only ----
  static const sd_bus_vtable kManagerVtable[];
  int ListCertificates(sd_bus_message* call, sd_bus_error* error);
  int GetCertificate(sd_bus_message* call, sd_bus_error* error);
  int SelectCertificate(sd_bus_message* call, sd_bus_error* error);
  int ExplainSelection(sd_bus_message* call, sd_bus_error* error);
  int GetTlsaRecords(sd_bus_message* call, sd_bus_error* error);
  int EnableCertificate(sd_bus_message* call, sd_bus_error* error);
  int DisableCertificate(sd_bus_message* call, sd_bus_error* error);
  int NewSelfSignedCertificate(sd_bus_message* call, sd_bus_error* error);
  int ImportCertificate(sd_bus_message* call, sd_bus_error* error);
  int RemoveCertificate(sd_bus_message* call, sd_bus_error* error);
  int RenewInternalTransportCertificate(sd_bus_message* call, sd_bus_error* error);
  int Reload(sd_bus_message* call, sd_bus_error* error);
  int GetFqdn(sd_bus_message* reply, sd_bus_error* error);
  int GetPublishedNames(sd_bus_message* reply, sd_bus_error* error);
  int GetVerifyEndpoints(sd_bus_message* reply, sd_bus_error* error);
  int GetMetricsTextfile(sd_bus_message* reply, sd_bus_error* error);
  int GetStorePath(sd_bus_message* reply, sd_bus_error* error);
  int GetInternalTransportCertificate(sd_bus_message* reply, sd_bus_error* error);
  int GetCertificateCount(sd_bus_message* reply, sd_bus_error* error);
  int GetNextExpiry(sd_bus_message* reply, sd_bus_error* error);
  int GetVersion(sd_bus_message* reply, sd_bus_error* error);
  // An ExplainSelection reply being written a part at a time: the judgements as they were when
  // the reply started.
  struct Explanation {
    std::vector<Judgement> judgements;
    SdBusMessagePtr message;
    std::size_t next = 0;  // the next judgement to append
  };
  // Write the next part of a big reply (ipc/deferred_replies.h): 1 while more remains, 0 once
  // it is sent, or a negative errno. `reply` is empty until the first part starts it.
  int WriteCertificateList(sd_bus_message* call, std::optional<CertificateRows::Reply>& reply);
  int WriteExplanation(sd_bus_message* call, const std::string& fqdn, Service service,
                       std::optional<Explanation>& reply);

  // ---- org.transportcertd1.Certificate (certificate_objects.cpp) ----
  static const sd_bus_vtable kCertificateVtable[];
  // sd_bus_object_find_t: finds the certificate of a /org/transportcertd1/certificate/X path.
  static int FindCertificateObject(sd_bus* bus, const char* path, const char* interface,
                                   void* userdata, void** found, sd_bus_error* error);
  // sd_bus_node_enumerator_t: the paths of all certificates in the store.
  static int EnumerateCertificateObjects(sd_bus* bus, const char* prefix, void* userdata,
                                         char*** nodes, sd_bus_error* error);
  // The certificate an object path names, or nullptr.
  const StoredCertificate* CertificateAt(const char* path) const;

 private:
  // What was last announced, to diff against in InventoryChanged().
  struct ManagerState {
    std::string fqdn, store_path, internal_transport;
    std::uint32_t certificate_count = 0;
    std::uint64_t next_expiry = 0;
    std::vector<std::string> published_names, verify_endpoints;
    std::string metrics_textfile;
  };
  // What was last announced of one certificate: the properties that may change, as values or
  // hashes, in a fixed-size record without allocations (tens of thousands are kept). A hash
  // only tells that the text changed, which is all a PropertiesChanged needs.
  struct CertificateState {
    std::array<char, kThumbprintLength> thumbprint{};  // uppercase hex, as in the object path
    std::uint64_t files_hash = 0;                      // of the Files list
    std::uint64_t status_hash = 0;                     // of the Status text
    ServiceSet services = 0;
    bool has_private_key = false;
    bool internal_transport = false;

    std::string_view Thumbprint() const { return {thumbprint.data(), thumbprint.size()}; }
  };

  ManagerState CurrentManagerState() const;
  // One record per certificate, sorted by thumbprint.
  std::vector<CertificateState> CurrentCertificateStates() const;
  void OnLost(const std::string& reason);
  // Sends signals with `send`, now, or once the big reply under way is sent: never before a
  // reply that does not show the change they announce (DeferredReplies::AfterUnderWay).
  void SendSignals(std::function<void(sd_bus*)> send);
  // 0 when the caller of `call` may change things (root or admin_group); otherwise sets
  // AccessDenied in `error` and returns the handler's negative result.
  int Authorize(sd_bus_message* call, sd_bus_error* error);
  // Answers the waiting big replies before a changing call changes what they answer: what a
  // caller asked before a change never shows the change.
  void FlushBeforeChange();

  uv_loop_t* loop_;
  ManagerBackend& backend_;
  std::function<void(std::string)> on_lost_;
  // Declared in dependency order: slots and the adapter go before the connection.
  SdBusPtr bus_;
  std::vector<SdBusSlotPtr> slots_;
  std::unique_ptr<SdBusUv> adapter_;
  // Before the connection: it holds calls. Shared so that a generation's reply, sent later,
  // can queue behind the signals of its own change while this service lives.
  std::shared_ptr<DeferredReplies> deferred_;
  // The ListCertificates rows, kept until the next InventoryChanged() or until no
  // ListCertificates came for kRowsKeptMs (rows_timer_).
  static constexpr std::uint64_t kRowsKeptMs = 10'000;
  CertificateRows rows_;
  uv_timer_t* rows_timer_ = nullptr;
  ManagerState announced_manager_;
  std::vector<CertificateState> announced_certificates_;  // sorted by thumbprint
  bool lost_ = false;
};

// sd-bus callback trampolines: recover the service from `userdata` and keep exceptions inside.
template <int (BusServiceImpl::*Handler)(sd_bus_message*, sd_bus_error*)>
int MethodCallback(sd_bus_message* call, void* userdata, sd_bus_error* error) noexcept {
  return GuardCallback(
      error, [&] { return (static_cast<BusServiceImpl*>(userdata)->*Handler)(call, error); });
}

template <int (BusServiceImpl::*Getter)(sd_bus_message*, sd_bus_error*)>
int PropertyCallback(sd_bus* /*bus*/, const char* /*path*/, const char* /*interface*/,
                     const char* /*property*/, sd_bus_message* reply, void* userdata,
                     sd_bus_error* error) noexcept {
  return GuardCallback(
      error, [&] { return (static_cast<BusServiceImpl*>(userdata)->*Getter)(reply, error); });
}

}  // namespace transportcertd
