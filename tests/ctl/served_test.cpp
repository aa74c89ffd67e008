// FetchServedLeaf against a fake mail server on a loopback socket in this process: the
// plaintext exchange of each protocol up to STARTTLS/STLS, then a real OpenSSL handshake with a
// certificate made for the test (chosen by SNI), and the ways it can go wrong.
#include "ctl/served.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cert_factory.h"

namespace transportcertctl {
namespace {

using transportcertd::testing::CertSpec;
using transportcertd::testing::MakeCertificate;
using transportcertd::testing::TestCert;

// A listening loopback socket on a port the kernel chose.
int Listen(int& port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(listen(fd, 4), 0);
  socklen_t length = sizeof address;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  port = ntohs(address.sin_port);
  return fd;
}

std::string ReadLine(int fd) {
  std::string line;
  char c = 0;
  while (recv(fd, &c, 1, 0) == 1) {
    line += c;
    if (c == '\n') break;
  }
  return line;
}

void Send(int fd, const std::string& text) {
  (void)send(fd, text.data(), text.size(), MSG_NOSIGNAL);
}

// One scripted step of the plaintext part: send `say`, then (unless empty) read one line and
// record it.
struct Step {
  std::string say;
  bool read = true;
};

// A server for one connection: the plaintext script, then TLS with `default_cert`, or
// `sni_cert` when the client sent `sni_name`. Records what the client wrote and the SNI.
class FakeServer {
 public:
  FakeServer(const std::vector<Step>& script, bool tls, const TestCert* default_cert,
             const TestCert* sni_cert = nullptr, const std::string& sni_name = "")
      : listener_(Listen(port_)) {
    thread_ = std::thread([=, this] { Serve(script, tls, default_cert, sni_cert, sni_name); });
  }
  ~FakeServer() {
    Join();
    close(listener_);
  }
  int port() const { return port_; }
  std::vector<std::string> received;  // lines the client wrote, read after the join
  std::string sni;

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Serve(const std::vector<Step>& script, bool tls, const TestCert* default_cert,
             const TestCert* sni_cert, const std::string& sni_name) {
    // The client may close while this side still writes (TLS 1.3 session tickets): EPIPE here,
    // never a SIGPIPE for the process (FetchServedLeaf guards only its own thread).
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    const int fd = accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    for (const Step& step : script) {
      Send(fd, step.say);
      if (step.read) received.push_back(ReadLine(fd));
    }
    if (tls) {
      SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
      SSL_CTX_use_certificate(ctx, default_cert->x509.get());
      SSL_CTX_use_PrivateKey(ctx, default_cert->key.get());
      SSL* ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      SSL_set_accept_state(ssl);
      // Peek at the SNI in the ClientHello and switch certificates, as Postfix's SNI maps do.
      struct Choice {
        const TestCert* cert;
        std::string name;
        std::string* seen;
      } choice{sni_cert, sni_name, &sni};
      SSL_CTX_set_client_hello_cb(
          ctx,
          [](SSL* s, int*, void* arg) {
            auto* c = static_cast<Choice*>(arg);
            const unsigned char* data = nullptr;
            std::size_t length = 0;
            if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &data, &length) == 1 &&
                length > 5) {
              // list length (2), type (1), name length (2), name
              *c->seen = std::string(reinterpret_cast<const char*>(data + 5), length - 5);
              if (c->cert != nullptr && *c->seen == c->name) {
                SSL_use_certificate(s, c->cert->x509.get());
                SSL_use_PrivateKey(s, c->cert->key.get());
              }
            }
            return SSL_CLIENT_HELLO_SUCCESS;
          },
          &choice);
      if (SSL_accept(ssl) == 1) {
        char byte = 0;
        (void)SSL_read(ssl, &byte, 1);  // until the client closes
      }
      SSL_free(ssl);
      SSL_CTX_free(ctx);
    } else {
      // Say nothing more until the client gives up.
      char byte = 0;
      (void)recv(fd, &byte, 1, 0);
    }
    close(fd);
  }

