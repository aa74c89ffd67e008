// transportcertctl verify's results and how they are shown: one row per (endpoint, name)
// checked, its verdict, the table or JSON, and the journal entry of a difference. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ctl/commands.h"
#include "ctl/options.h"
#include "ctl/served.h"

namespace transportcertctl {

enum class Verdict { kMatch, kDiffers, kTlsFailed, kNotListening };

std::string_view VerdictName(Verdict verdict);

// One (endpoint, name) checked.
struct VerifyRow {
  Endpoint endpoint;
  std::string name;
  std::string service;   // SMTP, IMAP or POP
  std::string expected;  // thumbprint the daemon selects; empty when it selects none
  std::string expected_error;
  std::string served;  // thumbprint presented; empty when none
  std::string served_error;
  Verdict verdict = Verdict::kMatch;
};

// The verdict of one check: not-listening and tls-failed as fetched; otherwise match when the
// presented leaf is the selected one, differs when not (or when nothing is selected).
Verdict Judge(const Served& served, const std::string& expected);

// The table (or JSON) of `rows`; exit status 1 when any row differs or failed TLS.
CommandOutput RenderVerify(const Options& options, const Context& context,
                           const std::vector<VerifyRow>& rows);

// The metrics file for node_exporter's textfile collector: transportcertd_served_match
// {port,name,service} 1 when the port serves the selection, 0 when it differs or fails TLS;
// ports that are not listening are left out.
std::string ServedMatchMetrics(const std::vector<VerifyRow>& rows);
// Its name, next to the daemon's [metrics] textfile.
inline constexpr const char* kVerifyMetricsFileName = "transportcertd-verify.prom";

// The journal entry of a row that differs: MESSAGE=, MESSAGE_ID=, PRIORITY= and the fields
// its catalog entry shows (daemon/alerts.h, kServedDiffersFields), as "NAME=value".
std::vector<std::string> ServedDiffersJournalFields(const VerifyRow& row);

}  // namespace transportcertctl
