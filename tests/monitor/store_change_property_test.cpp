// A randomized, seeded test of store changes: random stores with shared keys, bundles, chains
// and combined files; random imports, removals, renewals and files dropped or replaced by
// others, sometimes between the scan a removal is decided on and the removal itself. After
// every step:
//   - every certificate that was in the store and was not removed is still there, with its
//     key when it had one;
//   - the internal transport certificate has its key and cannot be removed;
//   - whatever a removal took out is found under the removed area.
// The seed is printed on failure; TRANSPORTCERTD_PROPERTY_SEED and _STEPS reproduce or extend
// a run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>

#include "monitor/atomic_file.h"
#include "monitor/store_change.h"
#include "tests/support/cert_factory.h"
#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::CertSpec;
using testing::MakeCa;
using testing::MakeCertificate;
using testing::TestCert;

std::uint64_t EnvOr(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::strtoull(value, nullptr, 10) : fallback;
}

// Certificates made once: some with keys of their own, some renewals sharing a key, and leaves
// issued by an intermediate that can travel with them as a chain.
struct Pool {
  TestCert root = MakeCa("Property Root");
  TestCert intermediate = MakeCa("Property Intermediate", &root);
  std::vector<TestCert> certs;
  std::vector<int> issued;  // indexes of certs issued by `intermediate`

  Pool() {
    certs.reserve(14);
    for (int i = 0; i < 14; ++i) {
      CertSpec spec;
      spec.cn = "host" + std::to_string(i % 8) + ".example.com";
      spec.dns_names = {spec.cn};
      if (i >= 8 && i < 11) spec.same_key_as = &certs[static_cast<size_t>(i - 8)];  // renewals
      if (i >= 11) spec.issuer = &intermediate;
      certs.push_back(MakeCertificate(spec));
      if (i >= 11) issued.push_back(i);
    }
  }
};

const Pool& ThePool() {
  static const Pool pool;
  return pool;
}

class Store {
 public:
  explicit Store(std::uint64_t seed) : rng_(seed) {}

  // --- what happens to the store -------------------------------------------------------------

