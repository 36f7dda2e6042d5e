/*
 * test_fold: refusals folded into counts, over a real audit trail in a
 * fresh temporary directory per test, with the clock given by the test.
 * The first few of a window are written, the rest counted and written as
 * one entry when the window is over (by the next refusal or a flush);
 * separate keys; the table full (by uid, then all); paths cut on a UTF-8
 * boundary; a count that cannot be written is kept, never dropped.  The
 * invariant checked after each test: the trail's counts plus its single
 * entries are exactly the refusals made, and the trail verifies.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fs/fold.h"
#include "store/audit.h"
#include "store/seal.h"
#include "store/sysio.h"

#define T0 1700000000000LL	/* a clock, ms */

static char dir[256];
static int storefd = -1;
static struct ts_seckey *key;
static struct ts_audit *trail;
static struct ts_fold *fold;

static int
rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(p);
}

static void
setup(void)
{
	ts_sysio_reset();
	strcpy(dir, "/tmp/ts-test-fold-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	storefd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(storefd, 0);
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
	ck_assert_int_eq(ts_audit_open(storefd, "h1", key, 1u << 30, &trail), 0);
	ck_assert_int_eq(ts_fold_new(trail, &fold), 0);
}

static void
teardown(void)
{
	ts_sysio_reset();
	ts_fold_free(fold);
	fold = NULL;
	ts_audit_close(trail);
	trail = NULL;
	ts_seal_seckey_free(key);
	if (storefd >= 0)
		close(storefd);
	storefd = -1;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct ts_audit_entry
refusal(uid_t uid, const char *op, const char *path)
{
	return (struct ts_audit_entry){ .uid = uid, .pid = 42, .comm = "stat",
	                                .op = op, .path = path,
	                                .err = EACCES };
}

/* The trail's entries, as a JSON array (the caller decrefs). */
static json_t *
entries(void)
{
	char path[300];
	json_t *all = json_array();
	FILE *f;
	char *line = NULL;
	size_t cap = 0;

	snprintf(path, sizeof(path), "%s/audit/000001.log", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (getline(&line, &cap, f) > 0) {
		json_error_t je;
		json_t *j = json_loads(line, 0, &je);

		ck_assert_msg(j != NULL, "not JSON: %s", line);
		json_array_append_new(all, j);
	}
	free(line);
	fclose(f);
	return all;
}

/* Refusals the entries of uid (any uid if uid < 0) stand for: the single
 * ones plus the counts; lines: how many entries. */
static long long
accounted(long long uid, long long *lines)
{
	json_t *all = entries(), *j;
	long long n = 0, l = 0;
	size_t i;

	json_array_foreach(all, i, j) {
		json_t *c = json_object_get(j, "count");

		if (uid >= 0 && json_integer_value(json_object_get(j, "uid")) !=
		    uid)
			continue;
		ck_assert_str_eq(json_string_value(json_object_get(j, "result")),
		                 "denied");
		n += c ? json_integer_value(c) : 1;
		l++;
	}
	json_decref(all);
	if (lines != NULL)
		*lines = l;
	return n;
}

static void
expect_intact(void)
{
	char msg[512];
	uint64_t n;

	ck_assert_int_eq(ts_audit_sync(trail), 0);
	ck_assert_msg(ts_audit_verify(storefd, NULL, NULL, msg, sizeof(msg),
	                              &n) == 0, "%s", msg);
}

static void
refuse(uid_t uid, const char *op, const char *path, int64_t now)
{
	struct ts_audit_entry e = refusal(uid, op, path);

	ck_assert_int_eq(ts_fold_refusal(fold, &e, now), 0);
}

START_TEST(burst_then_count)
{
	long long lines;
	json_t *all, *last;

	for (int i = 0; i < 1000; i++)
		refuse(61004, "lookup", i == 999 ? "tickets/last" : "tickets/x",
		       T0 + i / 2);
	/* Five written, the rest counted while the window lasts. */
	ck_assert_int_eq(accounted(-1, &lines), TS_FOLD_BURST);
	ck_assert_int_eq(lines, TS_FOLD_BURST);
	ck_assert_uint_eq(ts_fold_pending(fold), 1000 - TS_FOLD_BURST);
	ck_assert_int_eq(ts_fold_flush(fold, T0 + 999, 0), 0);
	ck_assert_uint_eq(ts_fold_pending(fold), 1000 - TS_FOLD_BURST);
	/* Over: one entry stands for them. */
	ck_assert_int_eq(ts_fold_flush(fold, T0 + 1000, 0), 0);
	ck_assert_uint_eq(ts_fold_pending(fold), 0);
	ck_assert_int_eq(accounted(61004, &lines), 1000);
	ck_assert_int_eq(lines, TS_FOLD_BURST + 1);
	all = entries();
	last = json_array_get(all, TS_FOLD_BURST);
	ck_assert_str_eq(json_string_value(json_object_get(last, "op")),
	                 "lookup");
	ck_assert_str_eq(json_string_value(json_object_get(last, "path")),
	                 "tickets/last");
	ck_assert_int_eq(json_integer_value(json_object_get(last, "count")),
	                 1000 - TS_FOLD_BURST);
	ck_assert_int_eq(json_integer_value(json_object_get(last, "errno")),
	                 EACCES);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(last,
	                      "detail")), "folded: 995 refusals from "));
	json_decref(all);
	expect_intact();
}
END_TEST

