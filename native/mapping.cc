// A memory mapping handed to JavaScript, and the ArrayBuffers over it.
//
// Memory handed to JS stays valid for whoever holds it. Native work may hold a buffer's pointer
// across the event loop (crypto.randomFill on the thread pool, fs.read, zlib), and Node keeps
// the buffer alive for it, as it must for its own buffers. So the address range under a buffer
// is never given back to the kernel while the buffer lives: unmap(), remap(), and protect() to
// less than read-write replace that range in place, atomically (mmap MAP_FIXED), with fresh,
// never-touched placeholder memory, unmapped when the last buffer over it is freed. A late read
// sees zeros, a late write lands where nobody looks: never in another mapping, never a fault.
//
// Buffers are not detached: Node's own work does not expect a buffer it holds to shrink (zlib
// asserts and aborts the process when its input is detached between chunks).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "mman-compat.h"

namespace ocl {
namespace {

// The largest ArrayBuffer the addon creates: Node 20's limit (v8::TypedArray::kMaxLength), the
// lowest of the Node versions it supports (later ones allow more). Past Node's limit, creating
// an external buffer fails after Node has already run its finalizer, and node-addon-api frees
// it a second time (SIGABRT): the limit is checked here, whatever the caller checked.
constexpr size_t kMaxBufferLength = sizeof(void*) == 4 ? (size_t{1} << 30) - 1 : size_t{1} << 32;

// An address range buffers were handed out over. While it is the mapping's own range, the
// handle holds it; once retired (unmapped, or the mapping moved away) only its buffers do, and
// what remains mapped there is placeholder memory, ours until the last buffer is freed.
struct Range {
  uint8_t* addr;
  size_t length;       // what is unmapped when the last holder lets go (0: nothing of ours)
  uint32_t holds;      // the handle while current, plus one per buffer: O(1), no list to scan
  size_t lo, hi;       // offsets: the extent of every buffer handed out over it (lo == hi: none)
  size_t pending = 0;  // retired while buffers held it: the placeholder bytes counted below
};

// Placeholder memory is released by the finalizers of the buffers over it, which Node runs only
// when the event loop turns: a synchronous loop of view() and unmap() would otherwise pile
// placeholders up to vm.max_map_count (the process then aborts) and, with large views, charge
// mode 2 for terabytes. So the placeholders of the whole process (workers share its map count
// and commit) are bounded: while kMaxPlaceholders ranges or kMaxPlaceholderBytes are waiting for
// their buffers' finalizers, buffer() refuses with ERR_MAPPING_PLACEHOLDER_LIMIT. Only the
// current range of a live mapping can still become a placeholder, so beyond those bounds there
// is at most one per live mapping that has handed out buffers. The finalizer, not a weak
// reference, stays the only signal that a range is free: a buffer's memory can outlive its
// ArrayBuffer (ArrayBuffer.prototype.transfer moves it to a new one).
constexpr size_t kMaxPlaceholders = 1024;
constexpr size_t kMaxPlaceholderBytes = size_t{4} << 30;
std::atomic<size_t> pendingRanges{0};
std::atomic<size_t> pendingBytes{0};

size_t PageSize() {
  return static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Drops one hold; returns the placeholder bytes this released (counted in pendingBytes).
size_t Release(Range* r) {
  if (--r->holds > 0) return 0;
  if (r->length > 0) munmap(r->addr, r->length);
  const size_t freed = r->pending;
  if (freed > 0) {
    pendingRanges--;
    pendingBytes -= freed;
  }
  delete r;
  return freed;
}

// The handle lets go of `r`, its range until now: what stays mapped for buffers is counted.
// The placeholder bytes are also reported to V8 as external memory, so that garbage collection
// (and then the finalizers) comes sooner under large views.
void Retire(Napi::Env env, Range* r) {
  if (r->holds > 1 && r->length > 0) {
    r->pending = r->length;
    pendingRanges++;
    pendingBytes += r->length;
    int64_t ignored;
    napi_adjust_external_memory(env, static_cast<int64_t>(r->length), &ignored);
  }
  Release(r);
}

// The backing store of a buffer was freed: its ArrayBuffer was collected (or, if it was moved
// to another ArrayBuffer, that one was).
void BufferGone(Napi::Env env, void*, Range* r) {
  if (size_t freed = Release(r)) {
    int64_t ignored;
    napi_adjust_external_memory(env, -static_cast<int64_t>(freed), &ignored);
  }
}

std::string Hex(const void* p) {
  char buf[32];
  snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

Napi::Error UnmappedError(Napi::Env env, const std::string& what) {
  return CodedError(env, "ERR_MAPPING_UNMAPPED", what + ": the mapping has been unmapped");
}

// Replaces the buffers' extent of `r`, whose memory the mapping no longer uses, with fresh
// placeholder memory and unmaps the rest. `fixed` is MAP_FIXED when [addr, addr + length) is
// still ours (the replacement is atomic), MAP_FIXED_NOREPLACE when the mapping left a hole
// there (another thread may have mapped into it meanwhile: then it is not ours, and left alone).
// Returns 0 or the errno of the failed mmap; with MAP_FIXED the range is then left as it was.
int Placehold(Range* r, int fixed) {
  const size_t page = PageSize();
  size_t lo = r->lo / page * page;
  size_t hi = (r->hi + page - 1) / page * page;
  const size_t end = (r->length + page - 1) / page * page;
  uint8_t* want = r->addr + lo;
  void* p =
      mmap(want, hi - lo, PROT_READ | PROT_WRITE, fixed | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p != want) {
    int err = p == MAP_FAILED ? errno : EEXIST;
    // A kernel before 4.17 takes MAP_FIXED_NOREPLACE as a hint and may map elsewhere.
    if (p != MAP_FAILED) munmap(p, hi - lo);
    if (fixed != MAP_FIXED) r->length = 0;
    return err;
  }
  if (fixed == MAP_FIXED) {
    // The head and tail hold no buffer. Should munmap fail (vm.max_map_count), that part stays
    // ours, and is unmapped with the rest later.
    if (lo > 0 && munmap(r->addr, lo) != 0) lo = 0;
    if (hi < end && munmap(r->addr + hi, end - hi) != 0) hi = end;
  }
  // With MAP_FIXED_NOREPLACE, head and tail are holes the mapping left: not ours.
  r->addr += lo;
  r->length = hi - lo;
  r->lo = 0;
  r->hi = 0;
  return 0;
}

class MappingHandle : public Napi::ObjectWrap<MappingHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "MappingHandle",
                       {
                           InstanceAccessor<&MappingHandle::Address>("address"),
                           InstanceAccessor<&MappingHandle::Length>("length"),
                           InstanceAccessor<&MappingHandle::Mapped>("mapped"),
                           InstanceAccessor<&MappingHandle::Prot>("prot"),
                           InstanceMethod<&MappingHandle::Buffer>("buffer"),
                           InstanceMethod<&MappingHandle::Touch>("touch"),
                           InstanceMethod<&MappingHandle::Mincore>("mincore"),
                           InstanceMethod<&MappingHandle::Protect>("protect"),
                           InstanceMethod<&MappingHandle::Remap>("remap"),
                           InstanceMethod<&MappingHandle::Advise>("advise"),
                           InstanceMethod<&MappingHandle::Unmap>("unmap"),
                       });
  }

