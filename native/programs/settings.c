/*
 * 004's settings program, as the document writes it: reads overcommit_memory and
 * overcommit_ratio from /proc/sys/vm and prints them with the mode's meaning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int read_overcommit_setting(void) {
  FILE* f = fopen("/proc/sys/vm/overcommit_memory", "r");
  if (!f) {
    perror("open overcommit_memory");
    return -1;
  }
  int val;
  fscanf(f, "%d", &val);
  fclose(f);
  return val;
}

int read_overcommit_ratio(void) {
  FILE* f = fopen("/proc/sys/vm/overcommit_ratio", "r");
  if (!f) {
    perror("open overcommit_ratio");
    return -1;
  }
  int val;
  fscanf(f, "%d", &val);
  fclose(f);
  return val;
}

int main(int argc, char** argv) {
  if (argc > 1) {
    /* The document's program takes no arguments; --help says so, anything else is refused. */
    int help = strcmp(argv[1], "--help") == 0;
    fprintf(
        help ? stdout : stderr,
        "usage: %s\n  Prints overcommit_memory, overcommit_ratio and the mode (004's settings program).\n",
        argv[0]);
    return help ? 0 : 2;
  }
  int mode = read_overcommit_setting();
  int ratio = read_overcommit_ratio();
  printf("overcommit_memory = %d\n", mode);
  printf("overcommit_ratio = %d%%\n", ratio);
  switch (mode) {
    case 0:
      printf("Mode: Heuristic (deny obvious overcommits)\n");
      break;
    case 1:
      printf("Mode: Always allow overcommits\n");
      break;
    case 2:
      printf("Mode: Strict (ratio-based accounting)\n");
      break;
    default:
      printf("Mode: Unknown\n");
      break;
  }
  return 0;
}
