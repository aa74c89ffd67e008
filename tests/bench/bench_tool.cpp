// transportcertd_bench_tool: the pieces of tests/bench/daemon-bench that need C++ — making a
// large store, the bare-OpenSSL floor, self-signed generation times, and D-Bus clients that
// time the running daemon. Every subcommand prints figures; none asserts anything about time.
//
//   make-store DIR PAIRS          PAIRS certificate+key pairs in DIR (layout of bench_store.h)
//   make-pair FILE HOST           one self-signed certificate + key for HOST in FILE
//   floor DIR                     read + parse every file of DIR once with bare OpenSSL
//   memory DIR                    heap per certificate after scanning DIR, and its parts
//   scan DIR                      in-process: a cold scan on one thread and on every core, and
//                                 rescans of the unchanged store (what they block the loop for)
//   generation-times              GenerateSelfSigned per key type
//   list COUNT                    COUNT ListCertificates round trips
//   explain COUNT HOST            COUNT ExplainSelection(HOST, SMTP) round trips
//   select SECONDS HOST           SelectCertificate(HOST, SMTP) in a loop, then pipelined
//   change-latency SRC DEST HOST PUBLISHED
//                                 rename SRC to DEST (into the store), then time until
//                                 SelectCertificate(HOST) names it and PUBLISHED holds it
//   load CLIENTS SECONDS HOST CHURN_DIR STORE
//                                 CLIENTS threads calling List/Select/Explain for SECONDS
//                                 while the files of CHURN_DIR are moved in and out of STORE
//   rescan-block STORE COUNT      COUNT times, make the running daemon rescan its unchanged
//                                 STORE (a non-store file appears or goes) while pinging it back
//                                 to back: the longest ping is how long the loop was blocked
// The bus clients connect to $DBUS_SESSION_BUS_ADDRESS.
#include <malloc.h>
#include <openssl/pem.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "monitor/openssl_handles.h"
#include "monitor/parallel_parse.h"
#include "monitor/selection.h"
#include "monitor/selfsigned.h"
#include "tests/bench/bench_store.h"
#include "tests/support/cert_factory.h"

namespace transportcertd::bench {
namespace {

constexpr char kService[] = "org.transportcertd1";
constexpr char kPath[] = "/org/transportcertd1";
constexpr char kManager[] = "org.transportcertd1.Manager";

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "bench tool: %s\n", what.c_str());
  std::exit(1);
}

// Latencies in milliseconds, and their percentiles.
struct Latencies {
  std::vector<double> ms;
  double Percentile(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    const auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(ms.size() - 1));
    return ms[i];
  }
  std::string Summary() {
    char buf[160];
    std::snprintf(buf, sizeof buf, "n=%zu p50=%.3f p90=%.3f p99=%.3f max=%.3f ms", ms.size(),
                  Percentile(50), Percentile(90), Percentile(99), Percentile(100));
    return buf;
  }
};

sd_bus* Connect() {
  sd_bus* bus = nullptr;
  const int r = sd_bus_open_user(&bus);
  if (r < 0) Fail(std::string("cannot connect to the session bus: ") + std::strerror(-r));
  return bus;
}

// One method call; returns the reply (caller unrefs) or nullptr with `error` set.
sd_bus_message* Call(sd_bus* bus, const char* method, std::string* error, const char* host = "",
                     bool with_host = false) {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  const int r = with_host
                    ? sd_bus_call_method(bus, kService, kPath, kManager, method, &e, &reply, "ss",
                                         host, "SMTP")
                    : sd_bus_call_method(bus, kService, kPath, kManager, method, &e, &reply, "");
  if (r < 0) {
    *error = std::string(method) + ": " + (e.name != nullptr ? e.name : std::strerror(-r));
    sd_bus_error_free(&e);
    return nullptr;
  }
  return reply;
}

std::string SelectedThumbprint(sd_bus* bus, const char* host) {
  std::string error;
  sd_bus_message* reply = Call(bus, "SelectCertificate", &error, host, true);
  if (reply == nullptr) return "";
  const char* thumbprint = nullptr;
  const char* reason = nullptr;
  std::string result;
  if (sd_bus_message_read(reply, "ss", &thumbprint, &reason) >= 0) result = thumbprint;
  sd_bus_message_unref(reply);
  return result;
}