  struct Init {
    Range* range;
    int prot;
    int flags;
    int file;  // an O_PATH descriptor of the mapped file, or -1
    int64_t fileOffset;
  };

  explicit MappingHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MappingHandle>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw ArgTypeError(info.Env(), "MappingHandle is created by mmap(), not by new");
    }
    Init* init = info[0].As<Napi::External<Init>>().Data();
    range_ = init->range;
    addr_ = range_->addr;
    length_ = range_->length;
    prot_ = init->prot;
    flags_ = init->flags;
    file_ = init->file;
    fileOffset_ = init->fileOffset;
  }

  ~MappingHandle() override {
    if (range_) Release(range_);
    if (file_ >= 0) close(file_);
  }

 private:
  Range* range_;  // the mapping's range; nullptr once unmapped
  uint8_t* addr_;
  size_t length_;
  int prot_;
  int flags_;  // the mmap flags: only private anonymous memory may grow (see Remap)
  int file_;
  int64_t fileOffset_;

  void RequireMapped(Napi::Env env, const char* what) {
    if (!range_) throw UnmappedError(env, what);
  }

  // Byte range [offset, offset + length) within the mapping, checked.
  void ArgRange(const Napi::CallbackInfo& info, size_t i, size_t* offset, size_t* length) {
    *offset = static_cast<size_t>(ArgInteger(info, i, "offset", 0, static_cast<int64_t>(length_) - 1));
    *length = static_cast<size_t>(ArgInteger(info, i + 1, "length", 1, static_cast<int64_t>(length_)));
    if (*offset + *length > length_) {
      throw ArgRangeError(info.Env(), "offset + length (" + std::to_string(*offset + *length) +
                                          ") is past the end of the mapping (" + std::to_string(length_) +
                                          ")");
    }
  }

  void RequireWritable(Napi::Env env, const char* what) {
    if (prot_ != (PROT_READ | PROT_WRITE)) {
      throw CodedError(env, "ERR_MAPPING_PROTECTION",
                       std::string(what) + ": the mapping is not readable and writable");
    }
  }

  // A page of a file mapping past the file's end raises SIGBUS when accessed: the file may
  // have been truncated since mmap. The file can still shrink between this check and the
  // access (another process, another thread); only the caller can rule that out.
  void RequireWithinFile(Napi::Env env, const char* what, size_t end) {
    if (file_ < 0) return;
    struct stat st;
    if (fstat(file_, &st) != 0) throw SystemError(env, errno, "fstat", "the mapped file");
    const uint64_t page = PageSize();
    const uint64_t fileEnd = (static_cast<uint64_t>(st.st_size) + page - 1) / page * page;
    if (static_cast<uint64_t>(fileOffset_) + end > fileEnd) {
      throw CodedError(env, "ERR_MAPPING_PAST_END_OF_FILE",
                       std::string(what) + ": bytes up to " +
                           std::to_string(fileOffset_ + static_cast<int64_t>(end)) +
                           " of the file are mapped, but it now ends at " + std::to_string(st.st_size) +
                           " (truncated under the mapping)");
    }
  }

  Napi::Value Address(const Napi::CallbackInfo& info) {
    return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(addr_)));
  }
  Napi::Value Length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(length_));
  }
  Napi::Value Mapped(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), range_ != nullptr);
  }
  Napi::Value Prot(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), prot_); }

  // buffer(offset, length): an ArrayBuffer over part of the mapping. Only for read-write
  // mappings: a write from JS to a read-only page would be a segfault.
  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "buffer");
    RequireWritable(env, "buffer");
    size_t offset, length;
    ArgRange(info, 0, &offset, &length);
    if (length > kMaxBufferLength) {
      throw ArgRangeError(env, "length " + std::to_string(length) + " is larger than Node's buffer limit (" +
                                   std::to_string(kMaxBufferLength) + ")");
    }
    RequireWithinFile(env, "buffer", offset + length);
    if (pendingRanges >= kMaxPlaceholders || pendingBytes >= kMaxPlaceholderBytes) {
      throw CodedError(env, "ERR_MAPPING_PLACEHOLDER_LIMIT",
                       "buffer: " + std::to_string(pendingRanges.load()) + " placeholder ranges (" +
                           std::to_string(pendingBytes.load()) +
                           " bytes) wait for their buffers to be garbage-collected, which happens only "
                           "when the event loop turns (limits: " +
                           std::to_string(kMaxPlaceholders) + " ranges, " +
                           std::to_string(kMaxPlaceholderBytes) + " bytes)");
    }
    Range* r = range_;
    // The hold is taken first: should creating the buffer fail, Node runs the finalizer anyway.
    r->holds++;
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, r->addr + offset, length, BufferGone, r);
    if (r->lo == r->hi) {
      r->lo = offset;
      r->hi = offset + length;
    } else {
      if (offset < r->lo) r->lo = offset;
      if (offset + length > r->hi) r->hi = offset + length;
    }
    return ab;
  }

  // touch(offset, length, stride): writes the int index of every stride-th byte, as the
  // documents' sparse program does (arr[i] = i); returns the number of distinct pages written
  // (a write straddling two pages writes both).
  Napi::Value Touch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "touch");
    RequireWritable(env, "touch");
    size_t offset, length;
    ArgRange(info, 0, &offset, &length);
    size_t stride = static_cast<size_t>(ArgInteger(info, 2, "stride", 1, static_cast<int64_t>(length_)));
    const size_t end = offset + length;
    RequireWithinFile(env, "touch", end);
    const size_t page = PageSize();
    uint8_t* base = range_->addr;
    double pages = 0;
    size_t next = 0;  // the first page not yet counted
    for (size_t off = offset; off < end; off += stride) {
      size_t last = off;
      if (off + sizeof(int32_t) <= end) {
        *reinterpret_cast<volatile int32_t*>(base + off) = static_cast<int32_t>(off / sizeof(int32_t));
        last = off + sizeof(int32_t) - 1;
      } else {
        *reinterpret_cast<volatile uint8_t*>(base + off) = 1;
      }
      const size_t first = off / page > next ? off / page : next;
      if (last / page >= first) {
        pages += static_cast<double>(last / page - first + 1);
        next = last / page + 1;
      }
    }
    return Napi::Number::New(env, pages);
  }

  // mincore(offset, length): how many pages of the range are resident.
  Napi::Value Mincore(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "residentPages");
    size_t offset, length;
    ArgRange(info, 0, &offset, &length);
    const size_t page = PageSize();
    const size_t start = offset / page * page;
    const size_t end = offset + length;
    // In chunks: a NORESERVE mapping may span terabytes, one vector byte per page.
    constexpr size_t kChunkPages = 65536;
    std::vector<unsigned char> vec(kChunkPages);
    double resident = 0;
    for (size_t at = start; at < end; at += kChunkPages * page) {
      const size_t bytes = end - at < kChunkPages * page ? end - at : kChunkPages * page;
      if (mincore(range_->addr + at, bytes, vec.data()) != 0) {
        throw SystemError(env, errno, "mincore",
                          Hex(range_->addr + at) + ", " + std::to_string(bytes) + " bytes");
      }
      const size_t n = (bytes + page - 1) / page;
      size_t count = 0;
      for (size_t k = 0; k < n; k++) count += vec[k] & 1;
      resident += static_cast<double>(count);
    }
    return Napi::Number::New(env, resident);
  }

  // Moves the mapping to a new address with `newLength` bytes, leaving the buffers handed out
  // over the old range valid (see the top of the file). Used when buffers were handed out.
  void MoveAway(Napi::Env env, size_t newLength) {
    Range* old = range_;
    const size_t length = old->length;
    uint8_t* p = nullptr;
    int fixed = MAP_FIXED;
    // MREMAP_DONTUNMAP (5.7; non-anonymous memory since 5.13) moves the pages and leaves the old
    // range mapped, so it never is a hole another thread could map into.
    void* q = mremap(old->addr, length, length, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    if (q != MAP_FAILED) {
      p = static_cast<uint8_t*>(q);
    } else {
      // Older kernels: move, at the same length (nothing to charge), onto a reserved range
      // (mremap with MREMAP_FIXED replaces it). That leaves a hole at the old range until the
      // placeholder fills it.
      void* dest = mmap(nullptr, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (dest == MAP_FAILED)
        throw SystemError(env, errno, "mmap", std::to_string(length) + " bytes to move to");
      q = mremap(old->addr, length, length, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
      if (q == MAP_FAILED) {
        // The reservation stays (address space only, uncharged): mremap may have unmapped it
        // before failing, and another thread may have mapped there since.
        throw SystemError(env, errno, "mremap",
                          Hex(old->addr) + ", " + std::to_string(length) + " bytes -> " + Hex(dest));
      }
      p = static_cast<uint8_t*>(q);
      fixed = MAP_FIXED_NOREPLACE;
    }
    range_ = new Range{p, length, 1, 0, 0};
    addr_ = p;
    if (old->holds == 1) {
      // Every buffer is gone already: what is left of the old range is nobody's.
      if (fixed != MAP_FIXED) old->length = 0;
    } else {
      // Should the placeholder fail (vm.max_map_count, or no commit left in mode 2), the old
      // range stays as DONTUNMAP left it, still ours, until its buffers are gone.
      Placehold(old, fixed);
    }
    Retire(env, old);
    if (range_->length != newLength) {
      q = mremap(p, range_->length, newLength, MREMAP_MAYMOVE);
      if (q == MAP_FAILED) {
        throw SystemError(env, errno, "mremap",
                          Hex(p) + ", " + std::to_string(range_->length) + " -> " +
                              std::to_string(newLength) + " bytes (the mapping has moved to " + Hex(p) + ")");
      }
      range_->addr = static_cast<uint8_t*>(q);
      range_->length = newLength;
      addr_ = range_->addr;
    }
    length_ = newLength;
  }

  // protect(prot). Buffers need every page readable and writable, so to anything less, once
  // buffers were handed out at the current address, the mapping moves first (as remap does)
  // and the buffers keep their range, as placeholder memory.
  Napi::Value Protect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "protect");
    int prot = static_cast<int>(ArgInteger(info, 0, "prot", 0, PROT_READ | PROT_WRITE));
    if (prot == PROT_WRITE) throw ArgRangeError(env, "prot: write-only is not supported");
    if (prot != (PROT_READ | PROT_WRITE) && range_->lo != range_->hi) MoveAway(env, length_);
    if (mprotect(range_->addr, range_->length, prot) != 0) {
      throw SystemError(env, errno, "mprotect",
                        Hex(range_->addr) + ", " + std::to_string(range_->length) + " bytes");
    }
    prot_ = prot;
    return env.Undefined();
  }

  // remap(newLength): mremap, allowed to move; once buffers were handed out at the current
  // address it always moves, and the buffers keep their range, as placeholder memory.
  Napi::Value Remap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "remap");
    size_t newLength = ArgLength(info, 0, "newLength");
    // New pages past a file's end, or past a shared mapping's shmem object, raise SIGBUS when
    // touched: only private anonymous memory may grow.
    const bool privateAnon = (flags_ & MAP_ANONYMOUS) && (flags_ & MAP_PRIVATE);
    if (newLength > length_ && !privateAnon) {
      throw ArgRangeError(env,
                          "remap: only a private anonymous mapping can grow (new pages of a file or "
                          "shared mapping would fault with SIGBUS)");
    }
    if (range_->lo != range_->hi) {
      MoveAway(env, newLength);
      return env.Undefined();
    }
    void* p = mremap(range_->addr, range_->length, newLength, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) {
      throw SystemError(env, errno, "mremap",
                        Hex(range_->addr) + ", " + std::to_string(range_->length) + " -> " +
                            std::to_string(newLength) + " bytes");
    }
    range_->addr = addr_ = static_cast<uint8_t*>(p);
    range_->length = length_ = newLength;
    return env.Undefined();
  }

  // Advice that only changes how the kernel treats the pages, never whether they stay mapped
  // and accessible (no MADV_GUARD_INSTALL, MADV_HWPOISON, MADV_SOFT_OFFLINE, MADV_REMOVE,
  // MADV_DONTFORK, ...): the raw binding is reachable from JS.
  static bool AllowedAdvice(int advice) {
    switch (advice) {
      case MADV_NORMAL:
      case MADV_RANDOM:
      case MADV_SEQUENTIAL:
      case MADV_WILLNEED:
      case MADV_DONTNEED:
      case MADV_FREE:
      case MADV_HUGEPAGE:
      case MADV_NOHUGEPAGE:
      case MADV_COLD:
      case MADV_PAGEOUT:
      case MADV_POPULATE_READ:
      case MADV_POPULATE_WRITE:
        return true;
      default:
        return false;
    }
  }

  Napi::Value Advise(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "advise");
    int advice = static_cast<int>(ArgInteger(info, 0, "advice", 0, INT32_MAX));
    if (!AllowedAdvice(advice))
      throw ArgRangeError(env, "advice " + std::to_string(advice) + " is not allowed");
    size_t offset, length;
    ArgRange(info, 1, &offset, &length);
    const size_t page = PageSize();
    if (offset % page != 0) throw ArgRangeError(env, "advise: offset must be a multiple of the page size");
    if (madvise(range_->addr + offset, length, advice) != 0) {
      throw SystemError(env, errno, "madvise",
                        Hex(range_->addr + offset) + ", " + std::to_string(length) + " bytes, advice " +
                            std::to_string(advice));
    }
    return env.Undefined();
  }

  // unmap(): munmap, or, while buffers over the mapping may be in use, their placeholder.
  Napi::Value Unmap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!range_) return env.Undefined();
    Range* r = range_;
    if (r->holds == 1) {
      if (munmap(r->addr, r->length) != 0) {
        throw SystemError(env, errno, "munmap", Hex(r->addr) + ", " + std::to_string(r->length) + " bytes");
      }
      r->length = 0;
    } else if (int err = Placehold(r, MAP_FIXED)) {
      // Since 6.12 a failed MAP_FIXED leaves the old mapping in place; before, a failure of
      // mode 2's commit check (which the unmapped range's own charge does not offset there)
      // came after the old range was unmapped.
      throw SystemError(
          env, err, "mmap",
          "placeholder for the buffers over " + Hex(r->addr) + ", " + std::to_string(r->length) + " bytes");
    }
    range_ = nullptr;
    Retire(env, r);
    if (file_ >= 0) {
      close(file_);
      file_ = -1;
    }
    return env.Undefined();
  }
};