  int port_ = 0;
  int listener_;
  std::thread thread_;
};

class ServedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    CertSpec spec;
    spec.cn = spec.dns_names.front() = "mail.example.test";
    default_cert_ = new TestCert(MakeCertificate(spec));
    spec.cn = spec.dns_names.front() = "smtp.example.test";
    sni_cert_ = new TestCert(MakeCertificate(spec));
  }
  static void TearDownTestSuite() {
    delete default_cert_;
    delete sni_cert_;
  }
  static TestCert* default_cert_;
  static TestCert* sni_cert_;
};
TestCert* ServedTest::default_cert_ = nullptr;
TestCert* ServedTest::sni_cert_ = nullptr;

TEST(EndpointTest, ParsesPortAndProtocol) {
  const auto smtp = ParseEndpoint("25/smtp");
  ASSERT_TRUE(smtp);
  EXPECT_EQ(smtp->port, 25);
  EXPECT_EQ(smtp->protocol, Protocol::kSmtp);
  EXPECT_EQ(EndpointText(*ParseEndpoint("995/pop3s")), "995/pop3s");
  EXPECT_EQ(ServiceOf(ParseEndpoint("995/pop3s")->protocol), "POP");
  EXPECT_EQ(ServiceOf(ParseEndpoint("143/imap")->protocol), "IMAP");
  EXPECT_EQ(ServiceOf(ParseEndpoint("465/smtps")->protocol), "SMTP");
  EXPECT_TRUE(UsesStartTls(Protocol::kPop3));
  EXPECT_FALSE(UsesStartTls(Protocol::kImaps));
  for (const char* bad : {"", "25", "/smtp", "25/", "0/smtp", "65536/smtp", "25/SMTP", "25/http",
                          "x25/smtp", "25/smtp ", "-1/smtp"}) {
    EXPECT_FALSE(ParseEndpoint(bad)) << bad;
  }
  ASSERT_EQ(DefaultEndpoints().size(), 7U);
  EXPECT_EQ(EndpointText(DefaultEndpoints()[2]), "465/smtps");
}

TEST_F(ServedTest, SmtpEhloThenStartTlsAndTheLeafForTheSniName) {
  FakeServer server({{"220-mail.example.test ESMTP\r\n220 more greeting\r\n"},
                     {"250-mail.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"},
                     {"220 2.0.0 Ready to start TLS\r\n", false}},
                    true, default_cert_, sni_cert_, "smtp.example.test");
  const Served served = FetchServedLeaf({server.port(), Protocol::kSmtp}, "smtp.example.test");
  server.Join();
  EXPECT_EQ(served.outcome, Served::Outcome::kServed) << served.error;
  EXPECT_EQ(served.thumbprint, sni_cert_->thumbprint);
  ASSERT_EQ(server.received.size(), 2U);
  EXPECT_EQ(server.received[0], "EHLO localhost\r\n");
  EXPECT_EQ(server.received[1], "STARTTLS\r\n");
  EXPECT_EQ(server.sni, "smtp.example.test");
}

TEST_F(ServedTest, ImapStartTlsSkipsUntaggedLines) {
  FakeServer server({{"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"},
                     {"* CAPABILITY IMAP4rev1\r\na OK Begin TLS negotiation now.\r\n", false}},
                    true, default_cert_, sni_cert_, "smtp.example.test");
  const Served served = FetchServedLeaf({server.port(), Protocol::kImap}, "mail.example.test");
  server.Join();
  EXPECT_EQ(served.outcome, Served::Outcome::kServed) << served.error;
  EXPECT_EQ(served.thumbprint, default_cert_->thumbprint);
  ASSERT_EQ(server.received.size(), 1U);
  EXPECT_EQ(server.received[0], "a STARTTLS\r\n");
  EXPECT_EQ(server.sni, "mail.example.test");
}

