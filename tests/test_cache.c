/*
 * test_cache: the decrypted-value cache.  Values come back byte for byte
 * from any offset, across block boundaries; it never holds more than its
 * limit, evicting the least recently used; a value over a quarter of it is
 * refused; dropping a range removes exactly that range (a ticket, an
 * item); a cache of size 0 holds nothing.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/cache.h"
#include "fs/inode.h"

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

START_TEST(put_read_any_offset)
{
	struct ts_cache *c;
	static uint8_t val[5000], out[5000];
	size_t len = 0;

	ck_assert_int_eq(ts_cache_new(1 << 20, &c), 0);
	fill(val, sizeof(val), 7);
	ck_assert_int_eq(ts_cache_has(c, 42, NULL), 0);
	ck_assert_int_eq(ts_cache_read(c, 42, 0, out, 10), -ENOENT);
	ck_assert_int_eq(ts_cache_put(c, 42, val, sizeof(val)), 0);
	ck_assert_int_eq(ts_cache_has(c, 42, &len), 1);
	ck_assert_uint_eq(len, sizeof(val));
	ck_assert_uint_eq(ts_cache_used(c), sizeof(val));
	/* Every offset around the 512-byte block edges, every short size. */
	for (size_t off = 0; off <= sizeof(val); off += 97)
		for (size_t n = 0; n < 1100; n += 211) {
			size_t want = off + n > sizeof(val) ? sizeof(val) - off : n;

			memset(out, 0, sizeof(out));
			ck_assert_int_eq(ts_cache_read(c, 42, off, out, n),
			                 (ssize_t)want);
			ck_assert_mem_eq(out, val + off, want);
		}
	ck_assert_int_eq(ts_cache_read(c, 42, 6000, out, 10), 0);
	/* Replaced whole. */
	ck_assert_int_eq(ts_cache_put(c, 42, "short", 5), 0);
	ck_assert_int_eq(ts_cache_read(c, 42, 0, out, sizeof(out)), 5);
	ck_assert_mem_eq(out, "short", 5);
	ck_assert_uint_eq(ts_cache_used(c), 5);
	/* Empty values are values. */
	ck_assert_int_eq(ts_cache_put(c, 43, "", 0), 0);
	ck_assert_int_eq(ts_cache_has(c, 43, &len), 1);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(ts_cache_read(c, 43, 0, out, 10), 0);
	ts_cache_free(c);
}
END_TEST

START_TEST(bounded_lru)
{
	struct ts_cache *c;
	static uint8_t val[4096], out[4096];

	/* 64 KiB: sixteen 4 KiB values fit, not seventeen. */
	ck_assert_int_eq(ts_cache_new(64 << 10, &c), 0);
	ck_assert_uint_eq(ts_cache_limit(c), 64 << 10);
	for (unsigned i = 0; i < 16; i++) {
		fill(val, sizeof(val), i);
		ck_assert_int_eq(ts_cache_put(c, 100 + i, val, sizeof(val)), 0);
	}
	ck_assert_uint_eq(ts_cache_used(c), 16 * sizeof(val));
	/* Touch the oldest: the second oldest goes first. */
	ck_assert_int_eq(ts_cache_read(c, 100, 0, out, 1), 1);
	fill(val, sizeof(val), 99);
	ck_assert_int_eq(ts_cache_put(c, 200, val, sizeof(val)), 0);
	ck_assert_int_eq(ts_cache_has(c, 100, NULL), 1);
	ck_assert_int_eq(ts_cache_has(c, 101, NULL), 0);
	ck_assert_int_eq(ts_cache_has(c, 102, NULL), 1);
	ck_assert_uint_le(ts_cache_used(c), ts_cache_limit(c));
	/* Survivors are intact. */
	fill(val, sizeof(val), 15);
	ck_assert_int_eq(ts_cache_read(c, 115, 0, out, sizeof(out)),
	                 (ssize_t)sizeof(out));
	ck_assert_mem_eq(out, val, sizeof(val));
	/* Over a quarter of the cache: refused, nothing evicted. */
	{
		uint8_t *big = calloc(1, (16 << 10) + 1);

		ck_assert_int_eq(ts_cache_put(c, 300, big, (16 << 10) + 1),
		                 -E2BIG);
		free(big);
	}
	ck_assert_int_eq(ts_cache_has(c, 300, NULL), 0);
	ck_assert_int_eq(ts_cache_has(c, 102, NULL), 1);
	/* Many small values: each takes a block; still bounded. */
	for (unsigned i = 0; i < 1000; i++)
		ck_assert_int_eq(ts_cache_put(c, 1000 + i, "x", 1), 0);
	ck_assert_int_eq(ts_cache_has(c, 1999, NULL), 1);
	ck_assert_int_eq(ts_cache_has(c, 1000, NULL), 0);
	ck_assert_int_eq(ts_cache_has(c, 102, NULL), 0);
	ts_cache_free(c);
}
END_TEST