// mmap(length, prot, flags, fd, offset) -> MappingHandle
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t length = ArgLength(info, 0, "length");
  int prot = static_cast<int>(ArgInteger(info, 1, "prot", 0, PROT_READ | PROT_WRITE));
  int flags = static_cast<int>(ArgInteger(info, 2, "flags", 0, INT32_MAX));
  int fd = static_cast<int>(ArgInteger(info, 3, "fd", -1, INT32_MAX));
  int64_t offset = ArgInteger(info, 4, "offset", 0, INT64_MAX / 2);
  CheckMmapArgs(env, prot, flags, fd, offset, "");

  const size_t page = PageSize();
  int file = -1;
  if (!(flags & MAP_ANONYMOUS)) {
    struct stat st;
    if (fstat(fd, &st) != 0) throw SystemError(env, errno, "fstat", "fd " + std::to_string(fd));
    // Touching a page past the end of a regular file raises SIGBUS: refuse such a mapping.
    if (S_ISREG(st.st_mode)) {
      uint64_t fileEnd = (static_cast<uint64_t>(st.st_size) + page - 1) / page * page;
      if (static_cast<uint64_t>(offset) + length > fileEnd) {
        throw ArgRangeError(env, "offset + length (" + std::to_string(offset + static_cast<int64_t>(length)) +
                                     ") is past the end of the file (" + std::to_string(st.st_size) +
                                     " bytes)");
      }
      // The file may shrink later: keep a way to look at its size that is independent of the
      // caller's descriptor, and shares no open file description (nor its flock) with it.
      std::string path = "/proc/self/fd/" + std::to_string(fd);
      file = open(path.c_str(), O_PATH | O_CLOEXEC);
      if (file < 0) throw SystemError(env, errno, "open", path);
    }
  }

  void* p = mmap(nullptr, length, prot, flags, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) {
    int err = errno;
    if (file >= 0) close(file);
    throw SystemError(
        env, err, "mmap",
        std::to_string(length) + " bytes, prot " + std::to_string(prot) + ", flags " + std::to_string(flags));
  }
  Range* r = new Range{static_cast<uint8_t*>(p), length, 1, 0, 0};
  MappingHandle::Init init{r, prot, flags, file, offset};
  AddonData* data = env.GetInstanceData<AddonData>();
  try {
    return data->mappingConstructor.New({Napi::External<MappingHandle::Init>::New(env, &init)});
  } catch (...) {
    Release(r);
    if (file >= 0) close(file);
    throw;
  }
}

}  // namespace

void InitMapping(Napi::Env env, Napi::Object exports) {
  AddonData* data = env.GetInstanceData<AddonData>();
  data->mappingConstructor = Napi::Persistent(MappingHandle::Define(env));
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("maxBufferLength", Napi::Number::New(env, static_cast<double>(kMaxBufferLength)));
}

}  // namespace ocl
