// A small ManagerBackend for the D-Bus tests: the daemon's side reduced to what the bus service
// needs, over a real store directory with real certificates (tests/support/cert_factory.h) and
// the real selection. Like the daemon, it tells the bus service after every change. Generation
// is held until the test finishes it, so that a test can show the bus answering meanwhile.
// Loop thread only.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "ipc/backend.h"
#include "ipc/bus_service.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd::testing {

class TestBackend : public ManagerBackend {
 public:
  TestBackend();

  // ---- what a test controls ----
  void AttachService(BusService* service) { service_ = service; }
  // Writes a certificate (and its key unless `with_key` is false) into the store, rescans and
  // announces; returns its thumbprint.
  std::string AddCertificate(const CertSpec& spec, bool with_key = true);
  // Writes `count` certificates for host-N.example.net (N from 0, one key for them all),
  // then rescans and announces once.
  void AddCertificates(std::size_t count);
  // Writes `contents` as store file `name` (mode 0600), rescans and announces (or, with
  // `announce` false, does not tell the bus service, as a daemon with a bug would not).
  void WriteStoreFile(const std::string& name, const std::string& contents, bool announce = true);
  void SetInternalTransport(const std::string& thumbprint);
  void SetAdminGroup(long gid) { admin_gid_ = gid; }
  void SetFqdn(std::string fqdn) { fqdn_ = std::move(fqdn); }
  // Makes Select() throw, as a bug in the daemon would.
  void SetThrowOnSelect(bool on) { throw_on_select_ = on; }
  // Called on every StatusOf() and every Explain(), before the answer (on the loop thread).
  void SetOnStatusOf(std::function<void()> hook) { on_status_of_ = std::move(hook); }
  void SetOnExplain(std::function<void()> hook) { on_explain_ = std::move(hook); }
  // Generations asked for and not finished yet.
  std::size_t PendingGenerations() const { return pending_.size(); }
  // Finishes the oldest pending generation: a self-signed certificate for the FQDN (+ the
  // names asked for) becomes the internal transport certificate; returns its thumbprint.
  std::string FinishGeneration();
  // Fails the oldest pending generation with `error`.
  void FailGeneration(Error error);
  std::string Path(const std::string& file) const { return store_ / file; }
  int reloads() const { return reloads_; }
  std::vector<std::string> last_names() const { return last_names_; }
  ServiceSet last_import_services() const { return last_import_services_; }

  // ---- ManagerBackend ----
  std::string Fqdn() const override { return fqdn_; }
  std::string StorePath() const override { return store_.path(); }
  const Inventory& CurrentInventory() const override { return inventory_; }
  const Bindings& CurrentBindings() const override { return bindings_; }
  ServiceSet ServicesOf(std::string_view thumbprint) const override;
  std::string StatusOf(const StoredCertificate& certificate) const override;
  std::uint64_t NextExpiryUsec() const override;
  Selection Select(const std::string& fqdn, Service service) override;
  Selection Explain(const std::string& fqdn, Service service) override;
  long AdminGroupId() const override { return admin_gid_; }
  Status EnableCertificate(const std::string& thumbprint, ServiceSet services,
                           bool make_internal_transport) override;
  Status DisableCertificate(const std::string& thumbprint, ServiceSet services) override;
  Result<std::string> ImportCertificate(const std::string& pem, ServiceSet services) override;
  Status RemoveCertificate(const std::string& thumbprint) override;
  void NewSelfSignedCertificate(const std::vector<std::string>& names,
                                GenerationDone done) override;
  void RenewInternalTransportCertificate(GenerationDone done) override;
  Status Reload() override;
  // The FQDN's selection's records on port 25, as a daemon without a next key computes them.
  Result<std::vector<std::string>> GetTlsaRecords(const std::string& name) override;
  std::string last_tlsa_name() const { return last_tlsa_name_; }

 private:
  struct Pending {
    std::vector<std::string> names;
    GenerationDone done;
  };
  void Rescan(bool announce = true);

  TempDir store_;
  std::string fqdn_ = "mail.example.com";
  Inventory inventory_;
  Bindings bindings_;
  long admin_gid_ = -1;
  BusService* service_ = nullptr;
  std::vector<Pending> pending_;
  std::vector<std::string> last_names_;
  ServiceSet last_import_services_ = 0;
  int reloads_ = 0;
  std::string last_tlsa_name_ = "(none)";
  bool throw_on_select_ = false;
  std::function<void()> on_status_of_, on_explain_;
};

}  // namespace transportcertd::testing
