// Extra trust anchors for chain verification ([selection] trust in transportcertd.conf): CA
// certificates an administrator trusts in addition to the system trust store, such as an
// organisation's own root CA. Plain functions that read files; any thread.
#pragma once

#include <string>
#include <vector>

#include "monitor/result.h"

namespace transportcertd {

// Reads the trust anchors at `path`: a file holding one or more PEM certificates, or a directory
// of such files (plain files with any names, as /usr/local/share/ca-certificates holds them; a
// hashed directory made by c_rehash works too). Hidden entries and subdirectories of a directory
// are not read, nor its files that hold no certificate, except that a file named *.pem, *.crt
// or *.cer must hold certificates and nothing else unusable. Returns the certificates as DER,
// each once, sorted.
// Fails with "PATH: reason" when the path cannot be read, a file is too large or holds something
// that is not a certificate (a private key is ignored), or no certificate is found at all.
Result<std::vector<std::string>> LoadTrustAnchors(const std::string& path);

}  // namespace transportcertd
