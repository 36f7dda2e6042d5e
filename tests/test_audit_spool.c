/*
 * test_audit_spool: the PostgreSQL trail's local spool file
 * (store/pg_audit_spool.h), no database: lines of a real chain (a
 * directory store's trail, read back) appended, read back at open, a
 * line cut by a crash dropped, one daemon a spool (the lock, across a
 * replace too), never through a symlink, mode 0600, a failed write
 * leaving whole lines only (store/sysio.h faults), and the chain check
 * that refuses an edited, shortened or foreign spool.
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

#include "store/audit.h"
#include "store/pg_audit_spool.h"
#include "store/seal.h"
#include "store/sysio.h"

#define NLINES 8		/* entries of the chain the tests spool */

static char dir[256];		/* mkdtemp'd, per test (CK_FORK) */
static char path[300];		/* dir/spool */
static char *lines;		/* NLINES lines of one chain, '\n' each */
static size_t lines_len;
static size_t line_off[NLINES + 1];	/* where each line starts; the end */

static int
rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(p);
}

/* The lines of a real trail: a directory store's, NLINES entries. */
static void
make_chain(void)
{
	struct ts_audit_entry e = { .uid = 1001, .pid = 7, .comm = "cat",
	                            .op = "open", .path = "tickets/x/email" };
	struct ts_seckey *key;
	struct ts_audit *a;
	char sd[300];
	int fd;

	snprintf(sd, sizeof(sd), "%s/store", dir);
	ck_assert_int_eq(mkdir(sd, 0700), 0);
	ck_assert_int_ge(fd = open(sd, O_RDONLY | O_DIRECTORY), 0);
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
	ck_assert_int_eq(ts_audit_open(fd, "h1", key, 1u << 20, &a), 0);
	for (int i = 0; i < NLINES; i++)
		ck_assert_int_eq(ts_audit_append(a, &e), 0);
	lines_len = (size_t)ts_audit_size(a);
	lines = malloc(lines_len + 1);
	ck_assert_int_eq(ts_audit_read(a, lines, lines_len, 0),
	                 (ssize_t)lines_len);
	lines[lines_len] = '\0';
	ts_audit_close(a);
	ts_seal_seckey_free(key);
	close(fd);
	/* Where each line starts, and the end. */
	line_off[0] = 0;
	for (int i = 0, k = 1; (size_t)i < lines_len; i++)
		if (lines[i] == '\n')
			line_off[k++] = (size_t)i + 1;
}

static void
setup(void)
{
	ts_sysio_reset();
	snprintf(dir, sizeof(dir), "/tmp/ts-spool-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/spool", dir);
	make_chain();
}

