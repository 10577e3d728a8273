// runChild: a list of steps run in a forked child of this process.
//
// The child is a copy of a multi-threaded Node process, so it may only call
// async-signal-safe functions: raw syscalls over data prepared before fork, no malloc, no JS.
// It reports through a shared anonymous mapping, so what it did is known even when a signal
// ends it mid-step (a touch publishes its page count as it goes).
//
// Reaping uses no thread of libuv's pool (a pending child there held a pool thread for its whole
// life, stalled fs and timeouts, and held up process exit): a pidfd (pidfd_open, Linux 5.3) polled
// on the event loop of the environment that started the child, or, where there is no pidfd, one
// thread per child that waits for it to exit and wakes the loop. Only the loop thread reaps, with
// waitpid on the child's own pid, under a lock shared with the exit handler, so a pid that is
// signalled is never one the kernel has reused. The timeout is a timer on the same loop. When the
// environment is torn down (worker.terminate) or the process exits (process.exit), the children
// it started are killed and reaped, and their promises are left unsettled: nobody is left to tell.
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "probe.h"

// Syscall numbers newer than some C libraries' headers; the same on x86-64 and arm64.
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

namespace ocl {
namespace {

enum class Op {
  Setrlimit,
  Mmap,
  Touch,
  Munmap,
  Mprotect,
  Sbrk,
  Fork,
  Readfile,
  Writefile,
  Setuid,
  Probe,
  Sleep,
  Stack
};

const struct {
  const char* name;
  Op op;
} kOps[] = {
    {"setrlimit", Op::Setrlimit}, {"mmap", Op::Mmap},     {"touch", Op::Touch}, {"munmap", Op::Munmap},
    {"mprotect", Op::Mprotect},   {"sbrk", Op::Sbrk},     {"fork", Op::Fork},   {"readfile", Op::Readfile},
    {"writefile", Op::Writefile}, {"setuid", Op::Setuid}, {"probe", Op::Probe}, {"sleep", Op::Sleep},
    {"stack", Op::Stack},
};

constexpr int64_t kInfinity = -1;                        // an rlimit of RLIM_INFINITY
constexpr int64_t kKeep = -2;                            // an rlimit left as it is
constexpr int64_t kMaxSafeInteger = 9007199254740991LL;  // 2^53 - 1

// One step, parsed and validated before fork.
struct Step {
  Op op;
  bool required = false;  // the child stops (exit 1) when this step fails
  int mapping = -1;       // index of an earlier mmap step this step works on
  uint64_t address = 0;   // or an explicit address (a mapping inherited from the parent)
  int64_t length = 0, offset = 0, stride = 0, prot = 0, flags = 0, fd = -1;
  int64_t resource = 0, soft = kKeep, hard = kKeep;
  bool relative = false;
  int64_t increment = 0, uid = 0, gid = 0, lo = 0, hi = 0, granularity = 0, ms = 0, bytes = 0;
  std::string path, data;
  size_t dataOffset = 0, maxBytes = 0;  // readfile: its slice of the shared data area
};

enum Status : int32_t { kNotRun = 0, kOk = 1, kFailed = 2, kSkipped = 3 };

struct StepResult {
  int32_t status;
  int32_t err;
  int64_t value;
  int64_t value2;
  int64_t progress;  // pages touched so far, published as the touch goes
  int64_t startNs;
  int64_t endNs;
};

struct SharedHeader {
  int32_t stepsStarted;
  int32_t pad;
};

// The process's [stack] VMA (the main thread's stack), found before fork.
struct StackArea {
  uint64_t lo = 0, hi = 0;  // 0, 0: not found
  bool onIt = false;        // the forking thread runs on it (the main thread)
};

// Everything the child reads, prepared before fork.
struct ChildContext {
  pid_t parent;
  const std::vector<Step>* steps;
  SharedHeader* header;
  StepResult* results;
  uint8_t* data;
  int64_t page;                  // sysconf is not async-signal-safe
  const std::vector<int>* keep;  // descriptors >= 3 the steps use, ascending
  StackArea stack;
};

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// ---- child side: async-signal-safe only ----

// fork without atfork handlers (nothing of Node's runs in the child); async-signal-safe.
pid_t ForkRaw() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  return _Fork();
#else
  return static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
#endif
}

int RawErr(long r) {
  return r == -1 ? errno : 0;
}

long ReadStatmPages() {
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/statm", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return -1;
  char buf[64];
  long n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0) return -1;
  long pages = 0;
  for (long i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) pages = pages * 10 + (buf[i] - '0');
  return pages;
}

// PR_SET_PDEATHSIG, then the check that the parent is still there (it may have died before the
// prctl). A change of credentials clears the parent-death signal, so this runs again after each.
void ArmParentDeath(pid_t parent) {
  syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (syscall(SYS_getppid) != parent) _exit(125);
}

bool Kept(const std::vector<int>& keep, long fd) {
  for (int k : keep)
    if (k == fd) return true;
  return false;
}

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