/* The next refusal after the window writes its count, then itself. */
START_TEST(next_refusal_ends_window)
{
	json_t *all;
	long long lines;

	for (int i = 0; i < 20; i++)
		refuse(7, "stat", "a", T0 + i);
	refuse(7, "stat", "b", T0 + 1500);
	all = entries();
	ck_assert_uint_eq(json_array_size(all), TS_FOLD_BURST + 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(all,
	                 TS_FOLD_BURST), "count")), 20 - TS_FOLD_BURST);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(all,
	                 TS_FOLD_BURST + 1), "path")), "b");
	ck_assert_ptr_null(json_object_get(json_array_get(all,
	                   TS_FOLD_BURST + 1), "count"));
	json_decref(all);
	ck_assert_uint_eq(ts_fold_pending(fold), 0);
	ck_assert_int_eq(accounted(7, &lines), 21);
	/* A slow caller is never folded. */
	for (int i = 0; i < 10; i++)
		refuse(8, "stat", "slow", T0 + 2000 + 1000 * i);
	ck_assert_int_eq(accounted(8, &lines), 10);
	ck_assert_int_eq(lines, 10);
	expect_intact();
}
END_TEST

START_TEST(keys_are_separate)
{
	struct ts_audit_entry e = refusal(9, "open", "p");
	long long lines;

	for (int i = 0; i < 10; i++) {
		refuse(9, "lookup", "p", T0);
		refuse(9, "opendir", "p", T0);
		refuse(10, "lookup", "p", T0);
		e.err = EPERM;
		ck_assert_int_eq(ts_fold_refusal(fold, &e, T0), 0);
	}
	/* Four keys: five lines each so far. */
	ck_assert_int_eq(accounted(-1, &lines), 4 * TS_FOLD_BURST);
	ck_assert_int_eq(lines, 4 * TS_FOLD_BURST);
	ck_assert_int_eq(ts_fold_flush(fold, T0 + 1000, 0), 0);
	ck_assert_int_eq(accounted(-1, &lines), 40);
	ck_assert_int_eq(lines, 4 * (TS_FOLD_BURST + 1));
	ck_assert_int_eq(accounted(10, NULL), 10);
	expect_intact();
}
END_TEST

