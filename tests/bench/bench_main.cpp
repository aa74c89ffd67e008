// transportcertd_bench: generates one store, runs the benchmarks of the domain core over it and
// prints Google Benchmark's table followed by each figure's ratio to its bare-OpenSSL floor.
//
//   transportcertd_bench [--store_size=N] [--benchmark_* flags]
//
// --store_size is the number of certificate+key pairs in the generated store (default 10000).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "tests/bench/bench_store.h"
#include "tests/bench/monitor_bench.h"

namespace transportcertd::bench {
namespace {

constexpr int kDefaultStoreSize = 10000;
constexpr char kStoreSizeFlag[] = "--store_size=";

// Removes --store_size=N from the arguments (Google Benchmark rejects flags it does not know).
// Returns -1 on a malformed value.
int TakeStoreSize(int* argc, char** argv) {
  int size = kDefaultStoreSize;
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    if (std::strncmp(argv[i], kStoreSizeFlag, std::strlen(kStoreSizeFlag)) == 0) {
      char* end = nullptr;
      const long value = std::strtol(argv[i] + std::strlen(kStoreSizeFlag), &end, 10);
      if (*end != '\0' || value < 1 || value > 1'000'000) return -1;
      size = static_cast<int>(value);
      continue;
    }
    argv[kept++] = argv[i];
  }
  *argc = kept;
  return size;
}

// The console table, remembering each benchmark's real and CPU time per iteration (the medians
// when there are repetitions) for the ratios printed after it. Both ratios are printed because
// on a shared machine the real time of a long benchmark includes time spent waiting for a CPU.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(OutputOptions options) : ConsoleReporter(options) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      Times& times = times_[run.run_name.function_name];
      if (median || (run.run_type == Run::RT_Iteration && !times.median)) {
        const double unit = benchmark::GetTimeUnitMultiplier(run.time_unit);
        times = {run.GetAdjustedRealTime() / unit, run.GetAdjustedCPUTime() / unit, median};
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void PrintRatios() const {
    std::printf("\nRatio to the bare-OpenSSL floor (the medians when repeated):\n");
    std::printf("  %-32s %10s %10s  %s\n", "benchmark", "real time", "CPU time", "floor");
    for (const FloorRatio& ratio : FloorRatios()) {
      const auto ours = times_.find(ratio.ours);
      const auto floor = times_.find(ratio.floor);
      if (ours == times_.end() || floor == times_.end() || floor->second.real <= 0 ||
          floor->second.cpu <= 0) {
        continue;
      }
      std::printf("  %-32s %9.2fx %9.2fx  %s\n", ratio.ours, ours->second.real / floor->second.real,
                  ours->second.cpu / floor->second.cpu, ratio.floor);
    }
  }

 private:
  struct Times {
    double real = 0;  // seconds
    double cpu = 0;   // seconds
    bool median = false;
  };
  std::map<std::string, Times> times_;
};

int Run(int argc, char** argv) {
  const int store_size = TakeStoreSize(&argc, argv);
  if (store_size < 0) {
    std::fprintf(stderr, "%s: --store_size wants a number from 1 to 1000000\n", argv[0]);
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  std::printf("Generating a store of %d certificate+key pairs (distinct EC P-256 keys)...\n",
              store_size);
  std::fflush(stdout);
  const BenchStore store(store_size);
  std::printf("Store fixture: %d files created in %.2f s (%.0f us per pair)\n\n", store.files(),
              store.creation_seconds(), 1e6 * store.creation_seconds() / store_size);
  std::fflush(stdout);
  benchmark::AddCustomContext("store_pairs", std::to_string(store_size));
  benchmark::AddCustomContext("store_files", std::to_string(store.files()));
  benchmark::AddCustomContext("fixture_seconds", std::to_string(store.creation_seconds()));

  RegisterMonitorBenchmarks(store);
  RatioReporter reporter(isatty(STDOUT_FILENO) != 0 ? RatioReporter::OO_ColorTabular
                                                    : RatioReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}

}  // namespace
}  // namespace transportcertd::bench

int main(int argc, char** argv) { return transportcertd::bench::Run(argc, argv); }
