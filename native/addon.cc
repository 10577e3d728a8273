// Module entry: the kernel constants the TypeScript layer uses, read from the C headers,
// and each concern's functions.
#include "addon.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mman-compat.h"

namespace {

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, long value) {
    c.Set(name, Napi::Number::New(env, static_cast<double>(value)));
  };
  set("PROT_NONE", PROT_NONE);
  set("PROT_READ", PROT_READ);
  set("PROT_WRITE", PROT_WRITE);
  set("MAP_SHARED", MAP_SHARED);
  set("MAP_PRIVATE", MAP_PRIVATE);
  set("MAP_ANONYMOUS", MAP_ANONYMOUS);
  set("MAP_NORESERVE", MAP_NORESERVE);
  set("MAP_POPULATE", MAP_POPULATE);
  set("MREMAP_MAYMOVE", MREMAP_MAYMOVE);
  set("MADV_NORMAL", MADV_NORMAL);
  set("MADV_DONTNEED", MADV_DONTNEED);
  set("MADV_WILLNEED", MADV_WILLNEED);
  set("MADV_RANDOM", MADV_RANDOM);
  set("MADV_SEQUENTIAL", MADV_SEQUENTIAL);
  set("MADV_FREE", MADV_FREE);
  set("MADV_HUGEPAGE", MADV_HUGEPAGE);
  set("MADV_NOHUGEPAGE", MADV_NOHUGEPAGE);
  set("MADV_COLD", MADV_COLD);
  set("MADV_PAGEOUT", MADV_PAGEOUT);
  set("MADV_POPULATE_READ", MADV_POPULATE_READ);
  set("MADV_POPULATE_WRITE", MADV_POPULATE_WRITE);
  set("RLIMIT_AS", RLIMIT_AS);
  set("RLIMIT_DATA", RLIMIT_DATA);
  set("RLIMIT_STACK", RLIMIT_STACK);
  return c;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new ocl::AddonData());
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
  exports.Set("constants", Constants(env));
  ocl::InitMapping(env, exports);
  ocl::InitRlimit(env, exports);
  ocl::InitProbe(env, exports);
  ocl::InitChild(env, exports);
  ocl::InitFiles(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(overcommit_lab, Init)
