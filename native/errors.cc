#include "errors.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace ocl {

const char* ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
#else
  switch (err) {
    case ENOMEM:
      return "ENOMEM";
    case EINVAL:
      return "EINVAL";
    case EPERM:
      return "EPERM";
    case EACCES:
      return "EACCES";
    case EAGAIN:
      return "EAGAIN";
    case EBADF:
      return "EBADF";
    case EFAULT:
      return "EFAULT";
    case ENOENT:
      return "ENOENT";
    case ENOSYS:
      return "ENOSYS";
    case ENODEV:
      return "ENODEV";
    case EEXIST:
      return "EEXIST";
    case EINTR:
      return "EINTR";
    case ECHILD:
      return "ECHILD";
    case ESRCH:
      return "ESRCH";
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

Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

Napi::Error ArgTypeError(Napi::Env env, const std::string& message) {
  Napi::Error e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  return e;
}

Napi::Error ArgRangeError(Napi::Env env, const std::string& message) {
  Napi::Error e = Napi::RangeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  return e;
}

int64_t CheckInteger(Napi::Env env, Napi::Value v, const std::string& what, int64_t min, int64_t max) {
  if (!v.IsNumber()) throw ArgTypeError(env, what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) > 9007199254740991.0) {
    throw ArgRangeError(env, what + " must be a safe integer");
  }
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    throw ArgRangeError(env, what + " is out of range: " + std::to_string(static_cast<int64_t>(d)));
  }
  return static_cast<int64_t>(d);
}

int64_t ArgInteger(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max) {
  if (info.Length() <= i) throw ArgTypeError(info.Env(), std::string(name) + " must be a number");
  return CheckInteger(info.Env(), info[i], name, min, max);
}

size_t ArgLength(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<size_t>(ArgInteger(info, i, name, 1, 9007199254740991LL));
}

void CheckMmapArgs(Napi::Env env, int64_t prot, int64_t flags, int64_t fd, int64_t offset,
                   const std::string& what) {
  if (prot == PROT_WRITE) throw ArgRangeError(env, what + "prot: write-only is not supported");
  const int64_t allowed = MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE;
  if ((flags & ~allowed) != 0)
    throw ArgRangeError(env, what + "flags: unsupported mmap flags " + std::to_string(flags & ~allowed));
  if (((flags & MAP_SHARED) != 0) == ((flags & MAP_PRIVATE) != 0)) {
    throw ArgRangeError(env, what + "flags: exactly one of MAP_SHARED and MAP_PRIVATE");
  }
  if (offset % sysconf(_SC_PAGESIZE) != 0)
    throw ArgRangeError(env, what + "offset must be a multiple of the page size");
  if (flags & MAP_ANONYMOUS) {
    if (fd != -1 || offset != 0)
      throw ArgRangeError(env, what + "an anonymous mapping takes no fd or offset");
  } else if (fd < 0) {
    throw ArgTypeError(env, what + "a file mapping needs a file descriptor");
  }
}

}  // namespace ocl
