#include "monitor/bindings.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace transportcertd {
namespace {

using testing::ReadWholeFile;
using testing::TempDir;

constexpr char kA[] = "3BA4C1D2E3F4A5B6C7D8E9F0A1B2C3D4E5F60718";
constexpr char kB[] = "77E0AABBCCDDEEFF00112233445566778899AABB";
constexpr char kC[] = "0000000000000000000000000000000000000001";

std::string Lowercase(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Parses text that must be malformed and returns the error message.
std::string ParseError(const std::string& text) {
  const Result<Bindings> parsed = ParseBindings(text, "bindings");
  if (parsed.ok()) {
    ADD_FAILURE() << "parsed without error:\n" << text;
    return {};
  }
  return parsed.error().message;
}

TEST(AService, IsParsedFromItsNameInAnyCase) {
  EXPECT_EQ(*ParseService("SMTP"), Service::kSmtp);
  EXPECT_EQ(*ParseService("imap"), Service::kImap);
  EXPECT_EQ(*ParseService("Pop"), Service::kPop);
  EXPECT_EQ(*ParseService("hTTp"), Service::kHttp);
}

TEST(AService, UnknownNameFailsListingTheAcceptedNames) {
  const Result<Service> parsed = ParseService("FTP");

  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message, "unknown service 'FTP' (expected SMTP, IMAP, POP, HTTP)");
}

TEST(AService, EmptyNameIsUnknown) { EXPECT_FALSE(ParseService("").ok()); }

TEST(AServiceSet, IsParsedFromAListOfNames) {
  const Result<ServiceSet> set = ParseServices({"pop", "SMTP"});

  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(*set, Bit(Service::kSmtp) | Bit(Service::kPop));
}

TEST(AServiceSet, FailsOnTheFirstUnknownName) {
  const Result<ServiceSet> set = ParseServices({"SMTP", "XMPP", "NNTP"});

  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.error().message.find("'XMPP'"), std::string::npos) << set.error().message;
}

TEST(AServiceSet, IsNamedInCanonicalOrder) {
  EXPECT_EQ(ServiceNames(Bit(Service::kHttp) | Bit(Service::kSmtp) | Bit(Service::kPop)),
            (std::vector<std::string>{"SMTP", "POP", "HTTP"}));
  EXPECT_EQ(ServiceNames(kAllServices), (std::vector<std::string>{"SMTP", "IMAP", "POP", "HTTP"}));
  EXPECT_TRUE(ServiceNames(0).empty());
}

TEST(ABindingsParser, ReadsInternalTransportAndServicesAmongCommentsAndBlankLines) {
  const std::string text = std::string("# a comment\n") + "\n" + "internal-transport " + kA + "\n" +
                           "   \t\n" + "services " + kA + " SMTP imap  # trailing\n" +
                           "services\t" + kB + "\tHTTP\n";

  const Result<Bindings> parsed = ParseBindings(text, "bindings");

  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->internal_transport, kA);
  EXPECT_EQ(parsed->services.size(), 2u);
  EXPECT_EQ(parsed->ServicesOf(kA, 0), Bit(Service::kSmtp) | Bit(Service::kImap));
  EXPECT_EQ(parsed->ServicesOf(kB, 0), Bit(Service::kHttp));
}

TEST(ABindingsParser, NormalisesThumbprintsToUppercase) {
  const std::string text =
      "internal-transport " + Lowercase(kA) + "\nservices " + Lowercase(kB) + " SMTP\n";

  const Result<Bindings> parsed = ParseBindings(text, "bindings");

  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->internal_transport, kA);
  EXPECT_EQ(parsed->services.count(kB), 1u);
}

TEST(ABindingsParser, AcceptsWindowsLineEndingsAndNoFinalNewline) {
  const std::string text = std::string("internal-transport ") + kA + "\r\nservices " + kA + " POP";

  const Result<Bindings> parsed = ParseBindings(text, "bindings");

  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->internal_transport, kA);
  EXPECT_EQ(parsed->ServicesOf(kA, 0), Bit(Service::kPop));
}