int MakeStore(const std::string& dir, int pairs) {
  const auto start = Clock::now();
  WriteBenchStore(dir, pairs, static_cast<UnixTime>(std::time(nullptr)));
  std::printf("made %d pairs in %s in %.2f s\n", pairs, dir.c_str(), Seconds(Clock::now() - start));
  return 0;
}

int MakePair(const std::string& file, const std::string& host) {
  testing::CertSpec spec;
  spec.cn = host;
  spec.dns_names = {host};
  spec.not_before_offset = -1;
  spec.key_usage = kKeyUsageDigitalSignature;
  spec.eku = std::vector<std::string>{"serverAuth"};
  const testing::TestCert cert = testing::MakeCertificate(spec);
  std::ofstream(file) << cert.cert_pem << cert.key_pem;
  chmod(file.c_str(), 0600);
  std::printf("%s\n", cert.thumbprint.c_str());
  return 0;
}

// The floor: what reading every store file once costs with nothing derived (as monitor_bench's
// OpenSslFloor/read_every_store_file).
int Floor(const std::string& dir) {
  const auto start = Clock::now();
  const double cpu = CpuSeconds();
  int certificates = 0, keys = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string path = entry.path().string();
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) continue;
    if (entry.path().extension() == ".key") {
      keys += EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)) ? 1 : 0;
    } else {
      certificates += X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) ? 1 : 0;
    }
  }
  std::printf("floor: %d certificates, %d keys: %.3f s real, %.3f s CPU\n", certificates, keys,
              Seconds(Clock::now() - start), CpuSeconds() - cpu);
  return 0;
}

int GenerationTimes() {
  for (const char* key : {"ec:P-256", "ec:P-384", "rsa:2048", "rsa:3072", "rsa:4096"}) {
    SelfSignedRequest request;
    request.fqdn = "mail.example.com";
    request.key = *ParseKeySpec(key);
    request.now = static_cast<UnixTime>(std::time(nullptr));
    const int runs = request.key.type == KeyType::kEc ? 20 : (request.key.bits >= 4096 ? 3 : 5);
    Latencies times;
    for (int i = 0; i < runs; ++i) {
      const auto start = Clock::now();
      if (!GenerateSelfSigned(request)) Fail(std::string("generation failed for ") + key);
      times.ms.push_back(Seconds(Clock::now() - start) * 1000);
    }
    std::printf("generation %s: median %.1f ms, max %.1f ms over %d\n", key, times.Percentile(50),
                times.Percentile(100), runs);
  }
  return 0;
}

// COUNT round trips of `method` (with HOST, SMTP when `host` is given), one at a time.
int RoundTrips(const char* method, int count, const char* host = nullptr) {
  sd_bus* bus = Connect();
  Latencies times;
  for (int i = 0; i < count; ++i) {
    std::string error;
    const auto start = Clock::now();
    sd_bus_message* reply = Call(bus, method, &error, host != nullptr ? host : "", host != nullptr);
    times.ms.push_back(Seconds(Clock::now() - start) * 1000);
    if (reply == nullptr) Fail(error);
    sd_bus_message_unref(reply);
  }
  std::printf("%s: %s\n", method, times.Summary().c_str());
  sd_bus_flush_close_unref(bus);
  return 0;
}

