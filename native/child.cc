// runChild: a list of steps run in a forked child of this process.
//
// The child is a copy of a multi-threaded Node process, so it may only call
// async-signal-safe functions: raw syscalls over data prepared before fork, no malloc, no JS.
// It reports through a shared anonymous mapping, so what it did is known even when a signal
// ends it mid-step (a touch publishes its page count as it goes). The parent reaps it with
// waitpid on its own pid in a worker thread, killing it when the timeout expires.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "probe.h"

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

constexpr int64_t kInfinity = -1;  // an rlimit of RLIM_INFINITY
constexpr int64_t kKeep = -2;      // an rlimit left as it is

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

// `page` is the page size, read before fork (sysconf is not async-signal-safe).
void RunStep(const Step& s, StepResult* res, StepResult* all, const std::vector<Step>& steps, uint8_t* data,
             int64_t page) {
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
    case Op::Setuid:
      r = syscall(SYS_setgroups, 0, nullptr);
      if (r == 0) r = syscall(SYS_setresgid, s.gid, s.gid, s.gid);
      if (r == 0) r = syscall(SYS_setresuid, s.uid, s.uid, s.uid);
      // A change of credentials clears the parent-death signal: set it again.
      if (r == 0) syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      break;
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
      res->value = GrowStack(s.bytes);
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

[[noreturn]] void ChildMain(pid_t parent, const std::vector<Step>& steps, SharedHeader* header,
                            StepResult* results, uint8_t* data, int64_t page) {
  syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid() != parent) _exit(125);  // the parent died before the line above
  // Node's handlers and masks are not ours: default dispositions, nothing blocked.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  for (size_t i = 0; i < steps.size(); i++) {
    header->stepsStarted = static_cast<int32_t>(i + 1);
    StepResult* res = &results[i];
    res->startNs = NowNs();
    RunStep(steps[i], res, results, steps, data, page);
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
  return Field(o, name, kKeep, 0, 9007199254740991LL);
}

std::string StringField(Napi::Object o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("step.") + name + " must be a string");
  return v.As<Napi::String>().Utf8Value();
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
  if (!known)
    throw Napi::RangeError::New(env, "step " + std::to_string(index) + ": unknown op '" + name + "'");
  s.required = o.Get("required").ToBoolean();
  const int64_t page = sysconf(_SC_PAGESIZE);
  auto target = [&]() {
    Napi::Value m = o.Get("mapping");
    if (!m.IsUndefined()) {
      s.mapping = static_cast<int>(Field(o, "mapping", -1, 0, static_cast<int64_t>(index) - 1));
      if (earlier[s.mapping].op != Op::Mmap)
        throw Napi::RangeError::New(env, "step.mapping must name an earlier mmap step");
      s.length = Field(o, "length", 0, 1, earlier[s.mapping].length);
      return;
    }
    Napi::Value a = o.Get("address");
    if (!a.IsBigInt())
      throw Napi::TypeError::New(
          env, "step " + std::to_string(index) + " needs a mapping index or an address (bigint)");
    bool lossless = true;
    s.address = a.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless || s.address == 0 || s.address % page != 0)
      throw Napi::RangeError::New(env, "step.address must be a page-aligned address");
    s.length = Field(o, "length", 0, 1, kMaxSize);
    if (s.length == 0) throw Napi::RangeError::New(env, "step.length is required with an address");
  };
  switch (s.op) {
    case Op::Setrlimit:
      s.resource = Field(o, "resource", -1, 0, RLIM_NLIMITS - 1);
      if (s.resource != RLIMIT_AS && s.resource != RLIMIT_DATA && s.resource != RLIMIT_STACK) {
        throw Napi::RangeError::New(env, "step.resource must be RLIMIT_AS, RLIMIT_DATA or RLIMIT_STACK");
      }
      s.soft = LimitField(o, "soft");
      s.hard = LimitField(o, "hard");
      s.relative = o.Get("relative").ToBoolean();
      if (s.relative && s.soft < 0)
        throw Napi::RangeError::New(env, "a relative soft limit must be a number of bytes");
      break;
    case Op::Mmap: {
      s.length = Field(o, "length", 0, 1, kMaxSize);
      if (s.length == 0) throw Napi::RangeError::New(env, "step.length is required");
      s.prot = Field(o, "prot", PROT_READ | PROT_WRITE, 0, PROT_READ | PROT_WRITE);
      s.flags = Field(o, "flags", MAP_PRIVATE | MAP_ANONYMOUS, 0, INT32_MAX);
      CheckMmapFlags(env, s.flags, "step.flags");
      s.fd = Field(o, "fd", -1, -1, INT32_MAX);
      s.offset = Field(o, "offset", 0, 0, kMaxSize);
      break;
    }
    case Op::Touch:
      target();
      s.offset = Field(o, "offset", 0, 0, kMaxSize);
      s.stride = Field(o, "stride", page, 1, kMaxSize);
      if (s.offset >= (s.length > 0 ? s.length : earlier[s.mapping].length))
        throw Napi::RangeError::New(env, "step.offset is past the range");
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
      s.data = StringField(o, "data");
      break;
    case Op::Setuid:
      if (o.Get("uid").IsUndefined()) throw Napi::TypeError::New(env, "step.uid is required");
      s.uid = Field(o, "uid", 0, 0, UINT32_MAX - 1);
      s.gid = Field(o, "gid", s.uid, 0, UINT32_MAX - 1);
      break;
    case Op::Probe:
      s.prot = Field(o, "prot", PROT_READ | PROT_WRITE, 0, PROT_READ | PROT_WRITE);
      s.flags = Field(o, "flags", 0, 0, INT32_MAX);
      if ((s.flags & ~MAP_NORESERVE) != 0) throw Napi::RangeError::New(env, "step.flags: only MAP_NORESERVE");
      s.granularity = Field(o, "granularity", page, page, kMaxSize);
      s.lo = Field(o, "lo", s.granularity, 1, kMaxSize);
      s.hi = Field(o, "hi", -1, 1, kMaxSize);
      if (s.granularity % page != 0 || s.lo > s.hi)
        throw Napi::RangeError::New(env, "step: probe needs lo <= hi and a page-multiple granularity");
      break;
    case Op::Sleep:
      s.ms = Field(o, "ms", 0, 0, 3600000);
      break;
    case Op::Stack:
      s.bytes = Field(o, "bytes", 0, 1, 256LL << 20);
      if (s.bytes == 0) throw Napi::RangeError::New(env, "step.bytes is required");
      break;
  }
  return s;
}