// Closes every descriptor from 3 up but `keep` (ascending, each >= 3): the child must not hold
// the parent's sockets, pipes and files (a closed server's port would stay busy while it lives).
// close_range (Linux 5.9); before it, the entries of /proc/self/fd; without /proc, every number
// below RLIMIT_NOFILE.
void CloseDescriptors(const std::vector<int>& keep) {
  unsigned lo = 3;
  bool ok = true;
  for (size_t i = 0; ok && i < keep.size(); i++) {
    const unsigned k = static_cast<unsigned>(keep[i]);
    if (k > lo) ok = syscall(SYS_close_range, lo, k - 1, 0) == 0;
    lo = k + 1;
  }
  if (ok && syscall(SYS_close_range, lo, ~0U, 0) == 0) return;
  int dir =
      static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir >= 0) {
    alignas(8) char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
      for (long off = 0; off < n;) {
        const auto* d = reinterpret_cast<const LinuxDirent64*>(buf + off);
        off += d->d_reclen;
        long fd = 0;
        const char* p = d->d_name;
        if (*p < '0' || *p > '9') continue;  // "." and ".."
        for (; *p >= '0' && *p <= '9'; p++) fd = fd * 10 + (*p - '0');
        if (fd >= 3 && fd != dir && !Kept(keep, fd)) syscall(SYS_close, fd);
      }
    }
    syscall(SYS_close, dir);
    return;
  }
  struct rlimit lim;
  if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &lim) != 0) lim.rlim_cur = 65536;
  for (rlim_t fd = 3; fd < lim.rlim_cur && fd < (1U << 30); fd++)
    if (!Kept(keep, static_cast<long>(fd))) syscall(SYS_close, static_cast<long>(fd));
}

// Grows the stack by about `remaining` bytes, one 16 KiB frame at a time, writing every page
// of each frame from the top down (as a deep C call chain would); returns the bytes used.
__attribute__((noinline)) int64_t GrowStack(int64_t remaining) {
  volatile char frame[16384];
  for (int64_t i = static_cast<int64_t>(sizeof frame) - 1; i >= 0; i -= 4096) frame[i] = 1;
  int64_t deeper = remaining > static_cast<int64_t>(sizeof frame)
                       ? GrowStack(remaining - static_cast<int64_t>(sizeof frame))
                       : 0;
  frame[0] = static_cast<char>(deeper);  // uses the frame after the call: no tail call
  return deeper + static_cast<int64_t>(sizeof frame);
}

// The stack step measures the growth of the process's [stack] VMA (the accounting experiment
// compares it with Committed_AS, and RLIMIT_STACK bounds it). A child forked from the main thread
// runs on that VMA and grows it in place. A child forked from a worker thread runs on the
// worker's stack, a fixed-size mapping with a guard page below: growing it crashes, and grows
// nothing the kernel accounts as stack. In that child no thread runs on [stack] any more (it is a
// copy of the parent's main stack, whose frames are dead here), so the step runs there: a signal
// handler on an alternate stack set at the low end of [stack] does the nested calls, and every
// page below that end is a real [stack] growth, charged and limited as the main thread's would be.
// A separately mapped MAP_GROWSDOWN region would be charged alike, but it is not [stack], needs a
// free gap below it that nothing guarantees, and would change what the experiment reads.
constexpr uint64_t kAltStackBytes = 128 << 10;  // the signal frame's room; [stack] is at least this
volatile int64_t gStackRequest = 0;
volatile int64_t gStackUsed = -1;

void GrowStackHandler(int) {
  gStackUsed = GrowStack(gStackRequest);
}

long GrowProcessStack(const StackArea& a, int64_t bytes, int64_t* used) {
  if (a.onIt) {
    *used = GrowStack(bytes);
    return 0;
  }
  if (a.hi <= a.lo) {
    errno = ENOTSUP;  // no [stack] VMA was found
    return -1;
  }
  stack_t ss;
  memset(&ss, 0, sizeof ss);
  ss.ss_sp = reinterpret_cast<void*>(a.lo);
  ss.ss_size = std::min<uint64_t>(a.hi - a.lo, kAltStackBytes);
  if (syscall(SYS_sigaltstack, &ss, nullptr) != 0) return -1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = GrowStackHandler;
  sa.sa_flags = SA_ONSTACK;
  if (sigaction(SIGUSR1, &sa, nullptr) != 0) return -1;
  gStackRequest = bytes;
  gStackUsed = -1;
  syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), SIGUSR1);  // handled before it returns
  sa.sa_handler = SIG_DFL;
  sa.sa_flags = 0;
  sigaction(SIGUSR1, &sa, nullptr);
  ss.ss_flags = SS_DISABLE;
  syscall(SYS_sigaltstack, &ss, nullptr);
  if (gStackUsed < 0) {
    errno = EINTR;
    return -1;
  }
  *used = gStackUsed;
  return 0;
}

