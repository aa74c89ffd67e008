// The benchmarks of the domain core, registered at run time over one generated store, and the
// pairs of them whose ratio says how far a figure is from bare OpenSSL doing the same reading.
#pragma once

#include <vector>

#include "tests/bench/bench_store.h"

namespace transportcertd::bench {

// Registers every benchmark; `store` must outlive the run.
void RegisterMonitorBenchmarks(const BenchStore& store);

// "ours takes N times the floor": both names are benchmark names as registered.
struct FloorRatio {
  const char* ours;
  const char* floor;
};
std::vector<FloorRatio> FloorRatios();

}  // namespace transportcertd::bench
