/*
 * 004's RLIMIT_AS program: limits its own address space to 64 MB, then maps 128 MB (should fail)
 * and 8 MB (should succeed). Option: --pause stops at "limited" (after setrlimit, before the
 * first mmap, printing "@pause limited") so the caller can read the program's address space.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "pause.h"

int main(int argc, char** argv) {
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--pause") == 0) {
      enable_pauses();
    } else {
      int help = strcmp(argv[a], "--help") == 0;
      fprintf(help ? stdout : stderr,
              "usage: %s [--pause]\n"
              "  004's RLIMIT_AS program: RLIMIT_AS = 64 MB, then mmap(128MB) and mmap(8MB).\n"
              "  --pause   stop (SIGSTOP) after setrlimit, printing '@pause limited'\n",
              argv[0]);
      return help ? 0 : 2;
    }
  }

  /* Artificially limit address space to 64MB */
  struct rlimit lim = {.rlim_cur = 64 * 1024 * 1024, .rlim_max = RLIM_INFINITY};
  if (setrlimit(RLIMIT_AS, &lim) == -1) {
    perror("setrlimit");
    return 1;
  }
  pause_at("limited");

  /* Try to map 128MB - should fail */
  void* p = mmap(NULL, 128 * 1024 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    printf("mmap(128MB) failed as expected: %s\n", strerror(errno));
  } else {
    printf("mmap(128MB) succeeded unexpectedly at %p\n", p);
    munmap(p, 128 * 1024 * 1024);
  }

  /* Try smaller - should succeed */
  p = mmap(NULL, 8 * 1024 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    printf("mmap(8MB) failed: %s\n", strerror(errno));
  } else {
    printf("mmap(8MB) succeeded at %p\n", p);
    munmap(p, 8 * 1024 * 1024);
  }
  return 0;
}
