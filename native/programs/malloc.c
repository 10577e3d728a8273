/*
 * 002's malloc(3) story and failure locality: a program that asks the allocator for memory in
 * steps and writes every page of each block, reporting each call's outcome itself. When malloc
 * returns NULL it prints the failed request (size, errno) and exits 1: the failure is
 * synchronous with the request and its context is in hand. A kill while writing (an OOM kill)
 * leaves no such line. Lines: "malloc <size> <address>" after each allocation, "wrote <size>"
 * after writing it, "malloc <size> failed <errno> <strerror>" on failure, "done" at the end.
 * Options: --cgroup FILE writes "0" to FILE first (joining a memory cgroup's cgroup.procs
 * before anything is allocated); --pause stops at "allocated" after each malloc (before the
 * writes) and at "held" after the last block is written (every block still allocated).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pause.h"

#define MAX_SIZES 64

static int usage(const char* self, int help) {
  fprintf(help ? stdout : stderr,
          "usage: %s --sizes N[,N...] [--cgroup FILE] [--pause]\n"
          "  mallocs each size (bytes) in turn and writes every page of it; reports a failed\n"
          "  malloc (size, errno) and exits 1.\n"
          "  --cgroup FILE  write 0 to FILE first (a memory cgroup's cgroup.procs)\n"
          "  --pause        stop (SIGSTOP) at 'allocated' after each malloc and at 'held' at the end\n",
          self);
  return help ? 0 : 2;
}

/* Comma-separated positive byte counts; the count parsed, or -1. */
static int parse_sizes(const char* text, size_t* sizes) {
  int n = 0;
  const char* p = text;
  while (*p != '\0') {
    char* end = NULL;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno != 0 || end == p || v == 0 || n == MAX_SIZES || (*end != ',' && *end != '\0')) return -1;
    sizes[n++] = (size_t)v;
    p = *end == ',' ? end + 1 : end;
  }
  return n;
}

static int join_cgroup(const char* file) {
  int fd = open(file, O_WRONLY);
  if (fd == -1) return -1;
  ssize_t w = write(fd, "0", 1);
  close(fd);
  return w == 1 ? 0 : -1;
}

int main(int argc, char** argv) {
  size_t sizes[MAX_SIZES];
  int count = 0;
  const char* cgroup = NULL;
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--pause") == 0) {
      enable_pauses();
    } else if (strcmp(argv[a], "--sizes") == 0 && a + 1 < argc) {
      count = parse_sizes(argv[++a], sizes);
      if (count <= 0) return usage(argv[0], 0);
    } else if (strcmp(argv[a], "--cgroup") == 0 && a + 1 < argc) {
      cgroup = argv[++a];
    } else {
      return usage(argv[0], strcmp(argv[a], "--help") == 0);
    }
  }
  if (count == 0) return usage(argv[0], 0);
  /* Every line reaches the caller as it is printed: a killed program leaves what it said. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (cgroup != NULL && join_cgroup(cgroup) == -1) {
    fprintf(stderr, "cannot join the cgroup through %s: %s\n", cgroup, strerror(errno));
    return 2;
  }
  long page = sysconf(_SC_PAGESIZE);
  for (int i = 0; i < count; i++) {
    errno = 0;
    char* p = malloc(sizes[i]);
    if (p == NULL) {
      int e = errno;
      printf("malloc %zu failed %d %s\n", sizes[i], e, strerror(e));
      return 1;
    }
    printf("malloc %zu %p\n", sizes[i], (void*)p);
    pause_at("allocated");
    for (size_t off = 0; off < sizes[i]; off += (size_t)page) p[off] = 1;
    p[sizes[i] - 1] = 1;
    printf("wrote %zu\n", sizes[i]);
  }
  pause_at("held");
  printf("done\n");
  return 0;
}