START_TEST(drop_ranges)
{
	struct ts_cache *c;
	uint64_t a = ts_ino_make(5, 0, TS_SUB_FIELD);	/* ticket 5 */
	uint64_t m = ts_ino_make(5, 3, TS_SUB_ITEM);	/* its message */
	uint64_t af = ts_ino_make(5, 4, TS_SUB_AFIELD);	/* an auth field */
	uint64_t b = ts_ino_make(6, 0, TS_SUB_FIELD);	/* ticket 6 */

	ck_assert_int_eq(ts_cache_new(1 << 20, &c), 0);
	ck_assert_int_eq(ts_cache_put(c, a, "a", 1), 0);
	ck_assert_int_eq(ts_cache_put(c, m, "m", 1), 0);
	ck_assert_int_eq(ts_cache_put(c, af, "f", 1), 0);
	ck_assert_int_eq(ts_cache_put(c, b, "b", 1), 0);
	/* One authorization: its item's 16 inodes. */
	ts_cache_drop_range(c, af & ~UINT64_C(15), (af & ~UINT64_C(15)) + 16);
	ck_assert_int_eq(ts_cache_has(c, af, NULL), 0);
	ck_assert_int_eq(ts_cache_has(c, m, NULL), 1);
	/* All of ticket 5, nothing of 6. */
	ts_cache_drop_range(c, ts_ino_make(5, 0, 0), ts_ino_make(6, 0, 0));
	ck_assert_int_eq(ts_cache_has(c, a, NULL), 0);
	ck_assert_int_eq(ts_cache_has(c, m, NULL), 0);
	ck_assert_int_eq(ts_cache_has(c, b, NULL), 1);
	ck_assert_uint_eq(ts_cache_used(c), 1);
	/* A range over several tickets. */
	ts_cache_drop_range(c, 0, UINT64_MAX);
	ck_assert_int_eq(ts_cache_has(c, b, NULL), 0);
	ck_assert_uint_eq(ts_cache_used(c), 0);
	ts_cache_free(c);
}
END_TEST

START_TEST(size_zero_holds_nothing)
{
	struct ts_cache *c;
	char out[4];

	ck_assert_int_eq(ts_cache_new(0, &c), 0);
	ck_assert_int_eq(ts_cache_put(c, 1, "abc", 3), -E2BIG);
	ck_assert_int_eq(ts_cache_has(c, 1, NULL), 0);
	ck_assert_int_eq(ts_cache_read(c, 1, 0, out, 3), -ENOENT);
	ts_cache_drop_range(c, 0, 10);
	ts_cache_free(c);
	ts_cache_free(NULL);
}
END_TEST

static Suite *
cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");

	tcase_add_test(tc, put_read_any_offset);
	tcase_add_test(tc, bounded_lru);
	tcase_add_test(tc, drop_ranges);
	tcase_add_test(tc, size_zero_holds_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return ts_check_run(cache_suite());
}
