// File descriptors the experiments need: advisory locks (serializing processes that switch
// the machine-wide overcommit settings) and memfd (shmem-backed files).
#include <sys/file.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "addon.h"
#include "errors.h"

namespace ocl {
namespace {

// flock(fd, op) with op 'sh' | 'ex' | 'un', never blocking: true when taken, false when held
// elsewhere. Waiting is the caller's (JS) business, so the event loop never blocks.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(ArgInteger(info, 0, "fd", 0, INT32_MAX));
  if (info.Length() < 2 || !info[1].IsString()) throw ArgTypeError(env, "op must be 'sh', 'ex' or 'un'");
  std::string op = info[1].As<Napi::String>().Utf8Value();
  int how;
  if (op == "sh")
    how = LOCK_SH;
  else if (op == "ex")
    how = LOCK_EX;
  else if (op == "un")
    how = LOCK_UN;
  else
    throw ArgRangeError(env, "op must be 'sh', 'ex' or 'un'");
  if (flock(fd, how | LOCK_NB) == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  throw SystemError(env, errno, "flock", "fd " + std::to_string(fd) + " " + op);
}

// memfdCreate(name) -> fd of an anonymous shmem file (close-on-exec).
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw ArgTypeError(env, "name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  // The kernel reads a C string: a NUL would silently cut the name.
  if (name.find('\0') != std::string::npos) throw ArgTypeError(env, "name must not contain NUL characters");
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) throw SystemError(env, errno, "memfd_create", "'" + name + "'");
  return Napi::Number::New(env, fd);
}

}  // namespace

void InitFiles(Napi::Env env, Napi::Object exports) {
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
}

}  // namespace ocl
