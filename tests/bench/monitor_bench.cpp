#include "tests/bench/monitor_bench.h"

#include <benchmark/benchmark.h>
#include <dirent.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "monitor/bindings.h"
#include "monitor/certificate.h"
#include "monitor/openssl_handles.h"
#include "monitor/selection.h"
#include "monitor/store.h"

namespace transportcertd::bench {
namespace {

constexpr char kParseCertificate[] = "ParseStoreFile/certificate_pem";
constexpr char kParseKey[] = "ParseStoreFile/private_key_pem";
constexpr char kFloorCertificate[] = "OpenSslFloor/PEM_read_bio_X509";
constexpr char kFloorKey[] = "OpenSslFloor/PEM_read_bio_PrivateKey";
constexpr char kScanCold[] = "StoreScanner/cold_scan";
constexpr char kScanWarm[] = "StoreScanner/warm_rescan";
constexpr char kFloorStore[] = "OpenSslFloor/read_every_store_file";
constexpr char kSelect[] = "Select/one_host_name";
constexpr char kSelectWinner[] = "SelectWinner/one_host_name";
constexpr char kNameIndex[] = "NameIndex/build";

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

void ParseOne(benchmark::State& state, const std::string& pem) {
  if (auto parsed = ParseStoreFile(pem);
      !parsed || parsed->certificates.size() + parsed->keys.size() != 1) {
    state.SkipWithError("the sample does not parse to one certificate or key");
    return;
  }
  for (auto _ : state) {
    auto parsed = ParseStoreFile(pem);
    benchmark::DoNotOptimize(parsed);
  }
}

// The floor for one file: OpenSSL's own PEM reader on the same bytes, nothing derived.
template <typename T, T* (*Read)(BIO*, T**, pem_password_cb*, void*), void (*Free)(T*)>
void FloorOne(benchmark::State& state, const std::string& pem) {
  for (auto _ : state) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    T* object = Read(bio.get(), nullptr, nullptr, nullptr);
    if (object == nullptr) {
      state.SkipWithError("OpenSSL cannot read the sample");
      break;
    }
    benchmark::DoNotOptimize(object);
    Free(object);
  }
}

void SetFileCounters(benchmark::State& state, const BenchStore& store) {
  state.counters["files"] = store.files();
  state.counters["files/s"] =
      benchmark::Counter(store.files(), benchmark::Counter::kIsIterationInvariantRate);
}

bool HasEveryPair(const Result<Inventory>& inventory, const BenchStore& store) {
  return inventory && inventory->problems.empty() &&
         inventory->certificates.size() == static_cast<std::size_t>(store.pairs()) + 1;
}

// A fresh scanner each time: every file is read and parsed (from the page cache).
void ScanCold(benchmark::State& state, const BenchStore& store) {
  std::optional<StoreScanner> scanner;
  std::optional<Result<Inventory>> inventory;
  for (auto _ : state) {
    state.PauseTiming();  // tearing down the previous scan is not part of this one
    inventory.reset();
    scanner.emplace(store.dir(), store.options());
    state.ResumeTiming();
    inventory.emplace(scanner->Scan());
  }
  if (!inventory || !HasEveryPair(*inventory, store)) state.SkipWithError("incomplete scan");
  SetFileCounters(state, store);
}

// The same scanner again over an unchanged store: every file is a cache hit.
void ScanWarm(benchmark::State& state, const BenchStore& store) {
  StoreScanner scanner(store.dir(), store.options());
  std::optional<Result<Inventory>> inventory(scanner.Scan());
  for (auto _ : state) {
    state.PauseTiming();
    inventory.reset();
    state.ResumeTiming();
    inventory.emplace(scanner.Scan());
  }
  if (!inventory || !HasEveryPair(*inventory, store)) state.SkipWithError("incomplete scan");
  SetFileCounters(state, store);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The floor for the scan: list the directory and read every file once with OpenSSL's PEM
// readers in a plain loop. No digests, names, pairing, self-signed check or chain check.
void FloorStore(benchmark::State& state, const BenchStore& store) {
  for (auto _ : state) {
    int read = 0;
    DirPtr dir(opendir(store.dir().c_str()));
    while (const dirent* entry = dir ? readdir(dir.get()) : nullptr) {
      const std::string_view name = entry->d_name;
      const bool cert = EndsWith(name, ".crt");
      if (!cert && !EndsWith(name, ".key")) continue;
      BioPtr bio(BIO_new_file((store.dir() + "/" + entry->d_name).c_str(), "r"));
      if (!bio) continue;
      if (cert) {
        X509Ptr x509(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        read += x509 ? 1 : 0;
        benchmark::DoNotOptimize(x509.get());
      } else {
        EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
        read += key ? 1 : 0;
        benchmark::DoNotOptimize(key.get());
      }
    }
    ERR_clear_error();
    if (read != store.files()) {
      state.SkipWithError("OpenSSL could not read every store file");
      break;
    }
  }
  SetFileCounters(state, store);
}

// Select (every certificate judged, as ExplainSelection) or, with `winner_only`, SelectWinner
// through a NameIndex built beforehand (as SelectCertificate and publishing).
void SelectOne(benchmark::State& state, const BenchStore& store, bool winner_only) {
  const Bindings bindings;  // every certificate enabled for the default service, SMTP
  const SelectionInput input{.inventory = store.inventory(),
                             .bindings = bindings,
                             .default_services = Bit(Service::kSmtp),
                             .fqdn = kBenchHostname,
                             .service = Service::kSmtp,
                             .wildcard = WildcardMode::kOneLevel,
                             .now = store.now()};
  const NameIndex index(store.inventory());
  const Selection check = Select(input);
  std::int64_t eligible = 0;
  for (const Judgement& judgement : check.judgements) {
    eligible += judgement.verdict != Verdict::kIneligible ? 1 : 0;
  }
  if (check.winner == nullptr || SelectWinner(input, index).winner != check.winner) {
    state.SkipWithError("no certificate selected, or SelectWinner disagrees with Select");
    return;
  }
  for (auto _ : state) {
    Selection selection = winner_only ? SelectWinner(input, index) : Select(input);
    benchmark::DoNotOptimize(selection.winner);
  }
  state.counters["certificates"] = static_cast<double>(store.inventory().certificates.size());
  state.counters["eligible"] = static_cast<double>(eligible);
}

void BuildNameIndex(benchmark::State& state, const BenchStore& store) {
  for (auto _ : state) {
    NameIndex index(store.inventory());
    benchmark::DoNotOptimize(index);
  }
  state.counters["certificates"] = static_cast<double>(store.inventory().certificates.size());
}

}  // namespace

void RegisterMonitorBenchmarks(const BenchStore& store) {
  const BenchStore* s = &store;
  benchmark::RegisterBenchmark(kParseCertificate, [s](benchmark::State& state) {
    ParseOne(state, s->sample_cert_pem());
  })->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(kFloorCertificate, [s](benchmark::State& state) {
    FloorOne<X509, PEM_read_bio_X509, X509_free>(state, s->sample_cert_pem());
  })->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(kParseKey, [s](benchmark::State& state) {
    ParseOne(state, s->sample_key_pem());
  })->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(kFloorKey, [s](benchmark::State& state) {
    FloorOne<EVP_PKEY, PEM_read_bio_PrivateKey, EVP_PKEY_free>(state, s->sample_key_pem());
  })->Unit(benchmark::kMicrosecond);

  benchmark::RegisterBenchmark(kScanCold, [s](benchmark::State& state) { ScanCold(state, *s); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark(kScanWarm, [s](benchmark::State& state) { ScanWarm(state, *s); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark(kFloorStore, [s](benchmark::State& state) { FloorStore(state, *s); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();

  benchmark::RegisterBenchmark(kSelect, [s](benchmark::State& state) {
    SelectOne(state, *s, false);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(kSelectWinner, [s](benchmark::State& state) {
    SelectOne(state, *s, true);
  })->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(kNameIndex, [s](benchmark::State& state) {
    BuildNameIndex(state, *s);
  })->Unit(benchmark::kMillisecond);
}

std::vector<FloorRatio> FloorRatios() {
  return {{kParseCertificate, kFloorCertificate},
          {kParseKey, kFloorKey},
          {kScanCold, kFloorStore},
          {kScanWarm, kFloorStore}};
}

}  // namespace transportcertd::bench
