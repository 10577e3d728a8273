/*
 * 001's "Review stack handling/building on exec": a child stopped at the first instruction of a
 * freshly exec'd program. The program forks a child that asks to be traced (PTRACE_TRACEME) and
 * stops; the program lets it go on, and the child execs this same executable (--target): the
 * kernel stops a traced child with SIGTRAP once exec has built its new image, before it runs a
 * single instruction of it. With --no-exec (a control) the child stops again instead of exec'ing.
 * Lines: "child <pid>" once it stopped before exec, "stopped <signal>" at its second stop.
 * With --pause it stops at "forked" (the child stopped before exec) and "exec" (the child
 * stopped at the new program's first instruction, or again, without exec) so that the caller
 * can read the child's smaps and Committed_AS there. The child is killed before the program exits.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pause.h"

static int usage(const char* self, int help) {
  fprintf(help ? stdout : stderr,
          "usage: %s [--no-exec] [--pause]\n"
          "  a traced child execs this executable and stops at its first instruction.\n"
          "  --no-exec  the child stops a second time instead (a control)\n"
          "  --pause    stop (SIGSTOP) at 'forked' and 'exec', printing '@pause <point>'\n",
          self);
  return help ? 0 : 2;
}

/* Waits for the child's next stop; its signal, or -1 when it ended instead. */
static int next_stop(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) return -1;
  return WSTOPSIG(status);
}

int main(int argc, char** argv) {
  int exec_it = 1;
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--target") == 0) {
      /* The exec'd program: its first instruction is where the tracer stops it; it is killed there. */
      return 0;
    } else if (strcmp(argv[a], "--pause") == 0) {
      enable_pauses();
    } else if (strcmp(argv[a], "--no-exec") == 0) {
      exec_it = 0;
    } else {
      return usage(argv[0], strcmp(argv[a], "--help") == 0);
    }
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == -1) {
    perror("fork");
    return 1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == -1) _exit(1);
    raise(SIGSTOP);
    if (exec_it) execl("/proc/self/exe", "ocl-exec", "--target", (char*)NULL);
    raise(SIGSTOP);
    _exit(1);
  }
  if (next_stop(pid) != SIGSTOP) {
    fprintf(stderr, "the child did not stop before exec\n");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 1;
  }
  printf("child %d\n", (int)pid);
  pause_at("forked");
  int sig = ptrace(PTRACE_CONT, pid, NULL, NULL) == -1 ? -1 : next_stop(pid);
  printf("stopped %d\n", sig);
  pause_at("exec");
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return sig == (exec_it ? SIGTRAP : SIGSTOP) ? 0 : 1;
}
