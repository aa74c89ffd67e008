// One self-signed generation of the daemon (daemon/generation.cpp), declared here so that the
// daemon's other files can own its queue. Loop thread, except while the thread pool runs it.
#pragma once

#include <uv.h>

#include <string>
#include <vector>

#include "daemon/daemon.h"
#include "monitor/selfsigned.h"

namespace transportcertd {

// One self-signed generation: queued on the loop thread, run on the thread pool, finished on
// the loop thread.
struct Daemon::Generation {
  uv_work_t work{};
  Daemon* daemon = nullptr;
  SelfSignedRequest request;
  std::string store;
  std::string reason;
  UnixTime newer_than = 0;  // the newest NotBefore in the store when it was started
  std::vector<GenerationDone> done;
  bool started = false;             // handed to the thread pool
  NextKey::Refill next_key_refill;  // DANE: the new next key, made after the certificate
  Result<GeneratedCertificate> generated{Error{}};
  Result<std::string> written{Error{}};
};

}  // namespace transportcertd
