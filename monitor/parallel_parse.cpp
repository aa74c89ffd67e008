#include "monitor/parallel_parse.h"

#include <openssl/crypto.h>
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

// A library context of the worker thread's own, made its default for as long as the thread
// runs. OpenSSL 3.0 looks up decoders, encoders and algorithms in the default library context
// under read locks that every thread takes and releases for each certificate and key; with
// one context per thread those locks are no longer shared, and the parse scales with the
// threads. Nothing created in the context leaves the thread: the workers return plain data
// (certificates as described, key ids, DER). The context is freed when the thread ends, after
// whatever the thread kept in its thread_local objects (KeyDecoder in certificate.cpp), which
// are built after it and so destroyed before it. The caller's thread keeps the process default.
class WorkerLibCtx {
 public:
  WorkerLibCtx() : ctx_(OSSL_LIB_CTX_new()) {
    if (ctx_ != nullptr) previous_ = OSSL_LIB_CTX_set0_default(ctx_);
  }
  ~WorkerLibCtx() {
    if (ctx_ == nullptr) return;
    OSSL_LIB_CTX_set0_default(previous_);
    OSSL_LIB_CTX_free(ctx_);
  }
  WorkerLibCtx(const WorkerLibCtx&) = delete;
  WorkerLibCtx& operator=(const WorkerLibCtx&) = delete;

 private:
  OSSL_LIB_CTX* ctx_;
  OSSL_LIB_CTX* previous_ = nullptr;
};

}  // namespace

unsigned ThreadsFor(std::size_t items, unsigned requested) {
  if (items == 0) return 1;
  const std::size_t wanted =
      requested > 0 ? requested : std::min<std::size_t>(UsableCpus(), items / kMinItemsPerThread);
  return static_cast<unsigned>(std::clamp<std::size_t>(wanted, 1, items));
}

namespace {

// ParallelFor; with `own_lib_ctx`, each thread it starts runs in a WorkerLibCtx.
void RunInParallel(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& fn,
                   bool own_lib_ctx) {
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
    try {
      workers.emplace_back([&work, own_lib_ctx] {
        if (own_lib_ctx) {
          // First on the thread, so that it outlives the thread's other thread_local objects.
          thread_local WorkerLibCtx lib_ctx;
        }
        work();
      });
    } catch (const std::system_error&) {
      break;  // no more threads to be had: the others (and the caller) do the rest
    }
  }
  work();
  for (auto& worker : workers) worker.join();
}

}  // namespace

void ParallelFor(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& fn) {
  RunInParallel(count, threads, fn, false);
}

std::vector<FileParse> ReadAndParseStoreFiles(const std::vector<std::string>& paths,
                                              std::uint64_t max_size, unsigned threads) {
  std::vector<FileParse> results(paths.size());
  RunInParallel(paths.size(), threads, [&](std::size_t i) {
    FileParse& result = results[i];
    auto contents = ReadStoreFile(paths[i], max_size);
    if (!contents) {
      result.gone = IsGone(paths[i]);
      result.parsed = contents.error();
      return;
    }
    result.read_ok = true;
    result.parsed = ParseStoreFile(*contents);
  }, true);
  return results;
}

}  // namespace transportcertd