void RunStep(const ChildContext& c, const Step& s, StepResult* res) {
  StepResult* all = c.results;
  const std::vector<Step>& steps = *c.steps;
  uint8_t* data = c.data;
  const int64_t page = c.page;
  uint64_t addr = s.address;
  int64_t len = s.length;
  if (s.mapping >= 0) {
    if (all[s.mapping].status != kOk) {
      res->status = kSkipped;
      return;
    }
    addr = static_cast<uint64_t>(all[s.mapping].value);
    if (len == 0) len = steps[s.mapping].length;
  }
  long r = 0;
  switch (s.op) {
    case Op::Setrlimit: {
      struct rlimit cur, lim;
      r = syscall(SYS_prlimit64, 0, static_cast<int>(s.resource), nullptr, &cur);
      if (r != 0) break;
      lim = cur;
      // The child's own address-space size: what a relative limit adds to, and reported always.
      long pages = ReadStatmPages();
      if (pages < 0) {
        r = -1;
        errno = EIO;
        break;
      }
      const int64_t size = pages * page;
      const int64_t base = s.relative ? size : 0;
      if (s.soft >= 0 && base + s.soft > kMaxSafeInteger) {  // would not come back exact as a number
        r = -1;
        errno = EOVERFLOW;
        break;
      }
      if (s.soft != kKeep)
        lim.rlim_cur = s.soft == kInfinity ? RLIM_INFINITY : static_cast<rlim_t>(base + s.soft);
      if (s.hard != kKeep) lim.rlim_max = s.hard == kInfinity ? RLIM_INFINITY : static_cast<rlim_t>(s.hard);
      r = syscall(SYS_prlimit64, 0, static_cast<int>(s.resource), &lim, nullptr);
      res->value = static_cast<int64_t>(lim.rlim_cur);
      res->value2 = size;
      break;
    }
    case Op::Mmap:
      r = syscall(SYS_mmap, 0UL, static_cast<unsigned long>(s.length), static_cast<int>(s.prot),
                  static_cast<int>(s.flags), static_cast<int>(s.fd), static_cast<unsigned long>(s.offset));
      if (r != -1) res->value = r;
      break;
    case Op::Touch: {
      volatile uint8_t* base = reinterpret_cast<volatile uint8_t*>(addr);
      const int64_t end = len;  // the target range: [offset, len) of it is touched
      int64_t lastPage = -1;
      for (int64_t off = s.offset; off < end; off += s.stride) {
        if (off + 4 <= end) {
          *reinterpret_cast<volatile int32_t*>(base + off) = static_cast<int32_t>(off / 4);
        } else {
          base[off] = 1;
        }
        if (off / page != lastPage) {
          lastPage = off / page;
          res->progress++;
        }
      }
      res->value = res->progress;
      break;
    }
    case Op::Munmap:
      r = syscall(SYS_munmap, static_cast<unsigned long>(addr), static_cast<unsigned long>(len));
      break;
    case Op::Mprotect:
      r = syscall(SYS_mprotect, static_cast<unsigned long>(addr), static_cast<unsigned long>(len),
                  static_cast<int>(s.prot));
      break;
    case Op::Sbrk: {
      long old = syscall(SYS_brk, 0UL);
      long now = syscall(SYS_brk, static_cast<unsigned long>(old + s.increment));
      res->value = now;
      res->value2 = old;
      if (now != old + s.increment) {  // brk reports failure by returning the old break
        r = -1;
        errno = ENOMEM;
      }
      break;
    }
    case Op::Fork: {
      pid_t pid = ForkRaw();
      if (pid == 0) _exit(0);
      if (pid < 0) {
        r = -1;
        break;
      }
      int st = 0;
      while (syscall(SYS_wait4, pid, &st, 0, nullptr) == -1 && errno == EINTR) {
      }
      res->value = pid;
      res->value2 = st;
      break;
    }
    case Op::Readfile: {
      int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, s.path.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd < 0) {
        r = -1;
        break;
      }
      size_t got = 0;
      while (got < s.maxBytes) {
        long n = syscall(SYS_read, fd, data + s.dataOffset + got, s.maxBytes - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          r = -1;
          break;
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
      }
      if (r == 0 && got == s.maxBytes) {  // full slice: is there more?
        char extra;
        if (syscall(SYS_read, fd, &extra, 1) == 1) res->value2 = 1;
      }
      int saved = errno;
      syscall(SYS_close, fd);
      errno = saved;
      res->value = static_cast<int64_t>(got);
      break;
    }
    case Op::Writefile: {
      int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, s.path.c_str(), O_WRONLY | O_CLOEXEC));
      if (fd < 0) {
        r = -1;
        break;
      }
      long n = syscall(SYS_write, fd, s.data.data(), s.data.size());
      if (n == -1)
        r = -1;
      else if (static_cast<size_t>(n) != s.data.size()) {
        r = -1;
        errno = EIO;
      }
      int saved = errno;
      syscall(SYS_close, fd);
      errno = saved;
      break;
    }
    case Op::Setuid: {
      r = syscall(SYS_setgroups, 0, nullptr);
      if (r == 0) {
        r = syscall(SYS_setresgid, s.gid, s.gid, s.gid);
        int saved = errno;
        ArmParentDeath(c.parent);  // a new gid cleared the parent-death signal
        errno = saved;
      }
      if (r == 0) {
        r = syscall(SYS_setresuid, s.uid, s.uid, s.uid);
        int saved = errno;
        ArmParentDeath(c.parent);
        errno = saved;
      }
      break;
    }
    case Op::Probe: {
      ProbeResult p =
          ProbeLargest(static_cast<int>(s.prot), static_cast<int>(s.flags), s.lo, s.hi, s.granularity);
      res->value = static_cast<int64_t>(p.largest);
      res->value2 = p.probes;
      if (p.fatalErrno != 0) {
        r = -1;
        errno = p.fatalErrno;
      } else {
        res->err = p.refusedErrno;  // informative: what the refusals said
      }
      break;
    }
    case Op::Stack:
      r = GrowProcessStack(c.stack, s.bytes, &res->value);
      break;
    case Op::Sleep: {
      struct timespec ts = {static_cast<time_t>(s.ms / 1000), static_cast<long>((s.ms % 1000) * 1000000)};
      while (syscall(SYS_nanosleep, &ts, &ts) == -1 && errno == EINTR) {
      }
      break;
    }
  }
  int err = RawErr(r);
  if (err != 0) {
    res->status = kFailed;
    res->err = err;
  } else {
    res->status = kOk;
  }
}

