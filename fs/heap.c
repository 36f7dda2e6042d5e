/*
 * heap: glibc malloc's settings for the daemon (fs/heap.h).
 */
#include "fs/heap.h"

#include <malloc.h>

#define MMAP_THRESHOLD (128 * 1024)

void
ts_heap_tune(void)
{
	/* Setting either threshold turns glibc's dynamic one off. */
	(void)mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
	(void)mallopt(M_TRIM_THRESHOLD, MMAP_THRESHOLD);
	(void)mallopt(M_ARENA_MAX, 2);
}

void
ts_heap_trim(void)
{
	(void)malloc_trim(0);
}
