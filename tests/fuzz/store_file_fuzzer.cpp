// libFuzzer target for the store file parser, ParseStoreFile (monitor/certificate.h). Every file
// dropped into the store goes through it, so any bytes at all must give a result: no crash,
// leak, hang or undefined behaviour (ASan + UBSan watch those). On top of that it checks:
//   - the same bytes give the same result, reasons included (no state, such as OpenSSL's error
//     queue, carries over from one file to the next);
//   - a failure has a reason; a success holds at least one certificate or private key;
//   - every certificate has a 40-digit SHA-1 thumbprint and a 64-digit SHA-256 fingerprint in
//     uppercase hex, and its DER loads back into OpenSSL;
//   - a certificate written out as PEM (as publishing does) parses back to the same thumbprint.
// Seeds: ../shared/corpus/certs (see scripts/fuzz).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "monitor/certificate.h"

namespace {

void Check(bool holds, const char* what) {
  if (!holds) {
    static_cast<void>(std::fprintf(stderr, "store_file_fuzzer: invariant broken: %s\n", what));
    std::abort();
  }
}

bool IsUpperHex(std::string_view text, std::size_t digits) {
  return text.size() == digits && text.find_first_not_of("0123456789ABCDEF") == text.npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace transportcertd;
  const std::string_view contents(reinterpret_cast<const char*>(data), size);
  const Result<ParsedFile> parsed = ParseStoreFile(contents);
  const Result<ParsedFile> again = ParseStoreFile(contents);
  Check(parsed.ok() == again.ok(), "the same bytes give the same result");
  if (!parsed) {
    Check(parsed.error().message == again.error().message, "the same bytes give the same reason");
    Check(!parsed.error().message.empty(), "a failure has a reason");
    return 0;
  }
  Check(!parsed->certificates.empty() || !parsed->keys.empty(),
        "a success holds a certificate or a key");
  Check(parsed->certificates.size() == again->certificates.size() &&
            parsed->keys.size() == again->keys.size() && parsed->skipped == again->skipped,
        "the same bytes give the same certificates, keys and reasons");
  Check(parsed->certificate_ders.size() == parsed->certificates.size(),
        "every certificate comes with its DER");
  for (std::size_t i = 0; i < parsed->certificates.size(); ++i) {
    const Certificate& cert = parsed->certificates[i];
    const std::string& der = parsed->certificate_ders[i];
    Check(IsUpperHex(cert.thumbprint(), 40), "the thumbprint is 40 uppercase hex digits");
    Check(IsUpperHex(cert.Sha256Hex(), 64), "the SHA-256 fingerprint is 64 uppercase hex digits");
    Check(X509FromDer(der) != nullptr, "the certificate's DER loads back");
    const Result<ParsedFile> as_pem = ParseStoreFile(DerToPem(der));
    Check(as_pem && as_pem->certificates.size() == 1 &&
              as_pem->certificates.front().thumbprint() == cert.thumbprint(),
          "the certificate as PEM parses back to the same thumbprint");
  }
  return 0;
}