int SelectRate(double seconds, const std::string& host) {
  sd_bus* bus = Connect();
  Latencies times;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    std::string error;
    const auto start = Clock::now();
    sd_bus_message* reply = Call(bus, "SelectCertificate", &error, host.c_str(), true);
    times.ms.push_back(Seconds(Clock::now() - start) * 1000);
    if (reply == nullptr) Fail(error);
    sd_bus_message_unref(reply);
  }
  std::printf("SelectCertificate, one call at a time: %.0f calls/s (%s)\n",
              static_cast<double>(times.ms.size()) / seconds, times.Summary().c_str());

  // Pipelined: up to kWindow calls in flight on the one connection.
  constexpr int kWindow = 32;
  std::atomic<int> in_flight = 0;
  long done = 0, errors = 0;
  struct Counters {
    std::atomic<int>* in_flight;
    long* done;
    long* errors;
  } counters{&in_flight, &done, &errors};
  auto on_reply = [](sd_bus_message* m, void* userdata, sd_bus_error*) -> int {
    auto* c = static_cast<Counters*>(userdata);
    --*c->in_flight;
    ++*c->done;
    if (sd_bus_message_is_method_error(m, nullptr)) ++*c->errors;
    return 0;
  };
  const auto start = Clock::now();
  const auto pipeline_end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < pipeline_end || in_flight > 0) {
    while (in_flight < kWindow && Clock::now() < pipeline_end) {
      const int r =
          sd_bus_call_method_async(bus, nullptr, kService, kPath, kManager, "SelectCertificate",
                                   on_reply, &counters, "ss", host.c_str(), "SMTP");
      if (r < 0) Fail(std::string("async call: ") + std::strerror(-r));
      ++in_flight;
    }
    while (sd_bus_process(bus, nullptr) > 0) {
    }
    if (in_flight >= kWindow || Clock::now() >= pipeline_end) sd_bus_wait(bus, 100'000);
  }
  const double elapsed = Seconds(Clock::now() - start);
  std::printf("SelectCertificate, %d in flight: %.0f calls/s (%ld errors)\n", kWindow,
              static_cast<double>(done) / elapsed, errors);
  sd_bus_flush_close_unref(bus);
  return 0;
}

// Whether `path` exists and contains `needle`.
bool FileContains(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  if (!in) return false;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find(needle) != std::string::npos;
}

int ChangeLatency(const std::string& src, const std::string& dest, const std::string& host,
                  const std::string& published) {
  // The certificate's PEM body identifies it in the published bundle.
  std::ifstream in(src);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto begin = text.find("-----BEGIN CERTIFICATE-----");
  if (begin == std::string::npos) Fail(src + " holds no certificate");
  const std::string cert_pem = text.substr(begin, text.find("-----END CERTIFICATE-----") - begin);
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  X509Ptr x509(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!x509) Fail("cannot read the certificate in " + src);
  const std::string thumbprint(DescribeCertificate(x509.get())->thumbprint());

  sd_bus* bus = Connect();
  const auto start = Clock::now();
  if (std::rename(src.c_str(), dest.c_str()) != 0) Fail("rename: " + std::string(strerror(errno)));
  double answered = -1, published_at = -1;
  while (answered < 0 || published_at < 0) {
    if (Seconds(Clock::now() - start) > 60) Fail("the change was not seen within 60 s");
    // Each is timed when its answer is in: a call the daemon holds up while it rescans on the
    // loop counts until it is answered, not from when it was sent.
    if (answered < 0 && SelectedThumbprint(bus, host.c_str()) == thumbprint) {
      answered = Seconds(Clock::now() - start);
    }
    if (published_at < 0 && FileContains(published, cert_pem)) {
      published_at = Seconds(Clock::now() - start);
    }
    if (answered < 0 || published_at < 0) usleep(1000);
  }
  std::printf("store change: D-Bus answer after %.1f ms, published file after %.1f ms\n",
              answered * 1000, published_at * 1000);
  sd_bus_flush_close_unref(bus);
  return 0;
}

