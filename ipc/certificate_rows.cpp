#include "ipc/certificate_rows.h"

#include <cstring>
#include <string_view>

#include "ipc/bus_arguments.h"
#include "ipc/bus_messages.h"
#include "ipc/bus_names.h"

namespace transportcertd {

bool CertificateRows::Matches(const std::vector<StoredCertificate>& certificates) const {
  if (certificates.size() != table_->rows.size()) return false;
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    if (certificates[i].certificate.get() != table_->rows[i].certificate) return false;
  }
  return true;
}

std::shared_ptr<const CertificateRows::Table> CertificateRows::Build(
    const ManagerBackend& backend) {
  auto table = std::make_shared<Table>();
  std::string& text = table->text;
  const std::vector<StoredCertificate>& certificates = backend.CurrentInventory().certificates;
  const std::string& internal = backend.CurrentBindings().internal_transport;
  const auto add = [&text](std::string_view value) {
    if (IsValidUtf8(value)) {
      text.append(value);
    } else {
      text.append(ValidUtf8(value));
    }
    text.push_back('\0');
  };
  table->rows.reserve(certificates.size());
  for (const StoredCertificate& stored : certificates) {
    const Certificate& cert = stored.cert();
    Row& row = table->rows.emplace_back();
    row.certificate = &cert;
    row.offset = static_cast<std::uint32_t>(text.size());
    add(cert.thumbprint());
    add(cert.subject());
    add(cert.issuer());
    for (const std::string_view name : cert.Names()) add(name);
    row.names = static_cast<std::uint32_t>(cert.Names().size());
    text.append(kCertificatePathPrefix).append("/").append(cert.thumbprint()).push_back('\0');
    row.not_before = ToUsec(cert.not_before);
    row.not_after = ToUsec(cert.not_after);
    row.services = backend.ServicesOf(cert.thumbprint());
    row.self_signed = cert.self_signed;
    row.has_private_key = stored.HasPrivateKey();
    row.internal_transport = !internal.empty() && internal == cert.thumbprint();
  }
  text.shrink_to_fit();
  return table;
}

Result<CertificateRows::Reply> CertificateRows::StartReply(sd_bus_message* call,
                                                           ManagerBackend& backend) {
  sd_bus_message* message = nullptr;
  if (sd_bus_message_new_method_return(call, &message) < 0) return Error{"cannot create a reply"};
  Reply reply;
  reply.message_.reset(message);
  const std::vector<StoredCertificate>& certificates = backend.CurrentInventory().certificates;
  if (!table_ || !Matches(certificates)) table_ = Build(backend);
  reply.table_ = table_;
  // Status depends on the clock: asked for every reply, of every certificate at once.
  reply.statuses_.reserve(certificates.size());
  for (const StoredCertificate& stored : certificates) {
    reply.statuses_.push_back(backend.StatusOf(stored));
  }
  return reply;
}

int CertificateRows::Reply::AppendPart(std::size_t max_rows) {
  const auto write_row = [this](MessageWriter& out, std::size_t i) {
    const Row& row = table_->rows[i];
    const char* text = table_->text.data() + row.offset;
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
        .String(statuses_[i])
        .Bool(row.self_signed)
        .Bool(row.has_private_key)
        .Bool(row.internal_transport)
        .ObjectPath(next())
        .Close();
  };
  return AppendArrayPart(message_.get(), kCertificateRowSignature, table_->rows.size(), next_,
                         max_rows, write_row);
}

}  // namespace transportcertd
