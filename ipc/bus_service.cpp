// The service's life on the bus: connect, register the objects, own the name, run inside the
// loop (ipc/sd_bus_uv.h), announce what changed, emit the signals, and stop.
#include "ipc/bus_service.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

#include "ipc/bus_arguments.h"
#include "ipc/bus_names.h"
#include "ipc/bus_service_impl.h"

namespace transportcertd {
namespace {

std::string ErrnoText(int negative_errno) { return std::strerror(-negative_errno); }

const char* BusKindName(BusKind kind) { return kind == BusKind::kSystem ? "system" : "session"; }

// Emits `member` on the Manager object; `types` and `args` as for sd_bus_emit_signal().
// Failures are not reported: a lost connection is reported through on_lost instead.
template <typename... Args>
void EmitManagerSignal(sd_bus* bus, const char* member, const char* types, const Args&... args) {
  sd_bus_emit_signal(bus, kManagerPath, kManagerInterface, member, types, args...);
}

// Emits PropertiesChanged for `names` (EMITS_CHANGE properties of `interface` on `path`).
void EmitPropertiesChanged(sd_bus* bus, const std::string& path, const char* interface,
                           std::vector<const char*> names) {
  if (names.empty()) return;
  names.push_back(nullptr);
  sd_bus_emit_properties_changed_strv(bus, path.c_str(), interface,
                                      const_cast<char**>(names.data()));
}

// FNV-1a (64 bits) over a sequence of texts, each with its length, so that ["ab", "c"] and
// ["a", "bc"] differ: what tells that an announced property changed without keeping it.
class TextHash {
 public:
  TextHash& Add(std::string_view text) {
    const std::uint64_t size = text.size();
    for (unsigned i = 0; i < sizeof size; ++i) Byte(static_cast<unsigned char>(size >> (8 * i)));
    for (const char c : text) Byte(static_cast<unsigned char>(c));
    return *this;
  }
  std::uint64_t value() const { return value_; }