[[noreturn]] void ChildMain(const ChildContext& c) {
  ArmParentDeath(c.parent);
  CloseDescriptors(*c.keep);
  // Node's handlers are not ours: default dispositions, then nothing blocked. The parent blocked
  // every signal around fork, so none reached one of Node's handlers in this copy of the process.
  // The raw syscall, because the C library refuses to reset its own (SIGCANCEL, SIGSETXID); the
  // child never uses them. An all-zero kernel sigaction is SIG_DFL, no flags, empty mask.
  const uint64_t dfl[4] = {0, 0, 0, 0};
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, dfl, nullptr, sizeof(uint64_t));
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  const std::vector<Step>& steps = *c.steps;
  for (size_t i = 0; i < steps.size(); i++) {
    c.header->stepsStarted = static_cast<int32_t>(i + 1);
    StepResult* res = &c.results[i];
    res->startNs = NowNs();
    RunStep(c, steps[i], res);
    res->endNs = NowNs();
    if (steps[i].required && res->status != kOk) _exit(1);
  }
  _exit(0);
}

// ---- parent side ----

int64_t Field(Napi::Object o, const char* name, int64_t def, int64_t min, int64_t max) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return def;
  return CheckInteger(o.Env(), v, std::string("step.") + name, min, max);
}

// An rlimit field: null is infinity, undefined keeps the current value.
int64_t LimitField(Napi::Object o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return kKeep;
  if (v.IsNull()) return kInfinity;
  return Field(o, name, kKeep, 0, kMaxSafeInteger);
}

