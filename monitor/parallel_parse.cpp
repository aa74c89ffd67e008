#include "monitor/parallel_parse.h"

#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <system_error>
#include <thread>

#include "monitor/store.h"

namespace transportcertd {
namespace {

unsigned UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
    return static_cast<unsigned>(CPU_COUNT(&set));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

bool IsGone(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) != 0 && errno == ENOENT;
}

}  // namespace

WorkerLibCtxs::~WorkerLibCtxs() {
  for (OSSL_LIB_CTX* ctx : ctxs_) OSSL_LIB_CTX_free(ctx);
}

OSSL_LIB_CTX* WorkerLibCtxs::Get(std::size_t n) {
  while (ctxs_.size() <= n) {
    OSSL_LIB_CTX* ctx = OSSL_LIB_CTX_new();
    if (ctx == nullptr) return nullptr;  // the thread works in the process default
    // The configuration the process default has (openssl.cnf, or $OPENSSL_CONF), so that a
    // file is judged alike whichever thread parses it; without one, both have the defaults.
    if (char* config = CONF_get1_default_config_file(); config != nullptr) {
      if (OSSL_LIB_CTX_load_config(ctx, config) != 1) ERR_clear_error();
      OPENSSL_free(config);
    }
    ctxs_.push_back(ctx);
  }
  return ctxs_[n];
}

unsigned ThreadsFor(std::size_t items, unsigned requested) {
  if (items == 0) return 1;
  const std::size_t wanted =
      requested > 0 ? requested : std::min<std::size_t>(UsableCpus(), items / kMinItemsPerThread);
  return static_cast<unsigned>(std::clamp<std::size_t>(wanted, 1, items));
}

void ParallelFor(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& fn,
                 WorkerLibCtxs* lib_ctxs) {
  threads =
      static_cast<unsigned>(std::clamp<std::size_t>(threads, 1, std::max<std::size_t>(count, 1)));
  if (threads <= 1) {
    for (std::size_t i = 0; i < count; ++i) fn(i);
    return;
  }
  // Indexes are handed out one by one: files differ widely in cost (an RSA key takes several
  // times a P-256 certificate), so fixed slices would leave a thread idle at the end.
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next.fetch_add(1, std::memory_order_relaxed); i < count;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      fn(i);
    }
  };
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) {
    OSSL_LIB_CTX* lib_ctx = lib_ctxs != nullptr ? lib_ctxs->Get(t - 1) : nullptr;
    try {
      workers.emplace_back([&work, lib_ctx] {
        OSSL_LIB_CTX* const previous =
            lib_ctx != nullptr ? OSSL_LIB_CTX_set0_default(lib_ctx) : nullptr;
        work();
        if (previous != nullptr) OSSL_LIB_CTX_set0_default(previous);
      });
    } catch (const std::system_error&) {
      break;  // no more threads to be had: the others (and the caller) do the rest
    }
  }
  work();
  for (auto& worker : workers) worker.join();
}

void ReadAndParseStoreFiles(const std::vector<std::string>& paths, std::uint64_t max_size,
                            unsigned threads, WorkerLibCtxs* lib_ctxs,
                            const std::function<void(std::size_t, FileParse)>& take) {
  WorkerLibCtxs own_lib_ctxs;  // outlives the threads, which are joined before it is freed
  const auto read_and_parse = [&](std::size_t i) {
    FileParse result;
    auto contents = ReadStoreFile(paths[i], max_size);
    if (!contents) {
      result.gone = IsGone(paths[i]);
      result.parsed = contents.error();
    } else {
      result.read_ok = true;
      result.parsed = ParseStoreFile(*contents);
    }
    contents = Error{};  // freed before `take` keeps anything
    take(i, std::move(result));
  };
  ParallelFor(paths.size(), threads, read_and_parse,
              lib_ctxs != nullptr ? lib_ctxs : &own_lib_ctxs);
}

}  // namespace transportcertd
