// getrlimit / setrlimit on this process. Sizes are bytes; null means RLIM_INFINITY. A limit
// may be any 64-bit value: above 2^53 - 1 it is a BigInt, as a Number would round it.
#include <sys/resource.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#include "addon.h"
#include "errors.h"

namespace ocl {
namespace {

int ArgResource(const Napi::CallbackInfo& info) {
  int r = static_cast<int>(ArgInteger(info, 0, "resource", 0, RLIM_NLIMITS - 1));
  if (r != RLIMIT_AS && r != RLIMIT_DATA && r != RLIMIT_STACK) {
    throw ArgRangeError(info.Env(), "resource must be RLIMIT_AS, RLIMIT_DATA or RLIMIT_STACK");
  }
  return r;
}

constexpr uint64_t kMaxSafeInteger = 9007199254740991ULL;

Napi::Value LimitValue(Napi::Env env, rlim_t v) {
  if (v == RLIM_INFINITY) return env.Null();
  if (v > kMaxSafeInteger) return Napi::BigInt::New(env, static_cast<uint64_t>(v));
  return Napi::Number::New(env, static_cast<double>(v));
}

// A limit argument: null is infinity, undefined keeps `current`; a safe integer or a BigInt.
rlim_t ArgLimit(const Napi::CallbackInfo& info, size_t i, const char* name, rlim_t current) {
  if (info.Length() <= i || info[i].IsUndefined()) return current;
  if (info[i].IsNull()) return RLIM_INFINITY;
  if (info[i].IsBigInt()) {
    bool lossless = false;
    uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless || v >= static_cast<uint64_t>(RLIM_INFINITY)) {
      throw ArgRangeError(info.Env(),
                          std::string(name) + " must be a BigInt from 0 to 2^64 - 2 (null is unlimited)");
    }
    return static_cast<rlim_t>(v);
  }
  return static_cast<rlim_t>(ArgInteger(info, i, name, 0, static_cast<int64_t>(kMaxSafeInteger)));
}

Napi::Value GetRlimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int resource = ArgResource(info);
  struct rlimit lim;
  if (getrlimit(resource, &lim) != 0)
    throw SystemError(env, errno, "getrlimit", "resource " + std::to_string(resource));
  Napi::Object out = Napi::Object::New(env);
  out.Set("soft", LimitValue(env, lim.rlim_cur));
  out.Set("hard", LimitValue(env, lim.rlim_max));
  return out;
}

Napi::Value SetRlimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int resource = ArgResource(info);
  struct rlimit lim;
  if (getrlimit(resource, &lim) != 0)
    throw SystemError(env, errno, "getrlimit", "resource " + std::to_string(resource));
  lim.rlim_cur = ArgLimit(info, 1, "soft", lim.rlim_cur);
  lim.rlim_max = ArgLimit(info, 2, "hard", lim.rlim_max);
  if (setrlimit(resource, &lim) != 0) {
    throw SystemError(env, errno, "setrlimit",
                      "resource " + std::to_string(resource) + " soft " + std::to_string(lim.rlim_cur) +
                          " hard " + std::to_string(lim.rlim_max));
  }
  return env.Undefined();
}

}  // namespace

void InitRlimit(Napi::Env env, Napi::Object exports) {
  exports.Set("getrlimit", Napi::Function::New(env, GetRlimit, "getrlimit"));
  exports.Set("setrlimit", Napi::Function::New(env, SetRlimit, "setrlimit"));
}

}  // namespace ocl
