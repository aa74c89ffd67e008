// Owner of one libuv handle. libuv needs the handle's memory until the close callback has run,
// so the memory is freed in that callback, not in the destructor; the loop must be run once
// more after the owner is gone (the daemon runs it dry at shutdown).
#pragma once

#include <uv.h>

namespace transportcertd {

template <typename T>
class UvHandle {
 public:
  UvHandle() = default;
  ~UvHandle() { Close(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  // Allocates the handle and runs `init` (e.g. [&](uv_timer_t* t) { return uv_timer_init(l, t); }).
  // `data` is stored in handle->data. Returns init's result (0 on success).
  template <typename InitFn>
  int Init(InitFn&& init, void* data) {
    Close();
    auto* handle = new T{};
    const int rc = init(handle);
    if (rc != 0) {
      delete handle;
      return rc;
    }
    handle->data = data;
    handle_ = handle;
    return 0;
  }

  void Close() {
    if (handle_ == nullptr) return;
    auto* h = reinterpret_cast<uv_handle_t*>(handle_);
    if (!uv_is_closing(h)) {
      uv_close(h, [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
    }
    handle_ = nullptr;
  }

  T* get() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  T* handle_ = nullptr;
};

}  // namespace transportcertd
