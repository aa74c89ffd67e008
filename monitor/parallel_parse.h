// Reading and parsing store files, and checking chains, on every core. A cold start parses
// every file of the store; the files are independent and ReadStoreFile, ParseStoreFile and
// chain verification are thread-safe, so the work is split across threads. Results are
// returned by index, so the outcome is the same as one thread's, in the same order.
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "monitor/certificate.h"
#include "monitor/result.h"

namespace transportcertd {

// Below this many items per thread a thread costs more than it saves (starting one is tens
// of microseconds; parsing one file hundreds), so a handful of files stays on the caller.
inline constexpr std::size_t kMinItemsPerThread = 16;

// How many threads to use for `items` items. `requested` 0 means automatic: one per CPU the
// process may run on, fewer when there are too few items to share (a handful: one, the caller
// alone). A requested count is used as given (at most one per item); tests use it.
unsigned ThreadsFor(std::size_t items, unsigned requested);

// OpenSSL library contexts for the threads ParallelFor starts, one each, made on first use and
// freed with this object. OpenSSL 3.0 looks up decoders, encoders and algorithms in the
// default library context under read locks that every thread takes and releases several times
// for each certificate and key; threads each in a context of their own no longer share those
// locks, and the parse scales with the threads. Whatever OpenSSL makes in a thread (a key
// decoded, a trust anchor loaded into a shared X509_STORE, a key exported for a verification)
// may refer to that thread's context: it must be freed before this object, so a scan declares
// it before any OpenSSL object it uses and keeps it until the end. A new context costs about
// what parsing a few files does (its caches start empty), hence one per thread, not per call.
// It loads the configuration file the process default loads (openssl.cnf, or $OPENSSL_CONF),
// so that a provider or setting it adds applies in every thread alike.
class WorkerLibCtxs {
 public:
  WorkerLibCtxs() = default;
  ~WorkerLibCtxs();
  WorkerLibCtxs(const WorkerLibCtxs&) = delete;
  WorkerLibCtxs& operator=(const WorkerLibCtxs&) = delete;

  // The context of the `n`th thread started (from 0); nullptr when none can be made.
  OSSL_LIB_CTX* Get(std::size_t n);

 private:
  std::vector<OSSL_LIB_CTX*> ctxs_;
};

// Calls `fn(i)` for every i in [0, count), on `threads` threads (the caller is one of them).
// Each index is handed out once; `fn` must only touch what belongs to its index. Returns when
// every call has returned. `fn` must not throw. With `lib_ctxs`, each thread started works
// in one of them as its default library context; the caller stays in the process default.
void ParallelFor(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& fn,
                 WorkerLibCtxs* lib_ctxs = nullptr);

// One store file read and parsed as the scanner does it.
struct FileParse {
  bool gone = false;     // the file vanished before it could be read: not a problem
  bool read_ok = false;  // its contents were read (a parse may still have failed)
  Result<ParsedFile> parsed{Error{}};
};

// Reads (ReadStoreFile, at most `max_size` bytes) and parses (ParseStoreFile) each of `paths`,
// on `threads` threads, each started one in a library context of `lib_ctxs` (or of its own,
// freed on return, when null: a parse holds no OpenSSL object), and hands each file's parse to
// `take(i, parse)` (i its index in `paths`) on the thread that parsed it, as soon as it is
// parsed, the file's contents already freed. `take` is called from several threads at once and
// must only touch what belongs to its index (or lock); it must not throw. A caller that keeps
// only part of each parse keeps memory compact this way: what it does not keep is freed before
// the next file is read, and its space is used again for that file, instead of lying between
// what is kept until every file is parsed.
void ReadAndParseStoreFiles(const std::vector<std::string>& paths, std::uint64_t max_size,
                            unsigned threads, WorkerLibCtxs* lib_ctxs,
                            const std::function<void(std::size_t, FileParse)>& take);

}  // namespace transportcertd