// A string field. A NUL would silently cut a path where the kernel reads it (writefile would
// write to another file), so it is refused, unless the string is data written as it is.
std::string StringField(Napi::Object o, const char* name, bool nulAllowed = false) {
  Napi::Value v = o.Get(name);
  if (!v.IsString()) throw ArgTypeError(o.Env(), std::string("step.") + name + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (!nulAllowed && s.find('\0') != std::string::npos)
    throw ArgTypeError(o.Env(), std::string("step.") + name + " must not contain a NUL character");
  return s;
}

constexpr int64_t kMaxSize = 1LL << 50;

Step ParseStep(Napi::Object o, size_t index, const std::vector<Step>& earlier) {
  Napi::Env env = o.Env();
  std::string name = StringField(o, "op");
  Step s{};
  bool known = false;
  for (const auto& k : kOps) {
    if (name == k.name) {
      s.op = k.op;
      known = true;
    }
  }
  if (!known) throw ArgRangeError(env, "step " + std::to_string(index) + ": unknown op '" + name + "'");
  s.required = o.Get("required").ToBoolean();
  const int64_t page = sysconf(_SC_PAGESIZE);
  auto target = [&]() {
    Napi::Value m = o.Get("mapping");
    if (!m.IsUndefined()) {
      s.mapping = static_cast<int>(Field(o, "mapping", -1, 0, static_cast<int64_t>(index) - 1));
      if (earlier[s.mapping].op != Op::Mmap)
        throw ArgRangeError(env, "step.mapping must name an earlier mmap step");
      s.length = Field(o, "length", 0, 1, earlier[s.mapping].length);
      return;
    }
    Napi::Value a = o.Get("address");
    if (!a.IsBigInt())
      throw ArgTypeError(env,
                         "step " + std::to_string(index) + " needs a mapping index or an address (bigint)");
    bool lossless = true;
    s.address = a.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless || s.address == 0 || s.address % page != 0)
      throw ArgRangeError(env, "step.address must be a page-aligned address");
    s.length = Field(o, "length", 0, 1, kMaxSize);
    if (s.length == 0) throw ArgRangeError(env, "step.length is required with an address");
  };
  switch (s.op) {
    case Op::Setrlimit:
      s.resource = Field(o, "resource", -1, 0, RLIM_NLIMITS - 1);
      if (s.resource != RLIMIT_AS && s.resource != RLIMIT_DATA && s.resource != RLIMIT_STACK) {
        throw ArgRangeError(env, "step.resource must be RLIMIT_AS, RLIMIT_DATA or RLIMIT_STACK");
      }
      s.soft = LimitField(o, "soft");
      s.hard = LimitField(o, "hard");
      s.relative = o.Get("relative").ToBoolean();
      if (s.relative && s.soft < 0)
        throw ArgRangeError(env, "a relative soft limit must be a number of bytes");
      break;
    case Op::Mmap: {
      s.length = Field(o, "length", 0, 1, kMaxSize);
      if (s.length == 0) throw ArgRangeError(env, "step.length is required");
      s.prot = Field(o, "prot", PROT_READ | PROT_WRITE, 0, PROT_READ | PROT_WRITE);
      s.flags = Field(o, "flags", MAP_PRIVATE | MAP_ANONYMOUS, 0, INT32_MAX);
      s.fd = Field(o, "fd", -1, -1, INT32_MAX);
      s.offset = Field(o, "offset", 0, 0, kMaxSize);
      CheckMmapArgs(env, s.prot, s.flags, s.fd, s.offset, "step.");
      break;
    }
    case Op::Touch:
      target();
      s.offset = Field(o, "offset", 0, 0, kMaxSize);
      s.stride = Field(o, "stride", page, 1, kMaxSize);
      if (s.offset >= (s.length > 0 ? s.length : earlier[s.mapping].length))
        throw ArgRangeError(env, "step.offset is past the range");
      break;
    case Op::Munmap:
      target();
      break;
    case Op::Mprotect:
      target();
      s.prot = Field(o, "prot", 0, 0, PROT_READ | PROT_WRITE);
      break;
    case Op::Sbrk:
      s.increment = Field(o, "increment", 0, -kMaxSize, kMaxSize);
      break;
    case Op::Fork:
      break;
    case Op::Readfile:
      s.path = StringField(o, "path");
      s.maxBytes = static_cast<size_t>(Field(o, "maxBytes", 1 << 20, 1, 64LL << 20));
      break;
    case Op::Writefile:
      s.path = StringField(o, "path");
      s.data = StringField(o, "data", true);
      break;
    case Op::Setuid:
      if (o.Get("uid").IsUndefined()) throw ArgTypeError(env, "step.uid is required");
      s.uid = Field(o, "uid", 0, 0, UINT32_MAX - 1);
      s.gid = Field(o, "gid", s.uid, 0, UINT32_MAX - 1);
      break;
    case Op::Probe:
      s.prot = Field(o, "prot", PROT_READ | PROT_WRITE, 0, PROT_READ | PROT_WRITE);
      s.flags = Field(o, "flags", 0, 0, INT32_MAX);
      if ((s.flags & ~MAP_NORESERVE) != 0) throw ArgRangeError(env, "step.flags: only MAP_NORESERVE");
      s.granularity = Field(o, "granularity", page, page, kMaxSize);
      s.lo = Field(o, "lo", s.granularity, 1, kMaxSize);
      s.hi = Field(o, "hi", -1, 1, kMaxSize);
      if (s.granularity % page != 0 || s.lo > s.hi)
        throw ArgRangeError(env, "step: probe needs lo <= hi and a page-multiple granularity");
      break;
    case Op::Sleep:
      s.ms = Field(o, "ms", 0, 0, 3600000);
      break;
    case Op::Stack:
      s.bytes = Field(o, "bytes", 0, 1, 256LL << 20);
      if (s.bytes == 0) throw ArgRangeError(env, "step.bytes is required");
      break;
  }
  return s;
}

// Every unreaped child of this process, in any environment. The exit handler kills and reaps
// what is left here; every reap of a listed child happens under this lock, so a listed pid is
// still our child (the kernel cannot have reused it) when it is signalled.
std::mutex& RegistryLock() {
  static auto* m = new std::mutex;  // never destroyed: the exit handler uses it
  return *m;
}
std::set<pid_t>& Registry() {
  static auto* s = new std::set<pid_t>;
  return *s;
}

// process.exit() ends the process without tearing environments down: kill what is pending and
// reap it (bounded: a child stuck in the kernel is left to init once we are gone).
void KillChildrenAtExit() {
  std::lock_guard<std::mutex> lock(RegistryLock());
  for (pid_t pid : Registry()) kill(pid, SIGKILL);
  const int64_t deadline = NowNs() + 2000000000LL;
  for (pid_t pid : Registry()) {
    while (waitpid(pid, nullptr, WNOHANG) == 0 && NowNs() < deadline) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, nullptr);
    }
  }
  Registry().clear();
}

class ChildRun;

// The children one environment (the main thread, or a worker) started, and its event loop.
struct EnvChildren {
  uv_loop_t* loop = nullptr;
  napi_async_cleanup_hook_handle hook = nullptr;
  std::set<ChildRun*> runs;
  bool tearingDown = false;

  // The teardown is over once the last child's handles are closed.
  void Forgotten() {
    if (tearingDown && runs.empty()) {
      napi_remove_async_cleanup_hook(hook);
      delete this;
    }
  }
};