TEST(ABindingsParser, ReadsEmptyTextAsNoBindings) {
  const Result<Bindings> parsed = ParseBindings("", "bindings");

  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, Bindings{});
}

TEST(ABindingsParser, ReadsAServicesLineWithoutServicesAsEnabledForNothing) {
  const Result<Bindings> parsed = ParseBindings(std::string("services ") + kB + "\n", "b");

  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->ServicesOf(kB, Bit(Service::kSmtp)), 0u);
}

TEST(ABindingsParser, RejectsAnUnknownKeywordWithItsLine) {
  EXPECT_EQ(ParseError(std::string("# header\n\nservice ") + kA + " SMTP\n"),
            "bindings:3: unknown keyword 'service' (expected internal-transport or services)");
}

TEST(ABindingsParser, RejectsAThumbprintOfTheWrongLength) {
  EXPECT_EQ(ParseError("internal-transport 3BA4\n"),
            "bindings:1: '3BA4' is not a thumbprint (40 hex digits)");
}

TEST(ABindingsParser, RejectsAThumbprintWithANonHexDigit) {
  const std::string bad = std::string(kA).replace(5, 1, "G");

  EXPECT_EQ(ParseError(std::string("services ") + kA + "\nservices " + bad + " SMTP\n"),
            "bindings:2: '" + bad + "' is not a thumbprint (40 hex digits)");
}

TEST(ABindingsParser, RejectsAKeywordWithoutAThumbprint) {
  EXPECT_EQ(ParseError("services\n"), "bindings:1: services needs a thumbprint");
  EXPECT_EQ(ParseError("internal-transport\n"),
            "bindings:1: internal-transport needs a thumbprint");
}

TEST(ABindingsParser, RejectsAnUnknownServiceWithItsLine) {
  EXPECT_EQ(ParseError(std::string("services ") + kA + " SMTP\nservices " + kB + " SMTP FTP\n"),
            "bindings:2: unknown service 'FTP' (expected SMTP, IMAP, POP, HTTP)");
}

TEST(ABindingsParser, RejectsASecondInternalTransportLine) {
  EXPECT_EQ(
      ParseError(std::string("internal-transport ") + kA + "\n\ninternal-transport " + kB + "\n"),
      "bindings:3: internal-transport given twice (first on line 1)");
}

TEST(ABindingsParser, RejectsAnInternalTransportLineWithMoreThanOneThumbprint) {
  EXPECT_EQ(ParseError(std::string("internal-transport ") + kA + " " + kB + "\n"),
            "bindings:1: internal-transport takes one thumbprint, not 2 words");
}

TEST(ABindingsParser, RejectsTwoServicesLinesForOneCertificateInAnyCase) {
  EXPECT_EQ(
      ParseError(std::string("services ") + kA + " SMTP\nservices " + Lowercase(kA) + " IMAP\n"),
      std::string("bindings:2: services of ") + kA + " given twice (first on line 1)");
}

TEST(ABindingsParser, RejectsAServiceListedTwiceOnOneLine) {
  EXPECT_EQ(ParseError(std::string("services ") + kA + " SMTP smtp\n"),
            "bindings:1: service SMTP listed twice");
}

TEST(ABindingsParser, UsesTheGivenNameInErrors) {
  const Result<Bindings> parsed = ParseBindings("bogus\n", "/state/bindings");

  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message.rfind("/state/bindings:1: ", 0), 0u) << parsed.error().message;
}

TEST(SomeBindings, GiveTheDefaultsToACertificateWithoutAServicesLine) {
  Bindings bindings;
  bindings.services[kA] = Bit(Service::kImap);
  const ServiceSet defaults = Bit(Service::kSmtp) | Bit(Service::kPop);

  EXPECT_EQ(bindings.ServicesOf(kA, defaults), Bit(Service::kImap));
  EXPECT_EQ(bindings.ServicesOf(kB, defaults), defaults);
}

