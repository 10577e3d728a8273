// A memory mapping handed to JavaScript. JS sees ArrayBuffers over it; unmapping detaches
// them all first, so a stale buffer reads as byteLength 0 instead of faulting.
//
// Lifetime: the Region is shared by the handle and by every buffer handed out. Each holds a
// reference; the last one released unmaps the range if it is still mapped (garbage
// collection), never one that was explicitly unmapped and may since be reused.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace ocl {
namespace {

struct Region {
  uint8_t* addr;
  size_t length;
  int prot;
  int flags;  // the mmap flags: only private anonymous memory may grow (see Remap)
  bool mapped;
  uint32_t refs;
  std::vector<Napi::Reference<Napi::ArrayBuffer>> buffers;  // weak: detached on unmap
};

size_t PageSize() {
  return static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void Release(Region* r) {
  if (--r->refs > 0) return;
  if (r->mapped) munmap(r->addr, r->length);
  delete r;
}

void ReleaseFromBuffer(Napi::Env, void*, Region* r) {
  Release(r);
}

std::string Hex(const void* p) {
  char buf[32];
  snprintf(buf, sizeof buf, "%p", p);
  return buf;
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

  explicit MappingHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MappingHandle>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw Napi::TypeError::New(info.Env(), "MappingHandle is created by mmap(), not by new");
    }
    region_ = info[0].As<Napi::External<Region>>().Data();
  }

  ~MappingHandle() override { Release(region_); }

 private:
  Region* region_;

  void RequireMapped(Napi::Env env, const char* what) {
    if (!region_->mapped) {
      Napi::Error e = Napi::Error::New(env, std::string(what) + ": the mapping has been unmapped");
      e.Set("code", Napi::String::New(env, "ERR_MAPPING_UNMAPPED"));
      throw e;
    }
  }

  // Byte range [offset, offset + length) within the mapping, checked.
  void Range(const Napi::CallbackInfo& info, size_t i, size_t* offset, size_t* length) {
    *offset =
        static_cast<size_t>(ArgInteger(info, i, "offset", 0, static_cast<int64_t>(region_->length) - 1));
    *length =
        static_cast<size_t>(ArgInteger(info, i + 1, "length", 1, static_cast<int64_t>(region_->length)));
    if (*offset + *length > region_->length) {
      throw Napi::RangeError::New(info.Env(), "offset + length (" + std::to_string(*offset + *length) +
                                                  ") is past the end of the mapping (" +
                                                  std::to_string(region_->length) + ")");
    }
  }

  void RequireWritable(Napi::Env env, const char* what) {
    if (region_->prot != (PROT_READ | PROT_WRITE)) {
      Napi::Error e = Napi::Error::New(env, std::string(what) + ": the mapping is not readable and writable");
      e.Set("code", Napi::String::New(env, "ERR_MAPPING_PROTECTION"));
      throw e;
    }
  }

  void DetachBuffers() {
    for (auto& ref : region_->buffers) {
      // A weak reference whose buffer was collected yields an empty value: nothing to detach.
      Napi::ArrayBuffer ab = ref.Value();
      if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
    }
    region_->buffers.clear();
  }