// One pending child: its promise, the handles on the loop that watch it, its shared results.
class ChildRun {
 public:
  ChildRun(EnvChildren* owner, Napi::Env env, int64_t timeoutMs, std::vector<Step> steps, void* shared,
           size_t sharedBytes)
      : owner_(owner),
        env_(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        context_(env, "overcommit-lab:runChild"),
        timeoutMs_(timeoutMs),
        steps_(std::move(steps)),
        shared_(shared),
        sharedBytes_(sharedBytes) {}

  ~ChildRun() {
    munmap(shared_, sharedBytes_);
    if (pidfd_ >= 0) close(pidfd_);
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }
  const std::vector<Step>& Steps() const { return steps_; }

  // Right after fork, with every signal still blocked (the waiter thread, if any, inherits that
  // mask: a signal meant for Node never lands in it). On failure returns an errno, the run is
  // gone (freed now or when its handle is closed), and the caller kills and reaps the child.
  int Watch(pid_t pid, int64_t forkNs, bool useThread) {
    pid_ = pid;
    forkNs_ = forkNs;
    uv_loop_t* loop = owner_->loop;
    if (!useThread) pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd_ >= 0 && uv_poll_init(loop, &watch_.poll, pidfd_) == 0) {
      watch_.poll.data = this;
      int err = uv_poll_start(&watch_.poll, UV_READABLE,
                              [](uv_poll_t* h, int, int) { static_cast<ChildRun*>(h->data)->OnExit(); });
      if (err != 0) return Discard(reinterpret_cast<uv_handle_t*>(&watch_.poll), -err);
    } else {
      // No pidfd (before Linux 5.3): a thread waits without reaping, then wakes the loop.
      if (pidfd_ >= 0) close(pidfd_);
      pidfd_ = -1;
      int err = uv_async_init(loop, &watch_.async,
                              [](uv_async_t* h) { static_cast<ChildRun*>(h->data)->OnExit(); });
      if (err != 0) return Discard(nullptr, -err);
      watch_.async.data = this;
      try {
        waiter_ = std::thread([pid, async = &watch_.async] {
          siginfo_t si;
          while (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) == -1 && errno == EINTR) {
          }
          uv_async_send(async);
        });
      } catch (const std::system_error& e) {
        return Discard(reinterpret_cast<uv_handle_t*>(&watch_.async),
                       e.code().value() != 0 ? e.code().value() : EAGAIN);
      }
    }
    open_ = 2;
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    uv_update_time(loop);  // the loop's clock may be stale if JavaScript ran long before this call
    uv_timer_start(
        &timer_, [](uv_timer_t* h) { static_cast<ChildRun*>(h->data)->OnTimeout(); },
        static_cast<uint64_t>(timeoutMs_), 0);
    owner_->runs.insert(this);
    return 0;
  }

  // Environment teardown: kill the child unless it was reaped, wait for it, reap it, close.
  void Abandon() {
    if (closing_) return;
    if (!reaped_) {
      if (Kill()) {
        siginfo_t si;
        while (waitid(P_PID, pid_, &si, WEXITED | WNOWAIT) == -1 && errno == EINTR) {
        }
      }
      if (waiter_.joinable()) waiter_.join();
      TryReap();
    }
    Close();
  }

 private:
  // Watch failed: free the run, once `initialized` (if any) is closed.
  int Discard(uv_handle_t* initialized, int err) {
    closing_ = true;
    if (initialized == nullptr) {
      delete this;
    } else {
      uv_close(initialized, [](uv_handle_t* h) { delete static_cast<ChildRun*>(h->data); });
    }
    return err;
  }

  // The child has exited (the pidfd is readable, or the waiter thread said so).
  void OnExit() {
    try {
      if (closing_) return;
      if (waiter_.joinable()) waiter_.join();  // it has returned from waitid already
      if (!TryReap()) return;                  // a spurious wake-up: still running
      Close();
      if (!owner_->tearingDown) Settle();
    } catch (...) {
      // Nothing may escape into libuv; a failure to settle means the environment is going away.
    }
  }

  void OnTimeout() {
    const int64_t left = forkNs_ + timeoutMs_ * 1000000LL - NowNs();
    if (left > 0) {  // never early: the loop's clock and the monotonic clock differ slightly
      uv_timer_start(
          &timer_, [](uv_timer_t* h) { static_cast<ChildRun*>(h->data)->OnTimeout(); },
          static_cast<uint64_t>(left / 1000000 + 1), 0);
      return;
    }
    siginfo_t si;
    si.si_pid = 0;
    if (waitid(P_PID, pid_, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid_) {
      OnExit();  // it ended on its own; the wake-up is on its way
      return;
    }
    timedOut_ = true;
    Kill();
  }

  // SIGKILL, unless the exit handler has reaped it already (then false: it is not ours any more).
  bool Kill() {
    std::lock_guard<std::mutex> lock(RegistryLock());
    if (Registry().count(pid_) == 0) return false;
    if (pidfd_ < 0 || syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0) != 0) kill(pid_, SIGKILL);
    return true;
  }

  // waitpid(WNOHANG) on the child's pid; false while it still runs.
  bool TryReap() {
    std::lock_guard<std::mutex> lock(RegistryLock());
    if (Registry().count(pid_) == 0) {
      waitErrno_ = ECHILD;  // the exit handler reaped it
    } else {
      for (;;) {
        pid_t r = waitpid(pid_, &status_, WNOHANG);
        if (r == 0) return false;
        if (r == pid_) break;
        if (errno == EINTR) continue;
        waitErrno_ = errno;  // ECHILD: someone else in this process reaped it
        break;
      }
      Registry().erase(pid_);
    }
    reaped_ = true;
    reapNs_ = NowNs();
    return true;
  }

  void Close() {
    if (closing_) return;
    closing_ = true;
    auto closed = [](uv_handle_t* h) {
      auto* run = static_cast<ChildRun*>(h->data);
      if (--run->open_ > 0) return;
      EnvChildren* owner = run->owner_;
      owner->runs.erase(run);
      delete run;
      owner->Forgotten();
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
    uv_close(pidfd_ >= 0 ? reinterpret_cast<uv_handle_t*>(&watch_.poll)
                         : reinterpret_cast<uv_handle_t*>(&watch_.async),
             closed);
  }

  void Settle() {
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    Napi::CallbackScope callback(env, context_);  // runs the promise's reactions when it closes
    if (waitErrno_ != 0) {
      deferred_.Reject(SystemError(env, waitErrno_, "waitpid", "pid " + std::to_string(pid_)).Value());
    } else {
      deferred_.Resolve(Result(env));
    }
  }

  Napi::Object Result(Napi::Env env) {
    auto* header = static_cast<SharedHeader*>(shared_);
    auto* results = reinterpret_cast<StepResult*>(header + 1);
    auto* data = reinterpret_cast<uint8_t*>(results + steps_.size());
    auto ms = [&](int64_t ns) {
      return Napi::Number::New(env, ns == 0 ? 0.0 : static_cast<double>(ns - forkNs_) / 1e6);
    };

    Napi::Object out = Napi::Object::New(env);
    out.Set("pid", Napi::Number::New(env, pid_));
    out.Set("exitCode",
            WIFEXITED(status_) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(status_))) : env.Null());
    out.Set("signal",
            WIFSIGNALED(status_) ? Napi::Value(Napi::Number::New(env, WTERMSIG(status_))) : env.Null());
    out.Set("timedOut", Napi::Boolean::New(env, timedOut_));
    out.Set("stepsStarted", Napi::Number::New(env, header->stepsStarted));
    out.Set("reapedMs", ms(reapNs_));
    Napi::Array arr = Napi::Array::New(env, steps_.size());
    for (size_t i = 0; i < steps_.size(); i++) {
      const StepResult& r = results[i];
      Napi::Object o = Napi::Object::New(env);
      static const char* kStatus[] = {"not-run", "ok", "failed", "skipped"};
      o.Set("status", Napi::String::New(env, kStatus[r.status >= 0 && r.status <= 3 ? r.status : 0]));
      o.Set("errno", Napi::Number::New(env, r.err));
      o.Set("code", r.err ? Napi::Value(Napi::String::New(env, ErrnoName(r.err))) : env.Null());
      o.Set("value", Napi::BigInt::New(env, r.value));
      o.Set("value2", Napi::BigInt::New(env, r.value2));
      o.Set("progress", Napi::Number::New(env, static_cast<double>(r.progress)));
      o.Set("startMs", ms(r.startNs));
      o.Set("endMs", ms(r.endNs));
      if (steps_[i].op == Op::Readfile && r.status == kOk) {
        size_t n = static_cast<size_t>(r.value) <= steps_[i].maxBytes ? static_cast<size_t>(r.value)
                                                                      : steps_[i].maxBytes;
        o.Set("data", Napi::String::New(env, reinterpret_cast<const char*>(data + steps_[i].dataOffset), n));
      }
      arr.Set(static_cast<uint32_t>(i), o);
    }
    out.Set("steps", arr);
    return out;
  }

  EnvChildren* owner_;
  napi_env env_;
  Napi::Promise::Deferred deferred_;
  Napi::AsyncContext context_;
  int64_t timeoutMs_;
  std::vector<Step> steps_;
  void* shared_;
  size_t sharedBytes_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int64_t forkNs_ = 0;
  union {
    uv_poll_t poll;
    uv_async_t async;
  } watch_;
  uv_timer_t timer_;
  std::thread waiter_;
  int open_ = 0;  // handles not yet closed
  bool closing_ = false, reaped_ = false, timedOut_ = false;
  int status_ = 0;
  int waitErrno_ = 0;
  int64_t reapNs_ = 0;
};

