/*
 * Tool lines and pause points shared by the programs. Lines starting with '@' are the tool's,
 * never the document's: with --pause the program prints "@pause <point>" and stops itself
 * (SIGSTOP) so that the caller can read /proc/<pid> files and Committed_AS at that point, then sends
 * SIGCONT. Without the flags a program prints exactly what 004's program prints.
 */
#ifndef OVERCOMMIT_LAB_PAUSE_H
#define OVERCOMMIT_LAB_PAUSE_H

#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>

static int pause_enabled = 0;

/* A program that stops itself must not outlive the tool that would continue it. */
static void enable_pauses(void) {
  pause_enabled = 1;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void pause_at(const char* point) {
  if (!pause_enabled) return;
  printf("@pause %s\n", point);
  /* The caller sees every line printed so far before it measures. */
  fflush(stdout);
  raise(SIGSTOP);
}

#endif