static void
teardown(void)
{
	ts_sysio_reset();
	free(lines);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct ts_spool *
open_ok(char **text, size_t *len, size_t *torn)
{
	struct ts_spool *sp;
	char msg[512];

	ck_assert_int_eq(ts_spool_open(path, &sp, text, len, torn, msg,
	                               sizeof(msg)), 0);
	return sp;
}

START_TEST(append_reopen_parse)
{
	struct ts_spool_run run;
	struct ts_spool *sp;
	size_t len, torn;
	struct stat st;
	char *text, msg[256];

	sp = open_ok(&text, &len, &torn);
	ck_assert_ptr_null(text);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	/* One line, then the rest in one write. */
	ck_assert_int_eq(ts_spool_append(sp, lines, line_off[1]), 0);
	ck_assert_int_eq(ts_spool_append(sp, lines + line_off[1],
	                                 lines_len - line_off[1]), 0);
	ck_assert_uint_eq(ts_spool_size(sp), lines_len);
	ts_spool_close(sp);
	sp = open_ok(&text, &len, &torn);
	ck_assert_uint_eq(torn, 0);
	ck_assert_uint_eq(len, lines_len);
	ck_assert_mem_eq(text, lines, len);
	ck_assert_int_eq(ts_spool_parse(text, len, &run, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(run.n, NLINES);
	ck_assert_uint_eq(run.first, 1);
	ck_assert_uint_eq(run.last, NLINES);
	free(text);
	/* Emptied: nothing at the next open. */
	ck_assert_int_eq(ts_spool_clear(sp), 0);
	ts_spool_close(sp);
	sp = open_ok(&text, &len, &torn);
	ck_assert_ptr_null(text);
	ts_spool_close(sp);
}
END_TEST

START_TEST(torn_last_line_dropped)
{
	struct ts_spool *sp;
	size_t len, torn, cut = line_off[3] + 10;
	struct stat st;
	char *text;
	int fd;

	/* A crash mid-write: three lines and ten bytes of the fourth. */
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
	ck_assert_int_eq(write(fd, lines, cut), (ssize_t)cut);
	close(fd);
	sp = open_ok(&text, &len, &torn);
	ck_assert_uint_eq(torn, 10);
	ck_assert_uint_eq(len, line_off[3]);
	ck_assert_mem_eq(text, lines, len);
	free(text);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)line_off[3]);
	/* Appends go on after the whole lines. */
	ck_assert_int_eq(ts_spool_append(sp, lines + line_off[3],
	                                 line_off[4] - line_off[3]), 0);
	ts_spool_close(sp);
	sp = open_ok(&text, &len, &torn);
	ck_assert_uint_eq(torn, 0);
	ck_assert_uint_eq(len, line_off[4]);
	ck_assert_mem_eq(text, lines, len);
	free(text);
	ts_spool_close(sp);
}
END_TEST

START_TEST(one_daemon_a_spool)
{
	struct ts_spool *sp, *sp2;
	size_t len, torn;
	char *text, msg[512];

	sp = open_ok(&text, &len, &torn);
	ck_assert_int_eq(ts_spool_open(path, &sp2, &text, &len, &torn, msg,
	                               sizeof(msg)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(msg, "is in use by another ticketfs"));
	ck_assert_ptr_nonnull(strstr(msg, path));
	/* Replaced (what is unshipped, rewritten): still locked, and the
	 * file holds exactly that. */
	ck_assert_int_eq(ts_spool_append(sp, lines, lines_len), 0);
	ck_assert_int_eq(ts_spool_replace(sp, lines + line_off[2],
	                                  lines_len - line_off[2]), 0);
	ck_assert_int_eq(ts_spool_open(path, &sp2, &text, &len, &torn, msg,
	                               sizeof(msg)), -EBUSY);
	ck_assert_uint_eq(ts_spool_size(sp), lines_len - line_off[2]);
	ts_spool_close(sp);
	sp = open_ok(&text, &len, &torn);
	ck_assert_uint_eq(len, lines_len - line_off[2]);
	ck_assert_mem_eq(text, lines + line_off[2], len);
	free(text);
	ts_spool_close(sp);
}
END_TEST

START_TEST(no_symlink_no_relative_path)
{
	struct ts_spool *sp;
	size_t len, torn;
	char *text, msg[512], target[320];
	struct stat st;

	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(ts_spool_open(path, &sp, &text, &len, &torn, msg,
	                               sizeof(msg)), -ELOOP);
	ck_assert_ptr_nonnull(strstr(msg, path));
	ck_assert_int_eq(stat(target, &st), -1);	/* nothing made there */
	ck_assert_int_eq(ts_spool_open("spool", &sp, &text, &len, &torn, msg,
	                               sizeof(msg)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "not an absolute file path"));
}
END_TEST

START_TEST(failed_write_leaves_whole_lines)
{
	struct ts_spool *sp;
	size_t len, torn;
	char *text;

	sp = open_ok(&text, &len, &torn);
	ck_assert_int_eq(ts_spool_append(sp, lines, line_off[2]), 0);
	ts_sysio_inject(TS_SYSIO_WRITE, 1, ENOSPC, 0);
	ck_assert_int_eq(ts_spool_append(sp, lines + line_off[2],
	                                 line_off[3] - line_off[2]), -ENOSPC);
	ck_assert_uint_eq(ts_spool_size(sp), line_off[2]);
	ts_spool_close(sp);
	sp = open_ok(&text, &len, &torn);
	ck_assert_uint_eq(torn, 0);
	ck_assert_uint_eq(len, line_off[2]);
	ck_assert_mem_eq(text, lines, len);
	free(text);
	ts_spool_close(sp);
}
END_TEST

/* parse of lines with line i (0-based) replaced by repl (NULL: left out). */
static int
parse_edited(int i, const char *repl, char *msg, size_t msglen)
{
	struct ts_spool_run run;
	char buf[1 << 16];
	size_t n = 0;
	int rc;

	ck_assert_uint_lt(lines_len + 64, sizeof(buf));
	memcpy(buf, lines, line_off[i]);
	n = line_off[i];
	if (repl != NULL) {
		memcpy(buf + n, repl, strlen(repl));
		n += strlen(repl);
	}
	memcpy(buf + n, lines + line_off[i + 1], lines_len - line_off[i + 1]);
	n += lines_len - line_off[i + 1];
	rc = ts_spool_parse(buf, n, &run, msg, msglen);
	return rc;
}

START_TEST(parse_refuses_what_is_not_a_chain)
{
	char msg[256], line[4096];
	size_t ll = line_off[3] - line_off[2];
	char *p;

	/* Line 3's uid edited: its hash no longer chains. */
	memcpy(line, lines + line_off[2], ll);
	line[ll] = '\0';
	p = strstr(line, "\"uid\":1001");
	ck_assert_ptr_nonnull(p);
	p[7] = '2';
	ck_assert_int_eq(parse_edited(2, line, msg, sizeof(msg)), -EBADMSG);
	ck_assert_str_eq(msg, "line 3 (entry 3): hash chain broken");
	/* A line left out. */
	ck_assert_int_eq(parse_edited(2, NULL, msg, sizeof(msg)), -EBADMSG);
	ck_assert_str_eq(msg, "line 3 is entry 4, not 3");
	/* Not an entry at all. */
	ck_assert_int_eq(parse_edited(1, "hello\n", msg, sizeof(msg)),
	                 -EBADMSG);
	ck_assert_str_eq(msg, "line 2 is not an audit entry");
	/* The whole of it, and a run from the middle, are chains. */
	{
		struct ts_spool_run run;

		ck_assert_int_eq(ts_spool_parse(lines + line_off[2],
		                                lines_len - line_off[2], &run,
		                                msg, sizeof(msg)), 0);
		ck_assert_uint_eq(run.first, 3);
		ck_assert_uint_eq(run.n, NLINES - 2);
	}
}
END_TEST

static Suite *
spool_suite(void)
{
	Suite *s = suite_create("audit_spool");
	TCase *tc = tcase_create("spool");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, append_reopen_parse);
	tcase_add_test(tc, torn_last_line_dropped);
	tcase_add_test(tc, one_daemon_a_spool);
	tcase_add_test(tc, no_symlink_no_relative_path);
	tcase_add_test(tc, failed_write_leaves_whole_lines);
	tcase_add_test(tc, parse_refuses_what_is_not_a_chain);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return ts_check_run(spool_suite());
}
