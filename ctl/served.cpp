#include "ctl/served.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace transportcertctl {
namespace {

struct ProtocolInfo {
  Protocol protocol;
  const char* name;
  const char* service;
  bool starttls;
};

constexpr std::array<ProtocolInfo, 6> kProtocols = {{
    {Protocol::kSmtp, "smtp", "SMTP", true},
    {Protocol::kSmtps, "smtps", "SMTP", false},
    {Protocol::kImap, "imap", "IMAP", true},
    {Protocol::kImaps, "imaps", "IMAP", false},
    {Protocol::kPop3, "pop3", "POP", true},
    {Protocol::kPop3s, "pop3s", "POP", false},
}};

const ProtocolInfo& Info(Protocol protocol) {
  for (const ProtocolInfo& info : kProtocols) {
    if (info.protocol == protocol) return info;
  }
  return kProtocols[0];
}

// Bounds on what a server may send before TLS: a line, and the lines of one reply.
constexpr std::size_t kMaxLine = 4096;
constexpr int kMaxReplyLines = 100;

// A failure of the exchange; becomes Outcome::kTlsFailed with its text.
class ExchangeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) (void)close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string ErrnoText(int error) { return std::strerror(error); }

// OpenSSL writes to the socket with write(), so a server that closes early would kill the
// process with SIGPIPE. While this guard lives SIGPIPE is blocked in this thread; one raised
// meanwhile is taken off the pending set before it is unblocked (the write fails with EPIPE
// instead, which ends the handshake with an error).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    already_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  ~SigpipeGuard() {
    if (!already_pending_) {
      const timespec zero{};
      while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool already_pending_ = false;
};

// One line (without CR LF) read byte by byte, so that nothing of the TLS handshake that
// follows is read into a buffer here. The socket's receive timeout bounds each read.
std::string ReadLine(int fd) {
  std::string line;
  for (;;) {
    char c = 0;
    const ssize_t n = recv(fd, &c, 1, 0);
    if (n == 0) throw ExchangeError("the server closed the connection before TLS");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        throw ExchangeError("the server did not answer in time before TLS");
      }
      throw ExchangeError("cannot read from the server: " + ErrnoText(errno));
    }
    if (c == '\n') {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    line += c;
    if (line.size() > kMaxLine) throw ExchangeError("the server sent an overlong line");
  }
}

void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ExchangeError("cannot write to the server: " + ErrnoText(errno));
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string Quote(const std::string& line) {
  std::string shown;
  for (const char c : line.substr(0, 120)) {
    shown += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  return "'" + shown + "'";
}

// An SMTP reply (RFC 5321: "250-..." lines continue, "250 ..." ends it): its code and lines.
std::pair<std::string, std::vector<std::string>> ReadSmtpReply(int fd) {
  std::vector<std::string> lines;
  for (int i = 0; i < kMaxReplyLines; ++i) {
    std::string line = ReadLine(fd);
    if (line.size() < 3) throw ExchangeError("not an SMTP reply: " + Quote(line));
    const bool more = line.size() > 3 && line[3] == '-';
    lines.push_back(line);
    if (!more) return {line.substr(0, 3), lines};
  }
  throw ExchangeError("the SMTP reply has too many lines");
}

void SmtpStartTls(int fd) {
  auto [code, greeting] = ReadSmtpReply(fd);
  if (code != "220") throw ExchangeError("the SMTP greeting is " + Quote(greeting.back()));
  WriteAll(fd, "EHLO localhost\r\n");
  auto [ehlo_code, ehlo] = ReadSmtpReply(fd);
  if (ehlo_code != "250") throw ExchangeError("EHLO was answered " + Quote(ehlo.back()));
  WriteAll(fd, "STARTTLS\r\n");
  auto [tls_code, tls] = ReadSmtpReply(fd);
  if (tls_code != "220") throw ExchangeError("STARTTLS was answered " + Quote(tls.back()));
}

void ImapStartTls(int fd) {
  const std::string greeting = ReadLine(fd);
  if (greeting.rfind("* OK", 0) != 0) {
    throw ExchangeError("the IMAP greeting is " + Quote(greeting));
  }
  WriteAll(fd, "a STARTTLS\r\n");
  for (int i = 0; i < kMaxReplyLines; ++i) {
    const std::string line = ReadLine(fd);
    if (line.rfind("a ", 0) != 0) continue;  // untagged lines (capabilities) come first
    if (line.rfind("a OK", 0) != 0) throw ExchangeError("STARTTLS was answered " + Quote(line));
    return;
  }
  throw ExchangeError("the IMAP server never answered STARTTLS");
}

void Pop3StartTls(int fd) {
  const std::string greeting = ReadLine(fd);
  if (greeting.rfind("+OK", 0) != 0) {
    throw ExchangeError("the POP3 greeting is " + Quote(greeting));
  }
  WriteAll(fd, "STLS\r\n");
  const std::string answer = ReadLine(fd);
  if (answer.rfind("+OK", 0) != 0) throw ExchangeError("STLS was answered " + Quote(answer));
}

// Connects with a deadline; -1 and errno on failure.
int ConnectWithTimeout(const std::string& address, int port, std::chrono::milliseconds timeout,
                       int& error) {
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, address.c_str(), &peer.sin_addr) != 1) {
    error = EINVAL;
    return -1;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = errno;
    return -1;
  }
  Socket guard(fd);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&peer), sizeof peer) != 0) {
    if (errno != EINPROGRESS) {
      error = errno;
      return -1;
    }
    pollfd waiting{fd, POLLOUT, 0};
    int r = 0;
    do {
      r = poll(&waiting, 1, static_cast<int>(timeout.count()));
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      error = ETIMEDOUT;
      return -1;
    }
    int status = 0;
    socklen_t length = sizeof status;
    if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &status, &length) != 0) {
      error = errno;
      return -1;
    }
    if (status != 0) {
      error = status;
      return -1;
    }
  }
  // Blocking from here on, every read and write bounded by the timeout.
  const int flags = fcntl(fd, F_GETFL);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    error = errno;
    return -1;
  }
  return guard.release();
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct X509Deleter {
  void operator()(X509* x509) const { X509_free(x509); }
};

