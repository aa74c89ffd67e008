#include "ipc/bus_errors.h"

#include "ipc/bus_arguments.h"
#include "ipc/bus_names.h"

namespace transportcertd {

const char* BusErrorName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNoSuchCertificate:
      return kErrorNoSuchCertificate;
    case ErrorCode::kInternalTransport:
      return kErrorInternalTransportCertificate;
    case ErrorCode::kNoCertificate:
      return kErrorNoCertificate;
    case ErrorCode::kStore:
      return kErrorStore;
    case ErrorCode::kInvalidArgument:
      return SD_BUS_ERROR_INVALID_ARGS;
    case ErrorCode::kFailed:
      break;
  }
  return SD_BUS_ERROR_FAILED;
}

int SetBusError(sd_bus_error* bus_error, const Error& error) {
  const std::string message = ValidUtf8(error.message);
  const int r = sd_bus_error_set(bus_error, BusErrorName(error.code), message.c_str());
  return r < 0 ? r : -EIO;
}

int SetAccessDenied(sd_bus_error* bus_error, const std::string& message) {
  const std::string clean = ValidUtf8(message);
  const int r = sd_bus_error_set(bus_error, SD_BUS_ERROR_ACCESS_DENIED, clean.c_str());
  return r < 0 ? r : -EACCES;
}

}  // namespace transportcertd
