/*
 * 001's To Do, "Account ptrace pages": a tracer's writes into a private read-only mapping of its
 * tracee. The program forks a tracee (PTRACE_TRACEME) that maps BYTES read-only and private
 * (a file's pages, or anonymous ones), tells the program where, and stops; the program then
 * writes one word into every page, through /proc/<tracee>/mem (what a debugger's pwrite does) or
 * PTRACE_POKEDATA, both of which force the write (FOLL_FORCE) past the mapping's protection.
 * Lines: "tracee <pid> <address>" once mapped, "wrote <pages> <errno>" after the writes (errno
 * 0 when every page was written). With --pause it stops at "mapped" (before the writes) and
 * "written" (after them, the tracee still alive) so that the caller can read the tracee's smaps
 * and Committed_AS there. The tracee is killed before the program exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pause.h"

static int usage(const char* self, int help) {
  fprintf(help ? stdout : stderr,
          "usage: %s --bytes N (--file PATH | --anon) --method mem|poke|none [--pause]\n"
          "  a tracee maps N bytes read-only and private; the program writes every page through\n"
          "  /proc/<pid>/mem (mem) or PTRACE_POKEDATA (poke), or not at all (none).\n"
          "  --pause   stop (SIGSTOP) at 'mapped' and 'written', printing '@pause <point>'\n",
          self);
  return help ? 0 : 2;
}

/* The tracee: maps, reports the address through the pipe, stops for its tracer. Never returns. */
static void tracee(int out, size_t bytes, const char* file) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  void* p = MAP_FAILED;
  if (file == NULL) {
    p = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  } else {
    int fd = open(file, O_RDONLY);
    if (fd >= 0) p = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  uintptr_t address = p == MAP_FAILED ? 0 : (uintptr_t)p;
  if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == -1) address = 0;
  if (write(out, &address, sizeof address) != sizeof address) _exit(1);
  if (address == 0) _exit(1);
  raise(SIGSTOP);
  for (;;) pause();
}

int main(int argc, char** argv) {
  size_t bytes = 0;
  const char* file = NULL;
  int anon = 0;
  const char* method = NULL;
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--pause") == 0) {
      enable_pauses();
    } else if (strcmp(argv[a], "--bytes") == 0 && a + 1 < argc) {
      bytes = strtoull(argv[++a], NULL, 10);
    } else if (strcmp(argv[a], "--file") == 0 && a + 1 < argc) {
      file = argv[++a];
    } else if (strcmp(argv[a], "--anon") == 0) {
      anon = 1;
    } else if (strcmp(argv[a], "--method") == 0 && a + 1 < argc) {
      method = argv[++a];
    } else {
      return usage(argv[0], strcmp(argv[a], "--help") == 0);
    }
  }
  long page = sysconf(_SC_PAGESIZE);
  if (bytes == 0 || bytes % (size_t)page != 0 || (file == NULL) == (anon == 0) || method == NULL ||
      (strcmp(method, "mem") != 0 && strcmp(method, "poke") != 0 && strcmp(method, "none") != 0))
    return usage(argv[0], 0);

  int fds[2];
  if (pipe(fds) == -1) {
    perror("pipe");
    return 1;
  }
  pid_t pid = fork();
  if (pid == -1) {
    perror("fork");
    return 1;
  }
  if (pid == 0) {
    close(fds[0]);
    tracee(fds[1], bytes, file);
  }
  close(fds[1]);
  uintptr_t address = 0;
  ssize_t got = read(fds[0], &address, sizeof address);
  int status = 0;
  /* The tracee's stop (or its exit when it could not map). */
  if (got != sizeof address || address == 0 || waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
    fprintf(stderr, "the tracee could not map %zu bytes read-only%s%s\n", bytes, file ? " from " : "",
            file ? file : "");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 1;
  }
  printf("tracee %d 0x%llx\n", (int)pid, (unsigned long long)address);
  pause_at("mapped");

  size_t written = 0;
  int error = 0;
  if (strcmp(method, "mem") == 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    int fd = open(path, O_RDWR);
    if (fd == -1) error = errno;
    for (size_t off = 0; fd != -1 && off < bytes; off += (size_t)page) {
      const uint64_t word = 0x5a5a5a5a5a5a5a5aULL;
      if (pwrite(fd, &word, sizeof word, (off_t)(address + off)) != (ssize_t)sizeof word) {
        error = errno;
        break;
      }
      written++;
    }
    if (fd != -1) close(fd);
  } else if (strcmp(method, "poke") == 0) {
    for (size_t off = 0; off < bytes; off += (size_t)page) {
      if (ptrace(PTRACE_POKEDATA, pid, (void*)(address + off), (void*)0x5a5a5a5a5a5a5a5aULL) == -1) {
        error = errno;
        break;
      }
      written++;
    }
  }
  printf("wrote %zu %d\n", written, error);
  pause_at("written");
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return 0;
}
