#include "probe.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon.h"
#include "errors.h"

namespace ocl {

namespace {

// Raw syscalls, so this is safe in a forked child of a threaded process.
long RawMmap(uint64_t length, int prot, int flags) {
  return syscall(SYS_mmap, 0UL, static_cast<unsigned long>(length), prot, flags, -1, 0UL);
}

}  // namespace

ProbeResult ProbeLargest(int prot, int extraFlags, uint64_t lo, uint64_t hi, uint64_t granularity) {
  ProbeResult r{0, 0, 0, 0};
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | extraFlags;
  uint64_t good = 0;
  lo = lo / granularity * granularity;
  hi = hi / granularity * granularity;
  if (lo == 0) lo = granularity;
  // Invariant: every size up to `good` was accepted, every size above b * granularity refused.
  uint64_t a = lo / granularity, b = hi / granularity;
  while (a <= b) {
    uint64_t mid = a + (b - a) / 2;
    uint64_t size = mid * granularity;
    r.probes++;
    long p = RawMmap(size, prot, flags);
    if (p == -1) {
      int err = errno;
      if (err != ENOMEM) {
        r.fatalErrno = err;
        break;
      }
      r.refusedErrno = err;
      b = mid - 1;  // mid >= 1: a starts at 1
    } else {
      syscall(SYS_munmap, static_cast<unsigned long>(p), static_cast<unsigned long>(size));
      good = size;
      a = mid + 1;
    }
  }
  r.largest = good;
  return r;
}

namespace {

// probeLargestMapping(prot, extraFlags, lo, hi, granularity) -> {largest, probes, refusedCode?}
Napi::Value ProbeLargestMapping(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prot = static_cast<int>(ArgInteger(info, 0, "prot", 0, PROT_READ | PROT_WRITE));
  int extra = static_cast<int>(ArgInteger(info, 1, "extraFlags", 0, INT32_MAX));
  if ((extra & ~MAP_NORESERVE) != 0) throw ArgRangeError(env, "extraFlags: only MAP_NORESERVE");
  uint64_t lo = static_cast<uint64_t>(ArgLength(info, 2, "lo"));
  uint64_t hi = static_cast<uint64_t>(ArgLength(info, 3, "hi"));
  uint64_t gran = static_cast<uint64_t>(ArgLength(info, 4, "granularity"));
  if (lo > hi) throw ArgRangeError(env, "lo must not exceed hi");
  if (gran % static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) != 0)
    throw ArgRangeError(env, "granularity must be a multiple of the page size");
  // ProbeLargest searches the multiples of granularity from max(lo rounded down, granularity)
  // to hi rounded down: with none, it would report 0 as though every size had been refused.
  if (hi < gran || (lo / gran > 1 ? lo / gran : 1) > hi / gran) {
    throw ArgRangeError(env, "nothing to probe: no multiple of granularity (" + std::to_string(gran) +
                                 ") between lo (" + std::to_string(lo) + ") and hi (" + std::to_string(hi) +
                                 ")");
  }
  ProbeResult r = ProbeLargest(prot, extra, lo, hi, gran);
  if (r.fatalErrno != 0)
    throw SystemError(env, r.fatalErrno, "mmap",
                      "probe between " + std::to_string(lo) + " and " + std::to_string(hi) + " bytes");
  Napi::Object out = Napi::Object::New(env);
  out.Set("largest", Napi::Number::New(env, static_cast<double>(r.largest)));
  out.Set("probes", Napi::Number::New(env, r.probes));
  out.Set("refusedCode",
          r.refusedErrno ? Napi::Value(Napi::String::New(env, ErrnoName(r.refusedErrno))) : env.Null());
  return out;
}

}  // namespace

void InitProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("probeLargestMapping", Napi::Function::New(env, ProbeLargestMapping, "probeLargestMapping"));
}

}  // namespace ocl