TEST(SomeBindings, FindACertificateByThumbprintInAnyCase) {
  Bindings bindings;
  bindings.services[kA] = Bit(Service::kHttp);

  EXPECT_EQ(bindings.ServicesOf(Lowercase(kA), Bit(Service::kSmtp)), Bit(Service::kHttp));
}

TEST(FormattedBindings, ParseBackToTheSameBindings) {
  Bindings bindings;
  bindings.internal_transport = kB;
  bindings.services[kA] = Bit(Service::kSmtp) | Bit(Service::kHttp);
  bindings.services[kB] = 0;
  bindings.services[kC] = kAllServices;

  const Result<Bindings> parsed = ParseBindings(FormatBindings(bindings), "formatted");

  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, bindings);
}

TEST(FormattedBindings, ParseBackWhenEmpty) {
  const Result<Bindings> parsed = ParseBindings(FormatBindings(Bindings{}), "formatted");

  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, Bindings{});
}

TEST(FormattedBindings, StartWithACommentSayingWhoMaintainsTheFileThenSortedLines) {
  Bindings bindings;
  bindings.internal_transport = kA;
  bindings.services[kB] = Bit(Service::kPop) | Bit(Service::kSmtp);
  bindings.services[kA] = Bit(Service::kSmtp);
  bindings.services[kC] = 0;

  const std::string text = FormatBindings(bindings);

  ASSERT_EQ(text.rfind("# transportcertd bindings", 0), 0u) << text;
  EXPECT_NE(text.find("Maintained by transportcertd"), std::string::npos) << text;
  const std::size_t body = text.find("\ninternal-transport");
  ASSERT_NE(body, std::string::npos) << text;
  EXPECT_EQ(text.substr(body + 1), std::string("internal-transport ") + kA + "\n" + "services " +
                                       kC + "\n" + "services " + kA + " SMTP\n" + "services " + kB +
                                       " SMTP POP\n");
}

TEST(ABindingsFile, ThatIsMissingLoadsAsNoBindings) {
  TempDir dir;
  const Result<Bindings> loaded = LoadBindings(dir / "bindings");

  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(*loaded, Bindings{});
}

TEST(ABindingsFile, IsSavedWithMode0600AndLoadsBack) {
  TempDir dir;
  Bindings bindings;
  bindings.internal_transport = kA;
  bindings.services[kA] = Bit(Service::kSmtp) | Bit(Service::kImap);

  const Status saved = SaveBindings(dir / "bindings", bindings);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  const Result<Bindings> loaded = LoadBindings(dir / "bindings");

  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(*loaded, bindings);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "bindings").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(ABindingsFile, ThatIsCorruptFailsNamingTheFileAndLineAndIsLeftAlone) {
  TempDir dir;
  const std::string corrupt = std::string("internal-transport ") + kA + "\nservices nonsense\n";
  const std::string path = dir.Write("bindings", corrupt, 0600);

  const Result<Bindings> loaded = LoadBindings(path);

  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message, path + ":2: 'nonsense' is not a thumbprint (40 hex digits)");
  EXPECT_EQ(ReadWholeFile(path), corrupt);
}

TEST(ABindingsFile, ThatCannotBeReadFailsNamingTheFile) {
  TempDir dir;
  const Result<Bindings> loaded = LoadBindings(dir.path());

  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message, dir.path() + ": Is a directory");
}

TEST(ABindingsFile, CannotBeSavedIntoAMissingDirectory) {
  TempDir dir;
  const Status saved = SaveBindings(dir / "missing/bindings", Bindings{});

  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().message.rfind(dir / "missing/bindings: could not write: ", 0), 0u)
      << saved.error().message;
}

}  // namespace
}  // namespace transportcertd
