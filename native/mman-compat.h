// mmap, mremap and madvise values newer than some C libraries' headers (glibc 2.36 lacks the
// MADV_POPULATE_* ones); the values are the kernel's ABI, so defining them is safe where the
// headers are old. Whether the running kernel knows one is its own answer (EINVAL).
#pragma once
#include <sys/mman.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
