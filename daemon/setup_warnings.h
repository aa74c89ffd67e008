// Warnings about a set-up that works but is probably not what the administrator meant: a
// single-label fqdn, and private keys in the store that group or others may read. Given once
// each at start and on each reload, never fatal. Loop thread only.
#pragma once

#include "daemon/config.h"
#include "monitor/store.h"

namespace transportcertd {

void WarnAboutSetup(const Config& config, const Inventory& inventory);

}  // namespace transportcertd