/* More keys than the table: by uid, then all in one; nothing lost. */
START_TEST(table_full)
{
	long long lines, n = 0;
	json_t *all, *j;
	size_t i;
	int byuid = 0, every = 0;

	for (uid_t u = 0; u < 3 * TS_FOLD_KEYS; u++)
		for (int k = 0; k < 12; k++, n++)
			refuse(20000 + u, "lookup", "x", T0 + k);
	ck_assert_int_eq(ts_fold_flush(fold, T0 + 10, 1), 0);
	ck_assert_int_eq(accounted(-1, &lines), n);
	/* Bounded: the first keys write 5 + 1, the rest share slots. */
	ck_assert_int_le(lines, TS_FOLD_KEYS * (TS_FOLD_BURST + 1) +
	                 TS_FOLD_BURST + 1);
	all = entries();
	json_array_foreach(all, i, j) {
		const char *op = json_string_value(json_object_get(j, "op"));
		const char *d = json_string_value(json_object_get(j, "detail"));

		if (strcmp(op, "denied-folded") == 0 && d != NULL) {
			byuid += strstr(d, "; by uid") != NULL;
			every += strstr(d, "; all uids") != NULL;
		}
	}
	json_decref(all);
	ck_assert_int_gt(byuid, 0);
	ck_assert_int_eq(every, 1);
	/* A window later the table is free again: exact keys. */
	refuse(1, "lookup", "y", T0 + 5000);
	all = entries();
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(all,
	                 json_array_size(all) - 1), "op")), "lookup");
	json_decref(all);
	expect_intact();
}
END_TEST

START_TEST(paths_cut)
{
	char path[1200];
	json_t *all;
	const char *p;

	/* "é" is two bytes: the cut at byte 253 lands inside one. */
	for (size_t i = 0; i < 1000; i += 2)
		memcpy(path + i, "\xc3\xa9", 2);
	path[1000] = '\0';
	refuse(5, "lookup", path, T0);
	refuse(5, "lookup", "short", T0);
	all = entries();
	p = json_string_value(json_object_get(json_array_get(all, 0), "path"));
	ck_assert_uint_eq(strlen(p), 252 + 3);
	ck_assert_str_eq(p + strlen(p) - 3, "...");
	ck_assert_ptr_null(strchr(p, '?'));	/* still UTF-8: not mangled */
	ck_assert_int_eq(strncmp(p, path, strlen(p) - 3), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(all,
	                 1), "path")), "short");
	json_decref(all);
}
END_TEST

/* A full disk: refusals counted, the count kept until it can be written. */
START_TEST(write_failure_keeps_count)
{
	struct ts_audit_entry e = refusal(3, "lookup", "z");
	long long lines;

	refuse(3, "lookup", "z", T0);
	ts_sysio_inject(TS_SYSIO_WRITE, 1, ENOSPC, 1);
	for (int i = 0; i < 30; i++)
		ck_assert_int_le(ts_fold_refusal(fold, &e, T0 + i), 0);
	ck_assert_int_lt(ts_fold_flush(fold, T0 + 2000, 0), 0);
	ck_assert_int_lt(ts_fold_refusal(fold, &e, T0 + 2500), 0);
	ck_assert_uint_eq(ts_fold_pending(fold), 31);
	ck_assert_int_eq(accounted(-1, &lines), 1);
	ts_sysio_reset();
	ck_assert_int_eq(ts_fold_flush(fold, T0 + 4000, 0), 0);
	ck_assert_uint_eq(ts_fold_pending(fold), 0);
	ck_assert_int_eq(accounted(3, &lines), 32);
	ck_assert_int_eq(lines, 2);
	expect_intact();
}
END_TEST

/* What is still counted at the end is written by the free. */
START_TEST(free_flushes)
{
	for (int i = 0; i < 50; i++)
		refuse(4, "opendir", "tickets", T0);
	ts_fold_free(fold);
	fold = NULL;
	ck_assert_int_eq(accounted(4, NULL), 50);
	expect_intact();
}
END_TEST

static Suite *
fold_suite(void)
{
	Suite *s = suite_create("fold");
	TCase *tc = tcase_create("fold");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, burst_then_count);
	tcase_add_test(tc, next_refusal_ends_window);
	tcase_add_test(tc, keys_are_separate);
	tcase_add_test(tc, table_full);
	tcase_add_test(tc, paths_cut);
	tcase_add_test(tc, write_failure_keeps_count);
	tcase_add_test(tc, free_flushes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return ts_check_run(fold_suite());
}
