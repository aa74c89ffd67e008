// What a local mail port actually serves: connects to 127.0.0.1, speaks the protocol's small
// plaintext exchange up to STARTTLS (SMTP EHLO/STARTTLS, IMAP STARTTLS, POP3 STLS) or starts
// TLS at once (smtps, imaps, pop3s), sends a name as SNI and returns the SHA-1 thumbprint of the
// leaf certificate the server presents. The chain is not verified: the point is to compare the
// leaf with what the daemon selects. Every connect, read and write has a deadline, so a server
// that accepts and says nothing never hangs the caller. Blocking; not thread-safe per call, but
// calls share nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace transportcertctl {

enum class Protocol { kSmtp, kSmtps, kImap, kImaps, kPop3, kPop3s };

struct Endpoint {
  int port = 0;
  Protocol protocol = Protocol::kSmtp;
};

// "25/smtp" → {25, kSmtp}; nullopt for anything else (port 1 to 65535, a protocol of
// smtp smtps imap imaps pop3 pop3s, lower case).
std::optional<Endpoint> ParseEndpoint(std::string_view text);
// "25/smtp"
std::string EndpointText(const Endpoint& endpoint);
// "smtp"
std::string_view ProtocolName(Protocol protocol);
// The daemon's service for what the protocol carries: SMTP, IMAP or POP.
std::string_view ServiceOf(Protocol protocol);
// Whether the protocol starts in plaintext and upgrades (smtp, imap, pop3).
bool UsesStartTls(Protocol protocol);

// The endpoints checked when the daemon does not say (an older daemon without VerifyEndpoints).
std::vector<Endpoint> DefaultEndpoints();

struct Served {
  enum class Outcome {
    kServed,        // `thumbprint` is the leaf presented
    kNotListening,  // the port refused the connection
    kTlsFailed,     // connected, but no certificate came back: `error` says where it stopped
  };
  Outcome outcome = Outcome::kTlsFailed;
  std::string thumbprint;  // upper-case hex SHA-1 of the leaf's DER
  std::string error;
};

struct FetchOptions {
  std::string address = "127.0.0.1";
  std::chrono::milliseconds timeout{5000};  // for the connect and for each read and write
};

// Connects to `endpoint` and fetches the leaf presented for `server_name` (sent as SNI; empty:
// no SNI).
Served FetchServedLeaf(const Endpoint& endpoint, const std::string& server_name,
                       const FetchOptions& options = {});

}  // namespace transportcertctl