  Napi::Value Address(const Napi::CallbackInfo& info) {
    return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(region_->addr)));
  }
  Napi::Value Length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(region_->length));
  }
  Napi::Value Mapped(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), region_->mapped);
  }
  Napi::Value Prot(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), region_->prot); }

  // buffer(offset, length): an ArrayBuffer over part of the mapping. Only for read-write
  // mappings: a write from JS to a read-only page would be a segfault.
  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "buffer");
    RequireWritable(env, "buffer");
    size_t offset, length;
    Range(info, 0, &offset, &length);
    // Drop weak references whose buffers are gone, so the list does not grow without bound.
    auto& bufs = region_->buffers;
    for (size_t k = 0; k < bufs.size();) {
      if (bufs[k].Value().IsEmpty()) {
        bufs[k] = std::move(bufs.back());
        bufs.pop_back();
      } else {
        ++k;
      }
    }
    region_->refs++;
    Napi::ArrayBuffer ab;
    try {
      ab = Napi::ArrayBuffer::New(env, region_->addr + offset, length, ReleaseFromBuffer, region_);
    } catch (...) {
      region_->refs--;
      throw;
    }
    bufs.push_back(Napi::Reference<Napi::ArrayBuffer>::New(ab, 0));
    return ab;
  }

  // touch(offset, length, stride): writes the int index of every stride-th byte, as the
  // documents' sparse program does (arr[i] = i); returns the number of distinct pages written.
  Napi::Value Touch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "touch");
    RequireWritable(env, "touch");
    size_t offset, length;
    Range(info, 0, &offset, &length);
    size_t stride =
        static_cast<size_t>(ArgInteger(info, 2, "stride", 1, static_cast<int64_t>(region_->length)));
    const size_t page = PageSize();
    uint8_t* base = region_->addr;
    const size_t end = offset + length;
    double pages = 0;
    size_t lastPage = SIZE_MAX;
    for (size_t off = offset; off < end; off += stride) {
      if (off + sizeof(int32_t) <= end) {
        *reinterpret_cast<volatile int32_t*>(base + off) = static_cast<int32_t>(off / sizeof(int32_t));
      } else {
        *reinterpret_cast<volatile uint8_t*>(base + off) = 1;
      }
      size_t p = off / page;
      if (p != lastPage) {
        pages++;
        lastPage = p;
      }
    }
    return Napi::Number::New(env, pages);
  }

  // mincore(offset, length): how many pages of the range are resident.
  Napi::Value Mincore(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "residentPages");
    size_t offset, length;
    Range(info, 0, &offset, &length);
    const size_t page = PageSize();
    const size_t start = offset / page * page;
    const size_t end = offset + length;
    // In chunks: a NORESERVE mapping may span terabytes, one vector byte per page.
    constexpr size_t kChunkPages = 65536;
    std::vector<unsigned char> vec(kChunkPages);
    double resident = 0;
    for (size_t at = start; at < end; at += kChunkPages * page) {
      const size_t bytes = end - at < kChunkPages * page ? end - at : kChunkPages * page;
      if (mincore(region_->addr + at, bytes, vec.data()) != 0) {
        throw SystemError(env, errno, "mincore",
                          Hex(region_->addr + at) + ", " + std::to_string(bytes) + " bytes");
      }
      for (size_t k = 0; k < (bytes + page - 1) / page; k++) resident += (vec[k] & 1);
    }
    return Napi::Number::New(env, resident);
  }

  Napi::Value Protect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "protect");
    int prot = static_cast<int>(ArgInteger(info, 0, "prot", 0, PROT_READ | PROT_WRITE));
    if (prot == PROT_WRITE) throw Napi::RangeError::New(env, "prot: write-only is not supported");
    if (mprotect(region_->addr, region_->length, prot) != 0) {
      throw SystemError(env, errno, "mprotect",
                        Hex(region_->addr) + ", " + std::to_string(region_->length) + " bytes");
    }
    region_->prot = prot;
    // Buffers stay valid only while every page is readable and writable.
    if (prot != (PROT_READ | PROT_WRITE)) DetachBuffers();
    return env.Undefined();
  }

  // remap(newLength): mremap, allowed to move; every buffer handed out is detached first,
  // since it may point at the old address or past the new end.
  Napi::Value Remap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "remap");
    size_t newLength = ArgLength(info, 0, "newLength");
    // New pages past a file's end, or past a shared mapping's shmem object, raise SIGBUS when
    // touched: only private anonymous memory may grow.
    const bool privateAnon = (region_->flags & MAP_ANONYMOUS) && (region_->flags & MAP_PRIVATE);
    if (newLength > region_->length && !privateAnon) {
      throw Napi::RangeError::New(env,
                                  "remap: only a private anonymous mapping can grow (new pages of a file or "
                                  "shared mapping would fault with SIGBUS)");
    }
    void* p = mremap(region_->addr, region_->length, newLength, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) {
      throw SystemError(env, errno, "mremap",
                        Hex(region_->addr) + ", " + std::to_string(region_->length) + " -> " +
                            std::to_string(newLength) + " bytes");
    }
    DetachBuffers();
    region_->addr = static_cast<uint8_t*>(p);
    region_->length = newLength;
    return env.Undefined();
  }

  Napi::Value Advise(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireMapped(env, "advise");
    int advice = static_cast<int>(ArgInteger(info, 0, "advice", 0, 1024));
    size_t offset, length;
    Range(info, 1, &offset, &length);
    const size_t page = PageSize();
    if (offset % page != 0)
      throw Napi::RangeError::New(env, "advise: offset must be a multiple of the page size");
    if (madvise(region_->addr + offset, length, advice) != 0) {
      throw SystemError(env, errno, "madvise",
                        Hex(region_->addr + offset) + ", " + std::to_string(length) + " bytes, advice " +
                            std::to_string(advice));
    }
    return env.Undefined();
  }

  Napi::Value Unmap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!region_->mapped) return env.Undefined();
    DetachBuffers();
    if (munmap(region_->addr, region_->length) != 0) {
      throw SystemError(env, errno, "munmap",
                        Hex(region_->addr) + ", " + std::to_string(region_->length) + " bytes");
    }
    region_->mapped = false;
    return env.Undefined();
  }
};