TEST_F(ServedTest, Pop3Stls) {
  FakeServer server({{"+OK Dovecot ready.\r\n"}, {"+OK Begin TLS negotiation now.\r\n", false}},
                    true, default_cert_);
  const Served served = FetchServedLeaf({server.port(), Protocol::kPop3}, "mail.example.test");
  server.Join();
  EXPECT_EQ(served.outcome, Served::Outcome::kServed) << served.error;
  EXPECT_EQ(served.thumbprint, default_cert_->thumbprint);
  ASSERT_EQ(server.received.size(), 1U);
  EXPECT_EQ(server.received[0], "STLS\r\n");
}

TEST_F(ServedTest, ImplicitTlsSendsNothingFirst) {
  for (const Protocol protocol : {Protocol::kSmtps, Protocol::kImaps, Protocol::kPop3s}) {
    FakeServer server({}, true, default_cert_, sni_cert_, "smtp.example.test");
    const Served served = FetchServedLeaf({server.port(), protocol}, "smtp.example.test");
    server.Join();
    EXPECT_EQ(served.outcome, Served::Outcome::kServed) << served.error;
    EXPECT_EQ(served.thumbprint, sni_cert_->thumbprint);
  }
}

TEST_F(ServedTest, RefusedStartTlsIsATlsFailureThatSaysWhy) {
  FakeServer server({{"220 mail.example.test ESMTP\r\n"},
                     {"250 mail.example.test\r\n"},
                     {"454 4.7.0 TLS not available due to local problem\r\n", false}},
                    false, nullptr);
  FetchOptions options;
  options.timeout = std::chrono::milliseconds(2000);
  const Served served = FetchServedLeaf({server.port(), Protocol::kSmtp}, "", options);
  EXPECT_EQ(served.outcome, Served::Outcome::kTlsFailed);
  EXPECT_NE(served.error.find("STARTTLS was answered '454 4.7.0 TLS not available"),
            std::string::npos)
      << served.error;
}

TEST_F(ServedTest, AServerThatSaysNothingTimesOut) {
  FakeServer server({}, false, nullptr);  // accepts, never greets
  FetchOptions options;
  options.timeout = std::chrono::milliseconds(200);
  const Served served = FetchServedLeaf({server.port(), Protocol::kImap}, "", options);
  EXPECT_EQ(served.outcome, Served::Outcome::kTlsFailed);
  EXPECT_NE(served.error.find("did not answer in time"), std::string::npos) << served.error;
}

TEST_F(ServedTest, AServerThatSaysNothingDuringTheHandshakeTimesOut) {
  FakeServer server({}, false, nullptr);  // accepts, never answers the ClientHello
  FetchOptions options;
  options.timeout = std::chrono::milliseconds(200);
  const Served served = FetchServedLeaf({server.port(), Protocol::kSmtps}, "", options);
  EXPECT_EQ(served.outcome, Served::Outcome::kTlsFailed);
  EXPECT_NE(served.error.find("TLS handshake failed"), std::string::npos) << served.error;
}

TEST_F(ServedTest, PlaintextWhereTlsWasExpectedFails) {
  // An SMTP server on the smtps port: its greeting is not a TLS record.
  FakeServer server({{"220 mail.example.test ESMTP\r\n"}}, false, nullptr);
  const Served served = FetchServedLeaf({server.port(), Protocol::kSmtps}, "");
  EXPECT_EQ(served.outcome, Served::Outcome::kTlsFailed);
  EXPECT_NE(served.error.find("TLS handshake failed"), std::string::npos) << served.error;
}

TEST(ServedRefusedTest, AClosedPortIsNotListening) {
  int port = 0;
  const int fd = Listen(port);
  close(fd);  // nothing listens there now
  const Served served = FetchServedLeaf({port, Protocol::kSmtp}, "mail.example.test");
  EXPECT_EQ(served.outcome, Served::Outcome::kNotListening) << served.error;
  EXPECT_TRUE(served.thumbprint.empty());
}

}  // namespace
}  // namespace transportcertctl
