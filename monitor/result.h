// The error convention of the core: a function that can fail returns Status (no value) or
// Result<T> (a value or an Error). Errors carry one human-readable line; the caller that handles
// an error logs it once. No exception leaves the core.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace transportcertd {

// What kind of failure an Error is, so that the edges (D-Bus, exit codes) can name it.
enum class ErrorCode {
  kFailed,             // anything else
  kInvalidArgument,    // malformed input: bad thumbprint, host name, PEM, service, key spec
  kNoSuchCertificate,  // no certificate with that thumbprint in the store
  kInternalTransport,  // refused: it is the internal transport certificate
  kNoCertificate,      // nothing eligible to select
  kStore,              // reading or writing the store or state failed
};

struct Error {
  std::string message;
  ErrorCode code = ErrorCode::kFailed;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT
  static Status Ok() { return {}; }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace transportcertd