class ChildWaiter : public Napi::AsyncWorker {
 public:
  ChildWaiter(Napi::Env env, pid_t pid, int64_t forkNs, int64_t timeoutMs, std::vector<Step> steps,
              void* shared, size_t sharedBytes)
      : Napi::AsyncWorker(env, "overcommit-lab:runChild"),
        deferred_(Napi::Promise::Deferred::New(env)),
        pid_(pid),
        forkNs_(forkNs),
        timeoutMs_(timeoutMs),
        steps_(std::move(steps)),
        shared_(shared),
        sharedBytes_(sharedBytes) {}

  ~ChildWaiter() override { munmap(shared_, sharedBytes_); }

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    const int64_t deadline = forkNs_ + timeoutMs_ * 1000000LL;
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    for (;;) {
      pid_t r = waitpid(pid_, &status_, WNOHANG);
      if (r == pid_) break;
      if (r == -1 && errno != EINTR) {
        waitErrno_ = errno;
        break;
      }
      int64_t left = deadline - NowNs();
      if (left <= 0 && !timedOut_) {
        timedOut_ = true;
        kill(pid_, SIGKILL);  // our own child, not yet reaped: the pid cannot have been reused
        continue;
      }
      int waitMs = timedOut_ ? 10 : static_cast<int>(left / 1000000 + 1);
      if (pidfd >= 0) {
        struct pollfd pfd = {pidfd, POLLIN, 0};
        poll(&pfd, 1, waitMs);
      } else {
        struct timespec ts = {0, 1000000};  // kernels before 5.3 have no pidfd: poll waitpid
        nanosleep(&ts, nullptr);
      }
    }
    reapNs_ = NowNs();
    if (pidfd >= 0) close(pidfd);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (waitErrno_ != 0) {
      deferred_.Reject(SystemError(env, waitErrno_, "waitpid", "pid " + std::to_string(pid_)).Value());
      return;
    }
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
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  pid_t pid_;
  int64_t forkNs_, timeoutMs_;
  std::vector<Step> steps_;
  void* shared_;
  size_t sharedBytes_;
  int status_ = 0;
  int waitErrno_ = 0;
  bool timedOut_ = false;
  int64_t reapNs_ = 0;
};

// runChild(steps, timeoutMs) -> Promise<raw result>
Napi::Value RunChild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "steps must be an array");
  Napi::Array arr = info[0].As<Napi::Array>();
  if (arr.Length() > 10000) throw Napi::RangeError::New(env, "too many steps");
  int64_t timeoutMs = ArgInteger(info, 1, "timeoutMs", 1, 3600000);
  std::vector<Step> steps;
  steps.reserve(arr.Length());
  size_t dataBytes = 0;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) throw Napi::TypeError::New(env, "step " + std::to_string(i) + " must be an object");
    Step s = ParseStep(v.As<Napi::Object>(), i, steps);
    if (s.op == Op::Readfile) {
      s.dataOffset = dataBytes;
      dataBytes += s.maxBytes;
    }
    steps.push_back(std::move(s));
  }
  size_t sharedBytes = sizeof(SharedHeader) + steps.size() * sizeof(StepResult) + dataBytes;
  // NORESERVE: outside mode 2 the result area is not charged to the commit, so it does not
  // disturb what the experiments measure there.
  void* shared =
      mmap(nullptr, sharedBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (shared == MAP_FAILED)
    throw SystemError(env, errno, "mmap", std::to_string(sharedBytes) + " bytes for the child's results");
  auto* header = static_cast<SharedHeader*>(shared);
  auto* results = reinterpret_cast<StepResult*>(header + 1);
  auto* data = reinterpret_cast<uint8_t*>(results + steps.size());

  pid_t parent = getpid();
  const int64_t page = sysconf(_SC_PAGESIZE);
  int64_t forkNs = NowNs();
  pid_t pid = ForkRaw();
  if (pid == 0) ChildMain(parent, steps, header, results, data, page);
  if (pid < 0) {
    int err = errno;
    munmap(shared, sharedBytes);
    throw SystemError(env, err, "fork", "a child for " + std::to_string(steps.size()) + " steps");
  }
  auto* waiter = new ChildWaiter(env, pid, forkNs, timeoutMs, std::move(steps), shared, sharedBytes);
  Napi::Promise promise = waiter->Promise();
  waiter->Queue();
  return promise;
}

}  // namespace

void InitChild(Napi::Env env, Napi::Object exports) {
  exports.Set("runChild", Napi::Function::New(env, RunChild, "runChild"));
}

}  // namespace ocl