// Teardown of an environment (worker.terminate, or the end of the main thread): kill and reap the
// children it started; the hook is removed once their handles are closed.
void OnEnvTeardown(napi_async_cleanup_hook_handle, void* arg) {
  auto* owner = static_cast<EnvChildren*>(arg);
  owner->tearingDown = true;
  if (owner->runs.empty()) {
    napi_remove_async_cleanup_hook(owner->hook);
    delete owner;
    return;
  }
  std::vector<ChildRun*> runs(owner->runs.begin(), owner->runs.end());
  for (ChildRun* run : runs) run->Abandon();
}

// The process's [stack] VMA from /proc/self/maps, and whether this thread runs on it.
StackArea ProcessStack() {
  StackArea a;
  FILE* f = fopen("/proc/self/maps", "re");
  if (f == nullptr) return a;
  char line[8192];
  while (fgets(line, sizeof line, f) != nullptr) {
    unsigned long lo, hi;
    if (strstr(line, " [stack]\n") != nullptr && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
      a.lo = lo;
      a.hi = hi;
      break;
    }
  }
  fclose(f);
  const auto here = reinterpret_cast<uint64_t>(__builtin_frame_address(0));
  a.onIt = a.lo <= here && here < a.hi;
  return a;
}

// The readfile steps' slices of the shared area, together.
constexpr size_t kMaxDataBytes = 1ULL << 30;

