#include "tests/bench/bench_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>

#include "tests/support/cert_factory.h"

namespace transportcertd::bench {
namespace {

constexpr std::int64_t kDay = 86400;

// The fixture has no error channel: a store it cannot build makes every figure meaningless.
[[noreturn]] void Die(std::string_view what) {
  static_cast<void>(
      std::fprintf(stderr, "bench store: %.*s\n", static_cast<int>(what.size()), what.data()));
  std::abort();
}

std::string Numbered(const char* prefix, int i, const char* suffix) {
  char buf[64];
  static_cast<void>(std::snprintf(buf, sizeof buf, "%s%05d%s", prefix, i, suffix));
  return buf;
}

testing::CertSpec LeafSpec(int i, UnixTime now, const testing::TestCert& issuer) {
  testing::CertSpec spec;
  spec.now = now;
  spec.key = "ec:P-256";
  spec.key_usage = kKeyUsageDigitalSignature;
  spec.eku = std::vector<std::string>{"serverAuth"};
  spec.issuer = i % 10 == 3 ? nullptr : &issuer;
  if (i % 100 == 0) {
    const int match = i / 100;
    spec.cn = kBenchHostname;
    spec.dns_names = {match % 2 == 0 ? kBenchHostname : "*.example.com", "example.com"};
    spec.not_before_offset = -kDay * (1 + match % 37);
    spec.not_after_offset = match % 4 == 3 ? -kDay : kDay * (30 + match % 61);
  } else {
    spec.cn = Numbered("host", i, ".example.net");
    spec.dns_names = {spec.cn, Numbered("smtp", i, ".example.net")};
    spec.not_before_offset = -kDay * (1 + i % 300);
    spec.not_after_offset = kDay * (1 + i % 400);
  }
  return spec;
}

void MakeDirectory(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0) Die("mkdir " + path + ": " + std::strerror(errno));
}

void WriteFile(const std::string& path, const std::string& contents, mode_t mode) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr || std::fwrite(contents.data(), 1, contents.size(), f) != contents.size() ||
      std::fclose(f) != 0 || chmod(path.c_str(), mode) != 0) {
    Die("cannot write " + path + ": " + std::strerror(errno));
  }
}

}  // namespace

std::string WriteBenchStore(const std::string& store_dir, int pairs, UnixTime now) {
  if (pairs < 1) Die("the store needs at least one certificate");
  MakeDirectory(store_dir);
  const testing::TestCert root = testing::MakeCa("Bench Root CA");
  const testing::TestCert intermediate = testing::MakeCa("Bench Intermediate CA", &root);
  WriteFile(store_dir + "/intermediate.crt", intermediate.cert_pem, 0644);
  for (int i = 0; i < pairs; ++i) {
    const testing::TestCert leaf = testing::MakeCertificate(LeafSpec(i, now, intermediate));
    WriteFile(store_dir + Numbered("/leaf-", i, ".crt"), leaf.cert_pem, 0644);
    WriteFile(store_dir + Numbered("/leaf-", i, ".key"), leaf.key_pem, 0600);
  }
  return root.cert_pem;
}

BenchStore::BenchStore(int pairs) : pairs_(pairs) {
  now_ = static_cast<UnixTime>(std::time(nullptr));
  store_dir_ = root_ / "store";
  options_.trust_file = root_ / "root.pem";

  const auto start = std::chrono::steady_clock::now();
  root_.Write("root.pem", WriteBenchStore(store_dir_, pairs, now_));
  files_ = 1 + 2 * pairs;
  const int sample = std::min(1, pairs - 1);  // a CA-issued leaf when there is one
  sample_cert_pem_ = testing::ReadWholeFile(store_dir_ + Numbered("/leaf-", sample, ".crt"));
  sample_key_pem_ = testing::ReadWholeFile(store_dir_ + Numbered("/leaf-", sample, ".key"));
  creation_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  StoreScanner scanner(store_dir_, options_);
  auto inventory = scanner.Scan();
  if (!inventory) Die(inventory.error().message);
  inventory_ = std::move(inventory).value();
  int with_key = 0;
  int self_signed = 0;
  int verified = 0;
  for (const StoredCertificate& stored : inventory_.certificates) {
    with_key += stored.HasPrivateKey() ? 1 : 0;
    self_signed += stored.chain == ChainStatus::kSelfSigned ? 1 : 0;
    verified += stored.chain == ChainStatus::kVerified ? 1 : 0;
  }
  // Every leaf but the self-signed ones, and the intermediate, chain to the root.
  if (with_key != pairs || !inventory_.problems.empty() || verified != pairs - self_signed + 1) {
    Die("the scan found " + std::to_string(with_key) + " of " + std::to_string(pairs) + " pairs, " +
        std::to_string(verified) + " verified chains and " +
        std::to_string(inventory_.problems.size()) + " problems");
  }
}

}  // namespace transportcertd::bench
