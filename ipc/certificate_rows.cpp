#include "ipc/certificate_rows.h"

#include <cstring>
#include <string_view>

#include "ipc/bus_arguments.h"
#include "ipc/bus_messages.h"
#include "ipc/bus_names.h"

namespace transportcertd {

void CertificateRows::Clear() {
  std::string().swap(text_);
  std::vector<Row>().swap(rows_);
  built_ = false;
}

bool CertificateRows::Matches(const std::vector<StoredCertificate>& certificates) const {
  if (certificates.size() != rows_.size()) return false;
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    if (certificates[i].certificate.get() != rows_[i].certificate) return false;
  }
  return true;
}

void CertificateRows::Build(const ManagerBackend& backend) {
  Clear();
  const std::vector<StoredCertificate>& certificates = backend.CurrentInventory().certificates;
  const std::string& internal = backend.CurrentBindings().internal_transport;
  const auto add = [this](std::string_view text) {
    if (IsValidUtf8(text)) {
      text_.append(text);
    } else {
      text_.append(ValidUtf8(text));
    }
    text_.push_back('\0');
  };
  rows_.reserve(certificates.size());
  for (const StoredCertificate& stored : certificates) {
    const Certificate& cert = stored.cert();
    Row& row = rows_.emplace_back();
    row.certificate = &cert;
    row.offset = static_cast<std::uint32_t>(text_.size());
    add(cert.thumbprint);
    add(cert.subject);
    add(cert.issuer);
    for (const std::string& name : cert.Names()) add(name);
    row.names = static_cast<std::uint32_t>(cert.Names().size());
    text_.append(kCertificatePathPrefix).append("/").append(cert.thumbprint).push_back('\0');
    row.not_before = ToUsec(cert.not_before);
    row.not_after = ToUsec(cert.not_after);
    row.services = backend.ServicesOf(cert.thumbprint);
    row.self_signed = cert.self_signed;
    row.has_private_key = stored.HasPrivateKey();
    row.internal_transport = !internal.empty() && internal == cert.thumbprint;
  }
  text_.shrink_to_fit();
  built_ = true;
  ++builds_;
}

int CertificateRows::Append(sd_bus_message* reply, ManagerBackend& backend) {
  const std::vector<StoredCertificate>& certificates = backend.CurrentInventory().certificates;
  if (!built_ || !Matches(certificates)) Build(backend);

  MessageWriter out(reply);
  out.Open(SD_BUS_TYPE_ARRAY, kCertificateRowSignature);
  for (std::size_t i = 0; i < rows_.size() && out.result() >= 0; ++i) {
    const Row& row = rows_[i];
    const char* text = text_.data() + row.offset;
    const auto next = [&text] {
      const char* current = text;
      text += std::strlen(text) + 1;
      return current;
    };
    out.Open(SD_BUS_TYPE_STRUCT, kCertificateRowContents)
        .ValidString(next())   // thumbprint
        .ValidString(next())   // subject
        .ValidString(next());  // issuer
    out.Open(SD_BUS_TYPE_ARRAY, "s");
    for (std::uint32_t n = 0; n < row.names; ++n) out.ValidString(next());
    out.Close().U64(row.not_before).U64(row.not_after);
    out.Open(SD_BUS_TYPE_ARRAY, "s");
    for (const Service service : {Service::kSmtp, Service::kImap, Service::kPop, Service::kHttp}) {
      if ((row.services & Bit(service)) != 0) out.String(ServiceName(service));
    }
    out.Close()
        .String(backend.StatusOf(certificates[i]))  // depends on the clock: asked for every reply
        .Bool(row.self_signed)
        .Bool(row.has_private_key)
        .Bool(row.internal_transport)
        .ObjectPath(next())
        .Close();
  }
  out.Close();
  return out.result();
}

}  // namespace transportcertd