// runChild(steps, timeoutMs, useThread?) -> Promise<raw result>. useThread: watch the child with a
// thread even where pidfd_open works (how the fallback is tested on a recent kernel).
Napi::Value RunChild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* owner = static_cast<EnvChildren*>(info.Data());
  if (info.Length() < 1 || !info[0].IsArray()) throw ArgTypeError(env, "steps must be an array");
  Napi::Array arr = info[0].As<Napi::Array>();
  if (arr.Length() > 10000) throw ArgRangeError(env, "too many steps");
  int64_t timeoutMs = ArgInteger(info, 1, "timeoutMs", 1, 3600000);
  bool useThread = false;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsBoolean()) throw ArgTypeError(env, "useThread must be a boolean");
    useThread = info[2].As<Napi::Boolean>().Value();
  }
  std::vector<Step> steps;
  steps.reserve(arr.Length());
  size_t dataBytes = 0;
  bool hasStack = false;
  std::vector<int> keep;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) throw ArgTypeError(env, "step " + std::to_string(i) + " must be an object");
    Step s = ParseStep(v.As<Napi::Object>(), i, steps);
    if (s.op == Op::Readfile) {
      s.dataOffset = dataBytes;
      dataBytes += s.maxBytes;
      if (dataBytes > kMaxDataBytes)
        throw ArgRangeError(env, "the readfile steps' maxBytes add up past 1 GiB");
    }
    if (s.op == Op::Mmap && s.fd >= 3) keep.push_back(static_cast<int>(s.fd));
    hasStack = hasStack || s.op == Op::Stack;
    steps.push_back(std::move(s));
  }
  if (owner->tearingDown) throw Napi::Error::New(env, "runChild: this environment is shutting down");
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());

  size_t sharedBytes = sizeof(SharedHeader) + steps.size() * sizeof(StepResult) + dataBytes;
  // NORESERVE: outside mode 2 the result area is not charged to the commit, so it does not
  // disturb what the experiments measure there.
  void* shared =
      mmap(nullptr, sharedBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (shared == MAP_FAILED)
    throw SystemError(env, errno, "mmap", std::to_string(sharedBytes) + " bytes for the child's results");
  // From here the run owns the shared area (its destructor unmaps it).
  auto* run = new ChildRun(owner, env, timeoutMs, std::move(steps), shared, sharedBytes);
  Napi::Promise promise = run->Promise();

  ChildContext c;
  c.parent = getpid();
  c.steps = &run->Steps();
  c.header = static_cast<SharedHeader*>(shared);
  c.results = reinterpret_cast<StepResult*>(c.header + 1);
  c.data = reinterpret_cast<uint8_t*>(c.results + c.steps->size());
  c.page = sysconf(_SC_PAGESIZE);
  c.keep = &keep;
  if (hasStack) c.stack = ProcessStack();

  // Every signal blocked across fork: none may run one of Node's handlers in the child before it
  // resets them (libuv's would write into the parent's signal pipe). Restored in the parent.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const int64_t forkNs = NowNs();
  pid_t pid;
  int forkErr;
  {
    std::lock_guard<std::mutex> lock(RegistryLock());
    pid = ForkRaw();
    if (pid == 0) ChildMain(c);
    forkErr = errno;
    if (pid > 0) Registry().insert(pid);
  }
  const int watchErr = pid > 0 ? run->Watch(pid, forkNs, useThread) : 0;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    delete run;
    throw SystemError(env, forkErr, "fork", "a child for " + std::to_string(arr.Length()) + " steps");
  }
  if (watchErr != 0) {
    {
      std::lock_guard<std::mutex> lock(RegistryLock());
      kill(pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) == -1 && errno == EINTR) {
      }
      Registry().erase(pid);
    }
    throw SystemError(env, watchErr, "runChild", "watching pid " + std::to_string(pid) + " (killed)");
  }
  return promise;
}

}  // namespace

// Per environment: its loop, and an async cleanup hook (not napi_add_env_cleanup_hook: closing the
// children's libuv handles needs the loop to turn once more, which only an async hook waits for).
void InitChild(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(KillChildrenAtExit); });
  auto* owner = new EnvChildren();
  if (napi_get_uv_event_loop(env, &owner->loop) != napi_ok ||
      napi_add_async_cleanup_hook(env, OnEnvTeardown, owner, &owner->hook) != napi_ok) {
    delete owner;
    throw Napi::Error::New(env, "runChild: cannot reach this environment's event loop");
  }
  exports.Set("runChild", Napi::Function::New(env, RunChild, "runChild", owner));
}

}  // namespace ocl