  // Someone drops a file with a random mix of certificates, keys and the intermediate.
  std::string RandomContents() {
    const Pool& pool = ThePool();
    std::string text;
    const int certs = Uniform(0, 3);
    for (int i = 0; i < certs; ++i) text += Pick(pool.certs).cert_pem;
    const int keys = Uniform(certs == 0 ? 1 : 0, 2);
    for (int i = 0; i < keys; ++i) text += Pick(pool.certs).key_pem;
    if (Uniform(0, 4) == 0) text += pool.intermediate.cert_pem;
    return text;
  }
  void Drop() {
    const std::string name = "drop-" + std::to_string(next_name_++) + ".pem";
    ASSERT_TRUE(WriteFileAtomically(dir_ / name, RandomContents(), 0600));
  }
  // A renewal or an edit: a file renamed over one of the store's files (never the internal
  // transport certificate's, which only the daemon replaces).
  void Replace() {
    const Inventory now = Scan();
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      const std::string path = entry.path().string();
      if (!HoldsInternalTransport(now, path)) files.push_back(path);
    }
    if (files.empty()) return Drop();
    ASSERT_TRUE(WriteFileAtomically(Pick(files), RandomContents(), 0600));
  }
  void Import() {
    const Pool& pool = ThePool();
    const int index = Uniform(0, static_cast<int>(pool.certs.size()) - 1);
    const TestCert& cert = pool.certs[static_cast<size_t>(index)];
    std::string pem = cert.cert_pem;
    if (std::find(pool.issued.begin(), pool.issued.end(), index) != pool.issued.end()) {
      pem += pool.intermediate.cert_pem;
    }
    pem += cert.key_pem;
    const Inventory before = Scan();
    auto plan = PlanImport(before, pem, dir_.path());
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    ASSERT_TRUE(ApplyImport(*plan).ok());
    const Inventory after = Scan();
    ExpectNothingLost(before, after, "");
    const StoredCertificate* imported = after.Find(cert.thumbprint);
    ASSERT_NE(imported, nullptr);
    EXPECT_TRUE(imported->HasPrivateKey());
  }
  void ChooseInternalTransport() {
    const Inventory now = Scan();
    std::vector<std::string> candidates;
    for (const auto& stored : now.certificates) {
      if (stored.HasPrivateKey() && !stored.cert().is_ca) {
        candidates.emplace_back(stored.cert().thumbprint());
      }
    }
    if (!candidates.empty()) internal_ = Pick(candidates);
  }

  // Removes a random certificate as the daemon does: scan, read, plan, apply; again when the
  // store changed meanwhile. With `race`, another file change lands between the scan and the
  // removal.
  void Remove(bool race) {
    Inventory seen = Scan();
    if (seen.certificates.empty()) return;
    const std::string thumbprint(Pick(seen.certificates).cert().thumbprint());
    if (race) Uniform(0, 1) == 0 ? Drop() : Replace();
    const Inventory before = Scan();  // the truth when the removal starts
    const bool internal_has_key =
        before.Find(internal_) != nullptr && before.Find(internal_)->HasPrivateKey();

    for (int attempt = 0; attempt < 4; ++attempt) {
      std::map<std::string, std::string> contents;
      for (const auto& file : FilesToReadForRemoval(seen, thumbprint)) {
        if (auto text = ReadStoreFile(file, 1 << 20)) contents[file] = *text;
      }
      auto plan = PlanRemoval(seen, thumbprint, internal_, contents);
      if (!plan) {
        // Decided on what the removal saw, which may be older than `before`.
        const StoredCertificate* target = seen.Find(thumbprint);
        const StoredCertificate* internal = seen.Find(internal_);
        const bool refused_for_internal =
            internal != nullptr && target != nullptr &&
            (thumbprint == internal_ ||
             target->cert().public_key_id == internal->cert().public_key_id);
        EXPECT_TRUE(plan.error().code == ErrorCode::kInternalTransport
                        ? refused_for_internal
                        : before.Find(thumbprint) == nullptr)
            << plan.error().message;
        ExpectNothingLost(before, Scan(), "");
        return;
      }
      EXPECT_NE(thumbprint, internal_);
      if (plan->stale) {
        seen = Scan();
        continue;
      }
      auto applied = ApplyRemoval(*plan, removed_.path(), 1'800'000'000 + step_);
      ASSERT_TRUE(applied.ok()) << applied.error().message;
      if (applied->changed) {
        seen = Scan();
        continue;
      }
      ASSERT_TRUE(RestoreKeyStillNeeded(Scan(), *plan, *applied, dir_.path()).ok());
      const Inventory after = Scan();
      ExpectNothingLost(before, after, thumbprint);
      if (internal_has_key) {
        ASSERT_NE(after.Find(internal_), nullptr);
        EXPECT_TRUE(after.Find(internal_)->HasPrivateKey());
      }
      ExpectKept(applied->kept_in, *seen.Find(thumbprint), plan->removes_key);
      removed_thumbprints_.insert(thumbprint);
      if (after.Find(thumbprint) != nullptr) {  // another copy arrived meanwhile: it goes too
        seen = after;
        continue;
      }
      return;
    }
    ADD_FAILURE() << "the removal of " << thumbprint << " never settled";
  }

  void Step() {
    ++step_;
    switch (Uniform(0, 9)) {
      case 0:
      case 1:
        return Drop();
      case 2:
        return Replace();
      case 3:
      case 4:
        return Import();
      case 5:
        return ChooseInternalTransport();
      case 6:
        return Remove(/*race=*/true);
      default:
        return Remove(/*race=*/false);
    }
  }

  // Every certificate ever removed is somewhere under the removed area.
  void ExpectEveryRemovedCertificateKept() {
    std::set<std::string> found;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(removed_.path())) {
      if (!entry.is_regular_file()) continue;
      auto text = ReadStoreFile(entry.path().string(), 1 << 20);
      if (!text) continue;
      if (auto parsed = ParseStoreFile(*text)) {
        for (const auto& cert : parsed->certificates) found.emplace(cert.thumbprint());
      }
    }
    for (const auto& thumbprint : removed_thumbprints_) {
      EXPECT_TRUE(found.contains(thumbprint)) << thumbprint << " is not under removed/";
    }
  }

  std::size_t removals() const { return removed_thumbprints_.size(); }

 private:
  Inventory Scan() {
    auto inventory = scanner_.Scan();
    EXPECT_TRUE(inventory.ok());
    return inventory.ok() ? std::move(inventory).value() : Inventory{};
  }
  bool HoldsInternalTransport(const Inventory& inventory, const std::string& path) const {
    const StoredCertificate* internal = inventory.Find(internal_);
    if (internal == nullptr) return false;
    for (const auto& [key_id, name] : inventory.keys) {
      if (key_id == internal->cert().public_key_id && inventory.Path(name) == path) return true;
    }
    return std::any_of(internal->file_names.begin(), internal->file_names.end(),
                       [&](const std::string& name) { return inventory.Path(name) == path; });
  }
  void ExpectNothingLost(const Inventory& before, const Inventory& after,
                         const std::string& removed) {
    for (const auto& stored : before.certificates) {
      if (stored.cert().thumbprint() == removed) continue;
      const StoredCertificate* now = after.Find(stored.cert().thumbprint());
      ASSERT_NE(now, nullptr) << "lost certificate " << stored.cert().thumbprint() << " at step "
                              << step_;
      if (stored.HasPrivateKey()) {
        EXPECT_TRUE(now->HasPrivateKey())
            << "certificate " << stored.cert().thumbprint() << " lost its key at step " << step_;
      }
    }
  }
  void ExpectKept(const std::string& kept_in, const StoredCertificate& removed, bool with_key) {
    bool cert_found = false;
    bool key_found = !with_key;
    for (const auto& entry : std::filesystem::directory_iterator(kept_in)) {
      auto text = ReadStoreFile(entry.path().string(), 1 << 20);
      ASSERT_TRUE(text.ok());
      auto parsed = ParseStoreFile(*text);
      if (!parsed) continue;
      for (const auto& cert : parsed->certificates) {
        cert_found = cert_found || cert.thumbprint() == removed.cert().thumbprint();
      }
      for (const auto& key : parsed->keys) {
        key_found = key_found || key.public_key_id == removed.cert().public_key_id;
      }
    }
    EXPECT_TRUE(cert_found) << "the removed certificate is not in " << kept_in;
    EXPECT_TRUE(key_found) << "the removed key is not in " << kept_in;
  }
  int Uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[static_cast<size_t>(Uniform(0, static_cast<int>(items.size()) - 1))];
  }

  std::mt19937_64 rng_;
  static ScanOptions TrustingThePoolsRoot(const testing::TempDir& dir) {
    ScanOptions options;  // not the system's trust store: loading it dominated the run time
    options.trust_file = dir.Write("root.pem", ThePool().root.cert_pem);
    return options;
  }

  testing::TempDir dir_;
  testing::TempDir removed_;
  testing::TempDir trust_;
  StoreScanner scanner_{dir_.path(), TrustingThePoolsRoot(trust_)};
  std::string internal_;
  std::set<std::string> removed_thumbprints_;
  int next_name_ = 0;
  int step_ = 0;
};

TEST(StoreChanges, LoseNothingOverThousandsOfRandomSteps) {
  const std::uint64_t seed = EnvOr("TRANSPORTCERTD_PROPERTY_SEED", 20261130);
  const std::uint64_t steps = EnvOr("TRANSPORTCERTD_PROPERTY_STEPS", 3000);
  constexpr int kStepsPerStore = 60;  // a fresh store now and then keeps each one small
  std::size_t removals = 0;
  for (std::uint64_t done = 0; done < steps; done += kStepsPerStore) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", store starting at step " +
                 std::to_string(done));
    Store store(seed + done);
    for (int i = 0; i < kStepsPerStore && !HasFailure(); ++i) store.Step();
    store.ExpectEveryRemovedCertificateKept();
    removals += store.removals();
    if (HasFailure()) break;
  }
  std::printf("%llu steps, %zu removals, seed %llu\n", static_cast<unsigned long long>(steps),
              removals, static_cast<unsigned long long>(seed));
}

}  // namespace
}  // namespace transportcertd
