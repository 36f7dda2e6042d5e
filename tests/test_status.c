/*
 * test_status: fs/status.c's rules, step by step on one ticket entry and
 * its handles: which opens may read through the page cache (a processed
 * status, told, quiet), what a
 * reader's READ and GETATTR answer as the status moves (a snapshot of one
 * value, never one cut to another's size), and that a page the kernel may
 * keep of an older value is reported, so that it is invalidated.
 */
#include <check.h>

#include "tests/check_main.h"
#include <stdlib.h>
#include <string.h>

#include "fs/status.h"
#include "store/util.h"

static struct ts_entry e;
static struct node n;

static void
setup(void)
{
	memset(&e, 0, sizeof(e));
	memset(&n, 0, sizeof(n));
	e.t.status = TS_OPEN;
	n.kind = N_STATUS;
	n.e = &e;
}

/* A read-only handle opened now, as op_open makes it. */
static struct handle *
open_now(void)
{
	struct handle *h = calloc(1, sizeof(*h));
	const char *w = ts_status_names[e.t.status];

	ck_assert_ptr_nonnull(h);
	h->kind = H_READ;
	h->buf = calloc(1, 64);
	ck_assert_ptr_nonnull(h->buf);
	h->len = strlen(w) + 1;
	memcpy(h->buf, w, h->len - 1);
	h->buf[h->len - 1] = '\n';
	h->cap = 64;
	h->snap = e.t.status + 1;
	h->cached = ts_status_cacheable(&n);
	return h;
}

static void
close_h(struct handle *h)
{
	free(h->buf);
	free(h);
}

/* READ of h: its text, and whether it reported a stale page. */
static int
serve(struct handle *h, char *out)
{
	char text[64];
	size_t len = 0;
	int stale = ts_status_serve(h, &n, text, &len);

	memcpy(out, text, len);
	out[len] = '\0';
	return stale;
}

START_TEST(cached_only_once_told)
{
	struct handle *h;

	ts_status_told(&n);
	ck_assert_int_eq(ts_status_cacheable(&n), 0);	/* open: may move */
	e.t.status = TS_PROCESSED;
	e.t.processed_ms = ts_now_ms();
	ck_assert_int_eq(ts_status_cacheable(&n), 0);	/* not told yet */
	ts_status_told(&n);
	ck_assert_int_eq(ts_status_cacheable(&n), 0);	/* just moved */
	e.t.processed_ms = ts_now_ms() - 3000;
	ck_assert_int_eq(ts_status_cacheable(&n), 1);	/* final, quiet */
	h = open_now();
	ck_assert_int_eq(h->cached, 1);
	close_h(h);
	e.status_told = 0;	/* a stale page reported */
	ck_assert_int_eq(ts_status_cacheable(&n), 0);
	h = open_now();
	ck_assert_int_eq(h->cached, 0);
	close_h(h);
	ts_status_told(&n);	/* the kernel asked again */
	ck_assert_int_eq(ts_status_cacheable(&n), 1);
}
END_TEST

START_TEST(read_is_the_open_value)
{
	char got[64];
	struct handle *h;

	ts_status_told(&n);
	h = open_now();
	ck_assert_int_eq(serve(h, got), 0);
	ck_assert_str_eq(got, "open\n");
	/* Moved after the open: the reader still reads what it opened, and
	 * the page that READ leaves must go (reported; told cleared). */
	e.t.status = TS_PROCESSING;
	ck_assert_int_eq(serve(h, got), 1);
	ck_assert_str_eq(got, "open\n");
	ck_assert_int_eq(ts_status_cacheable(&n), 0);
	close_h(h);
}
END_TEST

START_TEST(never_cut_to_a_shorter_size)
{
	char got[64];
	struct handle *h;

	e.t.status = TS_PROCESSING;
	ts_status_told(&n);
	h = open_now();
	/* processed (10 bytes) and the kernel told its size since: serving
	 * "processing\n" (11) would be cut to "processing". */
	e.t.status = TS_PROCESSED;
	ts_status_told(&n);
	ck_assert_int_eq(serve(h, got), 0);
	ck_assert_str_eq(got, "processed\n");
	ck_assert_int_eq(h->snap, TS_PROCESSED + 1);
	close_h(h);
	/* Not told: the kernel may hold the open's size, so the snapshot. */
	e.t.status = TS_PROCESSING;
	ts_status_told(&n);
	h = open_now();
	e.t.status = TS_PROCESSED;
	ck_assert_int_eq(serve(h, got), 1);
	ck_assert_str_eq(got, "processing\n");
	close_h(h);
}
END_TEST

START_TEST(getattr_sizes_the_snapshot)
{
	struct handle *h;
	struct stat st;
	double t;

	ts_status_told(&n);
	h = open_now();
	memset(&st, 0, sizeof(st));
	st.st_size = 5;
	t = 60;
	ts_status_attr(h, &n, &st, &t);
	ck_assert_int_eq(st.st_size, 5);
	ck_assert(t == 60);
	ck_assert_int_eq(e.status_told, TS_OPEN + 1);	/* told */
	/* Moved: this reader's size stays its open's, and is not cached. */
	e.t.status = TS_PROCESSING;
	st.st_size = 11;
	ts_status_attr(h, &n, &st, &t);
	ck_assert_int_eq(st.st_size, 5);
	ck_assert(t == 0);
	ck_assert_int_eq(ts_status_cacheable(&n), 0);
	close_h(h);
}
END_TEST

static Suite *
status_suite(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("cache");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, cached_only_once_told);
	tcase_add_test(tc, read_is_the_open_value);
	tcase_add_test(tc, never_cut_to_a_shorter_size);
	tcase_add_test(tc, getattr_sizes_the_snapshot);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return ts_check_run(status_suite());
}