// The first error OpenSSL queued, or `fallback`.
std::string OpenSslError(const std::string& fallback) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

std::string Thumbprint(X509* certificate) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(certificate, EVP_sha1(), digest, &length) != 1) {
    throw ExchangeError("cannot hash the presented certificate");
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

std::string Handshake(int fd, const std::string& server_name) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) throw ExchangeError(OpenSslError("cannot create a TLS context"));
  // Whatever the server presents is what we want to see; the comparison is by thumbprint.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    throw ExchangeError(OpenSslError("cannot create a TLS connection"));
  }
  // SSL_set_tlsext_host_name, without the macro's C cast.
  if (!server_name.empty() &&
      SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(server_name.c_str())) != 1) {
    throw ExchangeError(OpenSslError("cannot send the name as SNI"));
  }
  const int r = SSL_connect(ssl.get());
  if (r != 1) {
    const int reason = SSL_get_error(ssl.get(), r);
    const int saved = errno;
    std::string what = OpenSslError("");
    if (what.empty()) {
      what = reason == SSL_ERROR_SYSCALL && (saved == EAGAIN || saved == EWOULDBLOCK)
                 ? "the server did not answer in time"
             : reason == SSL_ERROR_SYSCALL && saved != 0 ? ErrnoText(saved)
                                                         : "the server closed the connection";
    }
    throw ExchangeError("TLS handshake failed: " + what);
  }
  std::unique_ptr<X509, X509Deleter> leaf(SSL_get1_peer_certificate(ssl.get()));
  if (!leaf) throw ExchangeError("the server presented no certificate");
  // No close_notify: the connection is closed at once, and nothing was sent to protect.
  return Thumbprint(leaf.get());
}

}  // namespace

std::optional<Endpoint> ParseEndpoint(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  int port = 0;
  const std::string_view digits = text.substr(0, slash);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size() || port < 1 || port > 65535) {
    return std::nullopt;
  }
  const std::string_view name = text.substr(slash + 1);
  for (const ProtocolInfo& info : kProtocols) {
    if (name == info.name) return Endpoint{port, info.protocol};
  }
  return std::nullopt;
}

std::string EndpointText(const Endpoint& endpoint) {
  return std::to_string(endpoint.port) + "/" + Info(endpoint.protocol).name;
}

std::string_view ProtocolName(Protocol protocol) { return Info(protocol).name; }
std::string_view ServiceOf(Protocol protocol) { return Info(protocol).service; }
bool UsesStartTls(Protocol protocol) { return Info(protocol).starttls; }

std::vector<Endpoint> DefaultEndpoints() {
  return {{25, Protocol::kSmtp},  {587, Protocol::kSmtp},  {465, Protocol::kSmtps},
          {143, Protocol::kImap}, {993, Protocol::kImaps}, {110, Protocol::kPop3},
          {995, Protocol::kPop3s}};
}

Served FetchServedLeaf(const Endpoint& endpoint, const std::string& server_name,
                       const FetchOptions& options) {
  Served served;
  const SigpipeGuard no_sigpipe;
  int error = 0;
  const int fd = ConnectWithTimeout(options.address, endpoint.port, options.timeout, error);
  if (fd < 0) {
    if (error == ECONNREFUSED) {
      served.outcome = Served::Outcome::kNotListening;
      served.error = "connection refused";
    } else {
      served.outcome = Served::Outcome::kTlsFailed;
      served.error = "cannot connect: " + ErrnoText(error);
    }
    return served;
  }
  Socket connection(fd);
  try {
    switch (endpoint.protocol) {
      case Protocol::kSmtp:
        SmtpStartTls(fd);
        break;
      case Protocol::kImap:
        ImapStartTls(fd);
        break;
      case Protocol::kPop3:
        Pop3StartTls(fd);
        break;
      case Protocol::kSmtps:
      case Protocol::kImaps:
      case Protocol::kPop3s:
        break;
    }
    served.thumbprint = Handshake(fd, server_name);
    served.outcome = Served::Outcome::kServed;
  } catch (const ExchangeError& e) {
    served.outcome = Served::Outcome::kTlsFailed;
    served.error = e.what();
  }
  return served;
}

}  // namespace transportcertctl
