#include "ipc/certificate_rows.h"

#include <cstring>
#include <string_view>

#include "ipc/bus_arguments.h"
#include "ipc/bus_messages.h"
#include "ipc/bus_names.h"

namespace transportcertd {
namespace {

// Appends values to a message and keeps the first failure; the strings are valid already.
class Appender {
 public:
  explicit Appender(sd_bus_message* message) : message_(message) {}

  void Basic(char type, const void* value) {
    if (result_ >= 0) Keep(sd_bus_message_append_basic(message_, type, value));
  }
  void Open(char type, const char* contents) {
    if (result_ >= 0) Keep(sd_bus_message_open_container(message_, type, contents));
  }
  void Close() {
    if (result_ >= 0) Keep(sd_bus_message_close_container(message_));
  }
  void Bool(bool value) {
    const int as_int = value ? 1 : 0;
    Basic(SD_BUS_TYPE_BOOLEAN, &as_int);
  }
  int result() const { return result_; }

 private:
  void Keep(int r) {
    if (r < 0) result_ = r;
  }
  sd_bus_message* message_;
  int result_ = 0;
};

}  // namespace

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

  Appender out(reply);
  out.Open(SD_BUS_TYPE_ARRAY, kCertificateRowSignature);
  for (std::size_t i = 0; i < rows_.size() && out.result() >= 0; ++i) {
    const Row& row = rows_[i];
    const char* text = text_.data() + row.offset;
    const auto next = [&text] {
      const char* current = text;
      text += std::strlen(text) + 1;
      return current;
    };
    out.Open(SD_BUS_TYPE_STRUCT, kCertificateRowContents);
    out.Basic(SD_BUS_TYPE_STRING, next());  // thumbprint
    out.Basic(SD_BUS_TYPE_STRING, next());  // subject
    out.Basic(SD_BUS_TYPE_STRING, next());  // issuer
    out.Open(SD_BUS_TYPE_ARRAY, "s");
    for (std::uint32_t n = 0; n < row.names; ++n) out.Basic(SD_BUS_TYPE_STRING, next());
    out.Close();
    out.Basic(SD_BUS_TYPE_UINT64, &row.not_before);
    out.Basic(SD_BUS_TYPE_UINT64, &row.not_after);
    out.Open(SD_BUS_TYPE_ARRAY, "s");
    for (const Service service : {Service::kSmtp, Service::kImap, Service::kPop, Service::kHttp}) {
      if ((row.services & Bit(service)) != 0) {
        out.Basic(SD_BUS_TYPE_STRING, ServiceName(service).c_str());
      }
    }
    out.Close();
    // The one field that depends on the clock: asked for every reply.
    const std::string status = ValidUtf8(backend.StatusOf(certificates[i]));
    out.Basic(SD_BUS_TYPE_STRING, status.c_str());
    out.Bool(row.self_signed);
    out.Bool(row.has_private_key);
    out.Bool(row.internal_transport);
    out.Basic(SD_BUS_TYPE_OBJECT_PATH, next());
    out.Close();
  }
  out.Close();
  return out.result();
}

}  // namespace transportcertd
