#include "tests/ipc/test_backend.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <stdexcept>
#include <string>
#include <utility>

#include "monitor/dane.h"
#include "monitor/selfsigned.h"
#include "monitor/store.h"

namespace transportcertd::testing {
namespace {

constexpr ServiceSet kDefaultServices = Bit(Service::kSmtp);
constexpr UnixTime kExpiringWindow = UnixTime{30} * 86400;

Error NoSuch(const std::string& thumbprint) {
  return Error{"no certificate with thumbprint " + thumbprint + " in the store",
               ErrorCode::kNoSuchCertificate};
}

}  // namespace

TestBackend::TestBackend() { Rescan(); }

void TestBackend::Rescan(bool announce) {
  StoreScanner scanner(store_.path(), ScanOptions{});
  Result<Inventory> scanned = scanner.Scan();
  ASSERT_TRUE(scanned.ok()) << scanned.error().message;
  inventory_ = std::move(scanned).value();
  if (service_ != nullptr && announce) service_->InventoryChanged();
}

std::string TestBackend::AddCertificate(const CertSpec& spec, bool with_key) {
  const TestCert made = MakeCertificate(spec);
  store_.Write(made.thumbprint + ".crt", made.cert_pem);
  if (with_key) store_.Write(made.thumbprint + ".key", made.key_pem, 0600);
  Rescan();
  return made.thumbprint;
}

void TestBackend::AddCertificates(std::size_t count) {
  const TestCert first = MakeCertificateFor("host-0.example.net");
  store_.Write("host-0.crt", first.cert_pem);
  store_.Write("host-0.key", first.key_pem, 0600);
  for (std::size_t i = 1; i < count; ++i) {
    CertSpec spec;
    spec.cn = "host-" + std::to_string(i) + ".example.net";
    spec.dns_names = {spec.cn};
    spec.same_key_as = &first;
    store_.Write("host-" + std::to_string(i) + ".crt", MakeCertificate(spec).cert_pem);
  }
  Rescan();
}

void TestBackend::WriteStoreFile(const std::string& name, const std::string& contents,
                                 bool announce) {
  store_.Write(name, contents, 0600);
  Rescan(announce);
}

void TestBackend::SetInternalTransport(const std::string& thumbprint) {
  bindings_.internal_transport = thumbprint;
  if (service_ != nullptr) service_->InventoryChanged();
}

ServiceSet TestBackend::ServicesOf(std::string_view thumbprint) const {
  return bindings_.ServicesOf(thumbprint, kDefaultServices);
}

std::string TestBackend::StatusOf(const StoredCertificate& certificate) const {
  if (on_status_of_) on_status_of_();
  const UnixTime now = std::time(nullptr);
  if (certificate.cert().version != 3) return "Unusable";
  if (!certificate.HasPrivateKey()) return "NoPrivateKey";
  if (now > certificate.cert().not_after) return "Expired";
  if (now < certificate.cert().not_before) return "NotYetValid";
  if (certificate.cert().not_after - now < kExpiringWindow) return "Expiring";
  return "Valid";
}

std::uint64_t TestBackend::NextExpiryUsec() const {
  UnixTime earliest = 0;
  for (const StoredCertificate& stored : inventory_.certificates) {
    if (earliest == 0 || stored.cert().not_after < earliest) earliest = stored.cert().not_after;
  }
  return earliest <= 0 ? 0 : static_cast<std::uint64_t>(earliest) * 1'000'000U;
}

Selection TestBackend::Select(const std::string& fqdn, Service service) {
  if (throw_on_select_) throw std::runtime_error("selection exploded");
  SelectionInput input{
      inventory_,        bindings_, kDefaultServices, fqdn, service, WildcardMode::kOneLevel,
      std::time(nullptr)};
  return transportcertd::Select(input);
}

Selection TestBackend::Explain(const std::string& fqdn, Service service) {
  if (on_explain_) on_explain_();
  return Select(fqdn, service);
}

Result<std::vector<std::string>> TestBackend::GetTlsaRecords(const std::string& name) {
  last_tlsa_name_ = name;
  if (!name.empty() && name != fqdn_) return std::vector<std::string>{};
  const Selection selection = Select(fqdn_, Service::kSmtp);
  std::vector<std::string> lines;
  for (const auto& record :
       ComputeTlsaRecords({{fqdn_, selection.winner,
                            selection.winner != nullptr && selection.winner->cert().thumbprint() ==
                                                               bindings_.internal_transport,
                            inventory_.dir}},
                          {25}, std::nullopt)) {
    lines.push_back(record.ZoneLine());
  }
  return lines;
}

Status TestBackend::EnableCertificate(const std::string& thumbprint, ServiceSet services,
                                      bool make_internal_transport) {
  if (inventory_.Find(thumbprint) == nullptr) return NoSuch(thumbprint);
  bindings_.services[thumbprint] = ServicesOf(thumbprint) | services;
  if (make_internal_transport) bindings_.internal_transport = thumbprint;
  if (service_ != nullptr) service_->InventoryChanged();
  return Status::Ok();
}

Status TestBackend::DisableCertificate(const std::string& thumbprint, ServiceSet services) {
  if (inventory_.Find(thumbprint) == nullptr) return NoSuch(thumbprint);
  bindings_.services[thumbprint] = ServicesOf(thumbprint) & ~services;
  if (service_ != nullptr) service_->InventoryChanged();
  return Status::Ok();
}

Result<std::string> TestBackend::ImportCertificate(const std::string& pem, ServiceSet services) {
  Result<ParsedFile> parsed = ParseStoreFile(pem);
  if (!parsed.ok() || parsed->certificates.empty() || parsed->keys.empty()) {
    return Error{
        "not a certificate with its private key: " +
            (parsed.ok() ? std::string("no certificate and key in it") : parsed.error().message),
        ErrorCode::kInvalidArgument};
  }
  const std::string thumbprint(parsed->certificates.front().thumbprint());
  last_import_services_ = services;
  store_.Write(thumbprint + ".pem", pem, 0600);
  if (services != 0) bindings_.services[thumbprint] = services;
  Rescan();
  return thumbprint;
}

Status TestBackend::RemoveCertificate(const std::string& thumbprint) {
  const StoredCertificate* stored = inventory_.Find(thumbprint);
  if (stored == nullptr) return NoSuch(thumbprint);
  if (bindings_.internal_transport == thumbprint) {
    return Error{thumbprint +
                     " is the internal transport certificate; create or enable a "
                     "replacement first",
                 ErrorCode::kInternalTransport};
  }
  for (const std::string& name : stored->file_names) unlink(inventory_.Path(name).c_str());
  if (stored->HasPrivateKey()) unlink(inventory_.Path(stored->key_file_name).c_str());
  bindings_.services.erase(thumbprint);
  Rescan();
  return Status::Ok();
}

void TestBackend::NewSelfSignedCertificate(const std::vector<std::string>& names,
                                           GenerationDone done) {
  last_names_ = names;
  pending_.push_back(Pending{names, std::move(done)});
}

void TestBackend::RenewInternalTransportCertificate(GenerationDone done) {
  pending_.push_back(Pending{{}, std::move(done)});
}

std::string TestBackend::FinishGeneration() {
  if (pending_.empty()) {
    ADD_FAILURE() << "no generation pending";
    return {};
  }
  Pending pending = std::move(pending_.front());
  pending_.erase(pending_.begin());

  SelfSignedRequest request;
  request.fqdn = fqdn_;
  request.extra_names = pending.names;
  request.key = KeySpec{KeyType::kEc, 0, "P-256"};
  request.now = std::time(nullptr);
  Result<GeneratedCertificate> generated = GenerateSelfSigned(request);
  if (!generated.ok()) {
    ADD_FAILURE() << generated.error().message;
    return {};
  }
  Result<std::string> written = WriteToStore(store_.path(), *generated);
  if (!written.ok()) {
    ADD_FAILURE() << written.error().message;
    return {};
  }
  const std::string old = bindings_.internal_transport;
  bindings_.internal_transport = generated->thumbprint;
  Rescan();  // announces the new certificate and the changed properties
  if (service_ != nullptr) {
    service_->EmitInternalTransportCertificateChanged(old, generated->thumbprint);
  }
  pending.done(generated->thumbprint);
  return generated->thumbprint;
}

void TestBackend::FailGeneration(Error error) {
  ASSERT_FALSE(pending_.empty());
  Pending pending = std::move(pending_.front());
  pending_.erase(pending_.begin());
  pending.done(std::move(error));
}

Status TestBackend::Reload() {
  ++reloads_;
  Rescan();
  return Status::Ok();
}

}  // namespace transportcertd::testing