int Load(int clients, double seconds, const std::string& host, const std::string& churn_dir,
         const std::string& store) {
  std::mutex mutex;
  Latencies per_method[3];
  const char* const methods[3] = {"ListCertificates", "SelectCertificate", "ExplainSelection"};
  std::atomic<long> errors = 0;
  std::string first_error;
  std::atomic<bool> stop = false;

  std::vector<std::string> churn;
  for (const auto& entry : std::filesystem::directory_iterator(churn_dir)) {
    churn.push_back(entry.path().filename().string());
  }
  std::sort(churn.begin(), churn.end());
  long churned = 0;
  std::thread churner([&] {  // moves one file in or out of the store every 50 ms
    std::size_t i = 0;
    while (!stop && !churn.empty()) {
      const std::string& name = churn[i % churn.size()];
      const bool in = (i / churn.size()) % 2 == 0;
      const std::string from = (in ? churn_dir : store) + "/" + name;
      const std::string to = (in ? store : churn_dir) + "/" + name;
      if (std::rename(from.c_str(), to.c_str()) == 0) ++churned;
      ++i;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });

  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      sd_bus* bus = Connect();
      Latencies mine[3];
      for (int i = c; !stop; ++i) {
        const int m = i % 3;
        std::string error;
        const auto start = Clock::now();
        sd_bus_message* reply = Call(bus, methods[m], &error, host.c_str(), m != 0);
        mine[m].ms.push_back(Seconds(Clock::now() - start) * 1000);
        if (reply == nullptr) {
          if (errors++ == 0) {
            std::lock_guard lock(mutex);
            first_error = error;
          }
          continue;
        }
        sd_bus_message_unref(reply);
      }
      sd_bus_flush_close_unref(bus);
      std::lock_guard lock(mutex);
      for (int m = 0; m < 3; ++m) {
        per_method[m].ms.insert(per_method[m].ms.end(), mine[m].ms.begin(), mine[m].ms.end());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  churner.join();
  long calls = 0;
  for (int m = 0; m < 3; ++m) {
    calls += static_cast<long>(per_method[m].ms.size());
    std::printf("load %-18s %s\n", methods[m], per_method[m].Summary().c_str());
  }
  std::printf("load: %d clients, %.0f s, %ld calls (%.0f/s), %ld errors%s%s, %ld store changes\n",
              clients, seconds, calls, static_cast<double>(calls) / seconds, errors.load(),
              first_error.empty() ? "" : ", first: ", first_error.c_str(), churned);
  // Leave every churned file where it started.
  for (const auto& name : churn) {
    std::rename((store + "/" + name).c_str(), (churn_dir + "/" + name).c_str());
  }
  return errors == 0 ? 0 : 1;
}

// Heap in use (glibc's count, without allocator slack) after scanning DIR, and what of it the
// scanner's cache holds: where the daemon's memory per certificate goes. glibc counts only its
// main arena, so the scan stays on this thread; blocks large enough to be mapped on their own
// (the scanner's cache and the inventory's vectors) are counted too.
int Memory(const std::string& dir) {
  const auto in_use = [] {
    const struct mallinfo2 info = mallinfo2();
    return static_cast<double>(info.uordblks + info.hblkhd);
  };
  const double before = in_use();
  ScanOptions one_thread;
  one_thread.threads = 1;
  auto scanner = std::make_unique<StoreScanner>(dir, one_thread);
  auto inventory = scanner->Scan();
  if (!inventory) Fail(inventory.error().message);
  const double scanned = in_use();
  const auto count = static_cast<double>(inventory->certificates.size());
  const NameIndex index(*inventory);
  const double indexed = in_use();
  scanner.reset();
  const double without_cache = in_use();
  std::printf(
      "heap per certificate (%.0f certificates): scanner cache + inventory %.0f B,"
      " of which the scanner alone keeps %.0f B; name index %.0f B\n",
      count, (scanned - before) / count, (indexed - without_cache) / count,
      (indexed - scanned) / count);
  return 0;
}

// A cold scan of DIR on one thread and on every core (fresh scanners, same options as the
// daemon: the system trust store), then rescans of the unchanged store.
int ScanTimes(const std::string& dir) {
  auto timed_scan = [&](StoreScanner& scanner, double* cpu_seconds) {
    const auto start = Clock::now();
    const double cpu = CpuSeconds();
    auto inventory = scanner.Scan();
    if (!inventory) Fail(inventory.error().message);
    if (cpu_seconds != nullptr) *cpu_seconds = CpuSeconds() - cpu;
    return std::pair{Seconds(Clock::now() - start), inventory->certificates.size()};
  };
  ScanOptions one_thread;
  one_thread.threads = 1;
  double cpu1 = 0, cpu_all = 0;
  StoreScanner sequential(dir, one_thread);
  const auto [seq, count] = timed_scan(sequential, &cpu1);
  StoreScanner parallel(dir, ScanOptions{});
  const auto [par, count_all] = timed_scan(parallel, &cpu_all);
  if (count != count_all) Fail("the two scans differ in their number of certificates");
  std::printf(
      "cold scan, %zu certificates: one thread %.3f s real (%.3f s CPU); %u threads %.3f s"
      " real (%.3f s CPU), %.2fx of one thread's time\n",
      count, seq, cpu1, ThreadsFor(1 << 20, 0), par, cpu_all, par / seq);
  Latencies rescans, unchanged;
  for (int i = 0; i < 7; ++i) rescans.ms.push_back(timed_scan(parallel, nullptr).first * 1000);
  for (int i = 0; i < 7; ++i) {
    const auto start = Clock::now();
    auto result = parallel.ScanIfChanged();
    if (!result || result->has_value()) Fail("ScanIfChanged found a change in an unchanged store");
    unchanged.ms.push_back(Seconds(Clock::now() - start) * 1000);
  }
  std::printf(
      "rescan of the unchanged store: Scan (builds the inventory again) median %.1f ms,"
      " max %.1f ms; ScanIfChanged (what the daemon does on a store event) median %.1f"
      " ms, max %.1f ms; 7 each\n",
      rescans.Percentile(50), rescans.Percentile(100), unchanged.Percentile(50),
      unchanged.Percentile(100));
  return 0;
}

// Pings the daemon back to back while COUNT rescans of its unchanged store are set off (a file
// that is no store file appears in the directory, or goes: the watch fires, the scan finds
// nothing changed). The daemon answers a ping from its loop, so the longest ping around a
// rescan is how long the loop could not answer anyone.
int RescanBlock(const std::string& store, int count) {
  sd_bus* bus = Connect();
  auto ping = [&] {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    const auto start = Clock::now();
    const int r = sd_bus_call_method(bus, kService, kPath, "org.freedesktop.DBus.Peer", "Ping", &e,
                                     &reply, "");
    const double ms = Seconds(Clock::now() - start) * 1000;
    if (r < 0) Fail(std::string("Ping: ") + (e.name != nullptr ? e.name : std::strerror(-r)));
    sd_bus_message_unref(reply);
    return ms;
  };
  auto ping_for = [&](double seconds) {
    Latencies times;
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) times.ms.push_back(ping());
    return times;
  };
  Latencies idle = ping_for(1.0);
  const std::string trigger = store + "/rescan-trigger.txt";
  Latencies blocked;  // the longest ping of each rescan
  for (int i = 0; i < count; ++i) {
    if (i % 2 == 0) {
      std::ofstream(trigger) << "not a store file\n";
    } else {
      std::remove(trigger.c_str());
    }
    Latencies around = ping_for(1.5);  // debounce (100 ms), rescan, evaluation
    blocked.ms.push_back(around.Percentile(100));
  }
  std::remove(trigger.c_str());
  std::printf("ping while idle: %s\n", idle.Summary().c_str());
  std::printf("rescan of the unchanged store, longest ping per rescan: %s\n",
              blocked.Summary().c_str());
  sd_bus_flush_close_unref(bus);
  return 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: transportcertd_bench_tool make-store DIR PAIRS | make-pair FILE HOST |"
               " floor DIR | memory DIR | scan DIR | generation-times | list COUNT |"
               " explain COUNT HOST |"
               " select SECONDS HOST | rescan-block STORE COUNT |"
               " change-latency SRC DEST HOST PUBLISHED |"
               " load CLIENTS SECONDS HOST CHURN_DIR STORE\n");
  return 2;
}

}  // namespace
}  // namespace transportcertd::bench

