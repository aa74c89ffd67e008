// transportcertctl verify: what the local mail ports actually serve, compared with what the
// daemon selects. For each endpoint (port/protocol) and each name (the FQDN and every published
// name, or the names given), the leaf presented for that name as SNI against
// SelectCertificate(name, service of the protocol). Single-threaded.
#pragma once

#include "ctl/commands.h"
#include "ctl/manager_client.h"
#include "ctl/options.h"

namespace transportcertctl {

// Asks the daemon for endpoints, names and selections, connects, renders; with --journal, logs
// each difference. Throws CommandError (a bad endpoint from the daemon), BusCallError.
CommandOutput Verify(const Options& options, ManagerClient& client, const Context& context);

}  // namespace transportcertctl
