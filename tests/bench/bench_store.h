// The benchmark fixture: a certificate store of N certificate+key pairs generated once per run
// into a temporary directory, plus the inventory scanned from it for the selection benchmark.
//
// Layout of the store (one flat directory, as a mail server keeps one):
//   leaf-00000.crt ... leaf-NNNNN.crt   one certificate each (PEM)
//   leaf-00000.key ... leaf-NNNNN.key   its private key (PKCS#8 PEM, mode 0600), a distinct
//                                       EC P-256 key per certificate
//   intermediate.crt                    the issuing intermediate CA (no key)
// The root CA is written next to the store, not in it, and is the scan's only trust anchor.
// Nine leaves in ten are issued by the intermediate; one in ten is self-signed. One leaf in a
// hundred covers the benchmark host name (half by exact name, half by *.example.com), with
// spread-out dates so that ranking has real work; the others cover names of their own.
//
// Built once, then read-only: safe to share between benchmarks on the main thread.
#pragma once

#include <string>
#include <vector>

#include "monitor/store.h"
#include "tests/support/temp_dir.h"

namespace transportcertd::bench {

// The host name ~1% of the store's certificates match.
inline constexpr char kBenchHostname[] = "mail.example.com";

// Writes the store described above into `store_dir` (created; its parent must exist) with dates
// relative to `now`; returns the root CA certificate (PEM), the trust anchor kept out of the
// store. Aborts the run with a reason if anything fails.
std::string WriteBenchStore(const std::string& store_dir, int pairs, UnixTime now);

class BenchStore {
 public:
  // Generates `pairs` certificate+key pairs (aborts the run with a reason if anything fails,
  // including a scan that does not find every pair).
  explicit BenchStore(int pairs);
  BenchStore(const BenchStore&) = delete;
  BenchStore& operator=(const BenchStore&) = delete;

  int pairs() const { return pairs_; }
  const std::string& dir() const { return store_dir_; }
  const ScanOptions& options() const { return options_; }
  int files() const { return files_; }
  double creation_seconds() const { return creation_seconds_; }

  // One CA-issued leaf certificate and its key, as PEM text, for the single-parse benchmarks.
  const std::string& sample_cert_pem() const { return sample_cert_pem_; }
  const std::string& sample_key_pem() const { return sample_key_pem_; }

  // The store as scanned once after generation.
  const Inventory& inventory() const { return inventory_; }
  UnixTime now() const { return now_; }

 private:
  testing::TempDir root_;  // holds the store directory and the trust anchor
  int pairs_ = 0;
  std::string store_dir_;
  ScanOptions options_;
  int files_ = 0;
  double creation_seconds_ = 0;
  std::string sample_cert_pem_;
  std::string sample_key_pem_;
  Inventory inventory_;
  UnixTime now_ = 0;
};

}  // namespace transportcertd::bench
