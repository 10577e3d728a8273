#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <string.h>
#define ARRAY_SIZE (1024L * 1024 * 256) /* 256M integers = 1GB */
#define STRIDE (4096 / sizeof(int)) /* one access per page */
int main(void)
{
/* Allocate 1 GB sparse array โ no swap reservation */
int *arr = mmap(NULL, ARRAY_SIZE * sizeof(int),
PROT_READ | PROT_WRITE,
MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
-1, 0);
if (arr == MAP_FAILED) {
perror("mmap");
return 1;
}
printf("Mapped 1GB sparse array at %p (no swap reserved)\n", arr);
/* Only touch every 4096th element โ 1 per page */
long touched = 0;
for (long i = 0; i < ARRAY_SIZE; i += STRIDE) {
arr[i] = (int)i;
touched++;
}
printf("Touched %ld pages (only those pages use swap)\n", touched);
/* Verify a few values */
printf("arr[0]=%d, arr[%ld]=%ld\n",
arr[0], STRIDE, (long)arr[STRIDE]);
munmap(arr, ARRAY_SIZE * sizeof(int));
return 0;
}