 private:
  void Byte(unsigned char byte) {
    value_ ^= byte;
    value_ *= 0x100000001b3ULL;
  }
  std::uint64_t value_ = 0xcbf29ce484222325ULL;
};

}  // namespace

Result<std::unique_ptr<BusService>> BusService::Start(uv_loop_t* loop, BusKind kind,
                                                      ManagerBackend& backend,
                                                      std::function<void(std::string)> on_lost) {
  sd_bus* raw = nullptr;
  const int r = kind == BusKind::kSystem ? sd_bus_open_system(&raw) : sd_bus_open_user(&raw);
  if (r < 0) {
    return Error{std::string("cannot connect to the ") + BusKindName(kind) +
                 " bus: " + ErrnoText(r)};
  }
  auto service = std::make_unique<BusServiceImpl>(loop, SdBusPtr(raw), backend, std::move(on_lost));
  if (Status registered = service->Register(); !registered.ok()) return registered.error();
  return std::unique_ptr<BusService>(std::move(service));
}

BusServiceImpl::BusServiceImpl(uv_loop_t* loop, SdBusPtr bus, ManagerBackend& backend,
                               std::function<void(std::string)> on_lost)
    : loop_(loop), backend_(backend), on_lost_(std::move(on_lost)), bus_(std::move(bus)) {}

BusServiceImpl::~BusServiceImpl() { Stop(); }

Status BusServiceImpl::Register() {
  sd_bus* bus = bus_.get();
  auto keep = [this](sd_bus_slot* slot) { slots_.emplace_back(slot); };
  sd_bus_slot* slot = nullptr;

  int r =
      sd_bus_add_object_vtable(bus, &slot, kManagerPath, kManagerInterface, kManagerVtable, this);
  if (r < 0) {
    return Error{"cannot register " + std::string(kManagerInterface) + ": " + ErrnoText(r)};
  }
  keep(slot);
  r = sd_bus_add_fallback_vtable(bus, &slot, kCertificatePathPrefix, kCertificateInterface,
                                 kCertificateVtable, &BusServiceImpl::FindCertificateObject, this);
  if (r < 0) {
    return Error{"cannot register " + std::string(kCertificateInterface) + ": " + ErrnoText(r)};
  }
  keep(slot);
  r = sd_bus_add_node_enumerator(bus, &slot, kCertificatePathPrefix,
                                 &BusServiceImpl::EnumerateCertificateObjects, this);
  if (r < 0) return Error{"cannot register the certificate objects: " + ErrnoText(r)};
  keep(slot);
  r = sd_bus_add_object_manager(bus, &slot, kManagerPath);
  if (r < 0) return Error{"cannot register the object manager: " + ErrnoText(r)};
  keep(slot);

  deferred_ = std::make_shared<DeferredReplies>(loop_, bus);
  rows_timer_ = new uv_timer_t;
  uv_timer_init(loop_, rows_timer_);
  rows_timer_->data = this;

  // What a client sees from now on is the baseline for InventoryChanged().
  announced_manager_ = CurrentManagerState();
  announced_certificates_ = CurrentCertificateStates();

  r = sd_bus_request_name(bus, kBusName, 0);
  if (r == -EEXIST) {
    return Error{std::string(kBusName) + " is already owned by another process"};
  }
  if (r < 0) return Error{"cannot own " + std::string(kBusName) + ": " + ErrnoText(r)};

  Result<std::unique_ptr<SdBusUv>> adapter =
      SdBusUv::Attach(loop_, bus, [this](const std::string& reason) { OnLost(reason); });
  if (!adapter.ok()) return adapter.error();
  adapter_ = std::move(adapter).value();
  return Status::Ok();
}

void BusServiceImpl::OnLost(const std::string& reason) {
  lost_ = true;
  // The daemon may stop and destroy this service from the callback: copy it first.
  const std::function<void(std::string)> on_lost = on_lost_;
  if (on_lost) on_lost(reason);
}

void BusServiceImpl::StartUnit(const std::string& unit, std::function<void(std::string)> done) {
  if (!bus_ || lost_) {
    done("not connected to the bus");
    return;
  }
  // Freed by the reply handler, which sd-bus calls exactly once (with an error reply when the
  // call fails or the connection goes away).
  auto* callback = new std::function<void(std::string)>(std::move(done));
  const int r = sd_bus_call_method_async(
      bus_.get(), nullptr, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
      "org.freedesktop.systemd1.Manager", "StartUnit",
      [](sd_bus_message* reply, void* data, sd_bus_error* /*error*/) -> int {
        const std::unique_ptr<std::function<void(std::string)>> owned(
            static_cast<std::function<void(std::string)>*>(data));
        const sd_bus_error* e = sd_bus_message_get_error(reply);
        (*owned)(e == nullptr            ? ""
                 : e->message != nullptr ? std::string(e->message)
                                         : std::string(e->name != nullptr ? e->name : "error"));
        return 0;
      },
      callback, "ss", unit.c_str(), "replace");
  if (r < 0) {
    const std::unique_ptr<std::function<void(std::string)>> owned(callback);
    (*owned)(std::strerror(-r));
  }
}

void BusServiceImpl::FlushBeforeChange() {
  if (deferred_) deferred_->Flush();
}

void BusServiceImpl::Stop() {
  if (!bus_) return;
  adapter_.reset();  // no more processing; its libuv handles close on the next loop turn
  // Callers waiting for a big reply get none; the signals queued behind it are sent.
  if (deferred_) deferred_->Stop();
  CloseAndFree(rows_timer_);
  rows_timer_ = nullptr;
  rows_.Clear();
  if (!lost_) {
    // Queued, then written by the flush below; closing the connection releases it anyway.
    sd_bus_release_name_async(bus_.get(), nullptr, kBusName, nullptr, nullptr);
  }
  slots_.clear();
  bus_.reset();  // flushes and closes
}

BusServiceImpl::ManagerState BusServiceImpl::CurrentManagerState() const {
  ManagerState state;
  state.fqdn = backend_.Fqdn();
  state.store_path = backend_.StorePath();
  state.internal_transport = backend_.CurrentBindings().internal_transport;
  state.certificate_count =
      static_cast<std::uint32_t>(backend_.CurrentInventory().certificates.size());
  state.next_expiry = backend_.NextExpiryUsec();
  state.published_names = backend_.PublishedNames();
  state.verify_endpoints = backend_.VerifyEndpoints();
  state.metrics_textfile = backend_.MetricsTextfile();
  return state;
}

std::vector<BusServiceImpl::CertificateState> BusServiceImpl::CurrentCertificateStates() const {
  const auto& certificates = backend_.CurrentInventory().certificates;
  const std::string& internal = backend_.CurrentBindings().internal_transport;
  std::vector<CertificateState> states;
  states.reserve(certificates.size());
  for (const StoredCertificate& stored : certificates) {
    const std::string_view thumbprint = stored.cert().thumbprint();
    CertificateState& state = states.emplace_back();
    thumbprint.copy(state.thumbprint.data(), state.thumbprint.size());
    state.services = backend_.ServicesOf(thumbprint) & kAllServices;  // what ServiceNames shows
    state.status_hash = TextHash().Add(backend_.StatusOf(stored)).value();
    state.has_private_key = stored.HasPrivateKey();
    state.internal_transport = internal == thumbprint;
    TextHash files;  // of the full paths, as Files shows them: the store's directory, then names
    files.Add(backend_.CurrentInventory().dir);
    for (const std::string& name : stored.file_names) files.Add(name);
    state.files_hash = files.value();
  }
  const auto by_thumbprint = [](const CertificateState& a, const CertificateState& b) {
    return a.thumbprint < b.thumbprint;
  };
  if (!std::is_sorted(states.begin(), states.end(), by_thumbprint)) {
    std::sort(states.begin(), states.end(), by_thumbprint);
  }
  return states;
}

void BusServiceImpl::SendSignals(std::function<void(sd_bus*)> send) {
  if (!deferred_) {
    send(bus_.get());
    return;
  }
  deferred_->AfterUnderWay([this, send = std::move(send)] {
    if (bus_ && !lost_) send(bus_.get());
  });
}

void BusServiceImpl::InventoryChanged() {
  rows_.Clear();  // built from what may just have changed
  if (!bus_ || lost_) return;
  std::vector<CertificateState> current = CurrentCertificateStates();
  // Both sorted by thumbprint: one pass over the two finds what went, what came and what
  // changed. Removals are announced first, as a client would expect of a replacement.
  std::vector<std::string> gone, came;
  std::vector<std::pair<std::string, std::vector<const char*>>> altered;
  const auto path_of = [](const CertificateState& state) {
    return CertificateObjectPath(std::string(state.Thumbprint()));
  };
  auto before = announced_certificates_.cbegin();
  const auto before_end = announced_certificates_.cend();
  for (const CertificateState& state : current) {
    for (; before != before_end && before->thumbprint < state.thumbprint; ++before) {
      gone.push_back(path_of(*before));
    }
    if (before == before_end || state.thumbprint < before->thumbprint) {
      came.push_back(path_of(state));
      continue;
    }
    std::vector<const char*> properties;
    if (state.services != before->services) properties.push_back("Services");
    if (state.status_hash != before->status_hash) properties.push_back("Status");
    if (state.has_private_key != before->has_private_key) properties.push_back("HasPrivateKey");
    if (state.internal_transport != before->internal_transport) {
      properties.push_back("IsInternalTransport");
    }
    if (state.files_hash != before->files_hash) properties.push_back("Files");
    if (!properties.empty()) altered.emplace_back(path_of(state), std::move(properties));
    ++before;
  }
  for (; before != before_end; ++before) gone.push_back(path_of(*before));
  announced_certificates_ = std::move(current);

  const ManagerState manager = CurrentManagerState();
  std::vector<const char*> changed;
  if (manager.fqdn != announced_manager_.fqdn) changed.push_back("Fqdn");
  if (manager.store_path != announced_manager_.store_path) changed.push_back("StorePath");
  if (manager.internal_transport != announced_manager_.internal_transport) {
    changed.push_back("InternalTransportCertificate");
  }
  if (manager.certificate_count != announced_manager_.certificate_count) {
    changed.push_back("CertificateCount");
  }
  if (manager.next_expiry != announced_manager_.next_expiry) changed.push_back("NextExpiry");
  if (manager.published_names != announced_manager_.published_names) {
    changed.push_back(kPropertyPublishedNames);
  }
  if (manager.verify_endpoints != announced_manager_.verify_endpoints) {
    changed.push_back(kPropertyVerifyEndpoints);
  }
  if (manager.metrics_textfile != announced_manager_.metrics_textfile) {
    changed.push_back(kPropertyMetricsTextfile);
  }
  announced_manager_ = manager;

  if (gone.empty() && came.empty() && altered.empty() && changed.empty()) return;
  // sd-bus reads the properties a signal carries when it is sent: the values then current.
  SendSignals([gone = std::move(gone), came = std::move(came), altered = std::move(altered),
               changed = std::move(changed)](sd_bus* bus) mutable {
    for (const std::string& path : gone) {
      sd_bus_emit_interfaces_removed(bus, path.c_str(), kCertificateInterface, nullptr);
    }
    for (const std::string& path : came) {
      sd_bus_emit_interfaces_added(bus, path.c_str(), kCertificateInterface, nullptr);
    }
    for (auto& [path, properties] : altered) {
      EmitPropertiesChanged(bus, path, kCertificateInterface, std::move(properties));
    }
    EmitPropertiesChanged(bus, kManagerPath, kManagerInterface, std::move(changed));
  });
}

void BusServiceImpl::EmitCertificateExpiring(const std::string& thumbprint,
                                             const std::string& subject,
                                             std::uint64_t not_after_usec,
                                             const std::string& threshold) {
  if (!bus_ || lost_) return;
  SendSignals([thumbprint = ValidUtf8(thumbprint), subject = ValidUtf8(subject), not_after_usec,
               threshold = ValidUtf8(threshold)](sd_bus* bus) {
    EmitManagerSignal(bus, "CertificateExpiring", "ssts", thumbprint.c_str(), subject.c_str(),
                      not_after_usec, threshold.c_str());
  });
}

void BusServiceImpl::EmitCertificateExpired(const std::string& thumbprint,
                                            const std::string& subject,
                                            std::uint64_t not_after_usec) {
  if (!bus_ || lost_) return;
  SendSignals([thumbprint = ValidUtf8(thumbprint), subject = ValidUtf8(subject),
               not_after_usec](sd_bus* bus) {
    EmitManagerSignal(bus, "CertificateExpired", "sst", thumbprint.c_str(), subject.c_str(),
                      not_after_usec);
  });
}

void BusServiceImpl::EmitInternalTransportCertificateChanged(const std::string& old_thumbprint,
                                                             const std::string& new_thumbprint) {
  if (!bus_ || lost_) return;
  SendSignals([old_thumbprint = ValidUtf8(old_thumbprint),
               new_thumbprint = ValidUtf8(new_thumbprint)](sd_bus* bus) {
    EmitManagerSignal(bus, "InternalTransportCertificateChanged", "ss", old_thumbprint.c_str(),
                      new_thumbprint.c_str());
  });
}

}  // namespace transportcertd
