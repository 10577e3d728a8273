// The largest mapping the kernel accepts, by binary search with mmap and munmap. Nothing is
// touched. Async-signal-safe (raw syscalls only), so a forked child can run it too.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ocl {

struct ProbeResult {
  uint64_t largest;  // bytes; 0 when even `lo` was refused
  uint32_t probes;   // mmap calls made
  int refusedErrno;  // the errno of the refusals (ENOMEM expected); 0 if none
  int fatalErrno;    // an errno other than ENOMEM stopped the search; 0 otherwise
};

// Searches [lo, hi] bytes in steps of `granularity` for the largest private anonymous mapping
// with `prot` and `extraFlags` (e.g. MAP_NORESERVE) that mmap accepts.
ProbeResult ProbeLargest(int prot, int extraFlags, uint64_t lo, uint64_t hi, uint64_t granularity);

}  // namespace ocl
