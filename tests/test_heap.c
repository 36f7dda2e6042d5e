/*
 * test_heap: the daemon's malloc settings (fs/heap.c), by what the process
 * holds: a large block freed goes back to the system at once, even after
 * a larger one was freed (glibc's dynamic threshold would have kept it in
 * the heap), and the trim gives back the pages of a hole in the heap that
 * the load's temporaries leave below what stays.
 */
#include <check.h>

#include "tests/check_main.h"
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/heap.h"

/* This process's resident bytes (/proc/self/statm). */
static size_t
resident(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &res), 2);
	fclose(f);
	return res * (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * A table grown by copying (as the inode table and the index's arrays
 * grow): each old copy is freed.  Every copy of 128 KiB and more is a
 * mapping of its own, so none is left in the heap.
 */
START_TEST(large_blocks_are_mapped)
{
	size_t before;
	char *p, *q;

	ts_heap_tune();
	p = malloc(4 << 20);
	ck_assert_ptr_nonnull(p);
	memset(p, 1, 4 << 20);
	free(p);	/* glibc would now keep blocks up to 4 MiB in the heap */
	before = mallinfo2().hblks;
	q = malloc(1 << 20);
	ck_assert_ptr_nonnull(q);
	memset(q, 2, 1 << 20);
	ck_assert_uint_eq(mallinfo2().hblks, before + 1);
	ck_assert_uint_ge(mallinfo2().hblkhd, 1 << 20);
	free(q);
	ck_assert_uint_eq(mallinfo2().hblks, before);
	/* Below the threshold: the heap. */
	q = malloc(64 << 10);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(mallinfo2().hblks, before);
	free(q);
}
END_TEST

/*
 * 16 MiB of small temporaries, then something that stays above them,
 * then the temporaries freed: their pages stay resident until the trim.
 */
START_TEST(trim_gives_back_holes)
{
	enum { N = 40000, SZ = 400 };
	char **tmp = calloc(N, sizeof(*tmp)), *keep;
	size_t full, freed, trimmed;

	ck_assert_ptr_nonnull(tmp);	/* mapped: not in the heap's hole */
	ts_heap_tune();
	for (size_t i = 0; i < N; i++) {
		tmp[i] = malloc(SZ);
		ck_assert_ptr_nonnull(tmp[i]);
		memset(tmp[i], 3, SZ);
	}
	keep = malloc(SZ);
	ck_assert_ptr_nonnull(keep);
	memset(keep, 4, SZ);
	full = resident();
	for (size_t i = 0; i < N; i++)
		free(tmp[i]);
	freed = resident();
	ts_heap_trim();
	trimmed = resident();
	ck_assert_msg(freed + (1 << 20) > full, "freed alone gave back %zu "
	              "bytes", full - freed);	/* the hole stays ... */
	ck_assert_msg(trimmed + 12 * (1 << 20) < freed, "the trim gave back "
	              "%zd bytes", (ssize_t)freed - (ssize_t)trimmed);
	ck_assert_int_eq(keep[SZ - 1], 4);	/* ... what stays stays */
	free(keep);
	free(tmp);
}
END_TEST

static Suite *
heap_suite(void)
{
	Suite *s = suite_create("heap");
	TCase *tc = tcase_create("malloc");

	tcase_add_test(tc, large_blocks_are_mapped);
	tcase_add_test(tc, trim_gives_back_holes);
	suite_add_tcase(s, tc);
	return s;
}

/* A sanitizer's build has its own malloc: nothing of glibc's to check. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define REPLACED_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define REPLACED_MALLOC 1
#endif
#endif

int
main(void)
{
#ifdef REPLACED_MALLOC
	(void)heap_suite;	/* built, not run */
	puts("test_heap: the sanitizer replaces glibc's malloc: skipped");
	return 77;	/* ctest's SKIP_RETURN_CODE (tests/unit.cmake) */
#else
	return ts_check_run(heap_suite());
#endif
}