// mmap(length, prot, flags, fd, offset) -> MappingHandle
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t length = ArgLength(info, 0, "length");
  int prot = static_cast<int>(ArgInteger(info, 1, "prot", 0, PROT_READ | PROT_WRITE));
  if (prot == PROT_WRITE) throw Napi::RangeError::New(env, "prot: write-only is not supported");
  int flags = static_cast<int>(ArgInteger(info, 2, "flags", 0, INT32_MAX));
  int fd = static_cast<int>(ArgInteger(info, 3, "fd", -1, INT32_MAX));
  int64_t offset = ArgInteger(info, 4, "offset", 0, INT64_MAX / 2);

  CheckMmapFlags(env, flags, "flags");
  const size_t page = PageSize();
  if (offset % static_cast<int64_t>(page) != 0)
    throw Napi::RangeError::New(env, "offset must be a multiple of the page size");
  if (flags & MAP_ANONYMOUS) {
    if (fd != -1 || offset != 0)
      throw Napi::RangeError::New(env, "an anonymous mapping takes no fd or offset");
  } else {
    if (fd < 0) throw Napi::TypeError::New(env, "a file mapping needs a file descriptor");
    struct stat st;
    if (fstat(fd, &st) != 0) throw SystemError(env, errno, "fstat", "fd " + std::to_string(fd));
    // Touching a page past the end of a regular file raises SIGBUS: refuse such a mapping.
    if (S_ISREG(st.st_mode)) {
      uint64_t fileEnd = (static_cast<uint64_t>(st.st_size) + page - 1) / page * page;
      if (static_cast<uint64_t>(offset) + length > fileEnd) {
        throw Napi::RangeError::New(
            env, "offset + length (" + std::to_string(offset + static_cast<int64_t>(length)) +
                     ") is past the end of the file (" + std::to_string(st.st_size) + " bytes)");
      }
    }
  }

  void* p = mmap(nullptr, length, prot, flags, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) {
    throw SystemError(
        env, errno, "mmap",
        std::to_string(length) + " bytes, prot " + std::to_string(prot) + ", flags " + std::to_string(flags));
  }
  Region* r = new Region{static_cast<uint8_t*>(p), length, prot, flags, true, 1, {}};
  AddonData* data = env.GetInstanceData<AddonData>();
  try {
    return data->mappingConstructor.New({Napi::External<Region>::New(env, r)});
  } catch (...) {
    Release(r);
    throw;
  }
}

}  // namespace

void InitMapping(Napi::Env env, Napi::Object exports) {
  AddonData* data = env.GetInstanceData<AddonData>();
  data->mappingConstructor = Napi::Persistent(MappingHandle::Define(env));
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
}

}  // namespace ocl
