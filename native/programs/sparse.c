/*
 * 004's sparse-array program: a 1 GB private anonymous MAP_NORESERVE mapping, one int written per
 * 4096 bytes. Options (none by default, and then the output is the document's):
 *   --bytes N   the array's size in bytes instead of 1 GB (a multiple of 4096, at least 8192)
 *   --pause     stop at "mapped" (after mmap, before the touch loop) and "touched" (after it)
 *   --mincore   print "@mincore <point> <resident> <pages>" at those points (mincore(2) counts)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pause.h"

#define ARRAY_SIZE (1024L * 1024 * 256) /* 256M integers = 1GB */
#define STRIDE (4096 / sizeof(int))     /* one access per page */

static int mincore_enabled = 0;

/* Resident pages of [addr, addr + len) by mincore(2), printed as a tool line. */
static void print_mincore(const char* point, void* addr, size_t len) {
  if (!mincore_enabled) return;
  long page = sysconf(_SC_PAGESIZE);
  size_t pages = (len + page - 1) / page;
  unsigned char* vec = malloc(pages);
  if (!vec || mincore(addr, len, vec) == -1) {
    printf("@mincore %s error %s\n", point, strerror(errno));
    free(vec);
    return;
  }
  size_t resident = 0;
  for (size_t i = 0; i < pages; i++) resident += vec[i] & 1;
  free(vec);
  printf("@mincore %s %zu %zu\n", point, resident, pages);
}

/* The size as the document writes it ("1GB"). */
static void size_label(long bytes, char* out, size_t n) {
  if (bytes % (1L << 30) == 0)
    snprintf(out, n, "%ldGB", bytes >> 30);
  else if (bytes % (1L << 20) == 0)
    snprintf(out, n, "%ldMB", bytes >> 20);
  else
    snprintf(out, n, "%ldKB", bytes >> 10);
}

static int usage(const char* argv0, FILE* to) {
  fprintf(to,
          "usage: %s [--bytes N] [--pause] [--mincore]\n"
          "  004's sparse array: maps N bytes (default 1 GB) MAP_NORESERVE, writes one int per 4096 bytes.\n"
          "  --bytes N   size in bytes, a multiple of 4096, at least 8192\n"
          "  --pause     stop (SIGSTOP) after mmap and after the touch loop, printing '@pause <point>'\n"
          "  --mincore   print '@mincore <point> <resident> <pages>' at those points\n",
          argv0);
  return to == stdout ? 0 : 2;
}

int main(int argc, char** argv) {
  long array_size = ARRAY_SIZE;
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--pause") == 0) {
      enable_pauses();
    } else if (strcmp(argv[a], "--mincore") == 0) {
      mincore_enabled = 1;
    } else if (strcmp(argv[a], "--bytes") == 0 && a + 1 < argc) {
      char* end;
      errno = 0;
      long bytes = strtol(argv[++a], &end, 10);
      if (errno != 0 || *end != '\0' || bytes < 8192 || bytes % 4096 != 0) {
        fprintf(stderr, "%s: --bytes must be a multiple of 4096, at least 8192: %s\n", argv[0], argv[a]);
        return 2;
      }
      array_size = bytes / (long)sizeof(int);
    } else {
      return usage(argv[0], strcmp(argv[a], "--help") == 0 ? stdout : stderr);
    }
  }
  char label[32];
  size_label(array_size * (long)sizeof(int), label, sizeof label);

  /* Allocate 1 GB sparse array - no swap reservation */
  int* arr = mmap(NULL, array_size * sizeof(int), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (arr == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  printf("Mapped %s sparse array at %p (no swap reserved)\n", label, (void*)arr);
  print_mincore("mapped", arr, array_size * sizeof(int));
  pause_at("mapped");

  /* Only touch every 4096th element - 1 per page */
  long touched = 0;
  for (long i = 0; i < array_size; i += STRIDE) {
    arr[i] = (int)i;
    touched++;
  }
  printf("Touched %ld pages (only those pages use swap)\n", touched);
  print_mincore("touched", arr, array_size * sizeof(int));
  pause_at("touched");

  /* Verify a few values */
  printf("arr[0]=%d, arr[%ld]=%ld\n", arr[0], (long)STRIDE, (long)arr[STRIDE]);

  munmap(arr, array_size * sizeof(int));
  return 0;
}
