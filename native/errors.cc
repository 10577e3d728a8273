#include "errors.h"

#include <cerrno>
#include <cmath>
#include <cstring>

namespace ocl {

const char* ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
#else
  switch (err) {
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case ENOENT: return "ENOENT";
    case ENOSYS: return "ENOSYS";
    case ENODEV: return "ENODEV";
    case EEXIST: return "EEXIST";
    case EINTR: return "EINTR";
    case ECHILD: return "ECHILD";
    case ESRCH: return "ESRCH";
  }
#endif
  static thread_local char buf[16];
  snprintf(buf, sizeof buf, "E%d", err);
  return buf;
}

Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  const char* code = ErrnoName(err);
  std::string message = std::string(syscall) + " " + detail + ": " + code + " (" + strerror(err) + ")";
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

int64_t ArgInteger(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || std::trunc(v) != v || std::fabs(v) > 9007199254740991.0) {
    throw Napi::RangeError::New(env, std::string(name) + " must be a safe integer");
  }
  if (v < static_cast<double>(min) || v > static_cast<double>(max)) {
    throw Napi::RangeError::New(env, std::string(name) + " is out of range: " + std::to_string(static_cast<int64_t>(v)));
  }
  return static_cast<int64_t>(v);
}

size_t ArgLength(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<size_t>(ArgInteger(info, i, name, 1, 9007199254740991LL));
}

}  // namespace ocl