int main(int argc, char** argv) {
  using namespace transportcertd::bench;
  const std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) return Usage();
  const std::string& cmd = a[0];
  if (cmd == "make-store" && a.size() == 3) return MakeStore(a[1], std::stoi(a[2]));
  if (cmd == "make-pair" && a.size() == 3) return MakePair(a[1], a[2]);
  if (cmd == "floor" && a.size() == 2) return Floor(a[1]);
  if (cmd == "memory" && a.size() == 2) return Memory(a[1]);
  if (cmd == "scan" && a.size() == 2) return ScanTimes(a[1]);
  if (cmd == "rescan-block" && a.size() == 3) return RescanBlock(a[1], std::stoi(a[2]));
  if (cmd == "generation-times" && a.size() == 1) return GenerationTimes();
  if (cmd == "list" && a.size() == 2) return RoundTrips("ListCertificates", std::stoi(a[1]));
  if (cmd == "explain" && a.size() == 3) {
    return RoundTrips("ExplainSelection", std::stoi(a[1]), a[2].c_str());
  }
  if (cmd == "select" && a.size() == 3) return SelectRate(std::stod(a[1]), a[2]);
  if (cmd == "change-latency" && a.size() == 5) return ChangeLatency(a[1], a[2], a[3], a[4]);
  if (cmd == "load" && a.size() == 6) {
    return Load(std::stoi(a[1]), std::stod(a[2]), a[3], a[4], a[5]);
  }
  return Usage();
}
